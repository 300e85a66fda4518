"""PAVI's API routes and job states (upstream `api/src/main.py`), as every part that calls it names them."""

from __future__ import annotations

HEALTH = "/api/health"
SUBMIT = "/api/pipeline-job/"
HEALTH_ANSWER = {"status": "up"}

PENDING, RUNNING, COMPLETED, FAILED = "pending", "running", "completed", "failed"
JOB_STATES = frozenset({PENDING, RUNNING, COMPLETED, FAILED})
FINISHED = frozenset({COMPLETED, FAILED})


def job(uuid: str) -> str:
    return f"/api/pipeline-job/{uuid}"


def alignment(uuid: str) -> str:
    return f"/api/pipeline-job/{uuid}/result/alignment"


def seq_info(uuid: str) -> str:
    return f"/api/pipeline-job/{uuid}/result/seq-info"


def logs(uuid: str) -> str:
    return f"/api/pipeline-job/{uuid}/logs"
