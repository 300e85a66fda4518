"""Shared fixtures: a real local PAVI stack on a free loopback port, started once per session, and a
real moto server with an AWS environment that can only ever reach 127.0.0.1."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import stack
from harness.config import Target
from local_pavi.sfn_backend import MotoServer
from selftest.lab import AWS_ENV_TO_DROP
from tests.support import free_port


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
            drop_ratio=0,
            pipeline_failure_ratio=0,
            pipeline_delay_ms=0,
            slow_frame_ms=0,
            alter_alignment=False,
        )


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials only; no shared config, no SSO cache, no EC2/ECS metadata lookups."""
    for name in ("PAVI_AWS_PROFILE", *AWS_ENV_TO_DROP):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("HOME", str(tmp_path))  # botocore's SSO token cache lives under ~/.aws
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@dataclass
class Moto:
    url: str

    def api(self, path: str, **kwargs: Any) -> httpx.Response:
        answer = httpx.post(f"{self.url}/moto-api/{path}", timeout=10, **kwargs)
        answer.raise_for_status()
        return answer

    def reset(self) -> None:
        self.api("reset")

    def inject_costs(self, *results: dict[str, Any]) -> None:
        """Queue GetCostAndUsage answers; moto hands them out in order, one per distinct request."""
        self.api("static/ce/cost-and-usage-results", json={"results": list(results)})

    def require_auth(self, on: bool) -> None:
        """Make moto check signatures against its IAM (our dummy keys are then unknown)."""
        self.api("reset-auth", content=b"0" if on else b"inf")


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    """A real moto server on loopback, the same launcher the local stack's stepfunctions backend uses."""
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log")
    server.start()
    try:
        yield Moto(server.endpoint_url)
    finally:
        server.stop()


@pytest.fixture
def moto(moto_server: Moto) -> Moto:
    """The module's moto server, emptied before each test (so queued answers and records never leak)."""
    moto_server.reset()
    return moto_server
