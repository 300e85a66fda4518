"""`pavi-validate canary` as a user runs it, between two real local stacks (blue and green).

One small interleaved load per test (20 users, 15 s) plus the consistency check on two payloads:
GO for equal stacks; NO-GO when green answers 3% of requests with 503 and its alignments differ, each
named by its own gate; a production target refused without --confirm-production. (The self-test
trips each canary gate on its own.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness import stack
from harness.config import Target
from tests.support import free_port, run_cli

pytestmark = pytest.mark.e2e

SCENARIOS = {
    "targets": {
        "local": {"kind": "local"},
        "prod": {"kind": "remote", "api_url": "http://127.0.0.1:9", "production": True},
    },
    "workloads": {
        "load": {
            "users": 20,
            "spawn_rate": 20,
            "duration": "10s",
            "settle": "1s",
            "think_time": ["50ms", "150ms"],
            "payload": {"entries": 5},
        },
        "canary": {"consistency_jobs": 2, "payload": {"entries": 5}, "job_timeout": "60s"},
    },
    "gates": {
        "canary": {
            "error-rate": {"metric": "load.error_rate", "at_most": "1%", "window": "steady"},
            "latency-p95": {"metric": "load.latency_ms", "stat": "p95", "at_most": "1s", "window": "steady"},
            "data-consistency": {"metric": "canary.consistency_mismatches", "at_most": 0},
            "errors-vs-old": {"metric": "canary.error_rate_diff", "at_most": "0.5%", "window": "steady"},
        }
    },
}


@pytest.fixture(scope="module")
def sides(pavi_data_dir: Path) -> Iterator[dict[str, str]]:
    urls = {}
    try:
        for side in ("blue", "green"):
            urls[side] = stack.start_stack(f"cli-{side}", Target(kind="local", port=free_port()), seed=3).url
        yield urls
    finally:
        for side in ("blue", "green"):
            stack.stop_stack(f"cli-{side}")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "scenarios.yaml"
    path.write_text(yaml.safe_dump(SCENARIOS))
    return path


def _canary(config: Path, tmp_path: Path, *extra: str):
    sides = ("--blue", "cli-blue", "--green", "cli-green")
    result = run_cli(
        "canary", "--config", str(config), *sides, "--step", "10", *extra,
        env={"PAVI_RUNS_DIR": str(tmp_path / "runs")},
    )  # fmt: skip
    runs = sorted((tmp_path / "runs").glob("*/report/summary.json"))
    summary = json.loads(runs[-1].read_text()) if runs else None
    return result, summary


def _verdicts(summary: dict) -> dict[str, str]:
    return {gate["name"]: gate["verdict"] for gate in summary["gates"]}


def test_two_equal_stacks_are_a_go(sides, config, tmp_path) -> None:
    result, summary = _canary(config, tmp_path)
    assert summary is not None, result.stderr
    assert result.returncode == 0, (result.stdout, _verdicts(summary))
    assert summary["canary"]["decision"] == "GO"
    assert "GO before the 10% step" in result.stdout
    requests = pd.read_parquet(next((tmp_path / "runs").glob("*/load/requests.parquet")))
    counts = requests["side"].value_counts()
    assert set(counts.index) == {"blue", "green"}
    assert abs(counts["blue"] - counts["green"]) < 0.1 * len(requests)  # interleaved: near half each
    # every user went to both sides
    assert (requests.groupby("user")["side"].nunique() == 2).all()
    assert len(summary["canary"]["consistency"]) == 2


def test_errors_and_a_different_alignment_on_green_are_a_no_go_naming_both(sides, config, tmp_path) -> None:
    stack.set_faults(sides["green"], error_ratio=0.03, alter_alignment=True)
    try:
        result, summary = _canary(config, tmp_path)
    finally:
        stack.set_faults(sides["green"], error_ratio=0, alter_alignment=False)
    assert summary is not None, result.stderr
    verdicts = _verdicts(summary)
    assert result.returncode == 1
    assert summary["canary"]["decision"] == "NO-GO"
    assert verdicts["error-rate (green)"] == "FAIL"  # 3% > the 1% trigger
    assert verdicts["error-rate (blue)"] == "PASS"  # and only on the side that has them
    assert verdicts["data-consistency"] == "FAIL"
    jobs = summary["canary"]["consistency"]
    assert all(job["mismatch"] for job in jobs)
    assert "alignment" in jobs[0]["diff"] and "\n-" in jobs[0]["diff"] and "\n+" in jobs[0]["diff"]
    html = next((tmp_path / "runs").glob("*/report/report.html")).read_text()
    assert "Data consistency" in html and "NO-GO" in html


def test_until_decided_stops_a_side_with_5pct_errors_at_the_first_look(sides, config, tmp_path) -> None:
    stack.set_faults(sides["green"], error_ratio=0.05)
    try:
        result, summary = _canary(
            config, tmp_path, "--until-decided", "--first-look", "8s", "--max-duration", "60s"
        )
    finally:
        stack.set_faults(sides["green"], error_ratio=0)
    assert summary is not None, result.stderr
    assert result.returncode == 1 and summary["canary"]["decision"] == "NO-GO"
    run = json.loads(next((tmp_path / "runs").glob("*/run.json")).read_text())
    decided = run["parts"]["load"]["until_decided"]
    # an early look, not the 60 s maximum (a busy host can leave the first short windows undecided)
    assert decided["stopped_at_s"] in (8.0, 16.0, 32.0), (decided, result.stdout)
    assert decided["stop_reason"].startswith("gate error-rate (green) failed")
    assert _verdicts(summary)["error-rate (green)"] == "FAIL"
    requests = pd.read_parquet(next((tmp_path / "runs").glob("*/load/requests.parquet")))
    span = requests["start"].max() - requests["start"].min()
    assert span < decided["stopped_at_s"] + 15  # green stopped getting traffic at that look


def test_a_production_side_needs_confirmation(config, tmp_path) -> None:
    result = run_cli("canary", "--config", str(config), "--blue", "prod", "--green", "local")
    assert result.returncode == 2
    assert "production: true" in result.stderr and "--confirm-production" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_side_names_the_option_and_the_fix(config) -> None:
    result = run_cli("canary", "--config", str(config), "--blue", "nowhere", "--green", "local")
    assert result.returncode == 2
    assert "--blue 'nowhere'" in result.stderr and "stack up --name nowhere" in result.stderr
