"""The file system, as the daemon sees it: walking folders, opening and hashing files without
following links (``fsio``), telling a file's media type from its bytes (``mediatype``,
with the containers' sniffers in ``signatures``, the other families' in ``families``, the
streams a container declares in ``streams``, the extension table in ``extensions``), the
hashing workers (``hashpool``), the mount table (``mounts``: remote mounts, inotify limits)
and calls on a root made from the event loop, in threads with a timeout (``guard``).

Imports: only the standard library and each other. Everything else may import it.
"""
