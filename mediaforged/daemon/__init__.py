"""The daemon: ``main`` (arguments, signals, exit codes), ``run`` (one ``build`` that wires the
pipeline and one TaskGroup that runs it), ``reload`` (SIGHUP), ``notify`` (sd_notify), ``logs``.

Imports anything in the package; nothing in the package imports it (only ``__main__``).
"""
