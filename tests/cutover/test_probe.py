"""The prober against the real local stack: all good, faults mid-run, and a stack that is not there."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cutover.probe import PROBES_FILE, PROBES_SCHEMA, run_probe
from harness.errors import ConfigError
from harness.runstore import create_run

pytestmark = pytest.mark.e2e


def _table(run_path: Path) -> list[dict]:
    table = pq.read_table(run_path / "probe" / PROBES_FILE)
    assert table.schema.equals(PROBES_SCHEMA)
    return table.to_pylist()


def test_six_rounds_all_ok(pavi, tmp_path: Path) -> None:
    run = create_run("local", None, root=tmp_path)
    outcome = run_probe(run, pavi.url, interval_s=0.1, max_probes=6, timeout_s=10)
    rows = _table(run.path)
    assert outcome.job_created and outcome.rounds == 6 and outcome.probes == 18
    assert len(rows) == 18 and all(row["ok"] and row["status"] == 200 for row in rows)
    assert [row["kind"] for row in rows[:3]] == ["health", "status", "result"]
    assert [row["round"] for row in rows[::3]] == [1, 2, 3, 4, 5, 6]
    part = run.meta["parts"]["probe"]
    assert part["status"] == "complete" and part["ended_by"] == "max_probes" and part["probes"] == 18


def test_faults_mid_run_are_recorded_as_503(pavi, tmp_path: Path) -> None:
    completed = pavi.submit(_payload(pavi))
    assert pavi.wait(completed)["status"] == "completed"
    run = create_run("local", None, root=tmp_path)

    def after_round(round_no: int, _rows: list[dict]) -> None:
        if round_no == 3:
            pavi.faults(error_ratio=1.0)

    outcome = run_probe(run, pavi.url, interval_s=0.1, max_probes=6, job_uuid=completed, on_round=after_round)
    rows = _table(run.path)
    assert not outcome.job_created and outcome.not_ok == 9
    assert all(row["ok"] for row in rows[:9])
    failed = rows[9:]
    assert len(failed) == 9 and all(not r["ok"] and r["status"] == 503 and r["error"] for r in failed)

    pavi.faults(error_ratio=0)  # a second call on the same run appends and continues the rounds
    run_probe(run, pavi.url, interval_s=0.1, max_probes=2, job_uuid=completed)
    rows = _table(run.path)
    assert len(rows) == 24 and rows[-1]["round"] == 8 and all(r["ok"] for r in rows[18:])


def test_stack_not_there_gives_status_0(free_port: int, tmp_path: Path) -> None:
    run = create_run("local", None, root=tmp_path)
    url = f"http://127.0.0.1:{free_port}"
    outcome = run_probe(run, url, interval_s=0.05, max_probes=2, job_uuid=str(uuid.uuid4()), timeout_s=1)
    rows = _table(run.path)
    assert outcome.probes == 6 and outcome.not_ok == 6
    assert all(r["status"] == 0 and not r["ok"] and "Connect" in r["error"] for r in rows)


def test_stop_and_until_end_it_with_data_on_disk(free_port: int, tmp_path: Path) -> None:
    run = create_run("local", None, root=tmp_path)
    url = f"http://127.0.0.1:{free_port}"
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    outcome = run_probe(run, url, interval_s=0.05, max_probes=1000, job_uuid="x", stop=stop, timeout_s=1)
    assert outcome.ended_by == "stop" and 1 <= outcome.rounds < 1000
    assert len(_table(run.path)) == outcome.probes

    started = time.monotonic()
    outcome = run_probe(run, url, interval_s=0.05, until=time.time() + 0.3, job_uuid="x", timeout_s=1)
    assert outcome.ended_by == "until" and time.monotonic() - started < 2


def test_ctrl_c_keeps_the_data(free_port: int, tmp_path: Path) -> None:
    run = create_run("local", None, root=tmp_path)

    def interrupt(round_no: int, _rows: list[dict]) -> None:
        if round_no == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_probe(
            run,
            f"http://127.0.0.1:{free_port}",
            interval_s=0.05,
            max_probes=10,
            job_uuid="x",
            on_round=interrupt,
        )
    assert len(_table(run.path)) == 6
    assert run.meta["parts"]["probe"]["status"] == "interrupted"


def test_an_unbounded_probe_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        run_probe(create_run("local", None, root=tmp_path), "http://127.0.0.1:1", job_uuid="x")


def _payload(pavi) -> list[dict]:
    from local_pavi.payload import generate_payload

    return generate_payload(2, fasta_file_url=pavi.fasta_url(), seed=1)
