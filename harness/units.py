"""Quantities with units, as written in scenarios.yaml ("500ms", "5m", "1%").

Thresholds on timed metrics must carry a unit: a bare `500` could mean seconds or milliseconds and a
wrong guess silently changes what a gate checks.
"""

from __future__ import annotations

import re

_TIME = re.compile(r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h)\s*$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PERCENT = re.compile(r"^\s*(?P<num>-?\d+(?:\.\d+)?)\s*%\s*$")


def parse_duration_s(value: object) -> float:
    """Seconds from "250ms", "30s", "5m", "1h"; plain numbers are refused (no unit)."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"needs a unit, e.g. '{value}s' or '{value}ms'")
    match = _TIME.match(value)
    if not match:
        raise ValueError("write a number with a unit: ms, s, m or h (e.g. '500ms', '30s', '5m')")
    return float(match["num"]) * _SECONDS[match["unit"]]


def parse_ratio(value: object) -> float:
    """A fraction from "1%" or 0.01; a bare number above 1 is refused as ambiguous."""
    if isinstance(value, bool):
        raise ValueError("write a percentage like '1%' or a fraction like 0.01")
    if isinstance(value, int | float):
        if not 0 <= value <= 1:
            raise ValueError(f"{value} is not a fraction between 0 and 1; write '{value}%' for a percentage")
        return float(value)
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match:
            return float(match["num"]) / 100
    raise ValueError("write a percentage like '1%' or a fraction like 0.01")


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds < 120:
        return f"{seconds:g}s"
    return f"{seconds / 60:g}m"
