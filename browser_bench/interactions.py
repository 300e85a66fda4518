"""What a user does on PAVI's alignment view, driven the way the browser itself would deliver it.

Scrolling and panning go through CDP `Input.synthesizeScrollGesture` (the browser's own gesture
generator; a `page.mouse.wheel` loop reaches only ~25 events/s), zooming through ctrl+wheel events,
colour schemes through the page's own control. Each interaction repeats small steps until its time is
up; a step that started always finishes (a synthetic gesture cannot be cut short), so on a slow page
an interaction overruns by up to one step; the runner measures the real duration in the page.

Selectors live in `PageSpec` (set from scenarios.yaml's `workloads.browser.page`), so the same
interactions drive the local stand-in and the real PAVI web UI (whose colour control is a PrimeReact
Dropdown with the same id, not a native `<select>`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import CDPSession, Page

from harness.config import BrowserPage

# 'rendered' | 'error' | 'loading'. The local stand-in publishes its state; on a page that does not
# (the real PAVI UI), the first alignment redraw counts as rendered.
DEFAULT_STATE_JS = """() => {
  const state = document.body && document.body.dataset.paviState;
  if (state) return state;
  return window.__bench && window.__bench.drawCount > 0 ? 'rendered' : 'loading';
}"""
DEFAULT_ERROR_JS = "() => (window.__pavi && window.__pavi.error) || null"
CTRL = 2  # CDP modifier bit for Control


@dataclass(frozen=True)
class PageSpec:
    """Where the alignment view's parts are and how hard each interaction pushes."""

    msa: str = "nightingale-msa"
    color_control: str = "#dd-colorscheme"
    # (value for a native <select>, visible label for a dropdown widget), cycled in order
    color_schemes: tuple[tuple[str, str], ...] = (
        ("zappo", "Zappo"),
        ("taylor", "Taylor"),
        ("hydro", "Hydrophobicity"),
        ("clustal2", "Clustal2"),
    )
    state_js: str = DEFAULT_STATE_JS
    error_js: str = DEFAULT_ERROR_JS
    scroll_step_s: float = 0.5  # duration of one vertical gesture
    scroll_speed_min: float = 800.0  # px/s; the speed is chosen to go down and back once per run
    scroll_speed_max: float = 8000.0
    pan_px: float = 240.0  # one horizontal gesture, alternately right and left
    pan_speed: float = 1200.0
    zoom_notch: float = 100.0  # deltaY of one ctrl+wheel notch
    zoom_notches: int = 2  # notches in, then as many out, so the view stays in range
    zoom_interval_s: float = 0.05  # a fast wheel spin: 20 notches/s at most
    redraw_timeout_s: float = 60.0  # one colour change must redraw within this

    @classmethod
    def from_config(cls, page: BrowserPage) -> PageSpec:
        """The spec scenarios.yaml's `workloads.browser.page` describes (validated there)."""
        return cls(
            msa=page.msa,
            color_control=page.color_control,
            color_schemes=tuple((value, label) for value, label in page.color_schemes),
            state_js=page.state_js or DEFAULT_STATE_JS,
            error_js=page.error_js or DEFAULT_ERROR_JS,
            scroll_step_s=page.scroll_step,
            scroll_speed_min=page.scroll_speed_min,
            scroll_speed_max=page.scroll_speed_max,
            pan_px=page.pan_px,
            pan_speed=page.pan_speed,
            zoom_notch=page.zoom_notch,
            zoom_notches=page.zoom_notches,
            zoom_interval_s=page.zoom_interval,
            redraw_timeout_s=page.redraw_timeout,
        )


@dataclass(frozen=True)
class Driver:
    """What an interaction needs: the page, its CDP session and the spec."""

    page: Page
    cdp: CDPSession
    spec: PageSpec


def msa_point(driver: Driver) -> tuple[float, float]:
    """Centre of the visible part of the msa in viewport coordinates (the wheel must land on it)."""
    box = driver.page.locator(driver.spec.msa).first.bounding_box()
    view = driver.page.viewport_size or {"width": 1280, "height": 900}
    if box is None:
        raise RuntimeError(f"no visible element matches {driver.spec.msa!r}")
    left, right = max(box["x"], 0.0), min(box["x"] + box["width"], float(view["width"]))
    top, bottom = max(box["y"], 0.0), min(box["y"] + box["height"], float(view["height"]))
    if right <= left or bottom <= top:
        raise RuntimeError(f"{driver.spec.msa!r} is outside the viewport")
    return (left + right) / 2, (top + bottom) / 2


def _gesture(driver: Driver, x: float, y: float, dx: float, dy: float, speed: float) -> None:
    # CDP: positive distances scroll up/left, so "down/right" are negative
    driver.cdp.send(
        "Input.synthesizeScrollGesture",
        {
            "x": x,
            "y": y,
            "xDistance": dx,
            "yDistance": dy,
            "speed": max(1, round(speed)),
            "gestureSourceType": "mouse",
        },
    )


def scroll_vertical(driver: Driver, time_s: float) -> dict[str, Any]:
    """Wheel the page down through the sequences and back (PAVI draws the msa at full height, so the
    page scrolls, not the msa), at a speed that covers the way down and back once in `time_s`."""
    page, spec = driver.page, driver.spec
    extent = float(page.evaluate("document.scrollingElement.scrollHeight - innerHeight"))
    speed = min(max(2 * extent / time_s, spec.scroll_speed_min), spec.scroll_speed_max)
    step_px = speed * spec.scroll_step_s
    view = page.viewport_size or {"width": 1280, "height": 900}
    x, y = view["width"] / 2, view["height"] / 2
    position, direction, steps, moved = float(page.evaluate("scrollY")), 1, 0, 0.0
    deadline = time.monotonic() + time_s
    while steps == 0 or time.monotonic() < deadline:
        room = extent - position if direction > 0 else position
        if extent >= 1 and room < 1:
            direction = -direction
            room = extent - position if direction > 0 else position
        distance = min(step_px, room) if extent >= 1 else step_px
        _gesture(driver, x, y, 0, -direction * distance, speed)
        position = min(max(position + direction * distance, 0.0), extent)
        steps, moved = steps + 1, moved + distance
    return {"steps": steps, "scrollable_px": extent, "speed_px_s": speed, "moved_px": moved}


def pan_horizontal(driver: Driver, time_s: float) -> dict[str, Any]:
    """Horizontal wheel gestures over the msa, alternately right and left; every pan redraws it."""
    spec = driver.spec
    x, y = msa_point(driver)
    steps = 0
    deadline = time.monotonic() + time_s
    while steps == 0 or time.monotonic() < deadline:
        direction = 1 if steps % 2 == 0 else -1
        _gesture(driver, x, y, -direction * spec.pan_px, 0, spec.pan_speed)
        steps += 1
    return {"steps": steps, "pan_px": spec.pan_px, "speed_px_s": spec.pan_speed}


def zoom(driver: Driver, time_s: float) -> dict[str, Any]:
    """ctrl+wheel notches over the msa (nightingale zooms; the page does not), in then out."""
    spec = driver.spec
    x, y = msa_point(driver)
    cycle = 2 * spec.zoom_notches
    steps = 0
    deadline = time.monotonic() + time_s
    while steps == 0 or time.monotonic() < deadline:
        began = time.monotonic()
        delta = -spec.zoom_notch if steps % cycle < spec.zoom_notches else spec.zoom_notch
        driver.cdp.send(
            "Input.dispatchMouseEvent",
            {"type": "mouseWheel", "x": x, "y": y, "deltaX": 0, "deltaY": delta, "modifiers": CTRL},
        )
        steps += 1
        pause = spec.zoom_interval_s - (time.monotonic() - began)
        if pause > 0:
            time.sleep(pause)
    return {"steps": steps, "notch": spec.zoom_notch, "notches_per_direction": spec.zoom_notches}


def _choose_scheme(driver: Driver, value: str, label: str) -> None:
    control = driver.page.locator(driver.spec.color_control).first
    if control.evaluate("(node) => node.tagName") == "SELECT":
        control.select_option(value)
    else:  # a dropdown widget (PrimeReact in the real PAVI UI): open it, pick the option by label
        control.click()
        driver.page.get_by_role("option", name=label, exact=True).first.click()


def color_scheme(driver: Driver, time_s: float) -> dict[str, Any]:
    """Change the colour scheme, each time waiting for the alignment to redraw before the next.

    The scheme the msa shows now is left out of the cycle: choosing it again would not redraw."""
    spec, page = driver.spec, driver.page
    current = page.locator(spec.msa).first.get_attribute("color-scheme")
    schemes = [scheme for scheme in spec.color_schemes if scheme[0] != current] or list(spec.color_schemes)
    steps, missed = 0, 0
    deadline = time.monotonic() + time_s
    while steps == 0 or time.monotonic() < deadline:
        value, label = schemes[steps % len(schemes)]
        before = int(page.evaluate("window.__bench.drawCount"))
        _choose_scheme(driver, value, label)
        drew = page.evaluate(
            "([after, ms]) => window.__bench.nextDraw(after, ms)", [before, spec.redraw_timeout_s * 1000]
        )
        steps += 1
        if not drew:
            missed += 1
            break  # a control that does not redraw would spin here; the runner records the error
    facts: dict[str, Any] = {"steps": steps}
    if missed:
        facts["error"] = f"no redraw within {spec.redraw_timeout_s:.0f} s after a colour scheme change"
    return facts


Interaction = Callable[[Driver, float], dict[str, Any]]

INTERACTIONS: dict[str, Interaction] = {
    "scroll_vertical": scroll_vertical,
    "pan_horizontal": pan_horizontal,
    "zoom": zoom,
    "color_scheme": color_scheme,
}
DEFAULT_INTERACTIONS = tuple(INTERACTIONS)
