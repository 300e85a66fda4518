"""Small real load runs against the session's local stack: every request recorded, nothing judged.

Scale is kept small (tens of users, 5-15 s) so the whole file runs in about a minute; the load only
ever goes to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import psutil
import pyarrow.parquet as pq
import pytest
from scipy.stats import binomtest

from harness.config import LoadWorkload
from harness.runstore import create_run
from loadtests import runner
from loadtests.rows import REQUEST_SCHEMA
from loadtests.runner import LOCUSTFILE, LoadOutcome, run_load
from loadtests.settings import DEFAULT_NAMES, ENV_VAR, load_settings

pytestmark = pytest.mark.e2e
WORKLOAD = LoadWorkload()  # the default journey: think 1-3 s, weights 1/4/10/2, 10-entry payloads


def _aggregated(outcome: LoadOutcome) -> pd.Series:
    stats = pd.read_csv(f"{outcome.csv_prefix}_stats.csv")
    return stats[stats["Name"] == "Aggregated"].iloc[0]


def _check_shape(outcome: LoadOutcome, users: int) -> tuple[pd.DataFrame, dict]:
    """What every run must leave behind, whatever its mode."""
    assert pq.read_table(outcome.requests).schema.remove_metadata() == REQUEST_SCHEMA
    requests = pd.read_parquet(outcome.requests)
    events = json.loads(outcome.events.read_text())
    assert events["final"] is True
    # one row per request Locust counted, by its own total and by its CSV
    assert len(requests) > 0
    assert len(requests) == events["requests"] == events["rows"]
    aggregated = _aggregated(outcome)
    assert aggregated["Request Count"] == len(requests)
    assert aggregated["Failure Count"] == events["failures"] == requests["error"].notna().sum()
    assert set(requests["name"]) <= set(DEFAULT_NAMES.values())
    assert {"GET /api/health", "GET /api/pipeline-job/[uuid]/result/alignment"} <= set(requests["name"])
    assert events["test_start"] < events["spawning_complete"] < events["test_stop"]
    assert events["spawned_users"] == users
    assert requests["start"].between(events["test_start"], events["test_stop"]).all()
    assert (requests["latency_ms"] >= 0).all()
    assert requests["user"].str.fullmatch(r"w\d+-\d+").all()
    assert outcome.target is not None and len(pd.read_parquet(outcome.target)) > 0
    return requests, events


def test_single_process_records_every_request(pavi, tmp_path) -> None:
    run = create_run("pytest", None, root=tmp_path)
    outcome = run_load(run, pavi.url, WORKLOAD, users=50, spawn_rate=25, duration_s=15, show_progress=False)
    assert outcome.exit_code == 0
    requests, events = _check_shape(outcome, users=50)
    assert requests["status"].between(200, 299).all()
    assert requests["error"].isna().all()
    assert requests["user"].str.startswith("w0-").all()
    assert requests["user"].nunique() <= 50
    assert events["workers"] == 0
    host = pd.read_parquet(outcome.host)
    assert {"host", "locust"} <= set(host["process"])
    assert host.loc[host["process"] == "host", "cpu_unniced"].notna().all()
    assert host.loc[host["process"] == "locust", "cpu_unniced"].isna().all()
    part = json.loads((run.path / "run.json").read_text())["parts"]["load"]
    assert part["status"] == "finished" and part["exit_code"] == 0
    assert part["users"] == 50 and part["workers"] == 0 and part["locust_version"]
    assert len(part["seed_uuids"]) == 3
    assert "--headless" in part["locust_command"]
    sent = load_settings({ENV_VAR: part["pavi_load_settings"]})  # all a remote worker would need
    assert sent.seed_uuids == part["seed_uuids"] and len(sent.load_payloads()) == 4


def test_workers_send_their_rows_to_the_master(pavi, tmp_path) -> None:
    run = create_run("pytest", None, root=tmp_path)
    outcome = run_load(
        run, pavi.url, WORKLOAD, users=20, spawn_rate=20, duration_s=10, workers=2, seed_jobs=1,
        show_progress=False,
    )  # fmt: skip
    assert outcome.exit_code == 0
    requests, events = _check_shape(outcome, users=20)
    assert events["workers"] == 2
    assert requests["status"].between(200, 299).all()
    assert set(requests["user"].str.split("-").str[0]) == {"w1", "w2"}
    processes = set(pd.read_parquet(outcome.host)["process"])
    assert {"host", "locust-master", "locust-worker-1", "locust-worker-2"} <= processes


def test_injected_errors_are_recorded_as_failures(pavi, tmp_path) -> None:
    pavi.faults(error_ratio=0.2)
    run = create_run("pytest", None, root=tmp_path)
    outcome = run_load(
        run, pavi.url, WORKLOAD, users=50, spawn_rate=50, duration_s=10, seed_jobs=1, show_progress=False
    )
    assert outcome.exit_code == 1  # Locust's own exit code when any request failed; not a verdict
    requests, _ = _check_shape(outcome, users=50)
    failed = requests["error"].notna()
    assert binomtest(int(failed.sum()), len(requests), 0.2).pvalue > 0.001
    assert (requests.loc[failed, "status"] == 503).all()
    assert (requests.loc[failed, "error"] == "HTTP 503").all()
    assert requests.loc[~failed, "status"].between(200, 299).all()


def test_plain_locustfile_runs_on_its_own(local_stack, tmp_path) -> None:
    env = {key: value for key, value in os.environ.items() if key != ENV_VAR}
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", "5", "-r", "5",
        "-t", "5s", "--host", local_stack.url, "--only-summary", "--json", "--loglevel", "WARNING",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    stats = json.loads(done.stdout)
    assert sum(entry["num_requests"] for entry in stats) > 0
    assert {entry["name"] for entry in stats} <= set(DEFAULT_NAMES.values())
    assert list(tmp_path.iterdir()) == []  # no run dir: nothing written


def test_an_overrunning_locust_is_stopped_and_keeps_what_it_measured(pavi, tmp_path, monkeypatch) -> None:
    # 20 s planned, so stopped after ~8 s: time for Locust to start and record on a busy machine
    monkeypatch.setattr(runner, "OVERRUN_GRACE_S", -12.0)
    run = create_run("pytest", None, root=tmp_path)
    outcome = run_load(
        run, pavi.url, WORKLOAD, users=5, spawn_rate=5, duration_s=20, seed_jobs=0, show_progress=False
    )
    assert outcome.exit_code is None
    part = json.loads((run.path / "run.json").read_text())["parts"]["load"]
    assert part["status"] == "killed"
    assert part["ended"] - part["started"] < 19  # well before the 20 s planned (+ the real 60 s grace)
    leftovers = [
        child for child in psutil.Process().children(recursive=True) if "locust" in " ".join(child.cmdline())
    ]
    assert leftovers == []
    # Locust was asked to stop (SIGINT), so it still wrote its final chunk and totals
    events = json.loads(outcome.events.read_text())
    assert events["final"] is True
    assert len(pd.read_parquet(outcome.requests)) == events["requests"]
