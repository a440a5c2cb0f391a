"""Debian's Chromium driven by Playwright: where it is, how it starts on these machines, and a test's skip reason.

One place for the flags: without the background-networking ones Chromium opens connections this machine's closed
network refuses, many at a time, and tries to look up Google's hosts at every start."""

from __future__ import annotations

from pathlib import Path

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
