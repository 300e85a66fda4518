"""Submit one generated job to a PAVI API and wait for it: the quickest proof a target works."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from harness.errors import EnvironmentProblem
from pavi_contract.clustal import parse_clustal


@dataclass(frozen=True)
class SmokeResult:
    uuid: str
    status: str
    rows: int
    seconds: float
    result_url: str


def submit_and_wait(api_url: str, web_url: str, payload: list[dict], timeout_s: float = 300.0) -> SmokeResult:
    start = time.monotonic()
    with httpx.Client(base_url=api_url, timeout=30.0) as client:
        try:
            answer = client.post("/api/pipeline-job/", json=payload)
        except httpx.HTTPError as error:
            raise EnvironmentProblem(f"cannot reach {api_url}: {error}", "is the target up?") from None
        if answer.status_code != 201:
            raise EnvironmentProblem(
                f"POST /api/pipeline-job/ answered {answer.status_code}: {answer.text[:200]}",
                "check the target's URL and that it is a PAVI API",
            )
        uuid = answer.json()["uuid"]
        status = "pending"
        while time.monotonic() - start < timeout_s:
            status = client.get(f"/api/pipeline-job/{uuid}").json()["status"]
            if status in ("completed", "failed"):
                break
            time.sleep(0.2)
        rows = 0
        if status == "completed":
            rows = len(parse_clustal(client.get(f"/api/pipeline-job/{uuid}/result/alignment").text))
    return SmokeResult(uuid, status, rows, time.monotonic() - start, f"{web_url}/result?uuid={uuid}")
