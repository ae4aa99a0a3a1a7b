"""Telling the media servers (and hooks, and plugins) what changed, from the change log.

Owns: the targets of ``[[targets]]`` (``target.py``: one follower of the change log each,
with its durable cursor, per-folder batches and backoff; ``servers.py``/``hooks.py``: what
each kind sends), path translation (``model.py``), the cursors (``cursors.py``), the plugins
(``plugins.py``) and the whole set as the daemon runs it (``manager.py``).

May import: ``catalog/`` (reads the change log; cursors go through the writer), ``fs/``, and
the shared modules. The daemon (``daemon/run.py``) makes it; control reaches it through the
``Context`` (its types only for type checking).
"""
