"""The web page's component tests (web/test/*.test.tsx, Vitest in jsdom), run from the Python
suite so that a failing one fails it. They need web/node_modules (``npm ci`` in web/, which
``.ci/dev`` runs when the bundle must be rebuilt); without it they are skipped, saying so."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"


def test_the_component_tests_pass() -> None:
    npx = shutil.which("npx")
    if npx is None or not (WEB / "node_modules" / "vitest").is_dir():
        pytest.skip("web/node_modules is missing: run npm ci in web/ to run the component tests")
    env = {**os.environ, "CI": "1", "NO_COLOR": "1"}
    result = subprocess.run(
        [npx, "--no-install", "vitest", "run"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert " passed" in output and " failed" not in output, output[-3000:]
