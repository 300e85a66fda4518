"""The censoring rule for probe gaps, on constructed probes: a gap open at an edge never passes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.config import Gate
from reports.judge import judge_gate
from reports.metrics import measure, probe_gaps
from reports.model import Report, Verdict
from reports.plots import figures_for
from reports.render_json import render_json
from reports.render_markdown import value_text
from reports.rundata import RunData


def _probes(health: list[bool], status: list[bool] | None = None) -> pd.DataFrame:
    """One probe per route per second; `status` defaults to always answering."""
    status = status if status is not None else [True] * len(health)
    rows = [
        {"t": float(t), "kind": kind, "status": 200 if ok else 0, "ok": ok, "error": None if ok else "x"}
        for kind, oks in (("health", health), ("status", status))
        for t, ok in enumerate(oks)
    ]
    return pd.DataFrame(rows)


def _judge(probes: pd.DataFrame, **comparison: str):
    gate = Gate(metric="probe.longest_gap_s", **comparison)
    data = RunData(meta={}, path=Path("."), probes=probes)
    return judge_gate("cutover", "longest-gap", gate, measure(gate, data))


def test_a_gap_still_open_at_the_end_is_a_lower_bound() -> None:
    probes = _probes([True, True, False, False])  # health fails from t=2 to the last probe at t=3
    (gap,) = [g for g in probe_gaps(probes) if g.censored]
    assert (gap.kind, gap.seconds, gap.open_start, gap.open_end) == ("health", 2.0, False, True)
    result = _judge(probes, at_most="5s")
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "gap still open at the end of the run: at least 2.00 s (health from +1.0 s)" in result.reason
    assert result.measurement.ci == (2.0, math.inf) and value_text(result) == "value at least 2.00 s"


def test_failures_from_the_start_are_censored_too() -> None:
    probes = _probes([False, False, False, True, True])  # may have begun before the run
    (gap,) = [g for g in probe_gaps(probes) if g.censored]
    assert (gap.seconds, gap.open_start, gap.open_end) == (3.0, True, False)
    result = _judge(probes, at_most="5s")
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "gap already open when the probe began" in result.reason and "at least 3.00 s" in result.reason


def test_no_success_at_all_fails_once_the_bound_passes_the_limit() -> None:
    probes = _probes([False] * 4, [False] * 4)  # a dead target: 3 s between the first and last probe
    assert all(g.open_start and g.open_end and g.seconds == 3.0 for g in probe_gaps(probes))
    result = _judge(probes, at_most="2s")
    assert result.verdict is Verdict.FAIL
    never = "gap still open at the end of the run (no successful answer at all): at least 3.00 s"
    assert never in result.reason
    assert _judge(probes, at_most="5s").verdict is Verdict.INCONCLUSIVE


def test_a_censored_gap_never_passes_even_a_lower_limit() -> None:
    assert _judge(_probes([True, False, False, False]), above="1s").verdict is Verdict.INCONCLUSIVE


def test_a_closed_gap_is_exact_and_judged_as_before() -> None:
    probes = _probes([True, False, False, True, True])  # ok at 0, next ok at 3
    assert not any(g.censored for g in probe_gaps(probes))
    passed, failed = _judge(probes, at_most="5s"), _judge(probes, at_most="2s")
    assert passed.verdict is Verdict.PASS and failed.verdict is Verdict.FAIL
    assert passed.measurement.value == 3.0 and passed.measurement.ci is None
    assert "at least" not in passed.reason + failed.reason and value_text(passed) == "value 3.00 s"
    assert "censored" not in passed.measurement.facts


def test_summary_json_says_at_least() -> None:
    censored = _judge(_probes([True, False, False]), at_most="5s")
    exact = _judge(_probes([True, False, True]), at_most="5s")
    report = Report({"id": "r"}, "cutover", [censored, exact], Verdict.INCONCLUSIVE, 4, pd.DataFrame())
    first, second = json.loads(render_json(report))["gates"]
    assert first["at_least"] is True and first["ci"] == [2.0, None] and "at least 2.00 s" in first["reason"]
    assert second["at_least"] is False and second["ci"] is None


@pytest.mark.parametrize("with_queue", [True, False])
def test_the_endpoint_chart_claims_jobs_in_flight_only_when_there_are_some(with_queue: bool) -> None:
    t0 = 1_700_000_000.0
    rng = np.random.default_rng(1)
    requests = pd.DataFrame(
        {
            "start": t0 + np.sort(rng.uniform(0, 30, 2000)),
            "name": rng.choice(np.array(["GET /api/health", "POST /api/pipeline-job/"], dtype=object), 2000),
            "method": "GET",
            "status": np.full(2000, 200, dtype="int32"),
            "latency_ms": rng.lognormal(4.0, 0.5, 2000),
            "bytes": 100,
            "error": None,
            "user": "w0-1",
        }
    )
    times = t0 + np.arange(0, 30, 1.0)
    target = pd.DataFrame({"time": times, "pending": 1, "in_flight": 3}) if with_queue else None
    names = list(figures_for(RunData({}, Path("/nonexistent"), requests=requests, target=target)))
    endpoint_charts = [name for name in names if name.startswith("Latency by endpoint")]
    expected = "Latency by endpoint over time" + (" against jobs in flight" if with_queue else "")
    assert endpoint_charts == [expected]
