"""What the browser tests of the web page share (test_web*.py): Debian's
Chromium through Playwright (no browser download), a browser per module, a page per test
that fails on any script error, logging in, and where screenshots go."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.system.httpd import Http

__all__ = [
    "ARGS", "CHROMIUM", "SHOTS", "WAIT_MS", "browser", "login", "new_page", "open_page", "shot",
]  # fmt: skip

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The README's screenshots (docs/img/) are refreshed with MEDIAFORGE_SCREENSHOTS=1; a plain
# run writes them to a temporary folder, so that the tests leave the checkout as it was.
SHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "img"
    if os.environ.get("MEDIAFORGE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / f"mediaforge-screenshots-{os.getpid()}"
)
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@contextmanager
def open_page(browser: Any, width: int = 1280, height: int = 860) -> Iterator[Any]:
    """A page in a context of its own (its own cookies); a script error it throws fails it."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert errors == [], errors


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """A fresh page (1280x860) for one test."""
    with open_page(browser) as page:
        yield page


def login(page: Any, http: Http, path: str = "/", token: str | None = None) -> None:
    page.goto(f"{http.base}{path}#token={token or http.admin}")
    page.wait_for_selector(".who")  # logged in: the header names the token


def shot(page: Any, name: str) -> Path:
    """A screenshot of the page as docs/img/NAME (or the temporary folder)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    page.screenshot(path=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path
