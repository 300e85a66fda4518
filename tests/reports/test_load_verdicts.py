"""End to end on the real stack: a small Locust run, judged; faults make exactly their gate FAIL."""

from __future__ import annotations

import pytest

from harness.config import LoadWorkload, parse_scenarios
from harness.runstore import create_run
from loadtests.runner import run_load
from reports.model import Verdict
from reports.report import build_report

pytestmark = pytest.mark.e2e

# short think time so a 50-user, 15 s run has enough samples for a p95 and a 1% error bound
WORKLOAD = LoadWorkload(users=50, spawn_rate=50, duration="15s", settle="2s", think_time=("100ms", "300ms"))
SCENARIOS = parse_scenarios(
    {
        "gates": {
            "small": {
                "latency": {"metric": "load.latency_ms", "stat": "p95", "below": "500ms", "window": "steady"},
                "errors": {"metric": "load.error_rate", "at_most": "1%", "window": "steady"},
                "streak": {"metric": "pipeline.consecutive_successes", "at_least": 100},
            }
        }
    }
)


def _judged(pavi, tmp_path, **faults: float) -> dict[str, Verdict]:
    pavi.faults(**faults)
    run = create_run("pytest", None, root=tmp_path)
    run.record_part("load", settle_s=WORKLOAD.settle)
    run_load(run, pavi.url, WORKLOAD, show_progress=False)
    run.finish()
    report = build_report(run, SCENARIOS, "small")
    verdicts = {result.name: result.verdict for result in report.results}
    reasons = {result.name: result.reason for result in report.results}
    assert verdicts["streak"] is Verdict.SKIPPED, "the pipeline did not run in a load-only run"
    return verdicts | {f"{name}_reason": reason for name, reason in reasons.items()}


def test_healthy_stack_passes_both_gates(pavi, tmp_path) -> None:
    verdicts = _judged(pavi, tmp_path)
    assert verdicts["latency"] is Verdict.PASS, verdicts["latency_reason"]
    assert verdicts["errors"] is Verdict.PASS, verdicts["errors_reason"]


def test_error_ratio_fails_the_error_gate_only(pavi, tmp_path) -> None:
    verdicts = _judged(pavi, tmp_path, error_ratio=0.05)
    assert verdicts["errors"] is Verdict.FAIL, verdicts["errors_reason"]
    assert verdicts["latency"] is Verdict.PASS, verdicts["latency_reason"]


def test_latency_fails_the_latency_gate_only(pavi, tmp_path) -> None:
    verdicts = _judged(pavi, tmp_path, latency_ms=800)
    assert verdicts["latency"] is Verdict.FAIL, verdicts["latency_reason"]
    assert verdicts["errors"] is Verdict.PASS, verdicts["errors_reason"]
