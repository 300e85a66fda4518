"""Pipeline metrics from a constructed jobs table (the shape pipeline_bench writes)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.config import Gate
from reports.metrics import measure, streaks
from reports.rundata import RunData


def _data(successes: list[bool], durations: list[float] | None = None) -> RunData:
    n = len(successes)
    jobs = pd.DataFrame(
        {
            "seq": range(1, n + 1),
            "job_id": [f"job-{i}" for i in range(1, n + 1)],
            "status": ["completed" if ok else "failed" for ok in successes],
            "success": successes,
            "duration_s": durations or [1.0 + i % 3 for i in range(n)],
            "error": [None if ok else "alignment has 2 rows, expected 3" for ok in successes],
            "execution_arn": [None] * n,
        }
    )
    return RunData(meta={"status": "complete", "parts": {"pipeline": {"jobs": n}}}, path=Path("."), jobs=jobs)


def test_streaks() -> None:
    assert streaks(pd.Series([True, True, False, True])) == (2, 1)
    assert streaks(pd.Series([], dtype=bool)) == (0, 0)
    assert streaks(pd.Series([False])) == (0, 0)


def test_consecutive_successes_and_first_failure() -> None:
    data = _data([True] * 30 + [False] + [True] * 69)
    longest = measure(Gate(metric="pipeline.consecutive_successes", stat="longest", at_least=100), data)
    final = measure(Gate(metric="pipeline.consecutive_successes", stat="final", at_least=1), data)
    assert (longest.value, final.value, longest.n) == (69, 69, 100)
    assert "job 31 (job-31)" in longest.facts["first_failure"]
    assert "2 rows" in longest.facts["first_failure"]


def test_success_ratio_with_rule_of_three() -> None:
    clean = measure(Gate(metric="pipeline.success_ratio", at_least="99%"), _data([True] * 100))
    assert clean.value == 1.0
    assert clean.facts["failure_rate_upper_95"] == pytest.approx(0.03)
    assert clean.ci[1] == 1.0


def test_durations_only_from_successful_jobs() -> None:
    data = _data([True, False, True], durations=[2.0, 100.0, 4.0])
    mean = measure(Gate(metric="pipeline.duration_s", stat="mean", below="1m"), data)
    assert mean.value == 3.0
    assert mean.n == 2


def test_stage_means() -> None:
    data = _data([True, True, False])
    data.jobs["stage_alignment_s"] = [0.5, 1.5, 99.0]
    stage = measure(Gate(metric="pipeline.stage_mean_s", stat="alignment", below="2s"), data)
    assert (stage.value, stage.n) == (1.0, 2)
    missing = measure(Gate(metric="pipeline.stage_mean_s", stat="callback", below="2s"), data)
    assert missing.value is None
    assert "stage_callback_s" in missing.facts["empty_reason"]


def test_no_pipeline_part_is_skipped() -> None:
    empty = RunData(meta={}, path=Path("."))
    assert measure(Gate(metric="pipeline.success_ratio", at_least="99%"), empty) is None


def test_probe_gap_and_failures() -> None:
    from reports.metrics import longest_gap_s

    probes = pd.DataFrame(
        {
            "t": [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0],
            "kind": ["health", "status"] * 5,
            "status": [200, 200, 503, 200, 0, 200, 200, 200, 200, 200],
            "ok": [True, True, False, True, False, True, True, True, True, True],
            "error": [None, None, "HTTP 503", None, "connection refused", None, None, None, None, None],
        }
    )
    assert longest_gap_s(probes) == 3.0  # health ok at 0, next ok at 3
    data = RunData(meta={}, path=Path("."), probes=probes)
    failed = measure(Gate(metric="probe.failed", at_most=0), data)
    assert (failed.value, failed.n) == (2.0, 10)
    assert "health at +1.0 s: status 503 HTTP 503" in failed.facts["first_failure"]
    gap = measure(Gate(metric="probe.longest_gap_s", at_most="2s"), data)
    assert gap.value == 3.0
