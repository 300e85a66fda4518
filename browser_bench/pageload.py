"""One measured page: a fresh context with the probe, error capture, CDP, and waiting until it is ready.

A page that errors or never renders is an outcome to record (the judge must be able to say INVALID),
so loading returns what happened instead of raising.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, CDPSession, Page
from playwright.sync_api import Error as PlaywrightError

from browser_bench.interactions import PageSpec

PROBE_JS = Path(__file__).resolve().parent / "probe.js"
SEQUENCES_JS = """() => (window.__pavi && window.__pavi.sequences)
  || document.querySelectorAll('msa-labels li').length || null"""


@dataclass
class PageErrors:
    """Console errors and uncaught exceptions, tagged with the phase they arrived in."""

    repeat: int
    phase: str = "load"
    started: float = field(default_factory=time.monotonic)
    items: list[dict[str, Any]] = field(default_factory=list)
    counted: int = 0

    def add(self, kind: str, text: str) -> None:
        self.items.append(
            {
                "repeat": self.repeat,
                "phase": self.phase,
                "type": kind,
                "text": text[:2000],
                "at_s": round(time.monotonic() - self.started, 3),
            }
        )

    def take_count(self) -> int:
        """Errors since the previous call, so each error counts in exactly one interactions row."""
        fresh = len(self.items) - self.counted
        self.counted = len(self.items)
        return fresh


@dataclass
class MeasuredPage:
    context: BrowserContext
    page: Page
    cdp: CDPSession
    errors: PageErrors


@dataclass
class LoadResult:
    rendered: bool
    render_ms: float | None
    error: str | None
    settle_ms: float | None = None
    settled: bool | None = None
    draws_settled: int | None = None
    sequences_shown: int | None = None


def open_page(browser: Browser, repeat: int, viewport: tuple[int, int], cpu_throttle: float) -> MeasuredPage:
    """A new context per repeat, so no cache, memory or JIT state carries over between repeats."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    context.add_init_script(path=str(PROBE_JS))
    page = context.new_page()
    errors = PageErrors(repeat=repeat)
    page.on(
        "console", lambda message: errors.add("console", message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.add("pageerror", str(error)))
    cdp = context.new_cdp_session(page)
    if cpu_throttle > 1:
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": cpu_throttle})
    cdp.send("Performance.enable")
    return MeasuredPage(context=context, page=page, cdp=cdp, errors=errors)


def settle(page: Page, quiet_ms: float, max_s: float) -> dict[str, Any]:
    """Wait until no alignment redraw came for `quiet_ms` (bounded by `max_s`)."""
    return page.evaluate("([quiet, most]) => window.__bench.settle(quiet, most)", [quiet_ms, max_s * 1000])


def load(
    measured: MeasuredPage, url: str, spec: PageSpec, timeout_s: float, quiet_ms: float, settle_max_s: float
) -> LoadResult:
    """Navigate, wait for 'rendered' or 'error' (bounded), then for the post-render redraws to stop."""
    page = measured.page
    began = time.monotonic()
    try:
        page.goto(url, timeout=timeout_s * 1000)
        remaining_ms = max(1.0, (timeout_s - (time.monotonic() - began)) * 1000)
        ready = (
            f"() => {{ const s = ({spec.state_js})(); return ['rendered', 'error'].includes(s) ? s : null; }}"
        )
        handle = page.wait_for_function(ready, timeout=remaining_ms)
        state = handle.json_value()
    except PlaywrightError as error:
        reason = "did not render" if "Timeout" in str(error) else "could not be loaded"
        return LoadResult(
            False, None, f"page {reason} within {timeout_s:.0f} s: {str(error).splitlines()[0]}"
        )
    render_ms = (time.monotonic() - began) * 1000
    if state != "rendered":
        detail = page.evaluate(spec.error_js)
        return LoadResult(False, None, f"page state {state!r}: {detail or 'no error text'}")
    facts = settle(page, quiet_ms, settle_max_s)
    return LoadResult(
        rendered=True,
        render_ms=render_ms,
        error=None,
        settle_ms=float(facts["waitedMs"]),
        settled=bool(facts["settled"]),
        draws_settled=int(facts["drawCount"]),
        sequences_shown=page.evaluate(SEQUENCES_JS),
    )
