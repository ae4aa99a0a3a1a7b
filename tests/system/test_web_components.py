"""The web page's component tests (web/test/*.test.tsx, Vitest in jsdom), run from the Python
suite so that a failing one fails it. They need web/node_modules (``npm ci`` in web/, which
``bash .ci/dev test`` runs when it is missing or older than the lock file). Without it they
are skipped, saying so, except in CI (``CI`` set, as CI services do): there a missing
node_modules is a failure, so the component tests cannot silently stop running."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def test_the_component_tests_pass() -> None:
    npx = shutil.which("npx")
    if npx is None or not (WEB / "node_modules" / "vitest").is_dir():
        why = "npx (Node) is not installed" if npx is None else "web/node_modules is missing"
        if _in_ci():
            pytest.fail(f"{why}: `bash .ci/dev test` installs it (npm ci in web/)")
        pytest.skip(f"{why}: run npm ci in web/ to run the component tests")
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
