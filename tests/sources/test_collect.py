"""collect(): every source the spec names, recorded in run.json; one failing source does not stop the rest."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.config import AwsSettings, Target
from harness.runstore import create_run
from sources.collect import collect
from sources.spec import SourcesSpec

from .conftest import DATA, Moto
from .test_cost import FEB, JAN, month

PLANTED = "PLANTED-SECRET-123"
LB = "app/pavi-api/50dc6c495c0c9188"
SFN = "arn:aws:states:us-east-1:123456789012:stateMachine:pavi-pipeline"


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "up"}'
        self.send_response(200 if self.path in ("/health", "/api/health") else 404)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-version", "v42")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def spec(tmp_path: Path, junit: str) -> SourcesSpec:
    return SourcesSpec.model_validate(
        {
            "cost": {
                "period": {"start": FEB[0], "end": FEB[1]},
                "baseline": {"start": JAN[0], "end": JAN[1]},
            },
            "cloudwatch": {"lookback": "15m", "period": 60, "load_balancer": LB},
            "e2e": {"junit": [junit]},
            "smoke": {"timeout": "5s", "expected_version": "v42"},
            "cost_cache_dir": tmp_path / "cost-cache",
        }
    )


def target(site: str, moto: Moto) -> Target:
    return Target(
        kind="remote",
        api_url=site,
        web_url=site,
        aws=AwsSettings(region="us-east-1", endpoint_url=moto.url),
        state_machine_arn=SFN,
    )


def test_everything_collected_and_no_secret_written(
    moto: Moto, site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", PLANTED)
    monkeypatch.setenv("AWS_SESSION_TOKEN", f"token-{PLANTED}")
    moto.inject_costs(month(*FEB, {"AWS Amplify": 40.0}), month(*JAN, {"AWS Batch": 50.0}))
    shutil.copy(DATA / "cypress-alignment.xml", tmp_path / "results-1.xml")
    run = create_run("staging", None, root=tmp_path / "runs")
    now = datetime.now(UTC)

    outcomes = collect(
        run,
        target(site, moto),
        spec(tmp_path, str(tmp_path / "results-*.xml")),
        today=date(2025, 6, 1),
        now=now,
    )

    assert {name: facts["status"] for name, facts in outcomes.items()} == dict.fromkeys(
        ("cost", "cloudwatch", "e2e", "smoke"), "collected"
    )
    assert outcomes["cost"]["complete"] is True and outcomes["cost"]["period_total_usd"] == 40.0
    assert outcomes["e2e"]["cases"] == 5
    assert outcomes["smoke"] == {**outcomes["smoke"], "web_ok": True, "api_ok": True}
    assert outcomes["cloudwatch"]["queries"] == 7  # 3 ALB + 4 Step Functions (target's state machine)
    expected = {f"{name}.{ext}" for name in ("cost", "cloudwatch", "e2e") for ext in ("parquet", "json")}
    assert {path.name for path in (run.path / "sources").iterdir()} == {*expected, "smoke.json"}
    recorded = json.loads((run.path / "run.json").read_text())["parts"]["sources"]
    assert recorded["status"] == "complete" and recorded["failed"] == []
    assert recorded["cost"]["requests"] == 2
    assert recorded["aws"] == {"profile": None, "region": "us-east-1", "endpoint_url": moto.url}

    written = [p for root in (run.path, tmp_path / "cost-cache") for p in root.rglob("*") if p.is_file()]
    assert len(written) >= 9
    for path in written:
        assert PLANTED.encode() not in path.read_bytes(), f"{path} holds the secret"


def test_a_failing_source_does_not_stop_the_others(
    moto: Moto, site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", PLANTED)  # a half-configured environment
    (tmp_path / "broken.xml").write_text("<testsuites><testsuite name='cut off")
    run = create_run("staging", None, root=tmp_path / "runs")

    outcomes = collect(
        run, target(site, moto), spec(tmp_path, str(tmp_path / "broken.xml")), today=date(2025, 6, 1)
    )

    assert outcomes["smoke"]["status"] == "collected"
    for name in ("cost", "cloudwatch"):
        assert outcomes[name]["status"] == "failed"
        assert "credentials" in outcomes[name]["error"] and outcomes[name]["exit_code"] == 5
    assert outcomes["e2e"]["status"] == "failed" and "broken.xml" in outcomes["e2e"]["error"]
    recorded = json.loads((run.path / "run.json").read_text())["parts"]["sources"]
    assert recorded["status"] == "partial" and sorted(recorded["failed"]) == ["cloudwatch", "cost", "e2e"]
    for path in run.path.rglob("*"):
        assert not path.is_file() or PLANTED.encode() not in path.read_bytes()


def test_window_floors_to_whole_periods() -> None:
    from sources.collect import window
    from sources.spec import CloudWatchSpec

    start, end = window(
        CloudWatchSpec(lookback="1h", period=300), datetime(2025, 2, 1, 10, 7, 31, tzinfo=UTC)
    )
    assert (start, end) == (datetime(2025, 2, 1, 9, 5, tzinfo=UTC), datetime(2025, 2, 1, 10, 5, tzinfo=UTC))
    assert end - start == timedelta(hours=1)


def test_explicit_window_without_zone_is_utc() -> None:
    from sources.collect import window
    from sources.spec import CloudWatchSpec

    spec = CloudWatchSpec(start="2025-02-01T00:00:00", end="2025-02-02T00:00:00")
    assert window(spec) == (datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 2, 2, tzinfo=UTC))
