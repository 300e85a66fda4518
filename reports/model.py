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
class BatchSeries:
    """A judged statistic batch by batch over its window, so a reader sees why an interval is wide.

    `values` are the statistic computed within each batch (a batch's own p95, error rate...; None for
    an empty batch); the interval itself comes from the batching in reports.batching.
    """

    starts: tuple[float, ...]  # each batch's start: seconds from the window's start, or job number
    values: tuple[float | None, ...]
    length: float  # one batch's length, same unit as starts
    axis: str = "s"  # "s" (seconds into the window) or "job"


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
    n_eff: float | None = None  # effective sample size: n shrunk by the dependence between samples
    series: BatchSeries | None = None


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
class JobsSummary:
    """The pipeline jobs a run started: the load's budget and tally, and sequences the pipeline rejected."""

    load: Mapping[str, Mapping[str, object]] = field(
        default_factory=dict
    )  # side ("" outside canaries) -> tally
    rejected: list[Mapping[str, object]] = field(default_factory=list)  # {seq, job_id, names: {name: error}}

    def lines(self) -> list[str]:
        """One sentence per side and per job with rejections (server text: escape it)."""
        out = []
        for side, tally in self.load.items():
            budget = tally.get("budget")
            limit = "no job budget" if budget is None else f"a budget of {budget}"
            where = f" ({side})" if side else ""
            out.append(
                f"load{where}: {tally.get('posts', 0)} job submission(s) sent, {limit} "
                f"({tally.get('seed_posts', 0)} seed); of {tally.get('submitted', 0)} the API took: "
                f"{tally.get('completed', 0)} completed, {tally.get('failed', 0)} failed, "
                f"{tally.get('running', 0)} still running, {tally.get('unknown', 0)} unknown"
            )
        for job in self.rejected:
            names = job.get("names") or {}
            assert isinstance(names, Mapping)
            listed = "; ".join(f"{name}: {error}" for name, error in names.items())
            out.append(
                f"pipeline job {job.get('seq')} ({job.get('job_id')}): {len(names)} sequence(s) rejected "
                f"by the pipeline (absent from the alignment, with an error in seq-info): {listed}"
            )
        return out


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
    console: object = None  # pandas DataFrame: reports.metrics.console_table (page text: escape it)
    jobs: JobsSummary = field(default_factory=JobsSummary)
