"""The browser of the web tests: Debian's Chromium driven by Playwright (no browser download),
one per test module; a page that fails its test on any uncaught error in the page; where
screenshots go."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ARGS", "CHROMIUM", "WAIT_MS", "browser", "new_page", "screenshots"]

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
WAIT_MS = 60_000


def screenshots(folder: str) -> Path:
    """docs/<folder> with MEDIAFORGE_SCREENSHOTS=1 (refreshing the README's pictures); else a
    temporary folder, so that a plain run leaves the checkout as it was."""
    if os.environ.get("MEDIAFORGE_SCREENSHOTS") == "1":
        return Path(__file__).resolve().parents[2] / "docs" / folder
    return Path(tempfile.gettempdir()) / f"mediaforge-screenshots-{os.getpid()}" / folder


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
def new_page(browser: Any, width: int = 1280, height: int = 860) -> Iterator[Any]:
    """A page in a context of its own (its own cookies); an error the page throws fails it."""
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
