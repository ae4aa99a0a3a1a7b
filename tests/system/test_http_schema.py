"""Property test of the HTTP API against its own /openapi.json (schemathesis), on a running
daemon: no request makes a 5xx, and every reply matches the schema its route declares.

Bounded: a few examples per operation (a few hundred in all). The read token runs every
operation (the changing ones must answer 403 with the error schema); the admin token runs
the reads. Streams (NDJSON) are left out: their lines are checked in test_http_api."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from PIL import Image
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.system.httpd import Http, http_daemon

STREAMS = {"/api/v1/rescan", "/api/v1/confirm", "/api/v1/retry", "/api/v1/events"}


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Http]:
    lib = tmp_path_factory.mktemp("schema") / "library"
    lib.mkdir()
    for i in range(3):
        Image.new("RGB", (80, 60), (i * 70, 30, 30)).save(lib / f"p{i}.jpg")
    shutil.copy(lib / "p0.jpg", lib / "copy.jpg")
    with http_daemon([lib]) as h:
        yield h


def _run(http: Http, token: str, methods: set[str], examples: int) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(http.base + "/openapi.json", headers=headers)
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in STREAMS or operation.method.upper() not in methods:
            continue

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=http.base, headers=headers)
            case.validate_response(
                response, checks=(not_a_server_error, response_schema_conformance)
            )

        check()
        ran += 1
    return ran


def test_no_request_makes_a_server_error_and_replies_match_the_schema(http: Http) -> None:
    every = {"GET", "POST", "DELETE"}
    assert _run(http, http.read, every, examples=6) >= 25
    assert _run(http, http.admin, {"GET"}, examples=8) >= 12
    assert http.daemon.proc is not None and http.daemon.proc.poll() is None
