"""End to end on the real stack: failing jobs break the streak and the gate names the failing job."""

from __future__ import annotations

import pytest

from harness.config import PipelineWorkload, parse_scenarios
from harness.runstore import create_run
from pipeline_bench.driver_api import ApiDriver
from pipeline_bench.runner import run_pipeline
from reports.model import Verdict
from reports.report import build_report

pytestmark = pytest.mark.e2e

WORKLOAD = PipelineWorkload(jobs=4, payloads=[{"entries": 3}])
SCENARIOS = parse_scenarios(
    {
        "gates": {
            "p": {"streak": {"metric": "pipeline.consecutive_successes", "stat": "longest", "at_least": 4}}
        }
    }
)


def _streak_verdict(pavi, tmp_path, on_job_done=None):
    run = create_run("pytest", None, root=tmp_path)
    run_pipeline(run, ApiDriver(pavi.url), WORKLOAD, pavi.url, show_progress=False, on_job_done=on_job_done)
    run.finish()
    (result,) = build_report(run, SCENARIOS, "p").results
    return result


def test_clean_jobs_pass_and_a_failed_job_fails_the_streak_by_name(pavi, tmp_path) -> None:
    assert _streak_verdict(pavi, tmp_path / "clean").verdict is Verdict.PASS

    def fail_the_third(seq: int) -> None:  # runs after job `seq` is recorded
        pavi.faults(pipeline_failure_ratio=1.0 if seq == 2 else 0.0)

    broken = _streak_verdict(pavi, tmp_path / "broken", fail_the_third)
    assert broken.verdict is Verdict.FAIL
    assert "first failure: job 3" in broken.reason
    assert "injected fault" in broken.reason
