"""Load goes only where scenarios.yaml says, and only to something that answers like PAVI's API."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.config import parse_scenarios
from harness.errors import ConfigError, EnvironmentProblem, ExitCode
from harness.safety import origin, preflight, require_listed
from tests.support import free_port, run_cli

LOCUSTFILE = Path(__file__).resolve().parents[2] / "loadtests" / "locustfile.py"


class _HtmlPage(http.server.BaseHTTPRequestHandler):
    """A web server that answers every path with an HTML page, as a web UI or a proxy error page does."""

    def do_GET(self) -> None:
        body = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway [/b]</h1></body></html>"
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def html_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _HtmlPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def _config(tmp_path: Path, name: str, url: str) -> Path:
    """A remote target with real payload files (without them the command stops earlier, with exit 2)."""
    path = tmp_path / "scenarios.yaml"
    gates = {"errors": {"metric": "load.error_rate", "at_most": "1%"}}
    targets = {name: {"kind": "remote", "api_url": url}}
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps([PAYLOAD_ENTRY]))
    workloads = {
        "load": {"payload": {"file": str(payload)}},
        "pipeline": {"payloads": [{"file": str(payload)}]},
    }
    config = {"default_target": name, "targets": targets, "workloads": workloads, "gates": {"phase-2": gates}}
    path.write_text(yaml.safe_dump(config))
    return path


PAYLOAD_ENTRY = {
    "unique_entry_id": "a",
    "base_seq_name": "a",
    "seq_id": "IV",
    "seq_strand": "+",
    "exon_seq_regions": [{"start": 1, "end": 30}],
    "cds_seq_regions": [{"start": 1, "end": 30}],
    "fasta_file_url": "https://example.org/genome.fa.gz",
    "variant_ids": [],
}


def test_origins_compare_scheme_host_and_port() -> None:
    assert origin("https://PAVI.example.org/api") == "https://pavi.example.org:443"
    assert origin("http://127.0.0.1:8765") == "http://127.0.0.1:8765"
    scenarios = parse_scenarios({"targets": {"local": {"kind": "local", "port": 8765}}})
    require_listed("http://127.0.0.1:8765/api/health", scenarios)
    for elsewhere in ("http://127.0.0.1:8766", "https://127.0.0.1:8765", "http://example.org:8765"):
        with pytest.raises(ConfigError, match=r"not a target in scenarios\.yaml"):
            require_listed(elsewhere, scenarios)


def test_html_instead_of_json_is_named_before_any_load(html_url: str) -> None:
    with pytest.raises(EnvironmentProblem, match="text/html, not JSON") as caught:
        preflight(html_url)
    assert "502 Bad Gateway" in caught.value.problem
    assert "api_url must be PAVI's API" in (caught.value.fix or "")


def test_nothing_listening_is_an_environment_problem() -> None:
    with pytest.raises(EnvironmentProblem, match="cannot reach"):
        preflight(f"http://127.0.0.1:{free_port()}")


def test_load_and_pipeline_on_an_html_target_exit_5_without_traceback(html_url: str, tmp_path: Path) -> None:
    config = _config(tmp_path, "web", html_url)
    env = {"PAVI_RUNS_DIR": str(tmp_path / "runs")}
    for command in (["load", "--users", "2", "--duration", "5s"], ["pipeline", "--jobs", "1"]):
        result = run_cli(*command, "--config", str(config), "--target", "web", env=env)
        assert result.returncode == ExitCode.ENVIRONMENT, (command, result.stdout, result.stderr)
        assert "not JSON" in result.stderr and "fix:" in result.stderr
        assert "Bad Gateway [/b]" in result.stderr  # server text printed literally, not as rich markup
        assert "Traceback" not in result.stderr + result.stdout


def test_unreachable_target_exits_5_naming_the_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    config = _config(tmp_path, "gone", url)
    result = run_cli(
        "load", "--config", str(config), "--target", "gone", "--users", "2", "--duration", "5s",
        env={"PAVI_RUNS_DIR": str(tmp_path / "runs")},
    )  # fmt: skip
    assert result.returncode == ExitCode.ENVIRONMENT
    assert f"cannot reach {url}/api/health" in result.stderr
    assert "Traceback" not in result.stderr


def test_plain_locust_refuses_a_host_not_in_scenarios_yaml(tmp_path: Path) -> None:
    (tmp_path / "scenarios.yaml").write_text(yaml.safe_dump({"targets": {"local": {"kind": "local"}}}))
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", "1", "-t", "3s",
         "--host", "https://pavi.example.org"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "refusing to send load to https://pavi.example.org" in result.stderr
