"""The version, in its own module so submodules can import it without importing the package root."""

__version__ = "0.1.0"
