"""Deploy smoke against a tiny real HTTP server on 127.0.0.1 (no HTTP mocks)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sources.smoke import check_url, smoke

VERSION = "2025.02.10-abc123"


class _Handler(BaseHTTPRequestHandler):
    """/health: HTML naming the version; /api/health: JSON plus an x-version header; /down: 503."""

    def do_GET(self) -> None:
        if self.path == "/slow/health":
            time.sleep(1.0)
        if self.path in ("/health", "/slow/health"):
            self._answer(200, f"<html><body>ok build {VERSION}</body></html>".encode(), "text/html")
        elif self.path == "/api/health":
            self._answer(200, json.dumps({"status": "up"}).encode(), "application/json", VERSION)
        else:
            self._answer(503, b"down", "text/plain")

    def _answer(self, status: int, body: bytes, kind: str, version: str | None = None) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up first
            self._send(status, body, kind, version)

    def _send(self, status: int, body: bytes, kind: str, version: str | None) -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        if version:
            self.send_header("x-version", version)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_both_health_routes_answer(site: str, tmp_path: Path) -> None:
    result = smoke(site, site, timeout_s=5, out_dir=tmp_path)
    for name in ("web", "api"):
        check = result["checks"][name]
        assert check["ok"] and check["status"] == 200 and check["error"] is None
        assert 0 < check["latency_ms"] < 5000
        assert check["version_found"] is None  # nothing expected, nothing checked
    assert result["checks"]["api"]["url"] == f"{site}/api/health"
    assert json.loads((tmp_path / "smoke.json").read_text())["checks"]["web"]["ok"] is True


def test_expected_version_in_body_or_header(site: str) -> None:
    result = smoke(site, site, timeout_s=5, expected_version=VERSION)
    assert result["checks"]["web"]["ok"] and result["checks"]["web"]["version_found"]  # in the body
    assert result["checks"]["api"]["ok"] and result["checks"]["api"]["version_header"] == VERSION


def test_an_old_deployment_is_not_ok(site: str) -> None:
    result = smoke(site, site, timeout_s=5, expected_version="2025.03.01-def456")
    for check in result["checks"].values():
        assert check["status"] == 200 and not check["ok"] and check["version_found"] is False
        assert "expected version" in check["error"]


def test_error_status_and_unreachable_and_slow(site: str) -> None:
    down = check_url(f"{site}/down", timeout_s=5)
    assert (down["status"], down["ok"], down["error"]) == (503, False, "answered 503")
    slow = check_url(f"{site}/slow/health", timeout_s=0.3)
    assert slow["status"] is None and not slow["ok"] and "Timeout" in slow["error"]
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gone = check_url(f"http://127.0.0.1:{port}/health", timeout_s=2)
    assert gone["status"] is None and not gone["ok"] and "ConnectError" in gone["error"]
