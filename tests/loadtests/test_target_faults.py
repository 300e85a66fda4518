"""A broken target mid-run, and a crash of the harness itself: what was measured survives and is judged.

Target faults (5xx burst, dropped connections, very slow answers, the target killed half-way) are set
on a real local stack while a small Locust run is under way; the run must complete, the error rate in
the report must be what was injected, and the report must be written. The harness crash is a
`kill -9` of the whole `pavi-validate load` process group.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness import stack
from harness.config import LoadWorkload, Target, parse_scenarios
from harness.runstore import Run, create_run
from loadtests.runner import run_load
from reports.metrics import failed_mask
from reports.model import Verdict
from reports.report import write_report
from tests.support import BIN, free_port, run_cli

pytestmark = pytest.mark.e2e

WORKLOAD = LoadWorkload(users=20, spawn_rate=20, duration="10s", settle="1s", think_time=("50ms", "150ms"))
GATES = {
    "errors": {"metric": "load.error_rate", "at_most": "1%", "window": "whole"},
    "latency": {"metric": "load.latency_ms", "stat": "p95", "below": "1s", "window": "whole"},
}
SCENARIOS = parse_scenarios({"gates": {"g": GATES}})


@pytest.fixture
def target(pavi_data_dir: Path) -> Iterator[stack.StackState]:
    name = f"faulty-{free_port()}"
    state = stack.start_stack(name, Target(kind="local", port=free_port()), seed=5)
    try:
        yield state
    finally:
        stack.stop_stack(name)


def _after(seconds: float, action: Callable[[], None], at: list[float]) -> threading.Timer:
    def fire() -> None:
        at.append(time.time())
        action()

    timer = threading.Timer(seconds, fire)
    timer.start()
    return timer


def _load(url: str, tmp_path: Path) -> tuple[Run, pd.DataFrame, dict[str, Verdict]]:
    run = create_run("faulty", None, root=tmp_path / "runs")
    run.record_part("load", settle_s=WORKLOAD.settle)
    started = time.monotonic()
    outcome = run_load(run, url, WORKLOAD, show_progress=False, seed_jobs=1)
    assert time.monotonic() - started < 10 + 60, "the run did not end in time"
    assert outcome.exit_code is not None, "Locust had to be killed"
    run.finish()
    written = write_report(run.path, SCENARIOS, "g")
    assert (written.folder / "report.html").exists() and (written.folder / "junit.xml").exists()
    requests = pd.read_parquet(outcome.requests)
    return run, requests, {result.name: result for result in written.report.results}


def _reported_error_rate(results) -> float:
    measurement = results["errors"].measurement
    return measurement.value


def test_a_5xx_burst_is_counted_exactly_where_it_happened(target, tmp_path) -> None:
    at: list[float] = []
    timers = [
        _after(4.0, lambda: stack.set_faults(target.url, error_ratio=1.0), at),
        _after(7.0, lambda: stack.set_faults(target.url, error_ratio=0.0), at),
    ]
    _, requests, results = _load(target.url, tmp_path)
    for timer in timers:
        timer.join()
    on, off = at
    failed = requests[failed_mask(requests)]
    assert len(failed) > 50 and set(failed["status"]) == {503}
    assert failed["start"].between(on - 1.0, off + 1.0).all()  # nothing failed outside the burst
    inside = requests[requests["start"].between(on + 0.3, off - 0.3)]
    assert failed_mask(inside).mean() > 0.97  # and (nearly) everything inside it did
    assert _reported_error_rate(results) == pytest.approx(len(failed) / len(requests))
    assert results["errors"].verdict is Verdict.FAIL


def test_steady_503s_and_drops_are_each_counted_at_the_injected_ratio(target, tmp_path) -> None:
    injected = 0.06  # of each: a 503 (status kept) and a dropped connection (headers, then nothing)
    stack.set_faults(target.url, error_ratio=injected, drop_ratio=injected)
    _, requests, results = _load(target.url, tmp_path)
    n = len(requests)
    failed = failed_mask(requests)
    assert _reported_error_rate(results) == pytest.approx(failed.mean())
    answered_503 = requests["status"] == 503
    dropped = failed & ~answered_503
    assert dropped.any() and requests.loc[dropped, "error"].notna().all()
    # the injector draws a 503 first, then a drop among the rest: P(drop) = (1 - 0.06) * 0.06
    for share, expected in ((answered_503.mean(), injected), (dropped.mean(), (1 - injected) * injected)):
        sd = math.sqrt(expected * (1 - expected) / n)
        assert abs(share - expected) < 4 * sd, f"expected {expected:.4f}, measured {share:.4f} of {n}"


def test_very_slow_answers_are_slow_not_errors(target, tmp_path) -> None:
    stack.set_faults(target.url, latency_ms=1500)
    _, requests, results = _load(target.url, tmp_path)
    assert len(requests) > 20
    assert (requests["latency_ms"] >= 1500).all()
    assert not failed_mask(requests).any()
    assert results["latency"].verdict is Verdict.FAIL
    assert results["errors"].verdict in (Verdict.PASS, Verdict.INCONCLUSIVE)  # few samples at 1.5 s each


def test_a_target_killed_half_way_fails_every_later_request(target, tmp_path) -> None:
    at: list[float] = []
    timer = _after(6.0, lambda: os.killpg(target.pid, signal.SIGKILL), at)
    _, requests, results = _load(target.url, tmp_path)
    timer.join()
    killed = at[0]
    before = requests[requests["start"] < killed - 0.5]
    after = requests[requests["start"] > killed + 0.5]
    assert len(before) > 100 and not failed_mask(before).any()
    assert len(after) > 10 and (after["status"] == 0).all() and failed_mask(after).all()
    assert _reported_error_rate(results) == pytest.approx(failed_mask(requests).mean())
    assert results["errors"].verdict is Verdict.FAIL


def test_kill_9_of_the_harness_keeps_the_samples_and_the_report_says_invalid(pavi_data_dir, tmp_path) -> None:
    port = free_port()
    config = tmp_path / "scenarios.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "targets": {"local": {"kind": "local", "port": port}},
                "workloads": {"load": {"users": 10, "spawn_rate": 10, "duration": "60s", "settle": "1s",
                                       "think_time": ["50ms", "150ms"], "payload": {"entries": 3}}},
                "gates": {"g": GATES},
            }
        )
    )  # fmt: skip
    runs = tmp_path / "runs"
    harness = subprocess.Popen(
        [str(BIN), "load", "--config", str(config), "--gates", "g"],
        env={**os.environ, "PAVI_RUNS_DIR": str(runs)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: Locust dies with it, as in a real crash
    )
    try:
        deadline = time.monotonic() + 90
        chunks: list[Path] = []
        while time.monotonic() < deadline and len(chunks) < 3:
            chunks = list(runs.glob("*/load/requests.parquet/part-*.parquet"))
            time.sleep(0.5)
        assert len(chunks) >= 3, "no samples were flushed"
        os.killpg(harness.pid, signal.SIGKILL)
        harness.wait(timeout=10)
    finally:
        if harness.poll() is None:
            os.killpg(harness.pid, signal.SIGKILL)
        stack.stop_stack("local")  # the stack runs in its own session and outlives the crash

    run_dir = next(runs.iterdir())
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "incomplete"
    requests = pd.read_parquet(run_dir / "load" / "requests.parquet")
    assert len(requests) > 0 and not failed_mask(requests).any()

    result = run_cli("report", str(run_dir), "--config", str(config), "--gates", "g")
    assert result.returncode == 3, result.stdout + result.stderr  # INVALID: the run stopped early
    summary = json.loads((run_dir / "report" / "summary.json").read_text())
    assert any("incomplete" in note for note in summary["notes"])
    verdicts = {gate["name"]: (gate["verdict"], gate["reason"]) for gate in summary["gates"]}
    assert verdicts["errors"][0] == "INVALID" and "stopped early" in verdicts["errors"][1]
