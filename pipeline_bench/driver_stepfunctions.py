"""The `stepfunctions` driver: one job as a Step Functions execution, checked against DynamoDB.

After the migration the API only starts executions and reads `pavi-jobs`, so a job is right only if
both agree: the record must say `completed` exactly when the execution SUCCEEDED (`failed` for
FAILED, TIMED_OUT, ABORTED) and its finish time must fall within the execution's span. A record
that disagrees is what users would see (the API answers from it), so the driver reports the
disagreement as the outcome's `error`, which the runner counts as a failed job.

Per-state seconds come from the execution history (StateEntered -> StateExited). Results are
fetched through the API when `api_url` is given, exactly as the API driver fetches them.

The execution input is `{"jobId", "payload"}`; a payload over ~192 KiB goes to `payload_bucket` in S3
instead (`{"jobId", "payloadS3": {"Bucket", "Key"}}`), since Step Functions ends an execution whose
state data exceeds 256 KiB with States.DataLimitExceeded, which no Catch can turn into a record.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import suppress
from dataclasses import asdict
from datetime import datetime
from typing import Any

import boto3
import httpx
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from harness.config import AwsSettings
from harness.errors import ConfigError
from harness.stack import StackState, local_aws_session
from pavi_contract.execution import execution_input
from pipeline_bench.driver_api import ApiDriver, PollSchedule
from pipeline_bench.drivers import (
    COMPLETED,
    FAILED,
    STAGE_NAMES,
    SUBMIT_FAILED,
    TIMEOUT,
    UNREACHABLE,
    JobOutcome,
)

INCONSISTENT = "inconsistent"  # the execution ended, but the job record says otherwise
# What the record must say once the execution ended.
RECORD_STATUS = {"SUCCEEDED": COMPLETED, "FAILED": FAILED, "TIMED_OUT": FAILED, "ABORTED": FAILED}
CLOCK_TOLERANCE_S = 0.01  # history and describe_execution give milliseconds; records give microseconds


class StepFunctionsDriver:
    """`start_execution` (name = the job's uuid), poll `describe_execution`, read history and record.

    Thread-safe: boto3 clients may be shared between the runner's threads.
    """

    name = "stepfunctions"

    def __init__(
        self,
        session_or_settings: boto3.Session | AwsSettings,
        state_machine_arn: str,
        jobs_table: str = "pavi-jobs",
        endpoint_url: str | None = None,
        api_url: str | None = None,
        payload_bucket: str | None = None,
        *,
        schedule: PollSchedule | None = None,
        clock_tolerance_s: float = CLOCK_TOLERANCE_S,
    ) -> None:
        if isinstance(session_or_settings, AwsSettings):
            session = boto3.Session(
                profile_name=session_or_settings.profile, region_name=session_or_settings.region
            )
            endpoint_url = endpoint_url or session_or_settings.endpoint_url
        else:
            session = session_or_settings
        config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)
        self.sfn = session.client("stepfunctions", endpoint_url=endpoint_url, config=config)
        self.dynamodb = session.client("dynamodb", endpoint_url=endpoint_url, config=config)
        self.s3 = session.client("s3", endpoint_url=endpoint_url, config=config) if payload_bucket else None
        self.payload_bucket = payload_bucket
        self.region = session.region_name
        self.state_machine_arn = state_machine_arn
        self.jobs_table = jobs_table
        self.endpoint_url = endpoint_url
        self.api_url = api_url.rstrip("/") if api_url else None
        self.schedule = schedule or PollSchedule()
        self.clock_tolerance_s = clock_tolerance_s

    @classmethod
    def for_local_stack(cls, state: StackState) -> StepFunctionsDriver:
        """The driver for a `stepfunctions` local stack: its moto server, with moto's dummy credentials."""
        aws = state.aws
        if not aws:
            raise ConfigError(
                f"local stack {state.name!r} runs backend {state.backend!r}, which has no state machine",
                "set `backend: stepfunctions` for the target and start it again, or use --driver api",
            )
        return cls(
            local_aws_session(str(aws["region"])),
            str(aws["state_machine_arn"]),
            str(aws["jobs_table"]),
            endpoint_url=str(aws["endpoint_url"]),
            api_url=state.url,
            payload_bucket=str(aws["payload_bucket"]),
        )

    def facts(self) -> dict[str, Any]:
        """How this driver follows a job, for run.json."""
        return {
            "state_machine_arn": self.state_machine_arn,
            "jobs_table": self.jobs_table,
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "api_url": self.api_url,
            "payload_bucket": self.payload_bucket,
            "poll_schedule": asdict(self.schedule),
            "clock_tolerance_s": self.clock_tolerance_s,
        }

    def run_job(self, payload: list[dict[str, Any]], timeout_s: float) -> JobOutcome:
        """Never raises for a job that goes wrong: every problem ends up in the outcome."""
        deadline = time.monotonic() + timeout_s
        job_id = str(uuid.uuid4())
        submitted = time.time()
        try:
            arn = self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=job_id,
                input=execution_input(job_id, payload, self.s3, self.payload_bucket),
            )["executionArn"]
        except ClientError as error:
            return JobOutcome(None, SUBMIT_FAILED, submitted, error=f"StartExecution {job_id}: {error}")
        except BotoCoreError as error:
            return JobOutcome(None, UNREACHABLE, submitted, error=f"StartExecution {job_id}: {error}")
        outcome = JobOutcome(job_id, "running", submitted, execution_arn=arn)
        execution = self._wait(outcome, deadline, timeout_s)
        if execution is None:
            return outcome
        try:
            self._inspect(outcome, job_id, execution)
        except (BotoCoreError, ClientError) as error:  # unchecked is not passed: never count it a success
            outcome.status = UNREACHABLE
            outcome.error = f"reading the execution history or the job record: {error}"
        if self.api_url:
            with httpx.Client(base_url=self.api_url, timeout=30.0) as client:
                ApiDriver(self.api_url)._results(client, outcome)
        return outcome

    def check(self, job_id: str, execution_arn: str) -> str | None:
        """Read the execution and the record again; the disagreement, or None when they agree."""
        execution = self.sfn.describe_execution(executionArn=execution_arn)
        if execution["status"] == "RUNNING":
            return f"execution {execution_arn} is still running"
        problems = record_problems(self._record(job_id), job_id, execution, self.clock_tolerance_s)
        return "; ".join(problems) or None

    def _wait(self, outcome: JobOutcome, deadline: float, timeout_s: float) -> dict[str, Any] | None:
        """Poll until the execution ends (its description) or the deadline (None, outcome says why)."""
        start = time.monotonic()
        interval: float | None = None
        while True:
            now = time.monotonic()
            if now >= deadline:
                outcome.status = TIMEOUT
                outcome.error = f"execution still running after {timeout_s:g} s"
                return None
            interval = self.schedule.next_interval(interval, now - start)
            time.sleep(min(interval, deadline - now))
            try:
                execution = self.sfn.describe_execution(executionArn=outcome.execution_arn)
            except (BotoCoreError, ClientError) as error:  # botocore already retried transient errors
                outcome.status = UNREACHABLE
                outcome.error = f"DescribeExecution: {error}"
                return None
            if execution["status"] != "RUNNING":
                outcome.observed_done = time.time()
                return execution

    def _inspect(self, outcome: JobOutcome, job_id: str, execution: dict[str, Any]) -> None:
        outcome.status = RECORD_STATUS.get(execution["status"], FAILED)
        outcome.submitted = execution["startDate"].timestamp()
        outcome.finished = execution["stopDate"].timestamp()
        outcome.stages = state_seconds(self._history(execution["executionArn"]))
        record = self._record(job_id)
        started = _attribute(record, "startedAt")
        outcome.started = _epoch(started) if started else None
        if outcome.status == FAILED:
            outcome.log = _attribute(record, "error") or execution.get("error")
        problems = record_problems(record, job_id, execution, self.clock_tolerance_s)
        if problems:  # a status the checks never expect, so the runner counts the job as failed
            outcome.error = f"record disagrees with the execution ({outcome.status}): " + "; ".join(problems)
            outcome.status = INCONSISTENT

    def _history(self, execution_arn: str) -> list[dict[str, Any]]:
        pages = self.sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        return [event for page in pages for event in page["events"]]

    def _record(self, job_id: str) -> dict[str, Any] | None:
        return self.dynamodb.get_item(
            TableName=self.jobs_table, Key={"jobId": {"S": job_id}}, ConsistentRead=True
        ).get("Item")


def state_seconds(events: list[dict[str, Any]]) -> dict[str, float]:
    """`<state>_s` for every state in STAGE_NAMES that was entered and exited.

    `seq_info_s` is no state of its own (the alignment task collects seq info); the local worker
    reports its seconds as `seq_info_seconds` in the task's output, taken when present.
    """
    entered: dict[str, datetime] = {}
    seconds: dict[str, float] = {}
    for event in events:
        if task := event.get("taskSucceededEventDetails"):
            with suppress(KeyError, ValueError, TypeError):
                seconds["seq_info_s"] = float(json.loads(task["output"])["seq_info_seconds"])
        elif details := event.get("stateEnteredEventDetails"):
            entered[details["name"]] = event["timestamp"]
        elif (details := event.get("stateExitedEventDetails")) and details["name"] in entered:
            name = details["name"]
            if name in STAGE_NAMES:
                seconds[f"{name}_s"] = (event["timestamp"] - entered.pop(name)).total_seconds()
    return seconds


def record_problems(
    record: dict[str, Any] | None, job_id: str, execution: dict[str, Any], tolerance_s: float
) -> list[str]:
    """Where the job record and the ended execution disagree; empty when they agree."""
    if record is None:
        return [f"no record for {job_id} in the jobs table"]
    problems = []
    status = _attribute(record, "status")
    wanted = RECORD_STATUS.get(execution["status"], FAILED)
    if status != wanted:
        problems.append(f"status {status!r} but the execution {execution['status']} (want {wanted!r})")
    arn = _attribute(record, "executionArn")
    if arn is not None and arn != execution["executionArn"]:
        problems.append(f"executionArn {arn} is another execution")
    begin = execution["startDate"].timestamp() - tolerance_s
    end = execution["stopDate"].timestamp() + tolerance_s
    for name in ("startedAt", "finishedAt"):
        text = _attribute(record, name)
        if text is None:
            problems.append(f"no {name}")
            continue
        try:
            at = _epoch(text)
        except ValueError:
            problems.append(f"{name} {text!r} is not an ISO 8601 time")
            continue
        if not begin <= at <= end:
            problems.append(
                f"{name} {text} is outside the execution's span "
                f"{execution['startDate'].isoformat()} .. {execution['stopDate'].isoformat()}"
            )
    return problems


def _attribute(record: dict[str, Any] | None, name: str) -> str | None:
    value = (record or {}).get(name, {})
    return value.get("S") if isinstance(value, dict) else None


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()
