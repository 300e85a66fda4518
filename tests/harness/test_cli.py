"""The `pavi-validate` console script as a user runs it: exit codes, messages, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support import run_cli


def test_config_check_ok_and_bad(tmp_path) -> None:
    good = run_cli("config", "check", str(Path(__file__).resolve().parents[2] / "scenarios.yaml"))
    assert good.returncode == 0, good.stderr
    assert "ok" in good.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text("workloads:\n  load:\n    users: -1\n")
    result = run_cli("config", "check", str(bad))
    assert result.returncode == 2
    assert "workloads.load.users" in result.stderr
    assert "fix:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout

    debug = run_cli("--debug", "config", "check", str(bad))
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr


def test_usage_errors_exit_2() -> None:
    assert run_cli("no-such-command").returncode == 2
    assert run_cli("payload", "--entries", "zero").returncode == 2


def test_payload_command_writes_schema(tmp_path) -> None:
    out = tmp_path / "p.json"
    result = run_cli("payload", "--entries", "4", "--output", str(out))
    assert result.returncode == 0, result.stderr
    payload = json.loads(out.read_text())
    assert len(payload) == 4
    assert {"unique_entry_id", "base_seq_name", "seq_id", "seq_strand", "exon_seq_regions"} <= set(payload[0])
    too_many = run_cli("payload", "--entries", "100000")
    assert too_many.returncode == 2
    assert "--entries" in too_many.stderr


def test_runs_list_empty_and_filled(tmp_path) -> None:
    env = {"PAVI_RUNS_DIR": str(tmp_path)}
    assert "no runs yet" in run_cli("runs", "list", env=env).stdout
    from harness.runstore import create_run

    run = create_run("local", None, root=tmp_path)
    listed = run_cli("runs", "list", env=env).stdout
    assert run.id in listed
    assert "incomplete" in listed


@pytest.mark.e2e
def test_stack_up_curl_submit_status_down(tmp_path, pavi_data_dir, free_port) -> None:
    """The foundation's done-when: stack up, submit a generated payload with curl, see it complete."""
    env = {"PAVI_DATA_DIR": str(pavi_data_dir)}
    config = tmp_path / "scenarios.yaml"
    config.write_text(f"targets:\n  local:\n    kind: local\n    port: {free_port}\n")
    url = f"http://127.0.0.1:{free_port}"
    up = run_cli("stack", "up", "--config", str(config), "--name", "clitest", env=env)
    try:
        assert up.returncode == 0, up.stderr
        assert f"{url}/api/health" in up.stdout
        status = run_cli("stack", "status", env=env)
        assert "clitest" in status.stdout
        assert "up" in status.stdout
        again = run_cli("stack", "up", "--config", str(config), "--name", "clitest", env=env)
        assert again.returncode == 5
        assert "already running" in again.stderr

        payload = tmp_path / "payload.json"
        made = run_cli(
            "payload", "--entries", "10", "-o", str(payload), "--fasta-url", f"{url}/genome/genome.fa"
        )
        assert made.returncode == 0, made.stderr
        curl = subprocess.run(
            ["curl", "-sS", "-X", "POST", "-H", "content-type: application/json",
             "--data-binary", f"@{payload}", f"{url}/api/pipeline-job/"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        uuid = json.loads(curl.stdout)["uuid"]
        deadline = time.monotonic() + 120
        status_now = "pending"
        while status_now in ("pending", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
            status_now = httpx.get(f"{url}/api/pipeline-job/{uuid}").json()["status"]
        assert status_now == "completed"
        assert httpx.get(f"{url}/result", params={"uuid": uuid}).status_code == 200
    finally:
        down = run_cli("stack", "down", "--name", "clitest", env=env)
    assert down.returncode == 0
    assert "stopped" in down.stdout
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/api/health", timeout=2)
    assert "not running" in run_cli("stack", "down", "--name", "clitest", env=env).stdout


@pytest.mark.e2e
def test_pipeline_command_starts_the_stack_judges_and_stops_it(tmp_path, pavi_data_dir, free_port) -> None:
    config = tmp_path / "scenarios.yaml"
    config.write_text(
        f"targets:\n  local:\n    kind: local\n    port: {free_port}\n"
        "gates:\n  small:\n    streak: {metric: pipeline.consecutive_successes, stat: longest, at_least: 3}\n"
    )
    env = {"PAVI_DATA_DIR": str(pavi_data_dir), "PAVI_RUNS_DIR": str(tmp_path / "runs")}
    result = run_cli(
        "pipeline", "--config", str(config), "--jobs", "3", "--gates", "small", env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS" in result.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    for name in ("report.html", "report.md", "junit.xml", "summary.json"):
        assert (run_dir / "report" / name).is_file()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{free_port}/api/health", timeout=2)


@pytest.mark.e2e
def test_full_run_measures_every_part_and_survives_a_failing_one(tmp_path, pavi_data_dir, free_port) -> None:
    """`run` measures the parts its gate set needs into one run; a part that cannot run is INVALID."""
    config = tmp_path / "scenarios.yaml"
    config.write_text(
        f"targets:\n  local: {{kind: local, port: {free_port}}}\n"
        "workloads:\n"
        "  load: {users: 10, spawn_rate: 10, duration: 8s, settle: 1s, think_time: [100ms, 200ms]}\n"
        "  browser: {sequences: 5, repeats: 1, interaction_time: 1s, interactions: [color_scheme]}\n"
        "  pipeline: {jobs: 3, payloads: [{entries: 3}]}\n"
        "gates:\n"
        "  tiny:\n"
        "    errors: {metric: load.error_rate, at_most: 50%}\n"
        "    streak: {metric: pipeline.consecutive_successes, stat: longest, at_least: 3}\n"
        "    redraws: {metric: browser.redraw_rate, above: 0}\n"
        "    e2e: {metric: e2e.pass_rate, at_least: 100%}\n"
        "sources:\n  e2e: {junit: [no-such-folder/*.xml]}\n"  # collecting it fails: the gate is INVALID
    )
    env = {"PAVI_DATA_DIR": str(pavi_data_dir), "PAVI_RUNS_DIR": str(tmp_path / "runs")}
    result = run_cli("run", "--config", str(config), "--gates", "tiny", env=env, cwd=tmp_path)
    (run_dir,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run_dir / "report" / "summary.json").read_text())
    verdicts = {gate["name"]: gate["verdict"] for gate in summary["gates"]}
    reasons = {gate["name"]: gate["reason"] for gate in summary["gates"]}
    assert verdicts["streak"] == "PASS", reasons
    assert verdicts["errors"] == "PASS", reasons
    assert verdicts["e2e"] == "INVALID", reasons
    assert "e2e" in reasons["e2e"]
    assert "no-such-folder" in reasons["e2e"]
    assert verdicts["redraws"] in ("PASS", "INCONCLUSIVE"), reasons  # one repeat: no interval
    assert result.returncode == 3, result.stdout + result.stderr
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["parts_planned"] == ["sources", "pipeline", "browser", "load"]
    assert meta["parts"]["sources"]["e2e"]["status"] == "failed"


@pytest.mark.e2e
def test_pipeline_through_step_functions_on_the_local_moto_backend(
    tmp_path, pavi_data_dir, free_port
) -> None:
    config = tmp_path / "scenarios.yaml"
    config.write_text(
        f"targets:\n  local: {{kind: local, port: {free_port}, backend: stepfunctions}}\n"
        "workloads:\n  pipeline: {jobs: 2, driver: stepfunctions, payloads: [{entries: 3}]}\n"
        "gates:\n  sfn:\n    executes: {metric: pipeline.sfn_executions_succeeded, at_least: 2}\n"
        "    streak: {metric: pipeline.consecutive_successes, stat: longest, at_least: 2}\n"
    )
    env = {"PAVI_DATA_DIR": str(pavi_data_dir), "PAVI_RUNS_DIR": str(tmp_path / "runs")}
    result = run_cli("pipeline", "--config", str(config), "--gates", "sfn", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run_dir / "report" / "summary.json").read_text())
    assert {gate["name"]: gate["verdict"] for gate in summary["gates"]} == {
        "executes": "PASS",
        "streak": "PASS",
    }


@pytest.mark.e2e
def test_probe_command_through_a_healthy_stack(tmp_path, pavi_data_dir, free_port) -> None:
    config = tmp_path / "scenarios.yaml"
    config.write_text(
        f"targets:\n  local: {{kind: local, port: {free_port}}}\n"
        "gates:\n  cutover:\n    failed: {metric: probe.failed, at_most: 0}\n"
        "    gap: {metric: probe.longest_gap_s, at_most: 5s}\n"
    )
    env = {"PAVI_DATA_DIR": str(pavi_data_dir), "PAVI_RUNS_DIR": str(tmp_path / "runs")}
    result = run_cli(
        "probe", "--config", str(config), "--rounds", "3", "--interval", "100ms", env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    gates = json.loads((run_dir / "report" / "summary.json").read_text())["gates"]
    assert {gate["name"]: (gate["verdict"], gate["n"]) for gate in gates} == {
        "failed": ("PASS", 9),
        "gap": ("PASS", 9),
    }
    assert run_cli("probe", "--config", str(config), env=env, cwd=tmp_path).returncode == 2  # no end given
