"""The prober against the real local stack: all good, faults mid-run, and a stack that is not there."""

from __future__ import annotations

import re
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


def _judge_gap(run, limit: str):
    """The probe gap gate as the report judges it, from the run folder on disk."""
    from harness.config import Gate
    from reports.judge import judge_gate
    from reports.metrics import measure
    from reports.rundata import load_run_data

    gate = Gate(metric="probe.longest_gap_s", at_most=limit)
    return judge_gate("cutover", "longest-gap", gate, measure(gate, load_run_data(run)))


def test_a_dead_target_passes_no_gap_gate(free_port: int, tmp_path: Path) -> None:
    from reports.model import Verdict
    from reports.render_markdown import value_text

    run = create_run("local", None, root=tmp_path)
    url = f"http://127.0.0.1:{free_port}"
    run_probe(run, url, interval_s=0.05, max_probes=4, job_uuid=str(uuid.uuid4()), timeout_s=1)
    unknown = _judge_gap(run, "5s")  # at least ~0.15 s, and the outage had not ended
    assert unknown.verdict is Verdict.INCONCLUSIVE
    assert re.search(r"gap still open at the end of the run \(.*\): at least 0\.\d\d s", unknown.reason)
    assert re.fullmatch(r"value at least 0\.\d\d s", value_text(unknown))
    assert unknown.measurement.ci[1] == float("inf")
    already_past = _judge_gap(run, "50ms")  # the lower bound alone is past the limit
    assert already_past.verdict is Verdict.FAIL and "at least" in already_past.reason


def test_a_gap_that_ended_within_the_run_is_judged_exactly(pavi, tmp_path: Path) -> None:
    from reports.model import Verdict

    completed = pavi.submit(_payload(pavi))
    assert pavi.wait(completed)["status"] == "completed"
    run = create_run("local", None, root=tmp_path)

    def outage(round_no: int, _rows: list[dict]) -> None:
        if round_no in (3, 6):
            pavi.faults(error_ratio=1.0 if round_no == 3 else 0.0)

    run_probe(run, pavi.url, interval_s=0.1, max_probes=9, job_uuid=completed, on_round=outage)
    rows = _table(run.path)
    assert [r["ok"] for r in rows[::3]] == [True] * 3 + [False] * 3 + [True] * 3
    passed = _judge_gap(run, "5s")  # ok at round 3, next ok at round 7: about 0.4 s
    assert passed.verdict is Verdict.PASS and passed.measurement.ci is None
    assert 0.3 < passed.measurement.value < 2.0 and "at least" not in passed.reason
    assert _judge_gap(run, "200ms").verdict is Verdict.FAIL


def test_a_deployed_pavi_without_generated_payloads_asks_for_a_job(tmp_path: Path) -> None:
    """A real HTTP server on 127.0.0.1 that, like a deployed PAVI, has no /_pavi routes (404)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotTheStandIn(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotTheStandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ConfigError) as raised:
            run_probe(
                create_run("local", None, root=tmp_path),
                f"http://127.0.0.1:{server.server_address[1]}",
                max_probes=1,
            )
    finally:
        server.shutdown()
        server.server_close()
    assert "not the local stand-in" in raised.value.problem and "--uuid" in raised.value.fix


def _payload(pavi) -> list[dict]:
    from local_pavi.payload import generate_payload

    return generate_payload(2, fasta_file_url=pavi.fasta_url(), seed=1)
