"""Threading `upstream` reproduces upstream API's thread starvation: each job's pipeline holds one of
AnyIO's 40 threads (a sync BackgroundTask), result downloads need those threads too (a StreamingResponse
over a sync generator), so with more than 40 jobs running a download waits until a job ends. Threading
`bounded` keeps jobs in the stand-in's own pool, and the same download answers at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from harness import stack
from harness.config import Target
from harness.errors import ConfigError
from local_pavi.app import StackSettings, create_app
from local_pavi.genome import FASTA_NAME
from local_pavi.payload import generate_payload
from pavi_contract import api
from pavi_contract.clustal import parse_clustal
from tests.support import free_port

ANYIO_THREADS = 40  # AnyIO's default CapacityLimiter, which upstream's API never changes
JOBS = ANYIO_THREADS + 2
DELAY_MS = 8000  # each job sleeps this long in its alignment stage, holding its thread
WORKERS = 2


@dataclass
class Download:
    started: float
    ended: float
    first_job_end: float  # when the first delayed job ended and gave its thread back
    running: int
    pending: int

    @property
    def seconds(self) -> float:
        return self.ended - self.started


def _wait(client: httpx.Client, uuid: str, timeout_s: float = 120.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get(api.job(uuid)).json()["status"]
        if status in api.FINISHED:
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {uuid} did not finish within {timeout_s} s")


def _download_while_busy(state: stack.StackState, running: int) -> Download:
    """Finish one job, occupy every slot with delayed jobs, then time that job's alignment download."""
    fasta = f"{state.url}/genome/{FASTA_NAME}"
    with httpx.Client(base_url=state.url, timeout=120.0) as client:

        def submit(seed: int) -> str:
            answer = client.post(api.SUBMIT, json=generate_payload(2, fasta_file_url=fasta, seed=seed))
            assert answer.status_code == 201, answer.text
            return answer.json()["uuid"]

        done = submit(seed=1)
        assert _wait(client, done) == api.COMPLETED
        stack.set_faults(state.url, pipeline_delay_ms=DELAY_MS)
        delayed = [submit(seed) for seed in range(2, 2 + JOBS)]
        deadline = time.monotonic() + DELAY_MS / 2000
        counts = client.get("/_pavi/stats").json()["jobs"]
        while counts["running"] < running and time.monotonic() < deadline:
            time.sleep(0.05)
            counts = client.get("/_pavi/stats").json()["jobs"]

        started = time.time()
        answer = client.get(api.alignment(done))
        ended = time.time()
        assert answer.status_code == 200
        assert len(parse_clustal(answer.text)) == 2

        first_job_end = None
        deadline = time.monotonic() + 4 * DELAY_MS / 1000
        while first_job_end is None and time.monotonic() < deadline:
            ends = [client.get(f"/_pavi/jobs/{uuid}").json()["finished"] for uuid in delayed]
            first_job_end = min((end for end in ends if end is not None), default=None)
            time.sleep(0.1)
        stack.set_faults(state.url, pipeline_delay_ms=0)  # so the stack stops without a second wave
        assert first_job_end is not None, "no delayed job ended"
        return Download(started, ended, first_job_end, counts["running"], counts["pending"])


@pytest.fixture
def stacks(pavi_data_dir: Path) -> Iterator[dict[str, stack.StackState]]:
    started: dict[str, stack.StackState] = {}
    try:
        for threading in ("bounded", "upstream"):
            target = Target(kind="local", port=free_port(), pipeline_workers=WORKERS, threading=threading)
            started[threading] = stack.start_stack(f"pytest-{threading}", target, seed=1)
        yield started
    finally:
        for threading in started:
            stack.stop_stack(f"pytest-{threading}")


@pytest.mark.e2e
def test_upstream_threading_stalls_result_downloads_while_40_jobs_run(stacks) -> None:
    bounded = _download_while_busy(stacks["bounded"], running=WORKERS)
    upstream = _download_while_busy(stacks["upstream"], running=ANYIO_THREADS)

    # bounded: two jobs run, the rest wait in the stand-in's queue; the download does not wait for them
    assert (bounded.running, bounded.pending) == (WORKERS, JOBS - WORKERS)
    assert bounded.ended < bounded.first_job_end

    # upstream: every AnyIO thread holds a job; the download began while all were busy and ended only
    # after a job gave its thread back
    assert (upstream.running, upstream.pending) == (ANYIO_THREADS, JOBS - ANYIO_THREADS)
    assert upstream.started < upstream.first_job_end <= upstream.ended + 0.05
    assert upstream.seconds > bounded.seconds + 1.0


def test_upstream_threading_needs_the_inprocess_backend(tmp_path: Path) -> None:
    target = Target(kind="local", backend="stepfunctions", threading="upstream")
    with pytest.raises(ConfigError, match="needs backend 'inprocess'"):
        stack.start_stack("pytest-never", target)
    fasta = tmp_path / FASTA_NAME
    with pytest.raises(ValueError, match="needs backend 'inprocess'"):
        create_app(StackSettings(tmp_path, fasta, {}, backend="stepfunctions", threading="upstream"))
    with pytest.raises(ValueError, match="threading must be one of"):
        create_app(StackSettings(tmp_path, fasta, {}, threading="unbounded"))
