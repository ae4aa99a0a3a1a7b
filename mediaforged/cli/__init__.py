"""``mediaforgectl``: the command line (``main``), the socket client and its output
(``client``), the status view (``status``), queries (``query``, ``search``), listings that
never lose text (``tables``), user data (``library``), the catalog's roots (``roots``),
``doctor`` (its checks in ``doctor_checks``) and the sample library (``sample``).

It talks to the daemon only over the socket: imports ``protocol``, ``config``, ``fs`` (the
doctor looks at the roots as the daemon will) and its own modules, never the daemon side.
"""
