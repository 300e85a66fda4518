"""Runs that last until the verdict is known: the looks and the confidence each one uses.

A run judged at several looks and stopped at the first that decides would, at 95% per look, be
wrong more often than 5% overall. The error is spent across the planned looks with Bonferroni's
bound: K looks at 1 - 0.05 / K each keep the whole procedure's error at most 5%, whatever the
dependence between looks. Conservative, but the looks are few (doubling times) and the bound needs
no model of how the looks' estimates correlate.
"""

from __future__ import annotations

from reports.stats import CONFIDENCE


def look_times(first_s: float, max_s: float) -> list[float]:
    """Doubling look times from `first_s`, the last one always `max_s` (e.g. 60, 120, 240, 300)."""
    if first_s <= 0 or max_s <= 0:
        raise ValueError("look times must be positive")
    looks: list[float] = []
    at = min(first_s, max_s)
    while at < max_s:
        looks.append(at)
        at *= 2
    return [*looks, max_s]


def look_confidence(looks: int, confidence: float = CONFIDENCE) -> float:
    """The confidence each of `looks` looks uses so the whole procedure keeps `confidence`."""
    if looks < 1:
        raise ValueError("at least one look")
    return 1 - (1 - confidence) / looks
