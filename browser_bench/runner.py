"""The browser part: repeats of a fresh PAVI result page, each driven through every interaction.

It measures and records; it never judges. Per repeat it opens a new browser context, waits until the
alignment rendered and stopped redrawing, then for each interaction reads CDP Performance metrics,
runs the interaction between the probe's start and stop marks, and reads the metrics again. All files
are rewritten after every repeat, so a crash keeps the repeats already measured. A page that errors
or never renders is recorded (rendered=False, error text, no frames), never raised: the judge must be
able to call such a run INVALID. Console errors of a page that renders are a finding about the page:
they are counted (less those `ignore_console` matches) and kept in page_errors.json, never a reason
to distrust the frames.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from browser_bench.frames import (
    FRAMES_SCHEMA,
    INTERACTIONS_SCHEMA,
    convenience,
    frame_rows,
    write_table,
)
from browser_bench.interactions import INTERACTIONS, Driver, PageSpec
from browser_bench.launch import chromium_path, launch_flags
from browser_bench.pageload import KEEP_MESSAGES, LoadResult, MeasuredPage, load, open_page, settle
from harness.config import BrowserWorkload
from harness.errors import ConfigError
from harness.runstore import Run, write_json_atomic

VIEWPORT = (1280, 900)
RENDER_TIMEOUT_S = 180.0
SETTLE_QUIET_MS = 500.0
SETTLE_MAX_S = 60.0
TRACE_BELOW_FPS = 30.0
MAX_TRACES = 1  # 1-4 MB each and one extra pass per trace; one shows where the time goes
TRACE_CATEGORIES = [
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "disabled-by-default-devtools.timeline.frame",
    "blink.user_timing",
    "v8.execute",
]


@dataclass(frozen=True)
class BrowserOutcome:
    """Where the browser part's files are, which browser made them, and how much was measured."""

    browser_dir: Path
    frames: Path
    interactions: Path
    summary: Path
    page_errors: Path
    browser_version: str
    repeats: int
    rendered_repeats: int
    frame_rows: int
    interaction_rows: int
    page_error_count: int  # counted console errors and page errors (ignore_console matches left out)
    page_errors_ignored: int
    traces: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class Settings:
    """The workload with the caller's overrides applied; recorded as is in run.json and summary.json."""

    sequences: int
    repeats: int
    interaction_time_s: float
    uncapped: bool
    cpu_throttle: float
    interactions: tuple[str, ...]


def resolve_settings(
    workload: BrowserWorkload,
    repeats: int | None,
    interaction_time_s: float | None,
    uncapped: bool | None,
    cpu_throttle: float | None,
    interactions: list[str] | None,
) -> Settings:
    names = tuple(interactions) if interactions is not None else tuple(workload.interactions)
    unknown = [name for name in names if name not in INTERACTIONS]
    if unknown or not names:
        raise ConfigError(
            f"unknown browser interaction(s): {', '.join(unknown) or '(none given)'}",
            f"use some of: {', '.join(INTERACTIONS)}",
        )
    settings = Settings(
        sequences=workload.sequences,
        repeats=repeats if repeats is not None else workload.repeats,
        interaction_time_s=float(
            interaction_time_s if interaction_time_s is not None else workload.interaction_time
        ),
        uncapped=uncapped if uncapped is not None else workload.uncapped,
        cpu_throttle=float(cpu_throttle if cpu_throttle is not None else workload.cpu_throttle),
        interactions=names,
    )
    if settings.repeats < 1 or settings.interaction_time_s <= 0 or settings.cpu_throttle < 1:
        raise ConfigError(
            f"browser settings out of range: {settings}",
            "repeats >= 1, interaction time > 0 and cpu_throttle >= 1",
        )
    return settings


def _metrics(measured: MeasuredPage) -> dict[str, float]:
    answer = measured.cdp.send("Performance.getMetrics")
    return {item["name"]: float(item["value"]) for item in answer["metrics"]}


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def measure_interaction(
    measured: MeasuredPage, name: str, spec: PageSpec, time_s: float
) -> tuple[dict[str, Any], dict[str, Any], float, float, str | None]:
    """Run one interaction from a settled page at the top; return probe data, facts, CDP task and window
    milliseconds, and an error (the interaction's own, e.g. a missing selector) or None."""
    page = measured.page
    page.evaluate("window.scrollTo(0, 0)")
    quiet = settle(page, SETTLE_QUIET_MS, SETTLE_MAX_S)
    measured.errors.phase = name
    before = _metrics(measured)
    page.evaluate("(name) => window.__bench.start(name)", name)
    facts: dict[str, Any] = {
        "settled": bool(quiet["settled"]),
        "settle_ms": round(float(quiet["waitedMs"]), 1),
    }
    error: str | None = None
    try:
        facts |= INTERACTIONS[name](Driver(page=page, cdp=measured.cdp, spec=spec), time_s)
        error = facts.pop("error", None)
    except (PlaywrightError, RuntimeError) as problem:
        error = _first_line(problem)
    probe = page.evaluate("window.__bench.stop()")
    after = _metrics(measured)
    task_ms = (after.get("TaskDuration", 0.0) - before.get("TaskDuration", 0.0)) * 1000
    window_ms = (after.get("Timestamp", 0.0) - before.get("Timestamp", 0.0)) * 1000
    return probe, facts, task_ms, window_ms, error


def _failed_row(
    repeat: int, name: str, loaded: LoadResult | None, error: str, page_errors: tuple[int, int]
) -> dict:
    return {
        "repeat": repeat,
        "interaction": name,
        "duration_ms": None,
        "frames": 0,
        "redraws": 0,
        "task_duration_ms": None,
        "metrics_window_ms": None,
        "rendered": bool(loaded and loaded.rendered),
        "render_ms": loaded.render_ms if loaded else None,
        "page_errors": page_errors[0],
        "page_errors_ignored": page_errors[1],
        "long_frames": None,
        "steps": None,
        "error": error,
    }


class _Bench:
    """State of one run_browser call: settings, the files, and everything measured so far."""

    def __init__(
        self,
        run: Run,
        url: str,
        uuid: str,
        settings: Settings,
        spec: PageSpec,
        ignore_console: list[str],
    ) -> None:
        self.run, self.url, self.uuid, self.settings, self.spec = run, url, uuid, settings, spec
        self.ignore_console = ignore_console
        self.ignore = tuple(re.compile(pattern) for pattern in ignore_console)
        self.dir = run.part_dir("browser")
        self.frames: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []  # one page_errors record per repeat
        self.results: list[dict[str, Any]] = []
        self.repeat_facts: list[dict[str, Any]] = []
        self.traces: list[dict[str, Any]] = []
        self.browser_facts: dict[str, Any] = {}
        self.loaf_supported: bool | None = None
        self.started = time.monotonic()

    def path(self, name: str) -> Path:
        return self.dir / name

    def save(self, complete: bool) -> None:
        write_table(self.path("frames.parquet"), self.frames, FRAMES_SCHEMA)
        write_table(self.path("interactions.parquet"), self.rows, INTERACTIONS_SCHEMA)
        write_json_atomic(self.path("page_errors.json"), self.page_errors_document())
        s = self.settings
        write_json_atomic(
            self.path("summary.json"),
            {
                "complete": complete,
                "wall_s": round(time.monotonic() - self.started, 2),
                "browser": self.browser_facts,
                "url": self.url,
                "uuid": self.uuid,
                "sequences": s.sequences,
                "repeats": s.repeats,
                "repeats_measured": len(self.repeat_facts),
                "interaction_time_s": s.interaction_time_s,
                "interactions": list(s.interactions),
                "cpu_throttle": s.cpu_throttle,
                "uncapped": s.uncapped,
                "viewport": {"width": VIEWPORT[0], "height": VIEWPORT[1]},
                "long_animation_frames_supported": self.loaf_supported,
                "page_spec": {k: v for k, v in asdict(self.spec).items() if not k.endswith("_js")},
                "ignore_console": self.ignore_console,
                "page_errors": self.count("counted"),
                "page_errors_ignored": self.count("ignored"),
                "per_repeat": self.repeat_facts,
                "per_interaction": self.results,
                "traces": self.traces,
                "note": "convenience numbers only; the judge recomputes from frames.parquet",
            },
        )

    def count(self, key: str) -> int:
        return sum(int(record[key]) for record in self.errors)

    def page_errors_document(self) -> dict[str, Any]:
        """page_errors.json: totals, the groups of all repeats merged (the report's table), and per
        repeat its groups and first messages raw."""
        merged: dict[tuple[str, str, bool], dict[str, Any]] = {}
        for record in self.errors:
            for group in record["groups"]:
                key = (group["text"], group["type"], group["ignored"])
                into = merged.setdefault(key, {**group, "count": 0, "phases": [], "repeats": []})
                into["count"] += group["count"]
                into["phases"] += [phase for phase in group["phases"] if phase not in into["phases"]]
                into["repeats"].append(record["repeat"])
        return {
            "ignore_console": self.ignore_console,
            "keep_messages_per_repeat": KEEP_MESSAGES,
            "total": self.count("total"),
            "counted": self.count("counted"),
            "ignored": self.count("ignored"),
            "unmeasured": self.count("unmeasured"),
            "groups": sorted(merged.values(), key=lambda g: (g["ignored"], -g["count"], g["text"])),
            "repeats": self.errors,
        }

    def measure_repeat(self, browser: Browser, repeat: int, progress: Progress, task: Any) -> None:
        s = self.settings
        measured: MeasuredPage | None = None
        loaded: LoadResult | None = None
        done: list[str] = []  # interactions with a row in interactions.parquet
        advanced = 0
        try:
            load_average = [round(x, 2) for x in os.getloadavg()]
            measured = open_page(browser, repeat, VIEWPORT, s.cpu_throttle, self.ignore)
            loaded = load(measured, self.url, self.spec, RENDER_TIMEOUT_S, SETTLE_QUIET_MS, SETTLE_MAX_S)
            self.repeat_facts.append({"repeat": repeat, **asdict(loaded), "load_average_start": load_average})
            if not loaded.rendered:
                return
            for name in s.interactions:
                progress.update(task, description=f"repeat {repeat + 1}/{s.repeats} {name}")
                self.measure_one(measured, repeat, name, loaded)
                done.append(name)
                progress.advance(task)
                advanced += 1
            self.maybe_trace(browser, measured, repeat)
        except Exception as problem:  # a crashed page or browser: keep what was measured, say why
            reason = _first_line(problem)
            if loaded is None:
                loaded = LoadResult(rendered=False, render_ms=None, error=reason)
                self.repeat_facts.append({"repeat": repeat, **asdict(loaded)})
            for name in s.interactions:
                if name not in done:
                    count = measured.errors.take_count() if measured else (0, 0)
                    self.rows.append(_failed_row(repeat, name, loaded, reason, count))
                    done.append(name)
        finally:
            if loaded is not None and not loaded.rendered:
                for name in s.interactions:
                    if name not in done:
                        count = measured.errors.take_count() if measured else (0, 0)
                        self.rows.append(
                            _failed_row(repeat, name, loaded, loaded.error or "not rendered", count)
                        )
            progress.advance(task, len(s.interactions) - advanced)
            mine = [facts for facts in self.repeat_facts if facts["repeat"] == repeat]
            if mine:
                mine[0]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
                mine[0]["page_errors"] = measured.errors.counted if measured else 0
                mine[0]["page_errors_ignored"] = measured.errors.ignored if measured else 0
            if measured is not None:
                self.errors.append(measured.errors.record())
                with suppress(PlaywrightError):
                    measured.context.close()

    def measure_one(self, measured: MeasuredPage, repeat: int, name: str, loaded: LoadResult) -> None:
        probe, facts, task_ms, window_ms, error = measure_interaction(
            measured, name, self.spec, self.settings.interaction_time_s
        )
        self.loaf_supported = bool(probe.get("loafSupported"))
        frames = frame_rows(repeat, name, probe)
        counted, ignored = measured.errors.take_count()
        row = {
            "repeat": repeat,
            "interaction": name,
            "duration_ms": float(probe["end"] - probe["t0"]),
            "frames": len(frames),
            "redraws": len(probe["draws"]),
            "task_duration_ms": task_ms,
            "metrics_window_ms": window_ms,
            "rendered": True,
            "render_ms": loaded.render_ms,
            "page_errors": counted,
            "page_errors_ignored": ignored,
            "long_frames": len(probe["loaf"]) if probe.get("loafSupported") else None,
            "steps": facts.get("steps"),
            "error": error,
        }
        self.frames += frames
        self.rows.append(row)
        self.results.append(convenience(frames, row) | {"facts": facts})

    def maybe_trace(self, browser: Browser, measured: MeasuredPage, repeat: int) -> None:
        """Trace the slowest interaction of a repeat under TRACE_BELOW_FPS (at most MAX_TRACES a run)."""
        mine = [r for r in self.results if r["repeat"] == repeat and r["fps_mean"] is not None]
        if not mine or len(self.traces) >= MAX_TRACES:
            return
        slowest = min(mine, key=lambda r: r["fps_mean"])
        if slowest["fps_mean"] < TRACE_BELOW_FPS:
            self.trace(browser, measured, repeat, slowest["interaction"])

    def trace(self, browser: Browser, measured: MeasuredPage, repeat: int, name: str) -> None:
        """A Chrome trace of one extra, unmeasured pass of the slowest interaction (tracing itself
        slows the page, so it never overlaps the measured passes)."""
        path = self.path(f"trace-{repeat}.json")
        measured.errors.phase = f"trace:{name}"
        measured.errors.measuring = False  # an extra pass: its messages are kept, not counted twice
        try:
            measured.page.evaluate("window.scrollTo(0, 0)")
            settle(measured.page, SETTLE_QUIET_MS, SETTLE_MAX_S)
            browser.start_tracing(page=measured.page, path=path, categories=TRACE_CATEGORIES)
            try:
                driver = Driver(page=measured.page, cdp=measured.cdp, spec=self.spec)
                INTERACTIONS[name](driver, self.settings.interaction_time_s)
            finally:
                browser.stop_tracing()
            self.traces.append({"repeat": repeat, "interaction": name, "path": path.name})
        except PlaywrightError as problem:
            self.traces.append({"repeat": repeat, "interaction": name, "error": _first_line(problem)})


def _launch(playwright: Playwright, uncapped: bool) -> tuple[Browser, dict[str, Any]]:
    executable = chromium_path()
    flags = launch_flags(uncapped)
    browser = playwright.chromium.launch(executable_path=executable, args=flags, headless=True)
    probe_page = browser.new_page()
    user_agent = probe_page.evaluate("navigator.userAgent")
    probe_page.close()
    facts = {
        "name": "chromium",
        "version": browser.version,
        "user_agent": user_agent,
        "executable": executable,
        "headless": True,
        "launch_flags": flags,
        "playwright": _playwright_version(),
    }
    return browser, facts


def _playwright_version() -> str:
    from importlib.metadata import version

    return version("playwright")


def run_browser(
    run: Run,
    web_url: str,
    uuid: str,
    workload: BrowserWorkload,
    *,
    repeats: int | None = None,
    interaction_time_s: float | None = None,
    uncapped: bool | None = None,
    cpu_throttle: float | None = None,
    interactions: list[str] | None = None,
    show_progress: bool = True,
    spec: PageSpec | None = None,
    looks: Sequence[float] = (),
    at_look: Callable[[int], str | None] | None = None,
) -> BrowserOutcome:
    """Measure `<web_url>/result?uuid=<uuid>` and write runs/<id>/browser/; never decides pass/fail.

    `spec` defaults to `workload.page`; console messages `workload.ignore_console` matches are kept
    in page_errors.json but not counted. `looks` (repeat counts) with `at_look`: a run that lasts
    until decided; `repeats` is then the most, and `at_look` says why to stop after that many, or None."""
    settings = resolve_settings(workload, repeats, interaction_time_s, uncapped, cpu_throttle, interactions)
    url = f"{web_url.rstrip('/')}/result?uuid={uuid}"
    if workload.page_query:
        url += f"&{workload.page_query.lstrip('?&')}"
    bench = _Bench(
        run, url, uuid, settings, spec or PageSpec.from_config(workload.page), list(workload.ignore_console)
    )
    how = {
        "url": url,
        "uuid": uuid,
        "sequences": settings.sequences,
        "repeats": settings.repeats,
        "interaction_time_s": settings.interaction_time_s,
        "interactions": list(settings.interactions),
        "uncapped": settings.uncapped,
        "cpu_throttle": settings.cpu_throttle,
        "viewport": list(VIEWPORT),
        "ignore_console": list(workload.ignore_console),
    }
    run.record_part("browser", status="running", **how)
    status = "aborted"
    progress = Progress(
        TextColumn("[bold]browser[/]"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        disable=not show_progress,
    )
    try:
        with sync_playwright() as playwright, progress:
            browser, bench.browser_facts = _launch(playwright, settings.uncapped)
            run.record_part(
                "browser",
                browser_version=browser.version,
                user_agent=bench.browser_facts["user_agent"],
                launch_flags=bench.browser_facts["launch_flags"],
            )
            task = progress.add_task("starting", total=settings.repeats * len(settings.interactions))
            try:
                for repeat in range(settings.repeats):
                    if not browser.is_connected():  # a crashed browser must not end the whole part
                        browser, bench.browser_facts = _launch(playwright, settings.uncapped)
                    bench.measure_repeat(browser, repeat, progress, task)
                    bench.save(complete=False)
                    run.record_part("browser", repeats_done=repeat + 1)
                    done = repeat + 1
                    looked = at_look is not None and done in looks and done < settings.repeats
                    if looked and (reason := at_look(done)) is not None:  # type: ignore[misc]
                        run.record_part("browser", until_decided={
                            "looks_repeats": list(looks), "stopped_at_repeats": done, "stop_reason": reason,
                        })  # fmt: skip
                        break
            finally:
                browser.close()
        status = "complete"
    finally:
        bench.save(complete=status == "complete")
        rendered = sum(1 for facts in bench.repeat_facts if facts.get("rendered"))
        run.record_part(
            "browser",
            status=status,
            rendered_repeats=rendered,
            frame_rows=len(bench.frames),
            page_errors=bench.count("counted"),
            page_errors_ignored=bench.count("ignored"),
            wall_s=round(time.monotonic() - bench.started, 2),
        )
    return BrowserOutcome(
        browser_dir=bench.dir,
        frames=bench.path("frames.parquet"),
        interactions=bench.path("interactions.parquet"),
        summary=bench.path("summary.json"),
        page_errors=bench.path("page_errors.json"),
        browser_version=str(bench.browser_facts.get("version")),
        repeats=settings.repeats,
        rendered_repeats=rendered,
        frame_rows=len(bench.frames),
        interaction_rows=len(bench.rows),
        page_error_count=bench.count("counted"),
        page_errors_ignored=bench.count("ignored"),
        traces=[bench.path(t["path"]) for t in bench.traces if "path" in t],
    )
