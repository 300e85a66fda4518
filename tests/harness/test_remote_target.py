"""The harness against a remote target that answers like a deployed PAVI (tests/upstream_like.py).

A deployed PAVI has no generated payloads, rejects an alternative whose variant changes the start codon
inside a completed job, and starts a real pipeline for every submit. These tests hold the harness to
that: real payload files, rejected sequences counted as PAVI's, and a job budget that bounds submits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from loadtests.runner import LOCUSTFILE
from loadtests.settings import ENV_VAR
from tests.support import run_cli
from tests.upstream_like import START_CODON_ERROR, upstream_like

pytestmark = pytest.mark.e2e

REAL_FASTA = "https://s3.amazonaws.com/agrjbrowse/fasta/GCF_000002985.6_WBcel235_genomic.fna.gz"
REJECTED_VARIANT = "NC_003282.8:g.10567070T>C"  # the upstream-like server rejects this alt's start codon


def _entry(name: str, start: int, **extra: object) -> dict[str, object]:
    regions = [{"start": start, "end": start + 299}]
    return {
        "unique_entry_id": name,
        "base_seq_name": name,
        "seq_id": "IV",
        "seq_strand": "+",
        "exon_seq_regions": regions,
        "cds_seq_regions": regions,
        "fasta_file_url": REAL_FASTA,
        "variant_ids": [],
        **extra,
    }


def _payload_file(tmp_path: Path) -> Path:
    """A payload for a real genome, as the real UI submits it; one alt is rejected (start codon)."""
    body = [
        _entry("hyls-1_C05C8.9a.1", 10_566_000),
        _entry(
            "hyls-1_C05C8.9b.1", 10_567_000, variant_ids=[REJECTED_VARIANT], alt_seq_name_suffix="_tm3067"
        ),
        _entry("hyls-1_C05C8.9c.1", 10_568_000),
    ]
    path = tmp_path / "real-payload.json"
    path.write_text(json.dumps(body))
    return path


def _config(tmp_path: Path, url: str, *, payload: Path | None, **workloads: object) -> Path:
    load: dict[str, object] = {
        "users": 30,
        "spawn_rate": 30,
        "duration": "8s",
        "settle": "1s",
        "think_time": ["50ms", "100ms"],
        "weights": {"submit": 10, "poll": 2, "read_results": 2, "health": 1},
    }
    pipeline: dict[str, object] = {"jobs": 4, "timeout": "30s"}
    if payload is not None:
        load["payload"] = {"file": str(payload)}
        pipeline["payloads"] = [{"file": str(payload)}]
    config = {
        "default_target": "upstream",
        "targets": {"upstream": {"kind": "remote", "api_url": url}},
        "workloads": {"load": load | workloads.get("load", {}), "pipeline": pipeline},
        "gates": {
            "streak": {"streak": {"metric": "pipeline.consecutive_successes", "at_least": 4}},
            "errors": {"errors": {"metric": "load.error_rate", "below": 0.5}},
        },
    }
    path = tmp_path / "scenarios.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _env(tmp_path: Path) -> dict[str, str]:
    return {"PAVI_RUNS_DIR": str(tmp_path / "runs"), "PAVI_DATA_DIR": str(tmp_path / ".pavi")}


def _summary(tmp_path: Path) -> dict:
    (run,) = (tmp_path / "runs").iterdir()
    return json.loads((run / "report" / "summary.json").read_text())


def test_a_completed_job_with_a_rejected_alternative_passes_and_the_report_names_it(tmp_path: Path) -> None:
    with upstream_like(reject_variants={REJECTED_VARIANT}) as pavi:
        config = _config(tmp_path, pavi.url, payload=_payload_file(tmp_path))
        result = run_cli("pipeline", "--config", str(config), "--gates", "streak", env=_env(tmp_path))
        assert pavi.submits == 4
    assert result.returncode == 0, result.stdout + result.stderr
    summary = _summary(tmp_path)
    assert summary["gates"][0]["verdict"] == "PASS"
    rejected = summary["jobs"]["rejected"]
    assert [job["seq"] for job in rejected] == [1, 2, 3, 4]
    assert all(job["names"] == {"hyls-1_C05C8.9b.1_tm3067": START_CODON_ERROR} for job in rejected)
    (run,) = (tmp_path / "runs").iterdir()
    assert "hyls-1_C05C8.9b.1_tm3067" in (run / "report" / "report.html").read_text()
    assert "rejected by the pipeline" in result.stdout


def test_every_job_failing_is_fail_however_long_the_streak_asked_for(tmp_path: Path) -> None:
    """A pipeline that drops the alt without saying why: every job's result is broken, so 4 of 100 is FAIL."""
    with upstream_like(reject_variants={REJECTED_VARIANT}, drop_errors=True) as pavi:
        config = _config(tmp_path, pavi.url, payload=_payload_file(tmp_path))
        config.write_text(config.read_text().replace("at_least: 4", "at_least: 100"))
        result = run_cli("pipeline", "--config", str(config), "--gates", "streak", env=_env(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    gate = _summary(tmp_path)["gates"][0]
    assert gate["verdict"] == "FAIL"
    assert "missing without an error in seq-info: hyls-1_C05C8.9b.1_tm3067" in gate["reason"]


@pytest.mark.parametrize("command", [["load"], ["pipeline"], ["run", "--gates", "streak"]])
def test_a_remote_target_with_generated_payloads_exits_2_before_sending_anything(
    tmp_path: Path, command: list[str]
) -> None:
    with upstream_like() as pavi:
        config = _config(tmp_path, pavi.url, payload=None)
        gates = [] if "--gates" in command else ["--gates", "errors"]
        result = run_cli(*command, "--config", str(config), *gates, env=_env(tmp_path))
        assert sum(pavi.requests.values()) == 0, pavi.requests
    assert result.returncode == 2, result.stdout + result.stderr
    output = " ".join((result.stdout + result.stderr).split())
    assert "is remote" in output and "payload" in output and "fix:" in output
    assert "workloads.load.payload.file" in output or "workloads.pipeline.payloads[0].file" in output


def test_max_jobs_bounds_every_submit_of_a_load_with_workers(tmp_path: Path) -> None:
    """30 users submitting as fast as they can, 2 Locust workers, max_jobs 6: 6 jobs started in all."""
    with upstream_like(job_seconds=0.1) as pavi:
        config = _config(tmp_path, pavi.url, payload=_payload_file(tmp_path))
        result = run_cli(
            "load", "--config", str(config), "--gates", "errors", "--max-jobs", "6", "--workers", "2",
            env=_env(tmp_path), timeout=240,
        )  # fmt: skip
        submits = pavi.submits
        polls = sum(n for route, n in pavi.requests.items() if route.startswith("GET /api/pipeline-job/"))
    assert result.returncode in (0, 1, 3), result.stdout + result.stderr  # verdicts are not tested here
    assert submits == 6, f"{submits} jobs submitted with max_jobs 6"
    assert polls > 6  # users went on polling and reading once the budget was spent
    assert "job budget: 6" in result.stdout
    (run,) = (tmp_path / "runs").iterdir()
    tally = json.loads((run / "run.json").read_text())["parts"]["load"]["jobs"][""]
    assert tally["budget"] == 6 and tally["posts"] == 6 and tally["submitted"] == 6
    assert tally["completed"] + tally["running"] == 6
    assert "6 job submission(s) sent, a budget of 6" in _summary_lines(tmp_path)


def _summary_lines(tmp_path: Path) -> str:
    (run,) = (tmp_path / "runs").iterdir()
    return (run / "report" / "report.md").read_text()


def _plain_locust(tmp_path: Path, host: str) -> subprocess.CompletedProcess:
    """`locust -f loadtests/locustfile.py` as a user runs it, reading ./scenarios.yaml."""
    env = {key: value for key, value in os.environ.items() if key != ENV_VAR}
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", host, "--headless"]
    command += ["-u", "20", "-r", "20", "-t", "6s", "--only-summary", "--loglevel", "WARNING"]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_plain_locust_refuses_generated_payloads_for_a_host_off_this_machine(tmp_path: Path) -> None:
    _config(tmp_path, "https://pavi.example.org", payload=None)
    result = _plain_locust(tmp_path, "https://pavi.example.org")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "workloads.load.payload.file" in result.stderr and "not on this machine" in result.stderr


def test_plain_locust_keeps_to_max_jobs_from_scenarios_yaml(tmp_path: Path) -> None:
    with upstream_like(job_seconds=0.1) as pavi:
        _config(tmp_path, pavi.url, payload=_payload_file(tmp_path), load={"max_jobs": 4})
        result = _plain_locust(tmp_path, pavi.url)
        submits = pavi.submits
    assert result.returncode == 0, result.stdout + result.stderr
    assert submits == 4, f"{submits} jobs submitted with max_jobs 4"
    assert "job budget: 4 (3 seed jobs included)" in result.stderr


def test_plain_locust_on_a_pavi_without_generated_payloads_exits_2(tmp_path: Path) -> None:
    with upstream_like() as pavi:
        _config(tmp_path, pavi.url, payload=None)
        result = _plain_locust(tmp_path, pavi.url)
        submits = pavi.submits
    assert result.returncode == 2, result.stdout + result.stderr
    assert submits == 0 and "has no generated payloads" in result.stderr


def test_a_canary_load_keeps_to_max_jobs_on_each_side(tmp_path: Path) -> None:
    with upstream_like(job_seconds=0.1) as blue, upstream_like(job_seconds=0.1) as green:
        config = _config(tmp_path, blue.url, payload=_payload_file(tmp_path))
        raw = yaml.safe_load(config.read_text())
        raw["targets"] = {
            "blue": {"kind": "remote", "api_url": blue.url},
            "green": {"kind": "remote", "api_url": green.url},
        }
        raw["default_target"] = "blue"
        raw["workloads"]["canary"] = {
            "payload": {"file": str(_payload_file(tmp_path))},
            "consistency_jobs": 1,
        }
        config.write_text(yaml.safe_dump(raw))
        result = run_cli(
            "canary", "--blue", "blue", "--green", "green", "--config", str(config), "--gates", "errors",
            "--max-jobs", "4", env=_env(tmp_path), timeout=240,
        )  # fmt: skip
        submits = {"blue": blue.submits, "green": green.submits}
    # the verdict is not what is tested (30 fast users can saturate one Locust process: INVALID, exit 3)
    assert result.returncode in (0, 1, 3), result.stdout + result.stderr
    assert submits == {"blue": 1 + 4, "green": 1 + 4}, submits  # one consistency job + the load's budget
    assert "job budget: 4 job(s) per side (blue, green)" in result.stdout
    (run,) = (tmp_path / "runs").iterdir()
    tally = json.loads((run / "run.json").read_text())["parts"]["load"]["jobs"]
    assert {side: tally[side]["posts"] for side in tally} == {"blue": 4, "green": 4}
