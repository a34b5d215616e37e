"""crafting-table-mcp: the crafting-table API as tools for MCP clients."""

__version__ = "0.1.0"
