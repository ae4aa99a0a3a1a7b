"""``metrics``: the daemon's Prometheus series as text, for a shell (``mediaforgectl metrics``).

The same text as the HTTP API's ``GET /metrics`` and the ``metrics_listen`` scrape address:
all three call ``ctx.metrics.render``. Read-only, so a query-only peer may ask too.
"""

from __future__ import annotations

from typing import Any

from mediaforged.control.context import Context, Progress, Spec
from mediaforged.protocol import MetricsReply

__all__ = ["COMMANDS"]


async def metrics(ctx: Context, args: dict[str, Any], progress: Progress) -> MetricsReply:
    body, content_type = await ctx.metrics.render(ctx)
    return {"text": body.decode("utf-8"), "content_type": content_type}


COMMANDS: dict[str, Spec] = {"metrics": Spec(metrics)}
