"""One measured page: a fresh context with the probe, error capture, CDP, and waiting until it is ready.

A page that errors or never renders is an outcome to record (the judge must be able to say INVALID),
so loading returns what happened instead of raising.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, CDPSession, ConsoleMessage, Page
from playwright.sync_api import Error as PlaywrightError

from browser_bench.interactions import PageSpec

PROBE_JS = Path(__file__).resolve().parent / "probe.js"
SEQUENCES_JS = """() => (window.__pavi && window.__pavi.sequences)
  || document.querySelectorAll('msa-labels li').length || null"""


KEEP_MESSAGES = 50  # raw messages stored per repeat (330 nightingale errors need not fill the JSON)
KEEP_GROUPS = 50  # distinct normalised texts counted per repeat; later new texts share one bucket
OTHER_GROUP = "(further distinct messages)"
_VOLATILE = [  # parts of a message that differ between otherwise equal messages
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE), "<uuid>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{16,}\b", re.IGNORECASE), "<hex>"),
    (re.compile(r"\d+\.\d+|\d{4,}"), "<n>"),
]


def normalise(text: str) -> str:
    """The first line with ids and long numbers masked, so repeats of one message group together."""
    line = " ".join((text.strip().splitlines() or [""])[0].split())
    for pattern, mask in _VOLATILE:
        line = pattern.sub(mask, line)
    return line[:300]


def match_line(text: str, url: str | None) -> str:
    """What ignore_console patterns are searched in: the text, and where Chromium says it came from
    (a failed fetch's text does not name the resource, only its source URL does)."""
    return f"{text} @ {url}" if url else text


@dataclass
class PageErrors:
    """Console errors and uncaught exceptions of one repeat: counted, grouped, the first ones kept raw.

    Messages an `ignore` pattern matches are kept and grouped but not counted. While `measuring` is
    False (the unmeasured trace pass) messages are kept raw but neither counted nor grouped, so a
    trace taken or not never changes a count.
    """

    repeat: int
    ignore: tuple[re.Pattern[str], ...] = ()
    phase: str = "load"
    measuring: bool = True
    started: float = field(default_factory=time.monotonic)
    items: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    counted: int = 0
    ignored: int = 0
    unmeasured: int = 0
    groups: dict[tuple[str, str, bool], dict[str, Any]] = field(default_factory=dict)
    _taken: tuple[int, int] = (0, 0)

    def add(self, kind: str, text: str, url: str | None = None) -> None:
        ignored = any(pattern.search(match_line(text, url)) for pattern in self.ignore)
        self.total += 1
        if len(self.items) < KEEP_MESSAGES:
            self.items.append(
                {
                    "repeat": self.repeat,
                    "phase": self.phase,
                    "type": kind,
                    "text": text[:2000],
                    "url": url,
                    "ignored": ignored,
                    "counted": self.measuring and not ignored,
                    "at_s": round(time.monotonic() - self.started, 3),
                }
            )
        if not self.measuring:
            self.unmeasured += 1
            return
        if ignored:
            self.ignored += 1
        else:
            self.counted += 1
        key = (normalise(text), kind, ignored)
        if key not in self.groups and len(self.groups) >= KEEP_GROUPS:
            key = (OTHER_GROUP, kind, ignored)
        group = self.groups.setdefault(
            key,
            {
                "text": key[0],
                "type": kind,
                "ignored": ignored,
                "count": 0,
                "phases": [],
                "example": text[:500],
            },
        )
        group["count"] += 1
        if self.phase not in group["phases"]:
            group["phases"].append(self.phase)

    def take_count(self) -> tuple[int, int]:
        """Counted and ignored messages since the previous call, so each lands in one interactions row."""
        fresh = (self.counted - self._taken[0], self.ignored - self._taken[1])
        self._taken = (self.counted, self.ignored)
        return fresh

    def record(self) -> dict[str, Any]:
        """This repeat's part of page_errors.json."""
        return {
            "repeat": self.repeat,
            "total": self.total,
            "counted": self.counted,
            "ignored": self.ignored,
            "unmeasured": self.unmeasured,
            "kept": len(self.items),
            "groups": sorted(self.groups.values(), key=lambda g: -g["count"]),
            "messages": self.items,
        }


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


def _on_console(errors: PageErrors, message: ConsoleMessage) -> None:
    if message.type == "error":
        errors.add("console", message.text, (message.location or {}).get("url") or None)


def open_page(
    browser: Browser,
    repeat: int,
    viewport: tuple[int, int],
    cpu_throttle: float,
    ignore: tuple[re.Pattern[str], ...] = (),
) -> MeasuredPage:
    """A new context per repeat, so no cache, memory or JIT state carries over between repeats."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    context.add_init_script(path=str(PROBE_JS))
    page = context.new_page()
    errors = PageErrors(repeat=repeat, ignore=ignore)
    page.on("console", lambda message: _on_console(errors, message))
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
    if page.locator(spec.msa).count() == 0:  # a rendered page without the view would be driven blind
        return LoadResult(
            False, None, f"the alignment view was not found: no element matches page.msa {spec.msa!r}"
        )
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
