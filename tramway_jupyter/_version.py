"""The package version (one place; the npm package's version follows it)."""

__version__ = "0.1.0"
