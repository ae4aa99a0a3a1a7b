"""One daemon's registry and the series fed where the work happens.

The parts that do the work get plain callables (``extracted``, ``thumbnailed``,
``reconciled``, ``request``) from ``daemon.run.build``: they never import prometheus_client.
Everything else is read from the live state when a scrape comes (``live.LiveCollector``).
Every labelled series is made at start, at zero, so that a scrape never misses one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from mediaforged.metrics.live import (
    EXTRACTED_TYPES,
    RECONCILE_SCOPES,
    LiveCollector,
    bounded,
    root_label,
)
from mediaforged.protocol import ErrorCode
from mediaforged.state import DaemonState, RootState

if TYPE_CHECKING:
    from mediaforged.control.context import Context

__all__ = ["TRANSPORTS", "Metrics"]

TRANSPORTS = ("socket", "http")  # the two transports of the one command layer
_CONTROL_CODES = sorted(v for k, v in vars(ErrorCode).items() if k.isupper())

# Seconds. One file's metadata or thumbnail: milliseconds for a photo, up to the timeout
# (30 s and 60 s by default) for a video on a sleepy disk.
_FILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# A reconcile: milliseconds for a quick check of a small root, hours for a first full one.
_RECONCILE_BUCKETS = (0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400)
# A control request: a status is answered in a few milliseconds; a rescan --wait takes long.
_REQUEST_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5)


class Metrics:
    """The registry of one daemon (never prometheus_client's global one) and its series."""

    def __init__(self, state: DaemonState, commands: Iterable[str]) -> None:
        # The `_created` twin of every counter and histogram child doubles the text for a
        # timestamp Prometheus does not use (the process start time is one series).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=False)
        self._state = state
        self._commands = frozenset(commands)
        self.live = LiveCollector(state)
        self.registry.register(self.live)
        ProcessCollector(namespace="mediaforge", registry=self.registry)
        r = self.registry
        self._extract = Histogram(
            "mediaforge_extract_duration_seconds",
            "Seconds reading one file's metadata took, by media type.",
            ["media_type"],
            buckets=_FILE_BUCKETS,
            registry=r,
        )
        self._thumbnail = Histogram(
            "mediaforge_thumbnail_duration_seconds",
            "Seconds making one thumbnail took, by media type.",
            ["media_type"],
            buckets=_FILE_BUCKETS,
            registry=r,
        )
        self._reconcile = Histogram(
            "mediaforge_reconcile_duration_seconds",
            "Seconds a finished reconcile took, by root and scope (full: the whole root; "
            "quick: the folders whose mtime moved; partial: a folder of it).",
            ["root", "scope"],
            buckets=_RECONCILE_BUCKETS,
            registry=r,
        )
        self._request = Histogram(
            "mediaforge_control_request_duration_seconds",
            "Seconds from a control request to its reply, by transport and command "
            "(a streaming command's lasts as long as its stream).",
            ["transport", "command"],
            buckets=_REQUEST_BUCKETS,
            registry=r,
        )
        self._request_errors = Counter(
            "mediaforge_control_errors",
            "Control requests answered with an error, by transport and error code.",
            ["transport", "code"],
            registry=r,
        )
        for media_type in EXTRACTED_TYPES:
            self._extract.labels(media_type)
            self._thumbnail.labels(media_type)
        for transport in TRANSPORTS:
            for command in (*sorted(self._commands), "other"):
                self._request.labels(transport, command)
            for code in (*_CONTROL_CODES, "other"):
                self._request_errors.labels(transport, code)
        self._notify = Counter(
            "mediaforge_notify_requests",
            "Requests the notify targets made (or skipped), by target and result (ok; retry: a "
            "transient error, backing off; failed: a permanent one; skipped: not sent, outside "
            "every path_map or in no library of the server).",
            ["target", "result"],
            registry=r,
        )
        self._lag = Gauge(
            "mediaforge_consumer_lag_events",
            "Events of the change log a target (or plugin) has still to act on.",
            ["target"],
            registry=r,
        )
        self._roots_seen: set[str] = set()
        self._add_roots()

    def add_consumers(
        self, lags: dict[str, Callable[[], float]], results: Iterable[str] = ()
    ) -> None:
        """The series of each target and plugin, at zero: ``lags`` reads each one's lag."""
        for name, lag in lags.items():
            self._lag.labels(name).set_function(lag)
            for result in results:
                self._notify.labels(name, result)

    def drop_consumer(self, name: str, results: Iterable[str] = ()) -> None:
        """A target a reload removed: its series go."""
        for metric, labels in ((self._lag, (name,)), *((self._notify, (name, r)) for r in results)):
            with contextlib.suppress(KeyError):
                metric.remove(*labels)

    def notified(self, target: str, result: str) -> None:
        """A target's request ended with ``result`` (ok, retry, failed, skipped)."""
        self._notify.labels(target, result).inc()

    def _add_roots(self) -> None:
        """Reconcile series for every root, also for one a reload added."""
        for root in self._state.roots:
            label = root_label(root, self._state.roots)
            if label not in self._roots_seen:
                self._roots_seen.add(label)
                for scope in RECONCILE_SCOPES:
                    self._reconcile.labels(label, scope)

    def extracted(self, media_type: str, seconds: float, code: str | None) -> None:
        """One file's metadata was read (``code`` None) or failed with ``code``."""
        if media_type in EXTRACTED_TYPES:
            self._extract.labels(media_type).observe(seconds)
        if code is not None:
            self.live.count_error("metadata", code)

    def thumbnailed(self, media_type: str, seconds: float, error: str | None) -> None:
        """One thumbnail was made (``error`` None) or failed (``error``: ``code: why``)."""
        if media_type in EXTRACTED_TYPES:
            self._thumbnail.labels(media_type).observe(seconds)
        if error is not None:
            self.live.count_error("thumbnail", error.partition(":")[0])

    def reconciled(self, root: RootState, scope: str, seconds: float) -> None:
        """A reconcile of ``root`` finished; ``scope`` is full, quick or partial."""
        self._add_roots()
        label = root_label(root, self._state.roots)
        self._reconcile.labels(label, bounded(scope, RECONCILE_SCOPES)).observe(seconds)

    def request(self, transport: str, command: str, seconds: float, code: str | None) -> None:
        """A control request was answered (``code``: its error code, None when it succeeded)."""
        transport = bounded(transport, TRANSPORTS)
        command = command if command in self._commands else "other"
        self._request.labels(transport, command).observe(seconds)
        if code is not None:
            self._request_errors.labels(transport, bounded(code, _CONTROL_CODES)).inc()

    async def render(self, ctx: Context) -> tuple[bytes, str]:
        """The Prometheus text of every series now, and its content type: what ``GET
        /metrics`` and the ``metrics`` command answer. The catalog counts come from the
        status cache (no count of its own per scrape)."""
        self._add_roots()
        now = await self.live.gather(ctx)
        with self.live.reading(now):
            body = generate_latest(self.registry)
        return body, CONTENT_TYPE_LATEST
