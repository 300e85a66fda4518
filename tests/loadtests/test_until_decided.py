"""`--until-decided` on a real Locust run against the local stand-in: a clear pass stops at the first
look, long before the planned maximum, and a target answering 30% of requests with errors is stopped
at the first look with FAIL. The looks judge the raw samples on disk with the real judge."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.config import Target, parse_scenarios
from harness.parts import Overrides, Where, measure_load
from harness.runstore import create_run
from reports.model import Verdict
from reports.report import build_report

pytestmark = pytest.mark.e2e

MAX_S = 45.0
SCENARIOS = {
    "targets": {"local": {"kind": "local"}},
    "workloads": {
        "load": {
            "users": 20, "spawn_rate": 20, "duration": "20s", "settle": "1s",
            "think_time": ["50ms", "150ms"], "payload": {"entries": 5},
        }
    },
    "gates": {
        "g": {
            "errors": {"metric": "load.error_rate", "at_most": "5%", "window": "steady"},
            "latency": {"metric": "load.latency_ms", "stat": "p50", "below": "5s", "window": "steady"},
        }
    },
}  # fmt: skip
OPTIONS = Overrides(until_decided=True, first_look_s=8.0, max_duration_s=MAX_S, gate_set="g")


def _run(pavi, tmp_path):
    scenarios = parse_scenarios(SCENARIOS)
    run = create_run("local", None, root=tmp_path / "runs")
    measure_load(run, scenarios, Where("local", Target(kind="local"), pavi.url, pavi.url), OPTIONS)
    run.finish()
    load = run.meta["parts"]["load"]
    report = build_report(run, scenarios, "g", figures=False)
    requests = pd.read_parquet(run.path / "load" / "requests.parquet")
    return load, {result.name: result for result in report.results}, requests


def test_a_clear_pass_stops_at_the_first_look(pavi, tmp_path) -> None:
    load, results, requests = _run(pavi, tmp_path)
    decided = load["until_decided"]
    assert decided["looks_s"] == [8.0, 16.0, 32.0, MAX_S]
    # the first look's 7 s window may be too short on a busy host ("no trustworthy interval"): then
    # the next; either way well before the maximum
    assert decided["stopped_at_s"] in (8.0, 16.0), decided
    assert "passed" in decided["stop_reason"]
    assert load["duration_s"] == decided["stopped_at_s"]  # the window judged is the look's
    assert load["confidence"] == pytest.approx(1 - 0.05 / 4)  # Bonferroni over the four looks
    assert requests["start"].max() - requests["start"].min() < 30  # Locust was stopped early
    for name in ("errors", "latency"):
        assert results[name].verdict is Verdict.PASS, results[name].reason
        assert "98.75% CI" in results[name].reason


def test_a_failing_target_is_stopped_at_the_first_look_with_fail(pavi, tmp_path) -> None:
    pavi.faults(error_ratio=0.3)
    load, results, _ = _run(pavi, tmp_path)
    decided = load["until_decided"]
    assert decided["stopped_at_s"] in (8.0, 16.0), decided
    assert decided["stop_reason"].startswith("gate errors failed")
    assert results["errors"].verdict is Verdict.FAIL, results["errors"].reason
