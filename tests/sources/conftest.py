"""Fixtures for the sources part: every test runs in the dummy AWS environment and may use the real moto
server of tests/conftest.py (`moto`, `moto_server`; `Moto` is re-exported for the tests' imports)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ..conftest import Moto

__all__ = ["DATA", "ROOT", "Moto", "loopback_port"]

ROOT = Path(__file__).resolve().parents[2]

DATA = Path(__file__).parent / "data"


def loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def _dummy_aws(aws_env: None) -> None:
    """Every test here runs in the dummy AWS environment of tests/conftest.py."""
