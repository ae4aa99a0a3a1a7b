"""The catalog: its tables (``schema``), the engine and its migrations (``db``,
``migrations/``), the single writer (``writer``; its statements in ``sql``, the functions it
runs for others in ``writes``) and the identity rules it applies (``identity``, pure), the
change log (``changelog``) and the hub that wakes its readers (``events``).

Nothing writes the catalog but the writer. Imports: ``fs`` and the shared modules only.
"""
