"""``python -m crafting_table_mcp``: the same as ``crafting-table-mcp``."""

import sys

from crafting_table_mcp.server import main

sys.exit(main())
