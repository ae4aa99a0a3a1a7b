"""Reading one file: its metadata (``read``, with the extractors ``image``, ``audio``,
``video``, and ``tools`` for ffprobe/ffmpeg) and its thumbnail (``thumbnail``).

Pure functions of a path: no catalog, no daemon state. Imports: ``fs`` and each other.
"""
