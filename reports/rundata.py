"""Read a run folder into data frames: the only I/O on the way from raw samples to verdicts.

Chunked Parquet folders are read file by file, so a chunk left half-written by a crash is skipped
(and counted) instead of losing the whole part. Files are read on a few threads (pyarrow releases the
GIL), since a 10 M-row load run is ~12,500 two-second chunks and the cost is per file.

The request table is read with the columns the report uses only (`REQUEST_COLUMNS`), its strings
(`REQUEST_CATEGORIES`: a handful of names, sides and error texts over millions of rows) as pandas
categories: about one byte a row instead of a string, and filters and group-bys work on codes.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.runstore import Run

# What metrics, plots and tables read from load/requests.parquet; add a column here before using it.
REQUEST_COLUMNS = ("start", "name", "status", "latency_ms", "error", "side")
REQUEST_CATEGORIES = ("name", "error", "side")


@dataclass
class RunData:
    meta: dict[str, Any]
    path: Path
    requests: pd.DataFrame | None = None
    host: pd.DataFrame | None = None
    target: pd.DataFrame | None = None
    load_events: dict[str, Any] | None = None
    frames: pd.DataFrame | None = None
    interactions: pd.DataFrame | None = None
    page_errors: Any = None  # browser/page_errors.json: a dict (groups, per repeat); a list before
    jobs: pd.DataFrame | None = None
    probes: pd.DataFrame | None = None
    evidence: dict[str, Any] = field(default_factory=dict)  # sources/: frames and json by file stem
    unreadable: list[str] = field(default_factory=list)

    def part(self, name: str) -> dict[str, Any]:
        return dict(self.meta.get("parts", {}).get(name, {}))


def _open(file: Path, categories: tuple[str, ...]) -> pq.ParquetFile:
    try:  # one open per file: at ~12,500 chunks the footers are a good part of the cost
        return pq.ParquetFile(file, read_dictionary=list(categories) or None)
    except KeyError:  # an older chunk without one of these columns: encode those it has
        with pq.ParquetFile(file) as plain:
            names, metadata = plain.schema_arrow.names, plain.metadata
        having = [c for c in categories if c in names]
        return pq.ParquetFile(file, metadata=metadata, read_dictionary=having or None)


def _read_file(
    file: Path, columns: tuple[str, ...] | None, categories: tuple[str, ...]
) -> pa.Table | Exception:
    """One file's table (the columns it has of those asked for), or the error that kept it unread."""
    try:
        with _open(file, categories) as parquet:
            names = parquet.schema_arrow.names
            wanted = [c for c in columns if c in names] if columns is not None else None
            return parquet.read(columns=wanted, use_threads=False)
    except Exception as error:  # a torn chunk from a crash
        return error


def read_parquet_parts(
    path: Path,
    unreadable: list[str],
    columns: tuple[str, ...] | None = None,
    categories: tuple[str, ...] = (),
) -> pd.DataFrame | None:
    """One table from a Parquet file or a folder of chunks; None when nothing is there.

    `columns`: only these (those a file lacks are left out, not an error); `categories`: string
    columns to read dictionary-encoded, which become pandas categories.
    """
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.glob("*.parquet") if p.is_file())
    else:
        return None
    if len(files) > 1:
        with ThreadPoolExecutor(min(8, 2 * (os.cpu_count() or 1))) as pool:
            read = list(pool.map(lambda file: _read_file(file, columns, categories), files))
    else:
        read = [_read_file(file, columns, categories) for file in files]
    tables = []
    for file, table in zip(files, read, strict=True):
        if isinstance(table, Exception):  # skip it, keep the rest, say so
            unreadable.append(str(file))
        else:
            tables.append(table)
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="default").to_pandas()


def _json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def load_run_data(run: Run) -> RunData:
    data = RunData(meta=run.meta, path=run.path)
    load_dir = run.path / "load"
    if load_dir.is_dir():
        data.requests = read_parquet_parts(
            load_dir / "requests.parquet", data.unreadable, REQUEST_COLUMNS, REQUEST_CATEGORIES
        )
        if data.requests is not None and "side" not in data.requests:
            data.requests["side"] = ""  # runs recorded before canary runs existed
        data.host = read_parquet_parts(load_dir / "host.parquet", data.unreadable)
        data.target = read_parquet_parts(load_dir / "target.parquet", data.unreadable)
        data.load_events = _json(load_dir / "events.json")
    browser_dir = run.path / "browser"
    if browser_dir.is_dir():
        data.frames = read_parquet_parts(browser_dir / "frames.parquet", data.unreadable)
        data.interactions = read_parquet_parts(browser_dir / "interactions.parquet", data.unreadable)
        data.page_errors = _json(browser_dir / "page_errors.json")
    sources_dir = run.path / "sources"
    if sources_dir.is_dir():
        for name in ("cost", "cloudwatch", "e2e"):
            frame = read_parquet_parts(sources_dir / f"{name}.parquet", data.unreadable)
            if frame is not None:
                data.evidence[name] = frame
        for name in ("cost", "cloudwatch", "e2e", "smoke"):
            facts = _json(sources_dir / f"{name}.json")
            if facts is not None:
                data.evidence[f"{name}.json"] = facts
    consistency = _json(run.path / "canary" / "consistency.json")
    if consistency is not None:
        data.evidence["consistency.json"] = consistency
    s3_diff = _json(run.path / "s3" / "s3_diff.json")
    if s3_diff is not None:
        data.evidence["s3_diff.json"] = s3_diff
    route53 = _json(run.path / "canary" / "route53.json")  # canary watch: Route 53 weights
    if route53 is not None:
        data.evidence["route53.json"] = route53
    probes_file = run.path / "probe" / "probes.parquet"
    if probes_file.exists():
        data.probes = read_parquet_parts(probes_file, data.unreadable)
    jobs_file = run.path / "pipeline" / "jobs.parquet"
    if jobs_file.exists():
        data.jobs = read_parquet_parts(jobs_file, data.unreadable)
    return data
