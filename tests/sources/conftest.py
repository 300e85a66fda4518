"""Fixtures for the sources part: a real moto server on a free loopback port, and an AWS environment
that can only ever reach 127.0.0.1 (dummy keys, no profiles, no instance metadata)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from local_pavi.sfn_backend import MotoServer

ROOT = Path(__file__).resolve().parents[2]

DATA = Path(__file__).parent / "data"

_AWS_ENV_TO_DROP = (
    "PAVI_AWS_PROFILE",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_CE",
    "AWS_ENDPOINT_URL_CLOUDWATCH",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
)


def loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials only; no shared config, no SSO cache, no EC2/ECS metadata lookups."""
    for name in _AWS_ENV_TO_DROP:
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
    """The module's moto server, emptied before each test (so queued cost answers never leak)."""
    moto_server.reset()
    return moto_server
