"""Small real pipeline runs against the session's local stack: every job checked and recorded.

Jobs of 3 entries take ~25 ms on the stack, so each run here takes about a second.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest

from harness.config import PayloadSpec, PipelineWorkload
from harness.errors import ConfigError
from harness.runstore import Run, create_run, open_run
from local_pavi.payload import failing_payload, generate_payload
from pipeline_bench.driver_api import ApiDriver
from pipeline_bench.drivers import JobOutcome
from pipeline_bench.jobs_table import JOBS_SCHEMA
from pipeline_bench.runner import PipelineOutcome, run_pipeline

pytestmark = pytest.mark.e2e
GENERATED_3 = PipelineWorkload(jobs=5, payloads=[PayloadSpec(entries=3)])
STAGES = ["stage_seq_retrieval_s", "stage_alignment_s", "stage_seq_info_s"]


def _run(pavi: Any, run: Run, workload: PipelineWorkload = GENERATED_3, **options: Any) -> PipelineOutcome:
    return run_pipeline(run, ApiDriver(pavi.url), workload, pavi.url, show_progress=False, **options)


def _jobs(outcome: PipelineOutcome) -> pd.DataFrame:
    return pd.read_parquet(outcome.jobs_file)


def _checks(row: pd.Series) -> dict[str, dict]:
    return json.loads(row["checks"])


def _payload_file(path: Path, body: list[dict]) -> Path:
    path.write_text(json.dumps(body))
    return path


def test_consecutive_generated_jobs_all_succeed_with_timings(pavi, tmp_path: Path) -> None:
    run = create_run("pytest", None, root=tmp_path)
    outcome = _run(pavi, run)
    assert pq.read_schema(outcome.jobs_file).remove_metadata() == JOBS_SCHEMA
    jobs = _jobs(outcome)
    assert jobs["seq"].tolist() == [1, 2, 3, 4, 5]
    assert jobs["job_id"].is_unique and jobs["job_id"].notna().all()
    assert (jobs["status"] == "completed").all() and jobs["success"].all(), jobs["error"].tolist()
    assert jobs["error"].isna().all()
    for _, row in jobs.iterrows():
        checks = _checks(row)
        assert set(checks) == {"status", "alignment_clustal", "alignment_rows", "seq_info_names"}
        assert all(check["passed"] for check in checks.values()), checks
        assert checks["alignment_rows"]["detail"] == "3 rows as requested"
    assert (jobs["payload"] == "generated:3").all() and (jobs["driver"] == "api").all()
    assert jobs[STAGES].notna().all().all() and (jobs[STAGES] >= 0).all().all()
    assert jobs["stage_callback_s"].isna().all()  # the inprocess backend has no callback stage
    assert (jobs["duration_s"] > 0).all()
    assert (jobs["submitted"] <= jobs["started"]).all() and (jobs["started"] <= jobs["finished"]).all()
    assert jobs["duration_s"].tolist() == pytest.approx((jobs["finished"] - jobs["submitted"]).tolist())
    lag = jobs["observed_done"] - jobs["finished"]
    assert ((lag >= 0) & (lag < 0.5)).all(), lag.tolist()

    part = open_run(run.path).meta["parts"]["pipeline"]
    assert part["status"] == "complete" and part["driver"] == "api" and part["jobs"] == 5
    assert part["concurrency"] == 1 and part["timeout_s"] == 600.0
    assert part["payloads"] == [
        {
            "expect": "completed",
            "source": "generated:3",
            "entries": 3,
            "seed": "job seq",
            "fasta_file_url": pavi.fasta_url(),
        }
    ]
    assert (part["longest_streak"], part["final_streak"], part["failures"]) == (5, 5, 0)
    assert part["driver_facts"]["server_timings"] is True
    assert (outcome.successes, outcome.longest_streak, outcome.status) == (5, 5, "complete")


def test_expected_failure_succeeds_by_failing_and_the_same_payload_fails_otherwise(
    pavi, tmp_path: Path
) -> None:
    file = _payload_file(
        tmp_path / "unknown-seq-id.json", failing_payload(2, fasta_file_url=pavi.fasta_url())
    )
    specs = [PayloadSpec(file=file, expect="failed"), PayloadSpec(file=file, expect="completed")]
    outcome = _run(pavi, create_run("pytest", None, root=tmp_path), PipelineWorkload(jobs=2, payloads=specs))
    expected, unexpected = (row for _, row in _jobs(outcome).iterrows())

    assert (expected["status"], expected["expect"], expected["payload"]) == ("failed", "failed", str(file))
    assert expected["success"] and pd.isna(expected["error"])
    assert _checks(expected)["results_absent"] == {"passed": True, "detail": "alignment 404, seq-info 404"}

    assert unexpected["status"] == "failed" and not unexpected["success"]
    assert "FAILURE_TEST_SEQ_ID" in unexpected["error"]  # the job log's reason reaches the row
    assert (outcome.longest_streak, outcome.final_streak) == (1, 0)


def test_injected_failure_of_the_third_job_is_recorded_with_its_reason(pavi, tmp_path: Path) -> None:
    def between_jobs(seq: int) -> None:
        if seq == 2:
            pavi.faults(pipeline_failure_ratio=1.0)
        elif seq == 3:
            pavi.faults(pipeline_failure_ratio=0)

    run = create_run("pytest", None, root=tmp_path)
    outcome = _run(pavi, run, on_job_done=between_jobs)
    jobs = _jobs(outcome)
    assert jobs["success"].tolist() == [True, True, False, True, True]
    third = jobs.iloc[2]
    assert third["status"] == "failed"
    assert (
        third["error"]
        == "status: failed (expected completed); log: ERROR: injected fault: pipeline_failure_ratio"
    )
    assert not _checks(third)["status"]["passed"]
    assert pd.isna(third["stage_alignment_s"])  # the fault strikes before any stage runs
    part = open_run(run.path).meta["parts"]["pipeline"]
    assert (part["longest_streak"], part["final_streak"], part["failures"]) == (2, 2, 1)


def test_stop_on_failure_stops_at_the_first_failed_job(pavi, tmp_path: Path) -> None:
    run = create_run("pytest", None, root=tmp_path)

    def after(seq: int) -> None:
        if seq == 1:
            pavi.faults(pipeline_failure_ratio=1.0)

    outcome = _run(pavi, run, stop_on_failure=True, on_job_done=after)
    jobs = _jobs(outcome)
    assert jobs["seq"].tolist() == [1, 2] and jobs["success"].tolist() == [True, False]
    assert outcome.status == "stopped" and outcome.jobs_planned == 5
    assert open_run(run.path).meta["parts"]["pipeline"]["status"] == "stopped"


def test_expected_alignment_is_compared_byte_for_byte(pavi, tmp_path: Path) -> None:
    file = _payload_file(
        tmp_path / "fixed.json", generate_payload(3, fasta_file_url=pavi.fasta_url(), seed=5)
    )
    uuid = pavi.submit(json.loads(file.read_text()))
    assert pavi.wait(uuid)["status"] == "completed"
    text = pavi.client.get(f"/api/pipeline-job/{uuid}/result/alignment").content
    expected = tmp_path / "fixed.aln"
    expected.write_bytes(text)
    workload = PipelineWorkload(jobs=2, payloads=[PayloadSpec(file=file, expected_alignment=expected)])
    same = _jobs(_run(pavi, create_run("pytest", None, root=tmp_path), workload))
    assert same["success"].all(), same["error"].tolist()
    assert all(_checks(row)["alignment_matches_expected"]["passed"] for _, row in same.iterrows())

    lines = text.decode().splitlines(keepends=True)
    _name, residues, _count = lines[3].split()  # the first sequence row: change its last column
    lines[3] = lines[3].replace(residues, residues[:-1] + ("A" if residues[-1] != "A" else "G"), 1)
    expected.write_text("".join(lines))
    changed = _jobs(_run(pavi, create_run("pytest", None, root=tmp_path), workload))
    assert not changed["success"].any()
    checks = _checks(changed.iloc[0])
    assert not checks["alignment_matches_expected"]["passed"]
    assert "differs at line 4" in checks["alignment_matches_expected"]["detail"]
    assert all(checks[n]["passed"] for n in ("status", "alignment_clustal", "alignment_rows"))
    assert changed.iloc[0]["error"].startswith("alignment_matches_expected: differs at line 4")


class _DiesAfterSubmitting:
    """Submits job `die_at` for real, then dies before it is recorded (as a killed process would)."""

    name = "api"

    def __init__(self, inner: ApiDriver, die_at: int) -> None:
        self.inner, self.die_at, self.calls, self.abandoned = inner, die_at, 0, ""

    def run_job(self, payload: list[dict], timeout_s: float) -> JobOutcome:
        self.calls += 1
        outcome = self.inner.run_job(payload, timeout_s)
        if self.calls == self.die_at:
            self.abandoned = str(outcome.job_id)
            raise KeyboardInterrupt
        return outcome


def test_resume_runs_only_missing_seqs_and_reruns_the_job_in_flight(pavi, tmp_path: Path) -> None:
    run = create_run("pytest", None, root=tmp_path)
    first = _run(pavi, run, jobs=3)
    before = _jobs(first)

    resumed = _run(pavi, open_run(run.path), jobs=5)
    jobs = _jobs(resumed)
    assert jobs["seq"].tolist() == [1, 2, 3, 4, 5] and jobs["job_id"].is_unique
    assert jobs["job_id"].head(3).tolist() == before["job_id"].tolist()  # not submitted again
    assert (resumed.resumed_from, resumed.jobs_run, resumed.status) == (3, 2, "complete")

    dying = _DiesAfterSubmitting(ApiDriver(pavi.url), die_at=2)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(open_run(run.path), dying, GENERATED_3, pavi.url, jobs=8, show_progress=False)
    assert _jobs(resumed)["seq"].tolist() == [1, 2, 3, 4, 5, 6]  # seq 7 died in flight
    assert open_run(run.path).meta["parts"]["pipeline"]["status"] == "interrupted"

    again = _run(pavi, open_run(run.path), jobs=8)
    jobs = _jobs(again)
    assert jobs["seq"].tolist() == list(range(1, 9)) and jobs["job_id"].is_unique
    assert dying.abandoned not in set(jobs["job_id"])  # seq 7 ran again as a new job
    assert jobs["success"].all() and again.jobs_run == 2
    sessions = open_run(run.path).meta["parts"]["pipeline"]["sessions"]
    assert [s["status"] for s in sessions] == ["complete", "complete", "interrupted", "complete"]
    assert [s["rows_before"] for s in sessions] == [0, 3, 5, 6]


def test_resume_refuses_another_driver(pavi, tmp_path: Path) -> None:
    run = create_run("pytest", None, root=tmp_path)
    _run(pavi, run, jobs=1)

    class Other(ApiDriver):
        name = "stepfunctions"

    with pytest.raises(ConfigError, match="mix two drivers"):
        run_pipeline(open_run(run.path), Other(pavi.url), GENERATED_3, pavi.url, show_progress=False)


def test_bad_payload_file_stops_the_run_before_anything_is_submitted(pavi, tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('[{"unique_entry_id": "1"}')
    counts = httpx.get(f"{pavi.url}/_pavi/stats").json()["jobs"]
    workload = PipelineWorkload(jobs=2, payloads=[PayloadSpec(entries=3), PayloadSpec(file=bad)])
    with pytest.raises(ConfigError) as caught:
        _run(pavi, create_run("pytest", None, root=tmp_path), workload)
    assert str(bad) in caught.value.problem and "not JSON" in caught.value.problem
    assert httpx.get(f"{pavi.url}/_pavi/stats").json()["jobs"] == counts


def test_job_past_its_timeout_is_a_recorded_failure(pavi, tmp_path: Path) -> None:
    workload = PipelineWorkload(jobs=1, payloads=[PayloadSpec(entries=60)])
    jobs = _jobs(_run(pavi, create_run("pytest", None, root=tmp_path), workload, timeout_s=0.05))
    row = jobs.iloc[0]
    assert row["status"] == "timeout" and not row["success"]
    assert "no final status within 0.05 s" in row["error"]
    assert pd.isna(row["observed_done"])
    pavi.wait(row["job_id"])  # let the stack finish it before the next test


def _most_in_flight(jobs: pd.DataFrame) -> int:
    """The largest number of [submitted, observed_done] intervals open at one moment."""
    events = sorted([(t, 1) for t in jobs["submitted"]] + [(t, -1) for t in jobs["observed_done"]])
    open_now = most = 0
    for _, change in events:
        open_now += change
        most = max(most, open_now)
    return most


def test_concurrency_keeps_several_jobs_in_flight_but_never_more(pavi, tmp_path: Path) -> None:
    workload = PipelineWorkload(jobs=6, payloads=[PayloadSpec(entries=30)])  # ~0.2 s each
    run = create_run("pytest", None, root=tmp_path)
    jobs = _jobs(_run(pavi, run, workload, concurrency=3))
    assert jobs["seq"].tolist() == list(range(1, 7)) and jobs["success"].all()
    assert 2 <= _most_in_flight(jobs) <= 3
    assert open_run(run.path).meta["parts"]["pipeline"]["concurrency"] == 3
