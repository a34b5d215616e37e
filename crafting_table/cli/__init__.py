"""The ``crafting-table`` command."""
