"""The `stepfunctions` backend: the API over a real moto server, real SQS tasks and real clustalo.

One stack for the module (moto's start is most of its ~5 s); dummy AWS credentials only, and every
endpoint is the stack's own moto server on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from harness import stack
from local_pavi.genome import FASTA_NAME
from local_pavi.payload import generate_payload
from pavi_contract.clustal import parse_clustal

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(sfn_stack: stack.StackState) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sfn_stack.url, timeout=30.0) as client:
        yield client
        stack.set_faults(sfn_stack.url, pipeline_failure_ratio=0)


@pytest.fixture(scope="module")
def dynamodb(sfn_stack: stack.StackState) -> Any:
    assert sfn_stack.aws["endpoint_url"].startswith("http://127.0.0.1:")
    session = boto3.Session(region_name=sfn_stack.aws["region"])
    return session.client("dynamodb", endpoint_url=sfn_stack.aws["endpoint_url"])


def _record(dynamodb: Any, uuid: str) -> dict[str, str]:
    item = dynamodb.get_item(TableName="pavi-jobs", Key={"jobId": {"S": uuid}}, ConsistentRead=True)["Item"]
    return {key: value.get("S", value.get("N")) for key, value in item.items() if "M" not in value}


def _wait(api: httpx.Client, uuid: str, timeout_s: float = 60.0) -> list[str]:
    """Every status the API showed, in order, until a final one (bounded)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = api.get(f"/api/pipeline-job/{uuid}").json()["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("completed", "failed"):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"job {uuid} did not finish within {timeout_s} s (seen {seen})")


def _payload(state: stack.StackState, entries: int, seed: int = 0) -> list[dict]:
    return generate_payload(entries, fasta_file_url=f"{state.url}/genome/{FASTA_NAME}", seed=seed)


def test_stack_state_names_the_aws_resources(sfn_stack: stack.StackState, api: httpx.Client) -> None:
    assert stack.read_state("pytest-sfn") == sfn_stack
    assert set(sfn_stack.aws) >= {"endpoint_url", "region", "state_machine_arn", "jobs_table"}
    assert sfn_stack.aws["state_machine_arn"].endswith(":stateMachine:pavi-pipeline")
    assert sfn_stack.aws["jobs_table"] == "pavi-jobs"
    stats = api.get("/_pavi/stats").json()
    assert stats["backend"] == "stepfunctions"
    assert stats["aws"] == sfn_stack.aws


def test_job_completes_with_status_from_dynamodb(
    sfn_stack: stack.StackState, api: httpx.Client, dynamodb: Any
) -> None:
    payload = _payload(sfn_stack, 3, seed=5)
    answer = api.post("/api/pipeline-job/", json=payload)
    assert answer.status_code == 201
    job = answer.json()
    assert job == {"uuid": job["uuid"], "status": "pending", "name": f"pavi-job-{job['uuid']}"}
    uuid = job["uuid"]
    seen = _wait(api, uuid)
    assert seen[-1] == "completed" and set(seen) <= {"pending", "running", "completed"}, seen

    record = _record(dynamodb, uuid)
    assert record["status"] == "completed"
    assert record["name"] == f"pavi-job-{uuid}"
    assert record["executionArn"].endswith(f":execution:pavi-pipeline:{uuid}")

    rows = parse_clustal(api.get(f"/api/pipeline-job/{uuid}/result/alignment").text)
    assert sorted(rows) == sorted(entry["base_seq_name"] for entry in payload)
    assert set(api.get(f"/api/pipeline-job/{uuid}/result/seq-info").json()) == set(rows)
    assert "completed" in api.get(f"/api/pipeline-job/{uuid}/logs").text

    timings = api.get(f"/_pavi/jobs/{uuid}").json()
    assert timings["submitted"] <= timings["started"] <= timings["finished"]
    assert set(timings["stages"]) == {"seq_retrieval_s", "alignment_s", "seq_info_s"}
    assert timings["stages"]["alignment_s"] > 0
    assert timings["execution_arn"] == record["executionArn"]

    # the API has no status of its own: change the record and the API says what it says
    dynamodb.update_item(
        TableName="pavi-jobs",
        Key={"jobId": {"S": uuid}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "running"}},
    )
    assert api.get(f"/api/pipeline-job/{uuid}").json()["status"] == "running"
    assert api.get(f"/api/pipeline-job/{uuid}/result/alignment").status_code == 404
    assert api.get(f"/api/pipeline-job/{uuid}/logs").status_code == 400


def test_unknown_seq_id_fails_in_dynamodb_and_results_are_404(
    sfn_stack: stack.StackState, api: httpx.Client, dynamodb: Any
) -> None:
    payload = _payload(sfn_stack, 2)
    payload[1]["seq_id"] = "chrUnknown"
    uuid = api.post("/api/pipeline-job/", json=payload).json()["uuid"]
    assert _wait(api, uuid)[-1] == "failed"
    record = _record(dynamodb, uuid)
    assert record["status"] == "failed"
    assert "chrUnknown" in record["error"]
    for route in ("alignment", "seq-info"):
        assert api.get(f"/api/pipeline-job/{uuid}/result/{route}").status_code == 404
    logs = api.get(f"/api/pipeline-job/{uuid}/logs")
    assert logs.status_code == 200 and "chrUnknown" in logs.text


def test_unknown_job_is_404(api: httpx.Client) -> None:
    unknown = "00000000-0000-1000-8000-000000000000"
    assert api.get(f"/api/pipeline-job/{unknown}").status_code == 404
    assert api.get(f"/api/pipeline-job/{unknown}/result/alignment").status_code == 404
    assert api.get(f"/api/pipeline-job/{unknown}/logs").status_code == 404
    assert api.get("/api/pipeline-job/not-a-uuid").status_code == 422


def test_pipeline_failure_ratio_fails_jobs(
    sfn_stack: stack.StackState, api: httpx.Client, dynamodb: Any
) -> None:
    stack.set_faults(sfn_stack.url, pipeline_failure_ratio=1.0)
    uuid = api.post("/api/pipeline-job/", json=_payload(sfn_stack, 2)).json()["uuid"]
    assert _wait(api, uuid)[-1] == "failed"
    assert "injected fault" in _record(dynamodb, uuid)["error"]
    assert "injected fault" in api.get(f"/api/pipeline-job/{uuid}/logs").text
    stack.set_faults(sfn_stack.url, pipeline_failure_ratio=0.0)
    uuid = api.post("/api/pipeline-job/", json=_payload(sfn_stack, 2)).json()["uuid"]
    assert _wait(api, uuid)[-1] == "completed"
