"""The self-test's recipes (pure): every shipped gate gets a healthy and a tripped case, and each fault is
strong enough to trip its gate. The strength is checked with the real judge on the measurement the
fault forces (a latency fault of L ms makes every answer at least L ms slow, and so on), so a recipe
that stopped tripping its gate fails here, without running anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import Gate, load_scenarios, parse_scenarios
from reports.judge import judge_gate
from reports.model import Measurement, Verdict
from reports.stats import difference_ci, wilson_ci
from selftest.recipes import (
    HEALTHY,
    SATURATED,
    SLOW_MSA,
    STREAK_LUCK,
    TRIPPED,
    Case,
    Trial,
    merge_trials,
    plan,
    plan_set,
    streak_failure_ratio,
    trip_error_ratio,
    trip_latency_ms,
)
from selftest.scale import scale_for

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = load_scenarios(ROOT / "scenarios.yaml")
CI = scale_for("ci", SHIPPED)
PLAN = plan(SHIPPED, list(SHIPPED.gates), CI)


def _gate(case: Case) -> Gate:
    gates = SHIPPED.gate_set(case.gate_set)
    return gates.get(case.gate) or gates[case.gate.rsplit(" (", 1)[0]]  # canary: "error-rate (blue)"


def test_every_shipped_gate_has_a_healthy_and_a_tripped_case() -> None:
    assert PLAN.untestable == []
    cases = {(c.gate_set, c.gate.rsplit(" (", 1)[0], c.case) for c in PLAN.cases}
    for gate_set, gates in SHIPPED.gates.items():
        for name in gates:
            assert (gate_set, name, HEALTHY) in cases, (gate_set, name)
            assert (gate_set, name, TRIPPED) in cases, (gate_set, name)
    for case in PLAN.cases:
        wanted = {HEALTHY: Verdict.PASS, TRIPPED: Verdict.FAIL, SATURATED: Verdict.INVALID}[case.case]
        assert case.expected is wanted
        assert (case.fault == "") == (case.case == HEALTHY)


def test_canary_load_gates_are_judged_per_side() -> None:
    canary = {c.gate for c in PLAN.cases if c.gate_set == "canary"}
    assert {"error-rate (blue)", "error-rate (green)", "latency-p95 (blue)", "latency-p95 (green)"} <= canary
    assert {"data-consistency", "latency-vs-old", "errors-vs-old"} <= canary


def test_the_healthy_runs_are_shared() -> None:
    """One healthy load run judges every single-target load gate; the tripped probe runs merge."""
    load = {c.trial for c in PLAN.cases if c.case == HEALTHY and c.trial.kind == "load"}
    assert load == {Trial.of("load")}
    probe_trips = {c.trial for c in PLAN.cases if c.case == TRIPPED and c.trial.kind == "probe"}
    assert len(probe_trips) == 1
    assert len(PLAN.trials) == len(set(PLAN.trials))


def _forced(case: Case, gate: Gate) -> tuple[Measurement, Measurement | None]:
    """The measurement the case's trial forces on its gate (a bound where the trial leaves noise)."""
    metric, stat, trial = gate.metric, gate.statistic, case.trial
    side = case.gate.rsplit(" (", 1)[1].rstrip(")") if " (" in case.gate else None
    role = None if side is None else ("new" if side == SHIPPED.workloads.canary.new_side else "old")

    def m(value: float, n: int = 1000, ci: tuple[float, float] | None = None, **facts) -> Measurement:
        return Measurement(metric, stat, "x", value, n, ci, facts=facts)

    if metric == "load.latency_ms":
        added = trial.get("latency_ms" if role is None else f"{role}_latency_ms", 0)
        return m(added + 5, ci=(added + 1, added + 20)), None  # every answer waits `added` ms
    if metric == "load.error_rate":
        ratio = trial.get("error_ratio" if role is None else f"{role}_error_ratio", 0)
        n = 500  # fewer requests than a ci-scale run has in its steady window
        return m(ratio, n, wilson_ci(round(ratio * n), n)), None
    if metric == "canary.latency_diff_ms":
        diff = trial.get("new_latency_ms", 0) - trial.get("old_latency_ms", 0)
        return m(diff, ci=(diff - 30, diff + 30)), None
    if metric == "canary.error_rate_diff":
        n = 1000  # requests a side in a ci-scale canary's steady window (about 1,500 measured)
        new, old = round(trial.get("new_error_ratio", 0) * n), round(trial.get("old_error_ratio", 0) * n)
        diff = (new - old) / n
        return m(diff, n, difference_ci(new / n, wilson_ci(new, n), old / n, wilson_ci(old, n))), None
    if metric == "canary.consistency_mismatches":
        jobs = CI.canary.consistency_jobs
        return m(jobs if trial.get("new_alter") else 0, jobs), None
    if metric in ("browser.fps_mean", "browser.frame_ms"):
        frame = 16.7 + trial.get("slow_frame_ms", 0)  # every scrolled frame waits that long more
        if metric == "browser.fps_mean":
            return m(1000 / frame, 4, (1000 / frame - 1, 1000 / frame + 1)), None
        return m(frame, 400, (frame - 0.5, frame + 0.5)), None
    if metric == "pipeline.consecutive_successes":
        jobs = trial.get("jobs")
        ratio = trial.get("pipeline_failure_ratio", 0)
        assert ratio == 0 or (1 - ratio) ** jobs <= STREAK_LUCK
        return m(jobs if ratio == 0 else jobs - 1, jobs), None  # one failure is enough to break it
    if metric == "pipeline.sfn_executions_succeeded":
        jobs = trial.get("jobs")
        return m(0 if trial.get("pipeline_failure_ratio") == 1 else jobs, jobs), None
    if metric == "pipeline.duration_s":
        base_job = 0.3  # the slowest small job seen on a loaded host

        def run_of(t: Trial) -> Measurement:
            value = base_job + t.get("pipeline_delay_ms", 0) / 1000
            return m(value, 5, (value * 0.95, value * 1.05))

        return run_of(trial), run_of(case.baseline) if case.baseline else None
    if metric == "cost.monthly_usd":
        return m(trial.get("period_usd"), 28), m(trial.get("baseline_usd"), 31)
    if metric == "cloudwatch.error_rate":
        requests, errors = trial.get("requests"), trial.get("errors")
        return m(errors / requests, requests, wilson_ci(errors, requests)), None
    if metric == "cloudwatch.api_latency_ms":
        return m(trial.get("p95_ms"), 5), None
    if metric == "canary.weight_off_step_pct":
        share = 100 * trial.get("new_weight") / (trial.get("new_weight") + trial.get("old_weight"))
        return m(abs(share - trial.get("step"))), None
    if metric == "e2e.pass_rate":
        return m((20 - trial.get("failing")) / 20, 20), None
    if metric.startswith("deploy."):
        return m(0.0 if trial.get("dead") else 1.0), None
    if metric == "probe.failed":
        return m(3 * trial.get("outage_s", 0) / CI.probe_interval_s), None
    if metric == "probe.longest_gap_s":
        return m(trial.get("outage_s", 0) or CI.probe_interval_s), None
    if metric == "s3.differences":
        return m(trial.get("missing", 0) + trial.get("changed", 0)), None
    raise AssertionError(f"no model of {metric}")


@pytest.mark.parametrize(
    "case", [c for c in PLAN.cases if c.case != SATURATED], ids=lambda c: f"{c.gate_set}/{c.gate}/{c.case}"
)
def test_the_recipe_makes_the_judge_say_what_it_expects(case: Case) -> None:
    gate = _gate(case)
    value, baseline = _forced(case, gate)
    result = judge_gate(case.gate_set, case.gate, gate, value, baseline)
    assert result.verdict is case.expected, result.reason


def test_faults_scale_with_the_threshold() -> None:
    """A user's own gates get their own faults."""
    assert trip_latency_ms(300) == 600
    assert trip_error_ratio(0.01) == 0.05 and trip_error_ratio(0.001) == pytest.approx(0.031)
    assert trip_error_ratio(0.5) == 1.0
    for jobs in (1, 3, 100, 1000):
        assert (1 - streak_failure_ratio(jobs)) ** jobs <= STREAK_LUCK * 1.0001
    own = parse_scenarios(
        {
            "gates": {
                "mine": {
                    "fast": {"metric": "load.latency_ms", "stat": "p99", "at_most": "200ms"},
                    "streak": {"metric": "pipeline.consecutive_successes", "at_least": 10},
                    "gap": {"metric": "probe.longest_gap_s", "at_most": "2s"},
                    "no-probe-fails": {"metric": "probe.failed", "at_most": 3},
                    "throughput": {"metric": "load.throughput_rps", "at_least": 100},
                }
            }
        }
    )
    mine = plan(own, ["mine"], CI)
    tripped = {c.gate: c.trial for c in mine.cases if c.case == TRIPPED}
    assert tripped["fast"] == Trial.of("load", latency_ms=400.0)
    assert tripped["streak"] == Trial.of("pipeline", jobs=10, pipeline_failure_ratio=0.6019)
    assert tripped["gap"].get("outage_s") == 2.9 and tripped["no-probe-fails"] == tripped["gap"]
    assert [u.gate for u in mine.untestable] == ["throughput"]  # said so, never a silent pass
    assert any(c.gate == "throughput" and c.case == SATURATED for c in mine.cases)


def test_merging_keeps_the_strongest_fault_and_says_so() -> None:
    weak = Case("a", "g1", TRIPPED, Verdict.FAIL, Trial.of("probe", outage_s=1.0), "outage 1 s", "how")
    strong = Case("a", "g2", TRIPPED, Verdict.FAIL, Trial.of("probe", outage_s=6.5), "outage 6.5 s", "how")
    healthy = Case("a", "g1", HEALTHY, Verdict.PASS, Trial.of("probe"), "", "how")
    merged = merge_trials([healthy, weak, strong])
    assert merged[0] == healthy
    assert merged[1].trial == merged[2].trial == Trial.of("probe", outage_s=6.5)
    assert "measured with outage_s 6.5" in merged[1].fault and merged[2].fault == "outage 6.5 s"


def test_redrawing_browser_workloads_name_the_slow_msa_exception() -> None:
    full = scale_for("full", SHIPPED)  # 500 sequences, pan/zoom/colour: cannot reach 58 FPS here
    cases = plan_set("phase-1", SHIPPED.gate_set("phase-1"), full).cases
    healthy = [c for c in cases if c.gate == "frontend-fps" and c.case == HEALTHY]
    assert healthy[0].exception == SLOW_MSA.name
    assert all(c.exception is None for c in PLAN.cases)  # ci scrolls 100 rows: no exception needed


def test_limits_a_small_workload_cannot_show_are_said_so() -> None:
    own = parse_scenarios(
        {
            "gates": {
                "mine": {
                    "cpu-ok": {"metric": "load.generator_cpu", "stat": "max", "at_most": 0.85},
                    "cpu-tight": {"metric": "load.generator_cpu", "stat": "max", "at_most": 0.5},
                    "same": {"metric": "pipeline.duration_s", "within_pct_of_baseline": 20},
                    "sfn": {"metric": "cloudwatch.pipeline_duration_s", "at_most": "30s"},
                }
            }
        }
    )
    mine = plan(own, ["mine"], CI)
    assert [u.gate for u in mine.untestable] == ["cpu-tight"]  # the healthy load itself uses ~0.7
    tripped = {c.gate: c for c in mine.cases if c.case == TRIPPED}
    assert tripped["cpu-ok"].trial == Trial.of("saturated")
    same = tripped["same"]
    assert same.baseline is not None and same.baseline.get("pipeline_delay_ms") == 500
    assert same.trial.get("pipeline_delay_ms") == 820  # +2 x 20% of a 0.8 s job at least
    assert tripped["sfn"].trial == Trial.of("cloudwatch", sfn_s=60.0)
