"""From a changed path to catalog rows: settle (``settle``: wait for a file to stand still),
index one path (``indexer``: stat, hash, identify), then the catalog stages that run behind
the catalog write (``stage``; ``metadata``, ``thumbnails``).

Imports: ``catalog``, ``extract``, ``fs`` and the shared modules; never ``sources`` (the
settler asks for folder scans through the ``FolderScans`` protocol), ``control``, ``daemon``
or ``cli``.
"""
