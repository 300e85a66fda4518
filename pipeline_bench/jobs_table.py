"""`runs/<id>/pipeline/jobs.parquet`: one row per job, rewritten whole after every job.

The file is written to a temporary name and renamed over the old one, so a reader (or a resumed
run) only ever sees a complete table and a crash loses at most the jobs still in flight.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline_bench.checks import Check, failure_reason, rejected_sequences, succeeded
from pipeline_bench.drivers import STAGE_NAMES, JobOutcome
from pipeline_bench.payloads import JobPayload

JOBS_FILE = "jobs.parquet"

JOBS_SCHEMA = pa.schema(
    [
        pa.field("seq", pa.int32(), nullable=False),  # 1-based order of submission in the run
        pa.field("job_id", pa.string()),  # the API's uuid; null when the submit failed
        pa.field("driver", pa.string(), nullable=False),
        pa.field("payload", pa.string(), nullable=False),  # payload file as configured, or generated:<n>
        pa.field("expect", pa.string(), nullable=False),  # completed | failed
        pa.field("submitted", pa.float64(), nullable=False),  # epoch s; the server's when it says
        pa.field("started", pa.float64()),  # epoch s, server side; null when unknown
        pa.field("finished", pa.float64()),  # epoch s, server side; null when unknown
        pa.field("observed_done", pa.float64()),  # epoch s the driver saw the end; null if it never did
        pa.field("status", pa.string(), nullable=False),  # completed|failed|timeout|submit_failed|...
        pa.field("duration_s", pa.float64()),  # submitted -> finished (or -> observed_done)
        *(pa.field(f"stage_{stage}_s", pa.float64()) for stage in STAGE_NAMES),
        pa.field("success", pa.bool_(), nullable=False),  # every check passed
        pa.field("checks", pa.string(), nullable=False),  # JSON {name: {passed, detail}}
        pa.field("error", pa.string()),  # why the job is not a success; null when it is
        pa.field("execution_arn", pa.string()),  # Step Functions execution, when the driver knows it
        pa.field("rejected", pa.int32(), nullable=False),  # sequences the pipeline rejected (with an error)
        pa.field("rejected_names", pa.string(), nullable=False),  # JSON {name: the pipeline's error}
    ]
)


def duration_s(outcome: JobOutcome) -> float | None:
    end = outcome.finished if outcome.finished is not None else outcome.observed_done
    return None if end is None else end - outcome.submitted


def job_row(
    seq: int, driver: str, payload: JobPayload, outcome: JobOutcome, checks: Sequence[Check]
) -> dict[str, Any]:
    """One jobs.parquet row; `error` is null exactly when the job succeeded."""
    ok = succeeded(checks)
    rejected = rejected_sequences(outcome, payload)
    return {
        "seq": seq,
        "job_id": outcome.job_id,
        "driver": driver,
        "payload": payload.source,
        "expect": payload.expect,
        "submitted": outcome.submitted,
        "started": outcome.started,
        "finished": outcome.finished,
        "observed_done": outcome.observed_done,
        "status": outcome.status,
        "duration_s": duration_s(outcome),
        **{f"stage_{stage}_s": outcome.stages.get(f"{stage}_s") for stage in STAGE_NAMES},
        "success": ok,
        "checks": json.dumps({c.name: {"passed": c.passed, "detail": c.detail} for c in checks}),
        "error": None if ok else (failure_reason(checks) or outcome.error or "checks failed"),
        "execution_arn": outcome.execution_arn,
        "rejected": len(rejected),
        "rejected_names": json.dumps(rejected),
    }


def warm_up() -> None:
    """pyarrow imports pandas on its first table (~1 s): pay it before the first job, not inside the runs."""
    pa.Table.from_pylist([], schema=JOBS_SCHEMA).to_pandas()


def write_jobs(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Replace `path` with `rows` in seq order, atomically."""
    table = pa.Table.from_pylist(sorted(rows, key=lambda row: row["seq"]), schema=JOBS_SCHEMA)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def read_jobs(path: Path) -> list[dict[str, Any]]:
    """The rows already recorded (none when the file does not exist)."""
    if not path.exists():
        return []
    return pq.read_table(path).to_pylist()
