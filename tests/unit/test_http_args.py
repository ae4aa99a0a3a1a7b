"""Every argument an HTTP route passes to its command has a declared type: a missing one
stops the daemon's HTTP app from being built at all (every HTTP daemon then fails to start)."""

from __future__ import annotations

from mediaforged.control.commands import COMMANDS
from mediaforged.http.routes import ARG_TYPES, ROUTES


def test_every_route_argument_has_a_type() -> None:
    missing = sorted(
        (route.command, name)
        for route in ROUTES
        for name in (route.args if route.args is not None else COMMANDS[route.command].args)
        if name not in ARG_TYPES
    )
    assert missing == []
