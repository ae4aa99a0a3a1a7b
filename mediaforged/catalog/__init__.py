"""The catalog: its tables (``schema``), the engine and its migrations (``db``,
``migrations/``), the single writer (``writer``) and the identity rules it applies
(``identity``), the change log (``changelog``) and the hub that wakes its readers (``events``).

Nothing writes the catalog but the writer. Imports: ``fs`` and the shared modules only.
"""
