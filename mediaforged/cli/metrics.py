"""``mediaforgectl metrics``: the daemon's Prometheus series, as a scrape of GET /metrics sees
them (the same text), for a shell or a node_exporter textfile."""

from __future__ import annotations

import sys

import typer

from mediaforged.cli.client import JsonOption, call, print_json
from mediaforged.protocol import MetricsReply

__all__ = ["metrics_app"]

metrics_app = typer.Typer()


@metrics_app.command()
def metrics(as_json: JsonOption = False) -> None:
    """Print every mediaforge_ series in the Prometheus text format."""
    data: MetricsReply = call("metrics")
    if as_json:
        print_json(data)
    else:
        sys.stdout.write(data["text"])  # as it is: no Rich markup, no wrapping
