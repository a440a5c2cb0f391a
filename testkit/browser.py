"""Debian's Chromium driven by Playwright: where it is, how it starts on these machines, and a test's skip reason.

One place for the flags: without the background-networking ones Chromium opens connections this machine's closed
network refuses, many at a time, and tries to look up Google's hosts at every start."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING = f"needs Debian's chromium at {CHROMIUM} (apt-get install -y chromium)"


def available() -> bool:
    return CHROMIUM.exists()


@contextmanager
def chromium_page(
    profile: Path, width: int = 1400, height: int = 900, **options: Any
) -> Iterator[tuple[Page, list[str]]]:
    """A page of Debian's Chromium with a fresh profile in ``profile``; yields it and the errors it logs as it goes
    (script errors, CSP violations, failed requests), which a test asserts empty at the end."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": width, "height": height},
            **options,
        )
        try:
            page = context.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            yield page, problems
        finally:
            context.close()
