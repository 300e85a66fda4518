"""The Step Functions driver against a stepfunctions stack: real moto server, real worker, real clustalo.

Dummy AWS credentials only; every endpoint is the stack's own moto server on 127.0.0.1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

from harness import stack
from harness.config import AwsSettings, PayloadSpec, PipelineWorkload
from harness.errors import ConfigError
from harness.runstore import create_run
from local_pavi.alignment import parse_clustal
from local_pavi.genome import FASTA_NAME
from local_pavi.payload import generate_payload
from pipeline_bench.driver_stepfunctions import INCONSISTENT, StepFunctionsDriver, record_problems
from pipeline_bench.runner import run_pipeline

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def driver(sfn_stack: stack.StackState) -> StepFunctionsDriver:
    aws = sfn_stack.aws
    assert aws["endpoint_url"].startswith("http://127.0.0.1:")
    session = boto3.Session(region_name=aws["region"])
    return StepFunctionsDriver(
        session,
        aws["state_machine_arn"],
        aws["jobs_table"],
        endpoint_url=aws["endpoint_url"],
        api_url=sfn_stack.url,
    )


def _payload(state: stack.StackState, entries: int, seed: int = 0) -> list[dict]:
    return generate_payload(entries, fasta_file_url=f"{state.url}/genome/{FASTA_NAME}", seed=seed)


def test_three_executions_with_state_seconds_and_agreeing_records(
    sfn_stack: stack.StackState, driver: StepFunctionsDriver
) -> None:
    for seed in range(3):
        payload = _payload(sfn_stack, 3, seed=seed)
        outcome = driver.run_job(payload, timeout_s=60)
        assert outcome.status == "completed", outcome
        assert outcome.error is None
        assert outcome.execution_arn and outcome.execution_arn.endswith(f":{outcome.job_id}")
        for state in ("seq_retrieval", "alignment", "callback"):
            assert outcome.stages[f"{state}_s"] > 0, outcome.stages
        assert "seq_info_s" in outcome.stages
        assert outcome.started is not None and outcome.finished is not None
        assert outcome.submitted <= outcome.started <= outcome.finished
        assert outcome.observed_done is not None and outcome.observed_done >= outcome.finished - 0.05
        assert sorted(parse_clustal(outcome.alignment or "")) == sorted(e["base_seq_name"] for e in payload)
        assert outcome.seq_info is not None and len(outcome.seq_info) == 3
        assert driver.check(outcome.job_id, outcome.execution_arn) is None


def test_failed_execution_agrees_with_its_failed_record(sfn_stack: stack.StackState) -> None:
    payload = _payload(sfn_stack, 2)
    payload[0]["seq_id"] = "chrUnknown"
    outcome = StepFunctionsDriver.for_local_stack(sfn_stack).run_job(payload, timeout_s=60)
    assert outcome.status == "failed"
    assert outcome.error is None, outcome.error
    assert "chrUnknown" in (outcome.log or "")
    assert (outcome.alignment_http, outcome.seq_info_http) == (404, 404)
    assert "callback_s" not in outcome.stages


def test_altered_record_is_caught(sfn_stack: stack.StackState, driver: StepFunctionsDriver) -> None:
    outcome = driver.run_job(_payload(sfn_stack, 2, seed=7), timeout_s=60)
    assert outcome.status == "completed" and outcome.job_id and outcome.execution_arn
    key = {"jobId": {"S": outcome.job_id}}
    driver.dynamodb.update_item(
        TableName="pavi-jobs",
        Key=key,
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "running"}},
    )
    problem = driver.check(outcome.job_id, outcome.execution_arn)
    assert problem is not None and "status 'running'" in problem and "SUCCEEDED" in problem

    late = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    driver.dynamodb.update_item(
        TableName="pavi-jobs",
        Key=key,
        UpdateExpression="SET #s = :s, finishedAt = :f",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "completed"}, ":f": {"S": late}},
    )
    problem = driver.check(outcome.job_id, outcome.execution_arn)
    assert problem is not None and "finishedAt" in problem and "outside the execution's span" in problem
    driver.dynamodb.delete_item(TableName="pavi-jobs", Key=key)
    assert "no record" in (driver.check(outcome.job_id, outcome.execution_arn) or "")


def test_a_payload_too_large_for_the_input_travels_through_s3(sfn_stack: stack.StackState) -> None:
    """Step Functions state data holds 256 KiB; over that, executions die past every Catch."""
    payload = _payload(sfn_stack, 3, seed=11)
    for entry in payload:
        entry["padding"] = "x" * 80_000  # ignored by seq retrieval, but counts against the limit
    outcome = StepFunctionsDriver.for_local_stack(sfn_stack).run_job(payload, timeout_s=60)
    assert outcome.status == "completed", outcome.error
    assert len(parse_clustal(outcome.alignment or "")) == 3
    s3 = boto3.Session(region_name="us-east-1").client("s3", endpoint_url=sfn_stack.aws["endpoint_url"])
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=sfn_stack.aws["payload_bucket"])["Contents"]]
    assert f"{outcome.job_id}/payload.json" in keys


def test_an_inprocess_stack_has_no_state_machine() -> None:
    state = stack.StackState("x", 1, 8765, "inprocess", "http://127.0.0.1:8765", "log")
    with pytest.raises(ConfigError, match="backend 'inprocess'"):
        StepFunctionsDriver.for_local_stack(state)


def test_record_problems_marks_the_outcome_inconsistent() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    execution = {
        "executionArn": "arn:aws:states:us-east-1:1:execution:pavi-pipeline:j",
        "status": "FAILED",
        "startDate": start,
        "stopDate": start + timedelta(seconds=2),
    }
    inside = (start + timedelta(seconds=1)).isoformat()
    record = {
        "status": {"S": "failed"},
        "startedAt": {"S": inside},
        "finishedAt": {"S": inside},
        "executionArn": {"S": execution["executionArn"]},
    }
    assert record_problems(record, "j", execution, 0.01) == []
    assert record_problems({**record, "status": {"S": "completed"}}, "j", execution, 0.01)
    assert record_problems({**record, "executionArn": {"S": "other"}}, "j", execution, 0.01)
    assert record_problems({**record, "finishedAt": {"S": "yesterday"}}, "j", execution, 0.01)
    assert INCONSISTENT not in ("completed", "failed")


def test_runner_records_three_jobs_from_settings(sfn_stack: stack.StackState, tmp_path: Path) -> None:
    """Built from the scenario's `aws` settings, the driver plugs into the pipeline runner."""
    aws = sfn_stack.aws
    settings = AwsSettings(region=aws["region"], endpoint_url=aws["endpoint_url"])
    driver = StepFunctionsDriver(settings, aws["state_machine_arn"], aws["jobs_table"], api_url=sfn_stack.url)
    assert driver.facts()["endpoint_url"] == aws["endpoint_url"]
    run = create_run("pytest", None, root=tmp_path)
    workload = PipelineWorkload(jobs=3, payloads=[PayloadSpec(entries=3)])
    outcome = run_pipeline(run, driver, workload, sfn_stack.url, show_progress=False)
    jobs: Any = pd.read_parquet(outcome.jobs_file)
    assert jobs["success"].all(), jobs["error"].tolist()
    assert (jobs["driver"] == "stepfunctions").all()
    assert jobs["execution_arn"].notna().all()
    assert (jobs[["stage_seq_retrieval_s", "stage_alignment_s", "stage_callback_s"]] > 0).all().all()


def test_api_driver_on_the_stepfunctions_backend(sfn_stack: stack.StackState, tmp_path: Path) -> None:
    """The same consecutive-jobs run through the API, whose status now comes from DynamoDB."""
    from pipeline_bench.driver_api import ApiDriver

    run = create_run("pytest", None, root=tmp_path)
    workload = PipelineWorkload(jobs=5, payloads=[PayloadSpec(entries=3)])
    outcome = run_pipeline(run, ApiDriver(sfn_stack.url), workload, sfn_stack.url, show_progress=False)
    jobs = pd.read_parquet(outcome.jobs_file)
    assert list(jobs["seq"]) == [1, 2, 3, 4, 5]
    assert jobs["success"].all(), jobs["error"].tolist()
    assert (jobs["status"] == "completed").all()
