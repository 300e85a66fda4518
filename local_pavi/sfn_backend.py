"""The `stepfunctions` backend: PAVI after the migration, on moto server instead of AWS.

The API writes a `pending` record into DynamoDB table `pavi-jobs` and starts an execution of the
state machine `pavi-pipeline`; the state machine marks the job running, hands seq_retrieval and
alignment to a worker through SQS `waitForTaskToken` tasks (where AWS runs Batch jobs) and writes
the outcome into the record with `dynamodb:updateItem`. The API answers job status from that record.

moto 5.2.5 facts this module is built around (see docs/ARCHITECTURE.md):
- executions run only after `POST /moto-api/config {"stepfunctions": {"execute_state_machine": true}}`,
  and the executor calls back into the server at `localhost:$MOTO_PORT`, so MOTO_PORT must be its port;
- `send_task_failure` drops `cause` (only `error` reaches the Catch), so the reason travels in `error`;
- `$$.Execution.StartTime` is a datetime that breaks the DynamoDB integration; `$$.State.EnteredTime`
  (ISO 8601 text) works, so every timestamp in the record is a state's entered time;
- state data over 256 KiB ends an execution with States.DataLimitExceeded, past every Catch (as on
  AWS), leaving the record `running`: payloads that large travel through S3 (`pavi_contract.execution`);
- `batch:submitJob.sync` fails (moto hands `JobName` to boto3, which wants `jobName`), and without
  Docker moto's Batch only marks jobs SUCCEEDED without running anything, so the Batch stages are
  SQS callback tasks here.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import boto3
import httpx
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from local_pavi.faults import FaultSettings
from local_pavi.jobs import Job, JobStatus, JobStore
from local_pavi.pipeline import PipelineRunner
from pavi_contract.execution import execution_input

REGION = "us-east-1"
JOBS_TABLE = "pavi-jobs"
STATE_MACHINE = "pavi-pipeline"
PAYLOAD_BUCKET = "pavi-payloads"
QUEUES = {"seq_retrieval": "pavi-seq-retrieval", "alignment": "pavi-alignment"}
STAGE_TIMEOUT_S = {"seq_retrieval": 600, "alignment": 3600}
ROLE_ARN = "arn:aws:iam::123456789012:role/pavi-pipeline"  # moto accepts any role; AWS needs a real one
MOTO_START_TIMEOUT_S = 30.0
COUNTS_TTL_S = 0.5
log = logging.getLogger(__name__)

# moto's code as a child process: its werkzeug request log would write a line per API call
_MOTO_MAIN = (
    "import logging, sys; logging.getLogger('werkzeug').setLevel(logging.WARNING); "
    "from moto.server import main; main(sys.argv[1:])"
)


@dataclass(frozen=True)
class AwsStack:
    """Where the emulated AWS resources are; the harness gets this through `/_pavi/stats`."""

    endpoint_url: str
    region: str
    state_machine_arn: str
    jobs_table: str
    queues: dict[str, str]
    payload_bucket: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def aws_session(region: str = REGION) -> boto3.Session:
    """Fixed dummy credentials: the local stack only ever talks to its own moto server."""
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)


def client(service: str, aws: AwsStack | str, region: str = REGION) -> Any:
    """A boto3 client for the moto endpoint; the pool is sized for the API's thread pool (40)."""
    endpoint = aws if isinstance(aws, str) else aws.endpoint_url
    config = Config(max_pool_connections=64, retries={"mode": "standard", "max_attempts": 3})
    return aws_session(region).client(service, endpoint_url=endpoint, config=config)


class MotoServer:
    """moto server as a child of the stack process: same process group, so `stack down` stops it too."""

    def __init__(self, log_path: Path, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = _free_port(host)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = MOTO_START_TIMEOUT_S) -> None:
        """Start, wait (bounded) until it answers, and switch state machine execution on."""
        env = {
            **os.environ,
            "MOTO_PORT": str(self.port),  # the executor calls back into the server on this port
            "NO_PROXY": "127.0.0.1,localhost",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }
        command = [sys.executable, "-c", _MOTO_MAIN, "-H", self.host, "-p", str(self.port)]
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"moto server exited with code {self.process.returncode}; see {self.log_path}"
                )
            try:
                answer = httpx.post(
                    f"{self.endpoint_url}/moto-api/config",
                    json={"stepfunctions": {"execute_state_machine": True}},
                    timeout=1.0,
                )
                if answer.status_code < 300:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not answer within {timeout_s:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _sqs_task(stage: str, queue_url: str, next_state: str, with_execution: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"stage": stage, "jobId.$": "$.jobId", "taskToken.$": "$$.Task.Token"}
    if with_execution:
        # the worker reads the payload from the execution's input: an SQS message holds only 256 KiB
        body["executionArn.$"] = "$$.Execution.Id"
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": queue_url, "MessageBody": body},
        "TimeoutSeconds": STAGE_TIMEOUT_S[stage],
        "ResultPath": f"$.{stage}",
        "Next": next_state,
        "Catch": [_CATCH_ALL],
    }


def _update_item(table: str, expression: str, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:updateItem",
        "Parameters": {
            "TableName": table,
            "Key": {"jobId": {"S.$": "$.jobId"}},
            "UpdateExpression": expression,
            # only the names the expression uses: DynamoDB refuses unused ones
            "ExpressionAttributeNames": {f"#{name}": name for name in _RESERVED if f"#{name}" in expression},
            "ExpressionAttributeValues": values,
        },
        "ResultPath": None,
    }


_RESERVED = ("status", "name", "error")  # DynamoDB reserved words among the record's attributes
_CATCH_ALL = {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "record_failure"}
_NOW = {"S.$": "$$.State.EnteredTime"}


def state_machine_definition(queues: dict[str, str], table: str) -> dict[str, Any]:
    """mark_running -> seq_retrieval -> alignment -> callback; any failure -> record_failure -> Fail.

    Every write is an `updateItem`, so an execution started without the API (the pipeline bench's
    Step Functions driver) still leaves a complete record.
    """
    mark_running = _update_item(
        table,
        "SET #status = :running, startedAt = :now, executionArn = :arn, "
        "submittedAt = if_not_exists(submittedAt, :now), #name = if_not_exists(#name, :name)",
        {
            ":running": {"S": "running"},
            ":now": _NOW,
            ":arn": {"S.$": "$$.Execution.Id"},
            ":name": {"S.$": "States.Format('pavi-job-{}', $.jobId)"},
        },
    )
    callback = _update_item(
        table,
        "SET #status = :completed, finishedAt = :now, stages = :stages",
        {
            ":completed": {"S": "completed"},
            ":now": _NOW,
            ":stages": {
                "M": {
                    "seq_retrieval_s": {"N.$": "$.seq_retrieval.seconds"},
                    "alignment_s": {"N.$": "$.alignment.seconds"},
                    "seq_info_s": {"N.$": "$.alignment.seq_info_seconds"},
                }
            },
        },
    )
    record_failure = _update_item(
        table,
        "SET #status = :failed, finishedAt = :now, #error = :error",
        {":failed": {"S": "failed"}, ":now": _NOW, ":error": {"S.$": "$.error.Error"}},
    )
    return {
        "Comment": "PAVI pipeline: seq_retrieval -> alignment -> result callback into DynamoDB",
        "StartAt": "mark_running",
        "States": {
            "mark_running": {**mark_running, "Next": "seq_retrieval", "Catch": [_CATCH_ALL]},
            "seq_retrieval": _sqs_task("seq_retrieval", queues["seq_retrieval"], "alignment", True),
            "alignment": _sqs_task("alignment", queues["alignment"], "callback", False),
            "callback": {**callback, "End": True, "Catch": [_CATCH_ALL]},
            "record_failure": {**record_failure, "Next": "failed"},
            "failed": {"Type": "Fail", "Error": "PipelineFailed", "Cause": "the job record holds the error"},
        },
    }


def provision(endpoint_url: str, region: str = REGION) -> AwsStack:
    """Create the queues, the jobs table and the state machine on a fresh moto server."""
    sqs, dynamodb, sfn = (client(name, endpoint_url, region) for name in ("sqs", "dynamodb", "stepfunctions"))
    client("s3", endpoint_url, region).create_bucket(Bucket=PAYLOAD_BUCKET)
    visibility = str(max(STAGE_TIMEOUT_S.values()))  # one consumer, which answers or lets the state time out
    queues = {
        stage: sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": visibility})["QueueUrl"]
        for stage, name in QUEUES.items()
    }
    dynamodb.create_table(
        TableName=JOBS_TABLE,
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    arn = sfn.create_state_machine(
        name=STATE_MACHINE,
        definition=json.dumps(state_machine_definition(queues, JOBS_TABLE)),
        roleArn=ROLE_ARN,
    )["stateMachineArn"]
    return AwsStack(endpoint_url, region, arn, JOBS_TABLE, queues, PAYLOAD_BUCKET)


def iso_now() -> str:
    return datetime.now(UTC).isoformat()


def epoch(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


@dataclass
class SfnJob(Job):
    """A job read from DynamoDB; `/_pavi/jobs` also names its execution."""

    execution_arn: str | None = None

    def timings(self) -> dict[str, object]:
        return {**super().timings(), "execution_arn": self.execution_arn}


def job_from_item(item: dict[str, Any], result_dir: Path) -> SfnJob:
    """A DynamoDB record as the API's `Job`, so routes answer the same shapes as `inprocess`."""
    text = {key: value["S"] for key, value in item.items() if "S" in value}
    stages = {key: float(value["N"]) for key, value in item.get("stages", {}).get("M", {}).items()}
    return SfnJob(
        uuid=UUID(text["jobId"]),
        result_dir=result_dir,
        status=JobStatus[text["status"].upper()],
        submitted=epoch(text.get("submittedAt")) or 0.0,
        started=epoch(text.get("startedAt")),
        finished=epoch(text.get("finishedAt")),
        stages=stages,
        log=[f"ERROR: {text['error']}"] if "error" in text else [],
        execution_arn=text.get("executionArn"),
    )


class DynamoJobStore:
    """The API's view of jobs, read from `pavi-jobs` (strongly consistent reads, as a status must be)."""

    def __init__(self, aws: AwsStack, jobs_dir: Path) -> None:
        self.aws = aws
        self.jobs_dir = jobs_dir
        self.dynamodb = client("dynamodb", aws, aws.region)
        self._counts: tuple[float, dict[str, int]] = (0.0, {})
        self._lock = threading.Lock()

    def add(self, job: Job) -> None:
        self.dynamodb.put_item(
            TableName=self.aws.jobs_table,
            Item={
                "jobId": {"S": str(job.uuid)},
                "name": {"S": job.name},
                "status": {"S": job.status.label},
                "submittedAt": {"S": datetime.fromtimestamp(job.submitted, UTC).isoformat()},
            },
            ConditionExpression="attribute_not_exists(jobId)",
        )

    def get(self, uuid: UUID) -> Job | None:
        item = self.dynamodb.get_item(
            TableName=self.aws.jobs_table, Key={"jobId": {"S": str(uuid)}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else job_from_item(item, self.jobs_dir / str(uuid))

    def mark_failed(self, uuid: UUID, error: str) -> None:
        self.dynamodb.update_item(
            TableName=self.aws.jobs_table,
            Key={"jobId": {"S": str(uuid)}},
            UpdateExpression="SET #status = :failed, finishedAt = :now, #error = :error",
            ExpressionAttributeNames={"#status": "status", "#error": "error"},
            ExpressionAttributeValues={
                ":failed": {"S": "failed"},
                ":now": {"S": iso_now()},
                ":error": {"S": error},
            },
        )

    def counts(self) -> dict[str, int]:
        """Jobs by status: a table scan, so cached briefly (the load test's sampler asks every second)."""
        with self._lock:
            at, cached = self._counts
            if time.monotonic() - at < COUNTS_TTL_S:
                return dict(cached)
            counts = {status.label: 0 for status in JobStatus}
            pages = self.dynamodb.get_paginator("scan").paginate(
                TableName=self.aws.jobs_table,
                ProjectionExpression="#status",
                ExpressionAttributeNames={"#status": "status"},
            )
            for page in pages:
                for item in page["Items"]:
                    label = item.get("status", {}).get("S", "")
                    counts[label] = counts.get(label, 0) + 1
            self._counts = (time.monotonic(), counts)
            return dict(counts)


class SfnRunner:
    """Starts one execution per job (name = job uuid); the worker and moto do the rest."""

    def __init__(self, aws: AwsStack, store: DynamoJobStore, worker: Any) -> None:
        self.aws = aws
        self.store = store
        self.worker = worker
        self.sfn = client("stepfunctions", aws, aws.region)
        self.s3 = client("s3", aws, aws.region)

    @property
    def in_flight(self) -> int:
        counts = self.store.counts()
        return counts.get("pending", 0) + counts.get("running", 0)

    def submit(self, job: Job, payload: list[dict[str, Any]]) -> None:
        """A start that fails ends the job `failed`, as a Nextflow launch failure does upstream."""
        try:
            self.sfn.start_execution(
                stateMachineArn=self.aws.state_machine_arn,
                name=str(job.uuid),
                input=execution_input(str(job.uuid), payload, self.s3, self.aws.payload_bucket),
            )
        except (BotoCoreError, ClientError) as error:
            log.error("could not start the execution of %s: %s", job.uuid, error)
            self.store.mark_failed(job.uuid, f"could not start the execution: {error}")

    def shutdown(self) -> None:
        self.worker.stop()


def create_sfn_backend(
    aws: AwsStack,
    jobs_dir: Path,
    genome_fasta: Path,
    chromosomes: dict[str, str],
    faults: FaultSettings,
    rng: random.Random,
    workers: int,
    cache_dir: Path,
    cache_min_sequences: int,
    own_port: int | None = None,
) -> tuple[DynamoJobStore, SfnRunner]:
    """The store and runner `create_app` uses in place of `JobStore` and `PipelineRunner`."""
    from local_pavi.sfn_worker import StageWorker

    # PipelineRunner's stage methods do the real work; its own store and pool stay unused.
    stages = PipelineRunner(
        JobStore(), genome_fasta, chromosomes, faults, rng, workers=1,
        cache_dir=cache_dir, cache_min_sequences=cache_min_sequences, own_port=own_port,
    )  # fmt: skip
    worker = StageWorker(aws, stages, jobs_dir, faults, rng, workers=workers)
    worker.start()
    store = DynamoJobStore(aws, jobs_dir)
    return store, SfnRunner(aws, store, worker)
