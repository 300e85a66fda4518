"""The request table's schema and its chunked Parquet writer (no Locust import, so tests can use it).

`load/requests.parquet` is a folder of chunks `part-00001.parquet`, ... that `pandas.read_parquet`
reads as one table. Each chunk is written under a dot-name and renamed, and readers skip dot-names,
so a crash leaves only whole chunks and loses at most the rows not flushed yet.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

REQUEST_SCHEMA = pa.schema(
    [
        ("start", pa.float64()),  # epoch seconds when the request started (Locust's start_time)
        ("name", pa.string()),  # grouped name, e.g. "GET /api/pipeline-job/[uuid]"
        ("method", pa.string()),
        ("status", pa.int32()),  # 0 when no answer arrived
        ("latency_ms", pa.float64()),  # Locust's response_time
        ("bytes", pa.int64()),
        ("error", pa.string()),  # null when the request succeeded
        ("user", pa.string()),  # "w<process>-<n>": w0 is a single process, w1.. are workers
        ("side", pa.string()),  # "blue" / "green" in a canary run, "" otherwise
    ]
)

# One row as held in memory and sent from workers to the master, in REQUEST_SCHEMA's order; the
# error is still an exception object on the hot path and becomes text when rows leave it.
Row = tuple[float, str, str, int, float, int, Any, str, str]


def portable(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Rows with errors as text: what msgpack can carry from a worker to the master."""
    return [[*row[:6], None if row[6] is None else str(row[6]), *row[7:]] for row in rows]


def to_table(rows: Sequence[Sequence[Any]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(REQUEST_SCHEMA)
    data = {field.name: list(column) for field, column in zip(REQUEST_SCHEMA, columns, strict=True)}
    data["error"] = [None if error is None else str(error) for error in data["error"]]
    data["status"] = [int(status or 0) for status in data["status"]]
    data["bytes"] = [int(size or 0) for size in data["bytes"]]
    data["user"] = [user or "" for user in data["user"]]
    data["side"] = [side or "" for side in data["side"]]
    return pa.Table.from_pydict(data, schema=REQUEST_SCHEMA)


class ChunkWriter:
    """Appends chunks to a Parquet folder; `rows` counts what is on disk."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.chunks = 0
        self.rows = 0
        # pyarrow imports pandas on its first array (~0.4 s of CPU): pay that now, before the test
        # starts, not inside the measured window where it would look like generator load.
        to_table([])

    def write(self, rows: Sequence[Sequence[Any]], *, allow_empty: bool = False) -> None:
        if not rows and not allow_empty:
            return
        self.chunks += 1
        final = self.folder / f"part-{self.chunks:05d}.parquet"
        tmp = self.folder / f".{final.name}.tmp"
        pq.write_table(to_table(rows), tmp)
        os.replace(tmp, final)
        self.rows += len(rows)

    def close(self) -> None:
        """An empty chunk when nothing was written, so the folder still reads as a 0-row table."""
        if self.chunks == 0:
            self.write([], allow_empty=True)
