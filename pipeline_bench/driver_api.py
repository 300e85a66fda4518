"""The `api` driver: one job through PAVI's public routes, as the web UI and upstream's tests do.

Upstream's integration test polls every 30 s; that would blur a job's duration by up to 30 s, so
this driver polls on a short adaptive schedule (50 ms, growing by half each poll, at most 100 ms
during a job's first minute, then at most 1 s), which sees the end of a local job within ~0.1 s
plus one request.

Transient trouble (connection errors, 5xx, and a 404 for a job just created, which an eventually
consistent store such as DynamoDB may answer) is retried and counted, never fatal at once: only an
error that lasts `give_up_after_s` makes the job `unreachable`. A submit is never retried, since a
repeated POST could start a second job.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from pipeline_bench.drivers import (
    FAILED,
    FINAL_STATUSES,
    SUBMIT_FAILED,
    TIMEOUT,
    UNREACHABLE,
    JobOutcome,
)

RESULT_BUDGET_S = 30.0  # fetching results after the end is bounded on its own: the job already ended
LOG_CHARS = 500


@dataclass(frozen=True)
class PollSchedule:
    """Interval between status polls: short at first, longer for long jobs, capped while young."""

    initial_s: float = 0.05
    factor: float = 1.5
    fast_cap_s: float = 0.1  # completion seen ~50 ms late on average, so wall time stays near the jobs' sum
    fast_window_s: float = 60.0
    slow_cap_s: float = 1.0

    def next_interval(self, previous_s: float | None, elapsed_s: float) -> float:
        """The wait before the next poll, given the last wait and the time since submitting."""
        wanted = self.initial_s if previous_s is None else previous_s * self.factor
        cap = self.fast_cap_s if elapsed_s < self.fast_window_s else self.slow_cap_s
        return min(wanted, cap)


def _transient(answer: httpx.Response) -> bool:
    return answer.status_code >= 500


def _short(answer: httpx.Response) -> str:
    return f"{answer.status_code} {answer.text[:200]!r}"


class ApiDriver:
    """Submit with `POST /api/pipeline-job/`, poll `GET /api/pipeline-job/{uuid}`, read the results.

    One HTTP client for all jobs (httpx's connection pool is thread-safe, so `--concurrency` shares it):
    a new client per job cost ~0.1 s of set-up between consecutive jobs.
    """

    name = "api"

    def __init__(
        self,
        api_url: str,
        *,
        schedule: PollSchedule | None = None,
        request_timeout_s: float = 30.0,
        give_up_after_s: float = 30.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.schedule = schedule or PollSchedule()
        self.request_timeout_s = request_timeout_s
        self.give_up_after_s = give_up_after_s
        self._admin: bool | None = None  # does the target answer /_pavi/jobs? None: not known yet
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.api_url, timeout=self.request_timeout_s)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def facts(self) -> dict[str, Any]:
        """How this driver follows a job, for run.json."""
        return {
            "api_url": self.api_url,
            "poll_schedule": asdict(self.schedule),
            "request_timeout_s": self.request_timeout_s,
            "give_up_after_s": self.give_up_after_s,
            "result_budget_s": RESULT_BUDGET_S,
            "server_timings": self._admin,
        }

    def run_job(self, payload: list[dict[str, Any]], timeout_s: float) -> JobOutcome:
        """Never raises for a job that goes wrong: every problem ends up in the outcome."""
        deadline = time.monotonic() + timeout_s
        client = self.client
        outcome = self._submit(client, payload)
        if outcome.job_id is None:
            return outcome
        self._poll(client, outcome, deadline, timeout_s)
        if outcome.status in FINAL_STATUSES:
            self._results(client, outcome)
        self._server_timings(client, outcome)
        return outcome

    def _submit(self, client: httpx.Client, payload: list[dict[str, Any]]) -> JobOutcome:
        submitted = time.time()
        try:
            answer = client.post("/api/pipeline-job/", json=payload)
        except httpx.HTTPError as error:
            return JobOutcome(None, UNREACHABLE, submitted, error=f"POST /api/pipeline-job/: {error!r}")
        try:
            job_id = str(answer.json()["uuid"]) if answer.status_code == 201 else None
        except (ValueError, KeyError, TypeError):
            job_id = None
        if job_id is None:
            return JobOutcome(
                None, SUBMIT_FAILED, submitted, error=f"POST /api/pipeline-job/ answered {_short(answer)}"
            )
        return JobOutcome(job_id, "pending", submitted)

    def _poll(self, client: httpx.Client, outcome: JobOutcome, deadline: float, timeout_s: float) -> None:
        """Poll until a final status, the deadline, or an error lasting `give_up_after_s`."""
        start = time.monotonic()
        interval: float | None = None
        failing_since: float | None = None
        last_problem = ""
        path = f"/api/pipeline-job/{outcome.job_id}"
        while True:
            now = time.monotonic()
            if now >= deadline:
                outcome.error = f"no final status within {timeout_s:g} s (last seen: {outcome.status})"
                outcome.error += f"; last error: {last_problem}" if failing_since is not None else ""
                outcome.status = TIMEOUT
                return
            interval = self.schedule.next_interval(interval, now - start)
            time.sleep(min(interval, deadline - now))
            problem = ""
            try:
                answer = client.get(path)
                if answer.status_code == 200:
                    outcome.status = str(answer.json()["status"])
                else:
                    problem = f"GET {path} answered {_short(answer)}"
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
                problem = f"GET {path}: {error!r}"
            if not problem:
                failing_since = None
                if outcome.status in FINAL_STATUSES:
                    outcome.observed_done = time.time()
                    return
                continue
            outcome.http_retries += 1
            last_problem = problem
            failing_since = failing_since if failing_since is not None else time.monotonic()
            if time.monotonic() - failing_since >= self.give_up_after_s:
                outcome.status = UNREACHABLE
                outcome.error = f"could not follow the job for {self.give_up_after_s:g} s: {problem}"
                return

    def _get(self, client: httpx.Client, path: str, outcome: JobOutcome) -> httpx.Response | None:
        """GET with retries of transient errors within RESULT_BUDGET_S; None when it never answered."""
        deadline = time.monotonic() + RESULT_BUDGET_S
        wait = 0.1
        while True:
            try:
                answer = client.get(path)
                if not _transient(answer):
                    return answer
                problem = _short(answer)
            except httpx.HTTPError as error:
                answer, problem = None, repr(error)
            if time.monotonic() + wait > deadline:
                outcome.error = outcome.error or f"GET {path}: {problem}"
                return answer
            outcome.http_retries += 1
            time.sleep(wait)
            wait = min(wait * 2, 2.0)

    def _results(self, client: httpx.Client, outcome: JobOutcome) -> None:
        """Both result routes, whatever the status: an expected failure must show 404 on both."""
        base = f"/api/pipeline-job/{outcome.job_id}"
        answer = self._get(client, f"{base}/result/alignment", outcome)
        if answer is not None:
            outcome.alignment_http = answer.status_code
            if answer.status_code == 200:
                # surrogateescape: the checks compare bytes, so even invalid UTF-8 must round-trip
                outcome.alignment = answer.content.decode("utf-8", "surrogateescape")
        answer = self._get(client, f"{base}/result/seq-info", outcome)
        if answer is not None:
            outcome.seq_info_http = answer.status_code
            if answer.status_code == 200:
                outcome.seq_info = _json_object(answer)
        if outcome.status == FAILED:
            answer = self._get(client, f"{base}/logs", outcome)
            if answer is not None and answer.status_code == 200:
                outcome.log = _log_reason(answer.text)

    def _server_timings(self, client: httpx.Client, outcome: JobOutcome) -> None:
        """Server-side times and stage seconds from the local stack's admin route, when there is one."""
        if self._admin is False:
            return
        try:
            answer = client.get(f"/_pavi/jobs/{outcome.job_id}")
            body = answer.json() if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return  # a hiccup; ask again for the next job
        if not isinstance(body, dict) or not isinstance(body.get("submitted"), int | float):
            self._admin = False  # a deployed PAVI has no admin surface: stop asking
            return
        self._admin = True
        outcome.submitted = float(body["submitted"])
        outcome.started = _number(body.get("started"))
        outcome.finished = _number(body.get("finished"))
        stages = body.get("stages")
        if isinstance(stages, dict):
            outcome.stages = {str(k): float(v) for k, v in stages.items() if _number(v) is not None}
        arn = body.get("execution_arn") or body.get("executionArn")  # a Step Functions backend may say
        outcome.execution_arn = arn if isinstance(arn, str) else outcome.execution_arn


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _json_object(answer: httpx.Response) -> dict[str, Any] | None:
    try:
        body = answer.json()
    except json.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _log_reason(text: str) -> str:
    """The log lines that say why a job failed (ERROR lines, else the last three lines)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    chosen = [line for line in lines if "ERROR" in line] or lines[-3:]
    return " | ".join(chosen)[-LOG_CHARS:]
