"""Where work is discovered: inotify folder watches (``inotifywatch`` on Linux, ``folderwatch``
through watchfiles elsewhere, both behind ``watchapi``), the watcher that turns
their events into changed paths (``watcher``), the reconcile that compares a root with the
catalog (``reconcile``, its walk and diff in ``walkdiff``), and the scheduler of periodic
reconciles (``scheduler``).

Every source produces the same thing, paths that may have changed, and hands them down the
pipeline. Imports: ``pipeline``, ``catalog``, ``fs``, and the shared ``config``, ``protocol``,
``state``; never ``control``, ``daemon`` or ``cli``.
"""
