"""Shared fixtures: a real local PAVI stack on a free loopback port, started once per session."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness import stack
from harness.config import Target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(name="free_port")
def free_port_fixture() -> int:
    return free_port()


@pytest.fixture(scope="session")
def pavi_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test stack shares one data dir (genome, alignment cache) outside the checkout."""
    path = tmp_path_factory.mktemp("pavi-data")
    previous = os.environ.get("PAVI_DATA_DIR")
    os.environ["PAVI_DATA_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("PAVI_DATA_DIR", None)
    else:
        os.environ["PAVI_DATA_DIR"] = previous


@pytest.fixture(scope="session")
def local_stack(pavi_data_dir: Path) -> Iterator[stack.StackState]:
    target = Target(kind="local", port=free_port(), pipeline_workers=2)
    state = stack.start_stack("pytest", target, seed=1)
    try:
        yield state
    finally:
        stack.stop_stack("pytest")


DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}


@pytest.fixture(scope="session")
def sfn_stack(pavi_data_dir: Path) -> Iterator[stack.StackState]:
    """A local stack with the stepfunctions backend (moto server inside), with dummy AWS credentials."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in DUMMY_AWS.items():
            env.setenv(key, value)
        env.delenv("AWS_PROFILE", raising=False)
        target = Target(kind="local", backend="stepfunctions", port=free_port(), pipeline_workers=2)
        state = stack.start_stack("pytest-sfn", target, seed=1)
        try:
            yield state
        finally:
            stack.stop_stack("pytest-sfn")


class Pavi:
    """The session stack seen through HTTP, as a user or the harness sees it."""

    def __init__(self, state: stack.StackState, client: httpx.Client) -> None:
        self.state = state
        self.url = state.url
        self.client = client

    def fasta_url(self) -> str:
        from local_pavi.genome import FASTA_NAME

        return f"{self.url}/genome/{FASTA_NAME}"

    def submit(self, payload: list[dict]) -> str:
        answer = self.client.post("/api/pipeline-job/", json=payload)
        assert answer.status_code == 201, answer.text
        return answer.json()["uuid"]

    def wait(self, uuid: str, timeout_s: float = 120.0) -> dict:
        """Poll until the job ends; bounded in time like every loop against a server."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = self.client.get(f"/api/pipeline-job/{uuid}").json()
            if job["status"] in ("completed", "failed"):
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {uuid} did not finish within {timeout_s} s")

    def faults(self, **changes: float) -> None:
        stack.set_faults(self.url, **changes)


@pytest.fixture
def pavi(local_stack: stack.StackState) -> Iterator[Pavi]:
    """The session stack; faults are reset after each test so one test's fault never leaks."""
    with httpx.Client(base_url=local_stack.url, timeout=30.0) as client:
        yield Pavi(local_stack, client)
        stack.set_faults(
            local_stack.url,
            latency_ms=0,
            latency_jitter_ms=0,
            error_ratio=0,
            pipeline_failure_ratio=0,
            slow_frame_ms=0,
        )
