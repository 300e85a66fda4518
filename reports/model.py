"""The shared result model: what metrics hand to the judge and what the judge hands to the renderers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from harness.config import Gate


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"  # the confidence interval straddles the threshold
    INVALID = "INVALID"  # the measurement cannot be trusted; the reason says why
    PENDING = "PENDING"  # the data is not available yet (e.g. a cost period still running)
    SKIPPED = "SKIPPED"  # not measured in this run


Fact = float | int | str | bool | None


@dataclass(frozen=True)
class Measurement:
    """One statistic computed from raw samples, with how it was taken.

    `facts` are observations the judge needs to decide whether to trust the number (generator CPU,
    host saturation, how much of the planned window was measured, frames drawn...). Metrics only
    record them; the judge alone turns them into INVALID.
    """

    metric: str
    stat: str
    unit: str
    value: float | None
    n: int
    ci: tuple[float, float] | None = None
    window: tuple[float, float] | None = None
    facts: Mapping[str, Fact] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class GateResult:
    gate_set: str
    name: str
    gate: Gate
    verdict: Verdict
    reason: str
    measurement: Measurement | None = None
    baseline: Measurement | None = None
    relative_change: tuple[float, float, float] | None = None  # value, ci low, ci high (fractions)


@dataclass(frozen=True)
class CanarySummary:
    """Blue against green: the decision, the side-by-side table and every compared job."""

    new_side: str
    old_side: str
    urls: Mapping[str, str]
    step_pct: float | None
    decision: str  # GO, NO-GO or INCONCLUSIVE: reports.judge.decision of the gates
    comparison: object  # pandas DataFrame: reports.canary.comparison_table
    slower_share: float | None = None  # Mann-Whitney: P(new-side request slower than old-side one)
    mann_whitney_p: float | None = None
    consistency: list[Mapping[str, object]] = field(default_factory=list)  # server text: escape it


@dataclass(frozen=True)
class Report:
    """Everything a renderer needs; renderers read only this (one shared model, pytest-benchmark style)."""

    run: Mapping[str, object]  # run.json
    gate_set: str
    results: list[GateResult]
    overall: Verdict
    exit_code: int
    endpoints: object  # pandas DataFrame: reports.metrics.endpoint_table
    errors: object = None  # pandas DataFrame: reports.metrics.error_table (server text: escape it)
    notes: list[str] = field(default_factory=list)
    baseline_run: str | None = None
    figures: Mapping[str, bytes] = field(default_factory=dict)  # name -> PNG, in display order
    canary: CanarySummary | None = None
