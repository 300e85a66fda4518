"""Recipes: for every gate, the trial that should make it PASS and the fault that should trip it.

Each fault is derived from the gate's own threshold (twice a latency limit, five times an error limit,
an outage half as long again as the allowed gap...), so the self-test proves a user's own gates as well
as the shipped ones. Pure: gates in, cases out. Trials that are equal are measured once, so one healthy
load run judges every load gate, and tripped trials of the same kind whose only difference is how
strong a fault is are merged at the strongest (`merge_trials`): a stronger fault still trips.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from harness.config import Gate, Scenarios
from harness.registry import METRICS
from reports.model import Verdict
from reports.stats import min_samples_for_percentile
from selftest.scale import Scale

HEALTHY = "healthy"
TRIPPED = "tripped"
SATURATED = "saturated generator"

UPPER = ("below", "at_most")
LOWER = ("above", "at_least")
# Fault parameters whose stronger value still trips every gate the weaker one tripped.
MERGEABLE = frozenset(
    {
        "latency_ms",
        "error_ratio",
        "slow_frame_ms",
        "pipeline_failure_ratio",
        "outage_s",
    }
)  # not the canary's per-side faults: the new side's latency must stay the old side's plus a margin
STREAK_LUCK = 1e-4  # the chance that a tripped streak run has no failure at all
EVIDENCE_REQUESTS = 20_000  # ALB requests put into CloudWatch per trial
E2E_TESTS = 20
S3_OBJECTS = 5
COST_BASELINE_USD = 100.0


@dataclass(frozen=True)
class Trial:
    """One measured run: its kind and parameters (faults and sizes). Equal trials are run once."""

    kind: str
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, kind: str, **params: Any) -> Trial:
        return cls(kind, tuple(sorted((k, v) for k, v in params.items() if v is not None)))

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.params).get(name, default)

    def changed(self, **changes: Any) -> Trial:
        return Trial.of(self.kind, **{**dict(self.params), **changes})

    @property
    def label(self) -> str:
        shown = " ".join(f"{key}={_short(value)}" for key, value in self.params)
        return f"{self.kind} {shown}".strip()


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Case:
    """One row of the self-test: a gate, healthy or tripped, what the judge must say, and how."""

    gate_set: str
    gate: str  # as the report names it (a canary run's load gates: "error-rate (blue)")
    case: str  # healthy | tripped | saturated generator
    expected: Verdict
    trial: Trial
    fault: str  # what was done to trip it, with the derivation ("" when healthy)
    how: str  # how the evidence is made
    baseline: Trial | None = None  # relative gates: the run compared with
    scaled: str = ""  # where the scale forced something, and why
    exception: str | None = None  # a name in EXCEPTIONS when the case is known not to behave here


@dataclass(frozen=True)
class Untestable:
    gate_set: str
    gate: str
    reason: str


@dataclass(frozen=True)
class KnownException:
    """A case known not to behave on this machine for a reason outside the gate (documented)."""

    name: str
    why: str
    got: frozenset[Verdict]  # what it gives instead; anything else is a real failure


# The 60 FPS gates at PAVI's scale: nightingale-msa repaints every visible tile on each redraw, which
# takes 1.5-3.4 s at 500 rows here (docs/PERFORMANCE.md), so a page that pans, zooms or changes colours
# cannot reach 58 FPS on this machine, whatever the gate. A FAIL (or INCONCLUSIVE) is the right verdict
# for that page; it does not show the gate misbehaving. Only `full` scale (or a user's own browser
# workload) measures such interactions; `ci` scrolls 100 rows, which this page draws at 60 FPS.
SLOW_MSA = KnownException(
    name="slow-msa-redraws",
    why=(
        "cannot pass on this machine: nightingale-msa repaints every visible tile on each redraw "
        "(1.5-3.4 s at 500 rows, docs/PERFORMANCE.md), so panning, zooming and colour changes run "
        "far below 58 FPS; the gate failing is the right verdict for this page"
    ),
    got=frozenset({Verdict.FAIL, Verdict.INCONCLUSIVE}),
)
EXCEPTIONS = {SLOW_MSA.name: SLOW_MSA}
REDRAWING = frozenset({"pan_horizontal", "zoom", "color_scheme"})


def trip_latency_ms(limit_ms: float) -> float:
    return 2 * limit_ms


def trip_error_ratio(limit: float) -> float:
    """Far enough over the limit that a few hundred requests show it with a Wilson interval."""
    return min(1.0, max(5 * limit, limit + 0.03))


def streak_failure_ratio(jobs: float) -> float:
    """A failure ratio that breaks a streak of `jobs` in all but STREAK_LUCK of runs."""
    return max(0.2, 1 - STREAK_LUCK ** (1 / max(jobs, 1)))


@dataclass
class _Context:
    gate_set: str
    gates: Mapping[str, Gate]
    scale: Scale
    new_side: str
    cases: list[Case] = field(default_factory=list)
    untestable: list[Untestable] = field(default_factory=list)

    def case(self, gate: str, case: str, expected: Verdict, trial: Trial, fault: str, how: str, **extra: Any):
        self.cases.append(Case(self.gate_set, gate, case, expected, trial, fault, how, **extra))

    def pair(self, gate: str, healthy: Trial, tripped: Trial, fault: str, how: str, **extra: Any) -> None:
        self.case(gate, HEALTHY, Verdict.PASS, healthy, "", how, **extra)
        self.case(gate, TRIPPED, Verdict.FAIL, tripped, fault, how, **extra)

    def cannot(self, gate: str, reason: str) -> None:
        self.untestable.append(Untestable(self.gate_set, gate, reason))


def _limit(gate: Gate) -> tuple[str, float]:
    return gate.comparison


def _fmt(value: float) -> str:
    return f"{value:g}"


# --- load (one local stack) ----------------------------------------------------------------------


def _load_how(scale: Scale) -> str:
    w = scale.load
    return f"Locust, {w.users} users, {w.duration:g} s, local stack"


def _load(ctx: _Context, name: str, gate: Gate) -> None:
    kind, limit = _limit(gate)
    how = _load_how(ctx.scale)
    healthy = Trial.of("load")
    if gate.metric == "load.generator_cpu":
        if kind not in UPPER or not 0.8 <= limit < 0.9:
            # measured: the ci load peaks at ~70% of a core while its users start; saturated is 95-100%
            ctx.cannot(
                name, "only a limit from 0.8 to 0.9 lies between the healthy load (~0.7) and saturation"
            )
            return
        w = ctx.scale.saturated
        fault = f"{w.users} users, {w.think_time[0] * 1000:g} ms think time, one Locust process"
        ctx.pair(name, healthy, Trial.of("saturated"), fault, how)
        return
    if gate.metric == "load.throughput_rps":
        ctx.cannot(name, "throughput depends on the workload's size; a small load cannot stand for it")
    elif kind not in UPPER:
        ctx.cannot(name, f"no fault makes {gate.metric} go up on demand; only upper limits are tested")
    elif gate.metric == "load.latency_ms":
        fault_ms = trip_latency_ms(limit)
        fault = f"latency_ms {_fmt(fault_ms)} on every /api answer (2 x {_fmt(limit)} ms)"
        ctx.pair(name, healthy, Trial.of("load", latency_ms=fault_ms), fault, how)
    elif gate.metric == "load.error_rate":
        ratio = trip_error_ratio(limit)
        fault = f"error_ratio {_fmt(ratio)} of /api answers are 503 (max(5 x, +3 points) of {limit:.2%})"
        ctx.pair(name, healthy, Trial.of("load", error_ratio=ratio), fault, how)
    w = ctx.scale.saturated
    ctx.case(
        name,
        SATURATED,
        Verdict.INVALID,
        Trial.of("saturated"),
        f"{w.users} users with {w.think_time[0] * 1000:g} ms think time in one Locust process",
        "Locust health checks flat out from one process: the trust rule must distrust them",
    )


# --- canary (two local stacks, one interleaved load) ------------------------------------------


def _canary_set(ctx: _Context) -> None:
    """Load gates judged per side, and the new side against the old: three runs in all.

    healthy: both sides clean. latency: the old side 2 x the per-side limit, the new side that plus
    2 x the latency-vs-old limit. errors: both sides over the per-side error limit, the new side more
    by the errors-vs-old trip, and the new side's alignments altered (data consistency). Latency and
    errors are separate runs: a 2 s latency leaves too few requests to show an error rate.
    """
    new, old = ctx.new_side, "green" if ctx.new_side == "blue" else "blue"
    w = ctx.scale.canary_load
    how = f"canary: Locust, {w.users} users, {w.duration:g} s, alternating over two local stacks"
    per_side_latency = [
        _limit(g)[1]
        for g in ctx.gates.values()
        if g.metric == "load.latency_ms" and g.side is None and _limit(g)[0] in UPPER
    ]
    per_side_errors = [
        _limit(g)[1]
        for g in ctx.gates.values()
        if g.metric == "load.error_rate" and g.side is None and _limit(g)[0] in UPPER
    ]
    diff_latency = [_limit(g)[1] for g in ctx.gates.values() if g.metric == "canary.latency_diff_ms"]
    diff_errors = [_limit(g)[1] for g in ctx.gates.values() if g.metric == "canary.error_rate_diff"]
    shift = any(g.metric == "canary.slower_share" for g in ctx.gates.values())
    consistency = any(g.metric == "canary.consistency_mismatches" for g in ctx.gates.values())

    old_latency = max((trip_latency_ms(limit) for limit in per_side_latency), default=0.0)
    # a difference of two p95s carries both sides' tails (wide on a busy host): twice the usual trip
    new_latency = max(
        old_latency,
        old_latency + max((2 * trip_latency_ms(limit) for limit in diff_latency), default=0.0),
        old_latency + (200.0 if shift else 0.0),
    )
    old_errors = max((trip_error_ratio(limit) for limit in per_side_errors), default=0.0)
    # the old side's own errors widen the difference's interval: then the new side gets twice the trip
    apart = max((trip_error_ratio(limit) for limit in diff_errors), default=0.0) * (2 if old_errors else 1)
    new_errors = min(1.0, max(old_errors, old_errors + apart))
    healthy = Trial.of("canary")
    slow = Trial.of("canary", new_latency_ms=new_latency or None, old_latency_ms=old_latency or None)
    faulty = Trial.of(
        "canary",
        new_error_ratio=new_errors or None,
        old_error_ratio=old_errors or None,
        new_alter=True if consistency else None,
    )
    latency_on = {new: new_latency, old: old_latency}
    errors_on = {new: new_errors, old: old_errors}
    for name, gate in ctx.gates.items():
        kind, limit = _limit(gate)
        part = METRICS[gate.metric].part
        if part == "load" and gate.side is None:
            for side in (new, old):
                label = f"{name} ({side})"
                if kind in UPPER and gate.metric == "load.latency_ms":
                    fault = f"latency_ms {_fmt(latency_on[side])} on {side} (>= 2 x {_fmt(limit)} ms)"
                    ctx.pair(label, healthy, slow, fault, how)
                elif kind in UPPER and gate.metric == "load.error_rate":
                    ratio = _fmt(errors_on[side])
                    fault = f"error_ratio {ratio} on {side} (>= max(5 x, +3 points) of {limit:.2%})"
                    ctx.pair(label, healthy, faulty, fault, how)
                else:
                    ctx.cannot(label, f"{gate.metric} {kind} has no recipe in a canary run")
            continue
        if part == "load":
            ctx.cannot(name, "a load gate pinned to one side (side:) has no canary recipe")
        elif gate.metric == "canary.consistency_mismatches" and kind in UPPER:
            jobs = ctx.scale.canary.consistency_jobs
            if limit >= jobs:
                ctx.cannot(name, f"at most {_fmt(limit)} mismatches cannot trip with {jobs} payloads")
                continue
            fault = f"alter_alignment on {new}: every alignment there has one residue changed"
            ctx.pair(name, healthy, faulty, fault, how)
        elif gate.metric == "canary.latency_diff_ms" and kind in UPPER:
            fault = (
                f"latency_ms {_fmt(new_latency)} on {new} against {_fmt(old_latency)} on {old} "
                f"(4 x {_fmt(limit)} ms apart: a difference of p95s carries both sides' tails)"
            )
            ctx.pair(name, healthy, slow, fault, how)
        elif gate.metric == "canary.error_rate_diff" and kind in UPPER:
            fault = (
                f"error_ratio {_fmt(new_errors)} on {new} against {_fmt(old_errors)} on {old} "
                f"(>= max(5 x, +3 points) of {limit:.2%} apart; twice that when {old} has errors too)"
            )
            ctx.pair(name, healthy, faulty, fault, how)
        elif gate.metric == "canary.slower_share" and kind in UPPER and 0.55 <= limit < 0.95:
            fault = f"latency_ms {_fmt(new_latency)} on {new}: nearly every request there is slower"
            ctx.pair(name, healthy, slow, fault, how)
        else:
            _dispatch(ctx, name, gate)


# --- browser ---------------------------------------------------------------------------------


def _browser(ctx: _Context, name: str, gate: Gate) -> None:
    kind, limit = _limit(gate)
    w = ctx.scale.browser
    how = f"Chromium, {w.sequences} rows, {', '.join(w.interactions)}, {w.repeats} x {w.interaction_time:g} s"
    if gate.metric == "browser.fps_mean" and kind in LOWER and limit > 0:
        slow = 2 * 1000 / limit
        fault = (
            f"slow_frame_ms {_fmt(round(slow, 1))} per scroll event and redraw (2 x 1000/{_fmt(limit)} ms)"
        )
    elif gate.metric == "browser.frame_ms" and kind in UPPER:
        slow = 2 * limit
        fault = f"slow_frame_ms {_fmt(slow)} per scroll event and redraw (2 x {_fmt(limit)} ms)"
    elif gate.metric == "browser.long_frame_share" and kind in UPPER and limit < 0.5:
        slow = 50.0
        fault = "slow_frame_ms 50: every scrolled frame is a long one"
    else:
        ctx.cannot(name, f"{gate.metric} {kind} has no browser recipe (only frame rate and frame time)")
        return
    exception = None
    if set(w.interactions) & REDRAWING or w.sequences >= 500:
        exception = SLOW_MSA.name
    healthy = Trial.of("browser")
    ctx.case(name, HEALTHY, Verdict.PASS, healthy, "", how, exception=exception)
    ctx.case(name, TRIPPED, Verdict.FAIL, Trial.of("browser", slow_frame_ms=round(slow, 1)), fault, how)


# --- pipeline --------------------------------------------------------------------------------


def _pipeline_how(jobs: int, driver: str = "api") -> str:
    where = "Step Functions on moto" if driver == "stepfunctions" else "local stack"
    return f"{jobs} pipeline job(s) of 3 entries in a row, {driver} driver, {where}"


def _pipeline(ctx: _Context, name: str, gate: Gate) -> None:
    kind, limit = _limit(gate)
    stat = gate.statistic
    if gate.metric == "pipeline.consecutive_successes" and kind in LOWER:
        jobs = max(1, math.ceil(limit + (1 if kind == "above" else 0)))
        ratio = round(streak_failure_ratio(jobs), 4)
        fault = f"pipeline_failure_ratio {_fmt(ratio)} (a streak of {jobs} survives it in < 1 of 10,000 runs)"
        ctx.pair(
            name,
            Trial.of("pipeline", jobs=jobs),
            Trial.of("pipeline", jobs=jobs, pipeline_failure_ratio=ratio),
            fault,
            _pipeline_how(jobs),
            scaled=f"{jobs} jobs: a streak of {jobs} needs as many",
        )
    elif gate.metric == "pipeline.success_ratio" and kind in LOWER and limit < 1:
        jobs = max(10, math.ceil(3.84 * limit / (1 - limit)) + 2)  # Wilson bound of n/n over the limit
        ratio = round(min(1.0, max(2 * (1 - limit), (1 - limit) + 0.3)), 4)
        fault = f"pipeline_failure_ratio {_fmt(ratio)} (success ratio far under {limit:.2%})"
        ctx.pair(
            name,
            Trial.of("pipeline", jobs=jobs),
            Trial.of("pipeline", jobs=jobs, pipeline_failure_ratio=ratio),
            fault,
            _pipeline_how(jobs),
            scaled=f"{jobs} jobs: fewer cannot show {limit:.2%} with a 95% interval",
        )
    elif gate.metric == "pipeline.sfn_executions_succeeded" and kind in LOWER:
        jobs = max(1, math.ceil(limit + (1 if kind == "above" else 0)))
        ctx.pair(
            name,
            Trial.of("sfn", jobs=jobs),
            Trial.of("sfn", jobs=jobs, pipeline_failure_ratio=1.0),
            "pipeline_failure_ratio 1: every execution ends failed",
            _pipeline_how(jobs, "stepfunctions"),
        )
    elif gate.metric in ("pipeline.duration_s", "pipeline.stage_mean_s"):
        _pipeline_time(ctx, name, gate, kind, limit, stat)
    else:
        ctx.cannot(name, f"{gate.metric} {kind} has no pipeline recipe")


def _pipeline_time(ctx: _Context, name: str, gate: Gate, kind: str, limit: float, stat: str) -> None:
    if gate.metric == "pipeline.stage_mean_s" and stat != "alignment":
        ctx.cannot(name, f"only the alignment stage has a delay fault, not {stat}")
        return
    jobs = ctx.scale.relative_jobs
    if stat.startswith("p"):
        jobs = max(jobs, min_samples_for_percentile(int(stat[1:]) / 100) + 3)
    scaled = f"{jobs} jobs per run"
    if stat.startswith("p"):
        scaled += f": a {stat} interval needs {jobs - 3}"
    how = _pipeline_how(jobs)
    if kind in UPPER:
        delay = round(2 * limit * 1000)
        fault = f"pipeline_delay_ms {delay} in every alignment stage (2 x {_fmt(limit)} s)"
        ctx.pair(
            name,
            Trial.of("pipeline", jobs=jobs),
            Trial.of("pipeline", jobs=jobs, pipeline_delay_ms=delay),
            fault,
            how,
            scaled=scaled,
        )
    elif kind == "reduced_by_pct_vs_baseline":
        # the baseline is slowed down so that the measured run is twice `limit` % faster; a job of this
        # size takes 0.15-0.3 s
        delay = round(1000 * 0.3 * max(1.0, 2 / (1 - min(limit, 95) / 100) - 1))
        baseline = Trial.of("pipeline", jobs=jobs, pipeline_delay_ms=delay, role="baseline")
        ctx.case(
            name, HEALTHY, Verdict.PASS, Trial.of("pipeline", jobs=jobs), "", how, baseline=baseline,
            scaled=scaled + f"; baseline: a run with pipeline_delay_ms {delay}",
        )  # fmt: skip
        ctx.case(
            name, TRIPPED, Verdict.FAIL, Trial.of("pipeline", jobs=jobs, pipeline_delay_ms=delay),
            f"pipeline_delay_ms {delay} as in the baseline: both runs equal, no reduction", how,
            baseline=baseline, scaled=scaled + f"; baseline: a run with pipeline_delay_ms {delay}",
        )  # fmt: skip
    elif kind == "within_pct_of_baseline":
        # both runs get the same 0.5 s delay: jobs of 0.02-0.3 s alone vary by tens of percent
        base, trip = 500, round(500 + 2 * limit / 100 * 800)
        baseline = Trial.of("pipeline", jobs=jobs, pipeline_delay_ms=base, role="baseline")
        note = scaled + f"; both runs with pipeline_delay_ms {base}: tiny jobs alone vary by tens of %"
        ctx.case(
            name, HEALTHY, Verdict.PASS, Trial.of("pipeline", jobs=jobs, pipeline_delay_ms=base), "", how,
            baseline=baseline, scaled=note,
        )  # fmt: skip
        ctx.case(
            name, TRIPPED, Verdict.FAIL, Trial.of("pipeline", jobs=jobs, pipeline_delay_ms=trip),
            f"pipeline_delay_ms {trip} against {base} in the baseline (+2 x {_fmt(limit)}% or more)", how,
            baseline=baseline, scaled=note,
        )  # fmt: skip
    else:
        ctx.cannot(name, f"{gate.metric} {kind} has no pipeline recipe")


# --- cutover: prober and S3 ---------------------------------------------------------------------


def _probe(ctx: _Context, name: str, gate: Gate) -> None:
    kind, limit = _limit(gate)
    interval = ctx.scale.probe_interval_s
    how = f"prober every {_fmt(interval)} s, local stack"
    if kind not in UPPER:
        ctx.cannot(name, f"{gate.metric} {kind} has no probe recipe")
        return
    if gate.metric == "probe.longest_gap_s":
        if limit < 4 * interval:
            ctx.cannot(name, f"a gap limit under {4 * interval:g} s is within the prober's own interval")
            return
        outage = round(1.2 * limit + 0.5, 2)
        fault = f"error_ratio 1 for {_fmt(outage)} s mid-run (1.2 x {_fmt(limit)} s + 0.5 s)"
    else:  # probe.failed: three probes a round, all failing during the outage
        outage = round(max(1.0, (math.floor(limit / 3) + 2) * interval), 2)
        fault = f"error_ratio 1 for {_fmt(outage)} s mid-run (more than {_fmt(limit)} failed probes)"
    ctx.pair(name, Trial.of("probe"), Trial.of("probe", outage_s=outage), fault, how)


def _s3(ctx: _Context, name: str, gate: Gate) -> None:
    kind, limit = _limit(gate)
    if kind not in UPPER:
        ctx.cannot(name, f"{gate.metric} {kind} has no S3 recipe")
        return
    missing = int(limit) + 1
    fault = f"{missing} object(s) missing and 1 changed in the copy (over {_fmt(limit)})"
    how = f"moto S3: {S3_OBJECTS + missing} objects and their copy"
    ctx.pair(
        name,
        Trial.of("s3", objects=S3_OBJECTS + missing),
        Trial.of("s3", objects=S3_OBJECTS + missing, missing=missing, changed=1),
        fault,
        how,
    )


# --- evidence ---------------------------------------------------------------------------------


def _cost(ctx: _Context, name: str, gate: Gate) -> None:
    kind, limit = _limit(gate)
    base = COST_BASELINE_USD
    how = "moto Cost Explorer, via sources/"
    if kind == "within_pct_of_baseline":
        healthy, tripped = base, round(base * (1 + 2 * limit / 100), 2)
        fault = f"period ${_fmt(tripped)} against ${_fmt(base)} (+2 x {_fmt(limit)}%)"
    elif kind == "reduced_by_pct_vs_baseline":
        healthy, tripped = round(base * (1 - min(0.95, 2 * limit / 100)), 2), base
        fault = f"period ${_fmt(tripped)} against ${_fmt(base)}: no reduction"
    elif kind in UPPER:
        healthy, tripped = limit / 2, 2 * limit
        fault = f"period ${_fmt(tripped)} (2 x the limit)"
    else:
        healthy, tripped = 2 * limit, limit / 2
        fault = f"period ${_fmt(tripped)} (half the limit)"
    ctx.pair(
        name,
        Trial.of("cost", period_usd=healthy, baseline_usd=base),
        Trial.of("cost", period_usd=tripped, baseline_usd=base),
        fault,
        how,
    )


def _cloudwatch_healthy(ctx: _Context, kind: str) -> Trial:
    """The healthy evidence of a set: every CloudWatch and Route 53 gate of it comfortably passing."""
    params: dict[str, Any] = {}
    for gate in ctx.gates.values():
        gate_kind, limit = _limit(gate)
        if gate_kind not in UPPER:
            continue
        if gate.metric == "cloudwatch.error_rate":
            params.update(requests=EVIDENCE_REQUESTS, errors=0)
        elif gate.metric == "cloudwatch.api_latency_ms":
            params["p95_ms"] = min(params.get("p95_ms", math.inf), limit / 2)
        elif gate.metric == "cloudwatch.pipeline_duration_s":
            params["sfn_s"] = min(params.get("sfn_s", math.inf), limit / 2)
        elif gate.metric == "canary.weight_off_step_pct":
            params.update(step=10, new_weight=10, old_weight=90)
    return Trial.of(kind, **params)


def _cloudwatch(ctx: _Context, name: str, gate: Gate) -> None:
    kind, limit = _limit(gate)
    watched = any(METRICS[g.metric].part == "watch" for g in ctx.gates.values())
    trial_kind = "watch" if watched else "cloudwatch"  # as parts_for: canary watch collects its own
    healthy = _cloudwatch_healthy(ctx, trial_kind)
    reader = "canary watch" if trial_kind == "watch" else "collect (sources/)"
    if kind not in UPPER:
        ctx.cannot(name, f"{gate.metric} {kind} has no CloudWatch recipe")
    elif gate.metric == "cloudwatch.error_rate":
        ratio = trip_error_ratio(limit)
        errors = round(EVIDENCE_REQUESTS * ratio)
        fault = f"{errors} 5xx in {EVIDENCE_REQUESTS} ALB requests (max(5 x, +3 points) of {limit:.2%})"
        how = f"moto CloudWatch ALB sums, via {reader}"
        ctx.pair(name, healthy, healthy.changed(errors=errors), fault, how)
    elif gate.metric == "cloudwatch.api_latency_ms":
        fault = f"ALB p95 {_fmt(2 * limit)} ms (2 x {_fmt(limit)} ms)"
        how = "p95 WRITTEN as sources/cloudwatch.parquet: moto computes no percentiles (HTTP 500)"
        ctx.pair(name, healthy, healthy.changed(p95_ms=2 * limit), fault, how)
    elif gate.metric == "cloudwatch.pipeline_duration_s" and trial_kind == "cloudwatch":
        fault = f"Step Functions ExecutionTime {_fmt(2 * limit)} s (2 x {_fmt(limit)} s)"
        how = "mean WRITTEN as sources/cloudwatch.parquet: moto answers its p95 sibling query with HTTP 500"
        ctx.pair(name, healthy, healthy.changed(sfn_s=2 * limit), fault, how)
    else:
        ctx.cannot(name, f"{gate.metric} has no recipe in this gate set")


def _weights(ctx: _Context, name: str, gate: Gate) -> None:
    kind, limit = _limit(gate)
    if kind not in UPPER or limit >= 45:
        ctx.cannot(name, "only a limit under 45 points can be tripped from a 10% step")
        return
    healthy = _cloudwatch_healthy(ctx, "watch")
    share = 10 + max(2 * limit, limit + 5)
    fault = f"weights {_fmt(share)}/{_fmt(100 - share)} at the 10% step ({_fmt(share - 10)} points off)"
    how = "moto Route 53 weights, via canary watch --step 10"
    ctx.pair(name, healthy, healthy.changed(new_weight=share, old_weight=100 - share), fault, how)


def _e2e(ctx: _Context, name: str, gate: Gate) -> None:
    kind, limit = _limit(gate)
    if kind not in LOWER or limit <= 0:
        ctx.cannot(name, f"{gate.metric} {kind} has no E2E recipe")
        return
    failing = min(E2E_TESTS, math.floor((1 - limit) * E2E_TESTS) + 1)
    fault = f"{failing} of {E2E_TESTS} test cases fail (pass rate under {limit:.0%})"
    how = f"Cypress-style JUnit file of {E2E_TESTS} cases, via sources/"
    ctx.pair(name, Trial.of("e2e", failing=0), Trial.of("e2e", failing=failing), fault, how)


def _smoke(ctx: _Context, name: str, gate: Gate) -> None:
    kind, limit = _limit(gate)
    if kind not in LOWER or not 0 < limit <= 1:
        ctx.cannot(name, f"{gate.metric} {kind} has no smoke recipe")
        return
    how = "deploy smoke (sources/smoke.py), local stack"
    fault = "the health pages of a loopback port nobody listens on"
    ctx.pair(name, Trial.of("smoke"), Trial.of("smoke", dead=True), fault, how)


def _dispatch(ctx: _Context, name: str, gate: Gate) -> None:
    handler = _HANDLERS.get(gate.metric.split(".")[0])
    if gate.metric == "canary.weight_off_step_pct":
        handler = _weights
    if handler is None:
        ctx.cannot(name, f"{gate.metric} has no recipe outside a canary run")
        return
    handler(ctx, name, gate)


_HANDLERS: dict[str, Callable[[_Context, str, Gate], None]] = {
    "load": _load,
    "browser": _browser,
    "pipeline": _pipeline,
    "probe": _probe,
    "s3": _s3,
    "cost": _cost,
    "cloudwatch": _cloudwatch,
    "e2e": _e2e,
    "deploy": _smoke,
}


def plan_set(gate_set: str, gates: Mapping[str, Gate], scale: Scale, new_side: str = "blue") -> _Context:
    ctx = _Context(gate_set, gates, scale, new_side)
    if any(METRICS[gate.metric].part == "canary" for gate in gates.values()):
        _canary_set(ctx)  # the whole set is judged on canary runs, as `pavi-validate canary` does
        return ctx
    for name, gate in gates.items():
        if gate.side is not None:
            ctx.cannot(name, "a load gate pinned to one side (side:) is judged only in a canary run")
            continue
        _dispatch(ctx, name, gate)
    return ctx


@dataclass(frozen=True)
class Plan:
    cases: list[Case]
    untestable: list[Untestable]

    @property
    def trials(self) -> list[Trial]:
        """Every trial to measure, each once, baselines first (in the order they are needed)."""
        seen: dict[Trial, None] = {}
        for case in self.cases:
            if case.baseline is not None:
                seen.setdefault(case.baseline)
            seen.setdefault(case.trial)
        return list(seen)


def plan(scenarios: Scenarios, gate_sets: Iterable[str], scale: Scale) -> Plan:
    cases: list[Case] = []
    untestable: list[Untestable] = []
    for gate_set in gate_sets:
        ctx = plan_set(gate_set, scenarios.gate_set(gate_set), scale, scenarios.workloads.canary.new_side)
        cases += ctx.cases
        untestable += ctx.untestable
    return Plan(merge_trials(cases), untestable)


def merge_trials(cases: list[Case]) -> list[Case]:
    """Tripped trials that differ only in how strong their faults are become one, at the strongest.

    e.g. two probe gates (an outage of 1 s trips `failed`, 8.5 s trips `longest_gap`) share one run with
    the 8.5 s outage. Baselines and healthy trials are never merged (their exact values matter).
    """

    def key(trial: Trial) -> tuple[str, tuple[Any, ...]]:
        return trial.kind, tuple((k, "*" if k in MERGEABLE else v) for k, v in trial.params)

    strongest: dict[tuple[str, tuple[Any, ...]], dict[str, Any]] = {}
    for case in cases:
        if case.case != TRIPPED:
            continue
        merged = strongest.setdefault(key(case.trial), {})
        for name, value in case.trial.params:
            if name in MERGEABLE:
                merged[name] = max(merged.get(name, value), value)
    out = []
    for case in cases:
        if case.case == TRIPPED and key(case.trial) in strongest:
            merged = case.trial.changed(**strongest[key(case.trial)])
            if merged != case.trial:
                stronger = [f"{name} {_short(merged.get(name))}" for name, value in case.trial.params
                            if merged.get(name) != value]  # fmt: skip
                note = f"; measured with {', '.join(stronger)} (a run shared with a stronger trip)"
                case = replace(case, trial=merged, fault=case.fault + note)
        out.append(case)
    return out
