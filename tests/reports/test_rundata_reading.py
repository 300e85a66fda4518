"""The fast reader (threads, only the report's columns, strings as categories) changes no number.

Every load measurement, the endpoint and error tables and the per-endpoint plot data are computed
twice from one recorded run: from `load_run_data` and from a plain `pandas.read_parquet` of the same
chunks (strings as strings, every column), and must be identical.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.config import Gate
from harness.runstore import create_run, write_json_atomic
from loadtests.rows import REQUEST_SCHEMA, ChunkWriter
from reports.metrics import endpoint_table, error_table, measure
from reports.plots import _bins, _top_names, endpoint_p95
from reports.rundata import REQUEST_COLUMNS, RunData, load_run_data, read_parquet_parts

NAMES = ["GET /api/health", "GET /api/pipeline-job/[uuid]", "POST /api/pipeline-job/", "GET /x"]
START = 1_700_000_000.0


def _chunks(rng: np.random.Generator, chunks: int, per_chunk: int) -> list[list[tuple]]:
    out = []
    for number in range(chunks):
        n = per_chunk
        name = rng.choice(len(NAMES), n, p=[0.5, 0.3, 0.15, 0.05])
        failed = rng.random(n) < 0.03
        status = np.where(failed, rng.choice([0, 503, 404], n), 200)
        rows = []
        for i in range(n):
            error = f"HTTP {status[i]} on {NAMES[name[i]]}" if failed[i] else None
            rows.append(
                (START + number * 2 + rng.random() * 2, NAMES[name[i]], "GET", int(status[i]),
                 float(rng.lognormal(3, 1)), 100, error, f"w0-{i % 7}", "")
            )  # fmt: skip
        out.append(rows)
    return out


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A finished load run of 40 chunks with failures of three kinds, as the recorder leaves it."""
    root = tmp_path_factory.mktemp("runs")
    run = create_run("pytest", None, root=root)
    load_dir = run.part_dir("load")
    writer = ChunkWriter(load_dir / "requests.parquet")
    for chunk in _chunks(np.random.default_rng(7), 40, 250):
        writer.write(chunk)
    writer.close()
    write_json_atomic(
        load_dir / "events.json",
        {"test_start": START, "spawning_complete": START + 10, "test_stop": START + 80, "final": True},
    )
    run.record_part("load", status="finished", settle_s=5.0, duration_s=80.0)
    run.finish()
    return run


def _both(run) -> tuple[RunData, RunData]:
    fast = load_run_data(run)
    plain = RunData(meta=run.meta, path=run.path, load_events=fast.load_events)
    plain.requests = pd.read_parquet(run.path / "load" / "requests.parquet")
    return fast, plain


def test_reader_keeps_the_report_columns_as_categories(recorded) -> None:
    fast, plain = _both(recorded)
    assert list(fast.requests.columns) == list(REQUEST_COLUMNS)
    assert fast.requests["name"].dtype == "category" and fast.requests["error"].dtype == "category"
    assert len(fast.requests) == len(plain.requests) == 10_000
    for column in REQUEST_COLUMNS:
        left = fast.requests[column]
        right = plain.requests[column]
        if left.dtype == "category":
            left, right = left.astype(object), right.astype(object)
        pd.testing.assert_series_equal(left, right, check_dtype=False)


@pytest.mark.parametrize(
    "gate",
    [
        Gate(metric="load.latency_ms", stat="p95", below="500ms", window="steady"),
        Gate(metric="load.latency_ms", stat="p99", below="500ms", window="whole"),
        Gate(metric="load.latency_ms", stat="p50", below="500ms", request="GET /api/health"),
        Gate(metric="load.latency_ms", stat="mean", below="500ms", window="steady"),
        Gate(metric="load.latency_ms", stat="max", below="5s", window="steady"),
        Gate(metric="load.error_rate", at_most="1%", window="steady"),
        Gate(metric="load.error_rate", at_most="1%", request="POST /api/pipeline-job/"),
        Gate(metric="load.error_rate", at_most="1%", request="GET /never-requested"),
        Gate(metric="load.throughput_rps", at_least=10, window="steady"),
    ],
    ids=lambda gate: f"{gate.metric}-{gate.statistic}-{gate.window}-{gate.request}",
)
def test_every_load_measurement_is_unchanged(recorded, gate: Gate) -> None:
    fast, plain = _both(recorded)
    assert measure(gate, fast) == measure(gate, plain)


def test_endpoint_and_error_tables_are_unchanged(recorded) -> None:
    fast, plain = _both(recorded)
    pd.testing.assert_frame_equal(endpoint_table(fast), endpoint_table(plain))
    fast_errors, plain_errors = error_table(fast), error_table(plain)
    pd.testing.assert_frame_equal(fast_errors, plain_errors)
    assert set(fast_errors["status"]) == {0, 404, 503} and len(fast_errors) > 3


def test_endpoint_plot_data_equals_grouping_on_name_strings(recorded) -> None:
    fast, plain = _both(recorded)
    requests = plain.requests
    rows = requests[requests["name"].isin(_top_names(requests))]
    bins = _bins(rows["start"].to_numpy(dtype=float) - START)
    old = rows["latency_ms"].groupby([rows["name"].to_numpy(), bins]).quantile(0.95)  # before: strings
    for data in (fast, plain):
        lines = endpoint_p95(data.requests, START)
        assert list(lines) == _top_names(requests)
        for name, series in lines.items():
            pd.testing.assert_series_equal(series, old.loc[name], check_names=False, check_index_type=False)


def test_torn_chunk_and_a_column_older_chunks_lack(tmp_path) -> None:
    folder = tmp_path / "requests.parquet"
    writer = ChunkWriter(folder)
    writer.write([(START, "GET /a", "GET", 200, 1.0, 10, None, "w0-1", "blue")])
    writer.close()
    old_schema = pa.schema([field for field in REQUEST_SCHEMA if field.name != "side"])
    old = {"start": [START + 1], "name": ["GET /b"], "method": ["GET"], "status": [503], "latency_ms": [2.0],
           "bytes": [0], "error": ["HTTP 503"], "user": ["w0-2"]}  # fmt: skip
    pq.write_table(pa.Table.from_pydict(old, schema=old_schema), folder / "part-00000.parquet")
    (folder / "part-00009.parquet").write_bytes(b"PAR1 torn by a crash")
    unreadable: list[str] = []
    frame = read_parquet_parts(folder, unreadable, REQUEST_COLUMNS, ("name", "error", "side"))
    assert unreadable == [str(folder / "part-00009.parquet")]
    assert frame is not None
    assert frame["name"].astype(str).tolist() == ["GET /b", "GET /a"]  # file order
    assert frame["side"].isna().tolist() == [True, False]  # absent in the older chunk, not an error
    assert frame["error"].astype(object).tolist()[0] == "HTTP 503" and pd.isna(frame["error"].iloc[1])
