"""The alignment job the browser bench looks at: submitted through the API like a user's, then awaited.

The page can only be measured once a job has completed, so this is a precondition, not a measurement:
failures raise `EnvironmentProblem` (the bench cannot start) instead of being recorded.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from harness.errors import EnvironmentProblem

POLL_INTERVAL_S = 0.25


def ensure_alignment_job(
    api_url: str, sequences: int, timeout_s: float, payload: list[dict[str, Any]] | None = None
) -> str:
    """Submit `payload`, or one of `sequences` entries the local stand-in generates; wait until it completed.

    The payload is deterministic (seed 0), so on the local stack a second call for >= 100 sequences hits
    its alignment cache (500 sequences take ~15 s the first time, well under a second after).
    Returns the job uuid.
    """
    from pavi_contract.admin import generated_payload

    payload = payload if payload is not None else generated_payload(api_url, sequences)
    base = api_url.rstrip("/")
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=base, timeout=30.0) as client:
        try:
            answer = client.post("/api/pipeline-job/", json=payload)
        except httpx.HTTPError as error:
            raise EnvironmentProblem(
                f"could not submit the browser bench's job to {base}: {error}", "is the PAVI API up?"
            ) from None
        if answer.status_code != 201:
            raise EnvironmentProblem(
                f"{base} refused the browser bench's job: HTTP {answer.status_code} {answer.text[:300]}",
                "check that the target speaks PAVI's API and accepts generated payloads",
            )
        uuid = str(answer.json()["uuid"])
        status = "pending"
        while time.monotonic() < deadline:
            try:
                status = client.get(f"/api/pipeline-job/{uuid}").json().get("status", "unknown")
            except (httpx.HTTPError, ValueError):
                status = "unreachable"
            if status == "completed":
                return uuid
            if status == "failed":
                raise EnvironmentProblem(
                    f"the browser bench's alignment job {uuid} ({sequences} sequences) failed",
                    f"read its log: GET {base}/api/pipeline-job/{uuid}/logs",
                )
            time.sleep(POLL_INTERVAL_S)
    raise EnvironmentProblem(
        f"the alignment job {uuid} ({sequences} sequences) was still {status!r} after {timeout_s:.0f} s",
        "raise the timeout (a cold 500-sequence alignment takes minutes on a loaded host) or pass job_uuid",
    )
