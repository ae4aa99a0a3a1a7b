"""The HTTP API: the control commands over HTTP (FastAPI, served by uvicorn in the daemon's
TaskGroup), with tokens, thumbnails, file contents and a WebSocket of the change log.

One command layer, two transports: every route calls the same function from
``control.commands`` as the socket does, with the same arguments and error codes (``errors``
maps each code to an HTTP status). ``listen`` binds the address, ``server`` runs uvicorn,
``app`` builds the routes (``routes``, ``files``, ``events``), ``auth`` checks tokens.

Imports: ``control`` (the commands and their Context), ``catalog`` (reads, tokens), ``extract``
(where a thumbnail lives), ``fs`` (safepath) and the shared modules; never ``daemon``.
"""
