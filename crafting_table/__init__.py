"""crafting-table: a self-hosted build, test, lint and audit service."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("crafting-table")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
