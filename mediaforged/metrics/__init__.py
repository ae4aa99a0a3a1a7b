"""Metrics: the daemon's state and work as Prometheus series, ``mediaforge_``-prefixed.

Owns the daemon's own registry (never prometheus_client's global one), the few counters and
histograms that the places where work happens feed (``series``: a duration per extraction,
thumbnail, reconcile and control request, handed to those parts as plain callables by
``daemon.run.build``), the collector that reads the live state at scrape time (``live``:
roots, queues, the status cache's catalog counts, the change log), ``Metrics.render(ctx)``
for the transports (the ``metrics`` socket command, the HTTP API's ``GET /metrics``), and the
token-free scrape listener on ``metrics_listen`` (``listen``).

Every label is bounded: a root's folder name (never its path), a media type, a stage, an
error code, a command; anything unexpected is counted as ``other``.

Imports: ``catalog`` (the change log's table), ``fs`` and the shared modules at run time;
``control``, ``pipeline`` and ``sources`` only under ``TYPE_CHECKING`` (the parts it reads
come in the ``Context``). ``daemon`` makes it; the transports reach it as ``ctx.metrics``.
"""

from mediaforged.metrics.listen import serve_metrics
from mediaforged.metrics.series import Metrics

__all__ = ["Metrics", "serve_metrics"]
