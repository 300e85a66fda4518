"""Which Chromium, with which flags: recorded with every run, since frame rates depend on both.

Playwright cannot download its own browsers here, so it drives Debian's Chromium. `--disable-gpu` was
the fastest software path on this kind of host; headless Chromium caps animation frames at 60 Hz
unless the frame-rate limit and GPU vsync are turned off (uncapped mode).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness.errors import EnvironmentProblem

BASE_FLAGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)
UNCAPPED_FLAGS = ("--disable-frame-rate-limit", "--disable-gpu-vsync")
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str:
    """`PAVI_CHROMIUM`, else the first Chromium on PATH, else Debian's /usr/bin/chromium."""
    explicit = os.environ.get("PAVI_CHROMIUM")
    if explicit:
        return explicit
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    raise EnvironmentProblem(
        "no Chromium found for the browser bench",
        "install Debian's `chromium` package (make setup does), or set PAVI_CHROMIUM to its path",
    )


def launch_flags(uncapped: bool) -> list[str]:
    """`--no-sandbox` only as root, where Chromium's sandbox cannot start."""
    flags = list(BASE_FLAGS)
    if uncapped:
        flags += UNCAPPED_FLAGS
    if os.geteuid() == 0:
        flags.append("--no-sandbox")
    return flags
