"""mediaforged: a media library daemon that keeps a catalog in step with the disk."""

__all__ = ["__version__"]

__version__ = "0.1.0"
