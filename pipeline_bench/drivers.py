"""What every way of running one pipeline job hands back, and the interface a driver implements.

The runner and the checks only see `JobOutcome`, so a driver that starts Step Functions executions
directly (`driver_stepfunctions.py`) plugs in next to the API driver without changing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

COMPLETED = "completed"
FAILED = "failed"
FINAL_STATUSES = (COMPLETED, FAILED)
# Statuses a driver reports when it never saw a final one (the checks treat them as failures).
TIMEOUT = "timeout"
SUBMIT_FAILED = "submit_failed"
UNREACHABLE = "unreachable"

STAGE_NAMES = ("seq_retrieval", "alignment", "seq_info", "callback")


@dataclass
class JobOutcome:
    """What a driver saw of one job. Times are epoch seconds; None where the target does not say.

    `submitted`/`started`/`finished` come from the server when it exposes them (the local stack's
    `/_pavi/jobs/{uuid}`, DynamoDB, Step Functions), else `submitted` is the client's clock just
    before submitting. `observed_done` is always the client's clock when it first saw the end.
    `stages` maps `<stage>_s` (see STAGE_NAMES) to seconds.
    """

    job_id: str | None
    status: str  # completed | failed | pending | running (last seen) | timeout | submit_failed | unreachable
    submitted: float
    started: float | None = None
    finished: float | None = None
    observed_done: float | None = None
    stages: dict[str, float] = field(default_factory=dict)
    alignment: str | None = None
    seq_info: dict[str, Any] | None = None
    error: str | None = None  # why the driver could not follow the job (transport, timeout, refusal)
    execution_arn: str | None = None
    # HTTP status of the two result routes (None: not asked), so an expected failure can prove both 404.
    alignment_http: int | None = None
    seq_info_http: int | None = None
    log: str | None = None  # the job log's last lines for a failed job: the failure's reason
    http_retries: int = 0  # transient errors (5xx, connection) retried while following the job


@runtime_checkable
class Driver(Protocol):
    """Runs one job end to end and reports it; never raises for a job that goes wrong.

    A driver may also offer `facts() -> dict` (how it polls, what it talks to); the runner records
    that in run.json when present.
    """

    name: str

    def run_job(self, payload: list[dict[str, Any]], timeout_s: float) -> JobOutcome: ...
