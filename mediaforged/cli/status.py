"""The human view of `mediaforgectl status`: one screen, built from the status reply.

A header line, a table with a row per root, a line per root problem (offline, polling,
held back), pending work, running jobs with a bar, rate and ETA, and the latest errors.
Long lists are cut so the whole view fits a terminal; `--json` has everything.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from mediaforged.cli.client import ago, clean, middle_cut, safe
from mediaforged.cli.query import size_text
from mediaforged.protocol import (
    ErrorsStatus,
    ItemStatus,
    JobStatus,
    PendingStatus,
    Phase,
    RootStatus,
    StatusReply,
    WatchState,
    watch_state,
)
from mediaforged.protocol.targets import TargetHealth

__all__ = ["status_view"]

MAX_ROOTS = 8
MAX_JOBS = 4
MAX_ERRORS = 3


def duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{secs}s"


def status_view(data: StatusReply, width: int | None = None) -> Group:
    """The view; ``width``: a terminal's, to which long paths are cut in the middle (None:
    nothing is cut, for a pipe or a log)."""
    parts: list[RenderableType] = [_header(data)]
    if data["catalog"]["problem"]:
        parts.append(Text.assemble(("catalog: ", "bold red"), safe(data["catalog"]["problem"])))
    parts.append(_roots_table(data["roots"], width))
    parts.extend(_root_notes(data["roots"]))
    parts.append(_pending(data["pending"]))
    jobs = [j for j in data["jobs"] if not j["complete"]]
    if jobs:
        parts.append(_jobs_table(jobs))
    parts.extend(_errors(data["errors"]))
    parts.extend(_targets(data.get("targets", [])))
    return Group(*parts)


def _targets(targets: list[TargetHealth]) -> list[Text]:
    """One line per notify target: its state, lag and last error (`mediaforgectl targets`)."""
    lines = []
    for t in targets:
        style = {"ok": "green", "failed": "bold red"}.get(t["state"], "yellow")
        line = Text.assemble("target ", safe(t["name"]), ": ", (t["state"], style))
        line.append(f", lag {t['lag']}, {t['requests'].get('ok', 0)} sent")
        if t["state"] != "ok" and t["last_error"]:
            line.append(": ")
            line.append_text(safe(t["last_error"]))
        lines.append(line)
    return lines


def _header(data: StatusReply) -> Text:
    state = data["state"]
    size = data["catalog"]["bytes"]
    inotify = data["inotify"]
    text = Text.assemble(
        ("mediaforged ", "bold"),
        f"{data['version']}  ",
        (state, "green" if state in (Phase.WATCHING, Phase.IDLE) else "yellow"),
        f"  up {duration(data['uptime_s'])}  pid {data['pid']}",
    )
    if size is not None:
        text.append(f"  catalog {size / 1e6:.1f} MB")
    if inotify["limit"]:
        text.append(f"  watches {inotify['watches']}/{inotify['limit']}")
    if data.get("http"):  # an older daemon has no HTTP
        text.append(f"  http {data['http']}")
    return text


def _watch_cell(root: RootStatus) -> Text:
    if not root["online"]:
        return Text("offline", "bold red")
    if root["paused"]:
        return Text("paused", "yellow")
    watch = watch_state(root["watch"])
    if watch is None:  # a state this mediaforgectl does not know: shown as it is
        return Text(root["watch"].split(":", 1)[0])
    colour = {WatchState.INOTIFY: "green", WatchState.POLL: "yellow", WatchState.FAILED: "red"}
    return Text(watch.value, colour.get(watch, ""))


def _roots_table(roots: list[RootStatus], width: int | None) -> Table:
    """Fits 80 columns: the counts by type of the other files, the inotify folders and the
    reconcile's figures are in --json. A root's path too long for the terminal loses its
    middle (marked by an ellipsis), never wraps mid-word."""
    table = Table(box=None, padding=(0, 2, 0, 0), header_style="bold underline")
    table.add_column("root", no_wrap=True, min_width=12)
    table.add_column("watch", no_wrap=True)
    table.add_column("items", justify="right")
    table.add_column("size", justify="right", no_wrap=True)
    for kind in ("images", "audio", "video"):
        table.add_column(kind, justify="right")
    table.add_column("missing", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("scanned", no_wrap=True)
    # The other columns take about 70 characters with their gaps.
    room = max(width - 72, 12) if width else None
    for root in roots[:MAX_ROOTS]:
        kinds, statuses = root["by_media_type"], root["by_status"]
        failed = statuses.get(ItemStatus.FAILED, 0)
        path = clean(root["path"])
        table.add_row(
            Text(middle_cut(path, room) if room else path),
            _watch_cell(root),
            str(root["items"]),
            size_text(root.get("bytes")),  # absent from an older daemon's reply
            *(str(kinds.get(k, 0)) for k in ("image", "audio", "video")),
            str(statuses.get(ItemStatus.MISSING, 0)),
            Text(str(failed), "red" if failed else ""),
            ago(root["last_reconcile"]["at"]),
        )
    if len(roots) > MAX_ROOTS:
        table.add_row(Text(f"... {len(roots) - MAX_ROOTS} more roots (--json)", "dim"))
    return table


def _root_notes(roots: list[RootStatus]) -> list[Text]:
    """What needs a human, a line per root: why it is offline, polling or held back."""
    notes: list[Text] = []
    for root in roots:
        path = safe(root["path"])
        if not root["online"]:
            reason = root["offline_reason"] or ""
            notes.append(Text.assemble(path, ("  offline: ", "red"), safe(reason)))
        elif watch_state(root["watch"]) is WatchState.FAILED:
            notes.append(Text.assemble(path, ("  watch ", "red"), safe(root["watch"])))
        if fallback := root["watch_fallback"]:
            notes.append(Text.assemble(path, ("  polling: ", "yellow"), safe(fallback)))
        if held := root["held"]:
            notes.append(Text.assemble(path, ("  held back: ", "bold red"), safe(held)))
        if overflows := root.get("overflows", 0):  # absent from an older daemon's reply
            notes.append(
                Text.assemble(
                    path,
                    ("  event queue overflowed: ", "yellow"),
                    f"{overflows}x since start, each caught up by a quick check "
                    "(raise fs.inotify.max_queued_events if it recurs)",
                )
            )
    return notes


def _pending(p: PendingStatus) -> Text:
    return Text.assemble(
        ("pending: ", "bold"),
        f"{p['settling']} settling, {p['index_queue'] + p['indexing']} to index, "
        f"{p['write_queue']} to write, {p['reconciles_queued']} reconciles queued, "
        f"{p['metadata']} awaiting metadata, {p['thumbnails']} thumbnails pending, "
        f"{p.get('signatures', 0)} signatures pending",
    )


def _jobs_table(jobs: list[JobStatus]) -> Table:
    table = Table.grid(padding=(0, 1))
    # The label is never shrunk (a narrow terminal cut it to nothing): the figures and the
    # path give way, with an ellipsis.
    labels = [f"job {job['job']} {job['kind']}" for job in jobs[:MAX_JOBS]]
    table.add_column(no_wrap=True, min_width=max(map(len, labels), default=0))
    table.add_column(width=16)
    table.add_column(no_wrap=True, overflow="ellipsis", min_width=16)
    table.add_column(no_wrap=True, overflow="ellipsis")
    for job in jobs[:MAX_JOBS]:
        known = job["walk_finished"] and job["queued"] > 0
        bar = ProgressBar(
            total=job["queued"] if known else None, completed=job["done"], width=16, pulse=not known
        )
        if not (job["walked"] or job["queued"] or job["walk_finished"]):
            figures = "waiting"
        else:
            figures = f"{job['done']}/{job['queued']} indexed, {job['walked']} seen"
        if job["rate_per_s"]:
            figures += f", {job['rate_per_s']:.0f}/s"
        if eta := job["eta_s"]:
            figures += f", {duration(eta)} left"
        if job["cancelled"]:
            figures += ", cancelling"
        label = Text(f"job {job['job']} {job['kind']}", "bold")
        table.add_row(label, bar, figures, safe(job["path"]))
    if len(jobs) > MAX_JOBS:
        table.add_row(Text(f"... {len(jobs) - MAX_JOBS} more jobs", "dim"))
    return table


def _errors(errors: ErrorsStatus) -> list[Text]:
    if not errors["failed_items"] and not errors["recent"]:
        return []
    # An older daemon's reply has no stages: its count is of the files that failed to index.
    stages = ", ".join(f"{n} {s}" for s, n in errors.get("by_stage", {}).items() if n)
    lines = [
        Text(
            f"errors: {errors['failed_items']} files failed"
            + (f" ({stages}; `mediaforgectl failed` lists them)" if stages else "")
            + ("; recent:" if errors["recent"] else ""),
            "bold",
        )
    ]
    for e in errors["recent"][-MAX_ERRORS:]:
        lines.append(Text.assemble("  ", safe(e["path"]), f": {e['code']}: ", safe(e["message"])))
    return lines
