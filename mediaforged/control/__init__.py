"""The control channel: the Unix socket server (``server``), who may do what (``access``),
what every command gets (``context``) and the commands themselves (``commands/``).

Reads the catalog and the daemon's state; drives the stages only through the objects in its
``Context`` (their types are imported for type checking alone). Imports: ``catalog``, ``fs``
and the shared modules; never ``sources``, ``pipeline``, ``daemon`` or ``cli`` at run time.
"""
