"""Settings travel intact through the environment; request rows keep their exact schema on disk."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from harness.config import LoadWorkload
from harness.errors import EnvironmentProblem
from loadtests.rows import REQUEST_SCHEMA, ChunkWriter, portable
from loadtests.runner import create_seed_jobs, locust_commands
from loadtests.settings import DEFAULT_NAMES, ENV_VAR, LoadSettings, load_settings


def test_settings_round_trip_through_one_variable(tmp_path) -> None:
    payload_file = tmp_path / "payloads.json"
    payload_file.write_text(json.dumps([[{"unique_entry_id": "b"}]]))
    sent = LoadSettings(
        weights={"health": 1, "read_results": 3},
        think_time=(0.5, 1.5),
        names={"health": "health check"},
        payloads=[[{"unique_entry_id": "a"}]],
        payload_file=str(payload_file),
        seed_uuids=["u1", "u2"],
        seed_jobs=0,
        run_dir=str(tmp_path),
    )
    env = sent.to_env()
    assert list(env) == [ENV_VAR]
    got = load_settings(env)
    assert got == sent
    assert got.names == {**DEFAULT_NAMES, "health": "health check"}
    assert got.weight("submit") == 0
    assert got.load_payloads() == [[{"unique_entry_id": "a"}], [{"unique_entry_id": "b"}]]


def test_without_the_variable_the_scenarios_file_gives_the_defaults(tmp_path) -> None:
    scenarios = tmp_path / "scenarios.yaml"
    scenarios.write_text(
        "workloads:\n  load:\n    think_time: [2s, 4s]\n    weights: {health: 3}\n    payload: {entries: 5}\n"
    )
    settings = load_settings({}, scenarios)
    assert settings.think_time == (2.0, 4.0)
    assert settings.weights == {"health": 3}
    assert settings.payload_entries == 5
    assert settings.run_dir is None
    assert settings.seed_jobs == 3  # a plain locustfile run seeds its own jobs


def test_from_workload_keeps_the_journey_shape() -> None:
    settings = LoadSettings.from_workload(LoadWorkload(), seed_jobs=0)
    assert settings.weights == {"submit": 1, "poll": 4, "read_results": 10, "health": 2}
    assert settings.think_time == (1.0, 3.0)


@pytest.mark.parametrize(
    "bad", [{"weights": {"health": 0}}, {"weights": {"health": -1, "poll": 2}}, {"think_time": (3, 1)}]
)
def test_nonsense_settings_are_refused(bad) -> None:
    with pytest.raises(ValidationError):
        LoadSettings(**bad)


def test_chunks_read_back_as_one_table_with_the_exact_schema(tmp_path) -> None:
    writer = ChunkWriter(tmp_path / "requests.parquet")
    ok = (1.5, "GET /api/health", "GET", 200, 2.5, 15, None, "w0-1", "")
    failed = (2.5, "GET /api/health", "GET", 503, 1.0, 40, RuntimeError("HTTP 503"), "w1-2", "blue")
    no_answer = (3.5, "GET /api/health", "GET", 0, 30000.0, 0, ConnectionError("refused"), "w2-3", "green")
    writer.write([ok, failed])
    writer.write([])  # nothing to flush: no empty chunk
    writer.write(portable([no_answer]))  # as a worker sends it
    writer.close()
    assert writer.chunks == 2 and writer.rows == 3

    table = pq.read_table(tmp_path / "requests.parquet")
    assert table.schema.remove_metadata() == REQUEST_SCHEMA
    frame = pd.read_parquet(tmp_path / "requests.parquet").sort_values("start")
    assert frame["error"].isna().tolist() == [True, False, False]  # null when the request succeeded
    assert frame["error"].dropna().tolist() == ["HTTP 503", "refused"]
    assert frame["status"].tolist() == [200, 503, 0]
    assert frame["user"].tolist() == ["w0-1", "w1-2", "w2-3"]
    assert frame["side"].tolist() == ["", "blue", "green"]


def test_a_run_without_requests_still_leaves_a_readable_empty_table(tmp_path) -> None:
    writer = ChunkWriter(tmp_path / "requests.parquet")
    writer.close()
    frame = pd.read_parquet(tmp_path / "requests.parquet")
    assert len(frame) == 0
    assert list(frame.columns) == REQUEST_SCHEMA.names


def test_distributed_commands_bind_the_master_to_loopback(tmp_path) -> None:
    main, workers = locust_commands(tmp_path, "http://127.0.0.1:1", 10, 2.5, 30.4, 2)
    assert main[main.index("-t") + 1] == "30s"
    assert main[main.index("--master-bind-host") + 1] == "127.0.0.1"
    port = main[main.index("--master-bind-port") + 1]
    assert len(workers) == 2
    assert all(w[w.index("--master-port") + 1] == port and "--worker" in w for w in workers)
    single, none = locust_commands(tmp_path, "http://127.0.0.1:1", 10, 2.5, 30, 0)
    assert none == [] and "--master" not in single


def test_seeding_an_unreachable_target_says_so(free_port) -> None:
    with pytest.raises(EnvironmentProblem, match="cannot reach"):
        create_seed_jobs(f"http://127.0.0.1:{free_port}", [[{}]], count=1, timeout_s=5)
