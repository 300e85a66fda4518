"""PaviUser: walks PAVI as its web UI does (submit a job, poll it, read results, check health).

In a canary run (`settings.sides`) every user alternates between the sides task by task, so blue and
green get the same journey, the same payloads and the same moments in time; each request's side goes
into the `request` event's context and from there into requests.parquet. Job pools are per side: a
job exists only on the side that ran it.

Task weights, think time, request names and payloads come from `loadtests.settings`, read once when
Locust imports this module. Completed jobs go into a per-process pool so readers have something to
read; the pool starts with the runner's seed jobs, or, run as a plain locustfile, with seed jobs the
master (or single process) creates itself at test start and hands to its workers.

Submitting is bounded by the job budget (`loadtests.budget`): once this process's share is spent, the
submit task sends nothing. Run as a plain locustfile without a payload file, payloads come from the
local stand-in (`/_pavi/payload`); a host that is not on this machine is refused before anything is
sent, since generated payloads name the stand-in's genome.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
import httpx
from locust import FastHttpUser, between, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtests.budget import JobBudget, share
from loadtests.settings import LoadSettings, load_settings
from pavi_contract import api

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # seed polling would log a line per request

SETTINGS: LoadSettings = load_settings()
JOB_STATES = api.JOB_STATES
SEED_MESSAGE = "pavi_seed_uuids"
BUDGET_MESSAGE = "pavi_job_budget"
PAYLOAD_SEEDS = 4  # generated payloads: a few seeds, so jobs differ as real users' do
SEED_TIMEOUT_S = 120.0


class JobPool:
    """Completed job uuids of this process; reads pick one at random."""

    def __init__(self, uuids: list[str] | None = None) -> None:
        self._uuids: list[str] = []
        self._known: set[str] = set()
        for uuid in uuids or []:
            self.add(uuid)

    def add(self, uuid: str) -> None:
        if uuid not in self._known:
            self._known.add(uuid)
            self._uuids.append(uuid)

    def pick(self) -> str | None:
        return random.choice(self._uuids) if self._uuids else None

    def __len__(self) -> int:
        return len(self._uuids)


# side -> URL prefix of its requests; one unnamed side without prefix (Locust's --host) outside canaries
SIDES: dict[str, str] = {side: url.rstrip("/") for side, url in SETTINGS.sides.items()} or {"": ""}
POOLS: dict[str, JobPool] = {
    side: JobPool(SETTINGS.side_seed_uuids.get(side) or ([] if side else SETTINGS.seed_uuids))
    for side in SIDES
}
PAYLOADS: list[list[dict[str, Any]]] = SETTINGS.load_payloads()
# The user jobs every user-running process may submit in all (None: unbounded); set at init.
USER_JOBS: list[int | None] = [SETTINGS.max_jobs]
SEED_BUDGET: list[int] = [0]  # seed jobs a plain locustfile run creates itself
BUDGET = JobBudget(SIDES, SETTINGS.max_jobs)
_user_numbers = itertools.count(1)


def _process_tag(environment: Environment) -> str:
    """The user-id prefix: w0 for a single process, w1, w2, ... for workers (Locust counts from 0)."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return f"w{max(runner.worker_index, 0) + 1}"
    return "w0"


class PaviUser(FastHttpUser):
    wait_time = between(*SETTINGS.think_time)
    # Locust's defaults (60 s) would hide a stalled target behind a few very slow samples.
    network_timeout = 30.0
    connection_timeout = 30.0

    def on_start(self) -> None:
        self.number = next(_user_numbers)
        self.user_id = f"{_process_tag(self.environment)}-{self.number}"
        self._context = {"user": self.user_id, "side": ""}
        self.own_jobs: dict[str, str | None] = dict.fromkeys(SIDES)
        # half the users start on each side, so neither side always goes first
        self._turns = itertools.islice(itertools.cycle(SIDES), self.number % len(SIDES), None)
        self.side = ""

    def context(self) -> dict:
        """Carries the user id into every `request` event (read by the recorder)."""
        return self._context

    def _turn(self) -> str:
        """Take the next side for this task; returns the URL prefix of its requests."""
        self.side = next(self._turns)
        self._context["side"] = self.side
        return SIDES[self.side]

    @task(SETTINGS.weight("submit"))
    def submit(self) -> None:
        if not PAYLOADS:
            return
        payload = PAYLOADS[self.number % len(PAYLOADS)]
        base = self._turn()
        if not BUDGET.take(self.side):
            return  # the budget is spent: this user goes on polling and reading
        with self.client.post(
            f"{base}/api/pipeline-job/", json=payload, name=SETTINGS.names["submit"], catch_response=True
        ) as answer:
            body = _json_or_fail(answer)
            if body is None:
                return
            uuid = body.get("uuid") if isinstance(body, dict) else None
            if not isinstance(uuid, str) or body.get("status") not in JOB_STATES:
                answer.failure(f"unexpected submit answer: {_short(answer)}")
                return
            self.own_jobs[self.side] = uuid
            BUDGET.record(self.side, uuid)

    @task(SETTINGS.weight("poll"))
    def poll(self) -> None:
        base = self._turn()
        side = self.side
        uuid = self.own_jobs[side] or POOLS[side].pick()
        if uuid is None:
            return
        with self.client.get(
            f"{base}/api/pipeline-job/{uuid}", name=SETTINGS.names["poll"], catch_response=True
        ) as answer:
            body = _json_or_fail(answer)
            if body is None:
                return
            status = body.get("status") if isinstance(body, dict) else None
            if status not in JOB_STATES or body.get("uuid") != uuid:
                answer.failure(f"unexpected job answer: {_short(answer)}")
                return
        if status == "completed":
            POOLS[side].add(uuid)
        if uuid == self.own_jobs[side] and status in ("completed", "failed"):
            self.own_jobs[side] = None  # the UI stops polling a finished job

    @task(SETTINGS.weight("read_results"))
    def read_results(self) -> None:
        prefix = self._turn()
        uuid = POOLS[self.side].pick()
        if uuid is None:
            return  # nothing to read yet; a request that was never sent is not counted
        base = f"{prefix}/api/pipeline-job/{uuid}/result"
        with self.client.get(f"{base}/alignment", name=SETTINGS.names["alignment"], catch_response=True) as a:
            if _ok_status(a) and not (a.text or "").startswith("CLUSTAL"):
                a.failure("alignment is not Clustal text")
        with self.client.get(f"{base}/seq-info", name=SETTINGS.names["seq_info"], catch_response=True) as s:
            body = _json_or_fail(s)
            if body is not None and not isinstance(body, dict):
                s.failure("seq-info is not a JSON object")

    @task(SETTINGS.weight("health"))
    def health(self) -> None:
        with self.client.get(
            f"{self._turn()}/api/health", name=SETTINGS.names["health"], catch_response=True
        ) as answer:
            body = _json_or_fail(answer)
            if body is not None and body != {"status": "up"}:
                answer.failure(f"unexpected health answer: {_short(answer)}")


def _ok_status(answer: Any) -> bool:
    """Non-2xx is a failure named by its status, so failures group by code in Locust's tables."""
    if 200 <= answer.status_code < 300:
        return True
    if answer.status_code:
        answer.failure(f"HTTP {answer.status_code}")
    # status 0: Locust already recorded the connection error as the failure
    return False


def _json_or_fail(answer: Any) -> Any | None:
    if not _ok_status(answer):
        return None
    try:
        return answer.json()
    except ValueError:
        answer.failure(f"invalid JSON: {_short(answer)}")
        return None


def _short(answer: Any) -> str:
    return (answer.text or "")[:120]


# --- payloads, seed jobs and the job budget when run as a plain locustfile ----------------------------


def _on_this_machine(url: str) -> bool:
    from pavi_contract.admin import is_loopback

    return is_loopback(urlsplit(url).hostname)


def _generated_payloads(host: str) -> list[list[dict[str, Any]]]:
    """Payloads of the local stand-in's genome, asked of the stand-in itself (never of a remote host)."""
    from harness.errors import ConfigError
    from pavi_contract.admin import NO_GENERATED, generated_payload

    if not _on_this_machine(host):
        raise ConfigError(
            f"{host} is not on this machine and no payload file is set: generated payloads name the local "
            "stand-in's genome, which a deployed PAVI does not have",
            f"set workloads.load.payload.file in scenarios.yaml: {NO_GENERATED}",
        )
    return [generated_payload(host, SETTINGS.payload_entries, seed=seed) for seed in range(PAYLOAD_SEEDS)]


def _plain_budget(host: str) -> int | None:
    """A plain locustfile run's budget: scenarios.yaml's max_jobs, else the remote default off-machine."""
    from harness.config import REMOTE_MAX_JOBS

    if SETTINGS.max_jobs is not None:
        return SETTINGS.max_jobs
    return None if _on_this_machine(host) else REMOTE_MAX_JOBS


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    from harness.errors import HarnessError

    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.register_message(SEED_MESSAGE, _on_seed_message)
        runner.register_message(BUDGET_MESSAGE, _on_budget_message)
        BUDGET.set_allowed(0)  # nothing until the master hands out this worker's share
        return
    if SETTINGS.run_dir is None:
        _refuse_unlisted_host(environment)
    try:
        if not PAYLOADS and environment.host:
            PAYLOADS.extend(_generated_payloads(str(environment.host)))
    except HarnessError as error:
        log.error("%s; fix: %s", error.problem, error.fix)
        raise SystemExit(2) from None
    if SETTINGS.run_dir is None and environment.host:  # the runner passes a budget net of its seed jobs
        total = _plain_budget(str(environment.host))
        seeds = SETTINGS.seed_jobs if total is None else min(SETTINGS.seed_jobs, total)
        seeds = 0 if SETTINGS.seed_uuids or SETTINGS.sides else seeds
        USER_JOBS[0] = None if total is None else total - seeds
        SEED_BUDGET[0] = seeds
        log.warning("job budget: %s (%d seed jobs included)", "unbounded" if total is None else total, seeds)
    BUDGET.set_allowed(USER_JOBS[0])


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    """Workers fetch payloads if none were given; the master shares out the budget; seed jobs."""
    runner = environment.runner
    _open_ledger(environment)
    if isinstance(runner, WorkerRunner):
        if not PAYLOADS and environment.host and _on_this_machine(str(environment.host)):
            PAYLOADS.extend(_generated_payloads(str(environment.host)))
        return
    if isinstance(runner, MasterRunner):
        workers = sorted(
            runner.clients.ready + runner.clients.running + runner.clients.spawning, key=lambda w: w.id
        )
        for index, worker in enumerate(workers):
            runner.send_message(
                BUDGET_MESSAGE, {"allowed": share(USER_JOBS[0], index, len(workers))}, worker.id
            )
    seeded = SETTINGS.seed_uuids or SETTINGS.sides  # the runner seeds canary sides itself
    if seeded or not SEED_BUDGET[0]:
        return
    if PAYLOADS and environment.host:
        gevent.spawn(_create_seed_jobs, environment, SEED_BUDGET[0])


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    if not isinstance(environment.runner, MasterRunner):
        BUDGET.save()


def _open_ledger(environment: Environment) -> None:
    if SETTINGS.run_dir is not None and not isinstance(environment.runner, MasterRunner):
        BUDGET.ledger = Path(SETTINGS.run_dir) / "load" / f"jobs-{_process_tag(environment)}.json"


def _on_budget_message(environment: Environment, msg: Any, **_: Any) -> None:
    BUDGET.set_allowed((msg.data or {}).get("allowed", 0))


def _create_seed_jobs(environment: Environment, count: int) -> None:
    """Submit `count` jobs, then add each to the pool (and send it to workers) once it completes.

    In the background and bounded, so users start at once and a slow pipeline delays only readers.
    """
    host = str(environment.host).rstrip("/")
    deadline = time.monotonic() + SEED_TIMEOUT_S
    pending: list[str] = []
    with httpx.Client(base_url=host, timeout=10.0) as client:
        for i in range(count):  # every POST spends the budget, so no retries
            if time.monotonic() > deadline:
                break
            try:
                answer = client.post("/api/pipeline-job/", json=PAYLOADS[i % len(PAYLOADS)])
                if answer.status_code == 201:
                    pending.append(answer.json()["uuid"])
            except (httpx.HTTPError, ValueError, KeyError):
                gevent.sleep(0.5)
        while pending and time.monotonic() < deadline:
            for uuid in list(pending):
                try:
                    status = client.get(f"/api/pipeline-job/{uuid}").json().get("status")
                except (httpx.HTTPError, ValueError, AttributeError):
                    continue
                if status in ("completed", "failed"):
                    pending.remove(uuid)
                if status == "completed":
                    POOLS[""].add(uuid)
                    if isinstance(environment.runner, MasterRunner):
                        environment.runner.send_message(SEED_MESSAGE, [uuid])
            gevent.sleep(0.5)
    if pending:
        log.warning("%d seed job(s) did not complete within %.0f s", len(pending), SEED_TIMEOUT_S)


def _on_seed_message(environment: Environment, msg: Any, **_: Any) -> None:
    for uuid in msg.data or []:
        POOLS[""].add(uuid)


def _refuse_unlisted_host(environment: Environment) -> None:
    """Plain `locust -f` use: the harness did not check --host, so check it against scenarios.yaml."""
    from harness.config import load_scenarios
    from harness.errors import HarnessError
    from harness.safety import require_listed

    if not environment.host:
        return
    try:
        require_listed(environment.host, load_scenarios())
    except HarnessError as error:
        log.error("%s; fix: %s", error.problem, error.fix)
        raise SystemExit(2) from None
