"""Read a run folder into data frames: the only I/O on the way from raw samples to verdicts.

Chunked Parquet folders are read file by file, so a chunk left half-written by a crash is skipped
(and counted) instead of losing the whole part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from harness.runstore import Run


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
    jobs: pd.DataFrame | None = None
    probes: pd.DataFrame | None = None
    evidence: dict[str, Any] = field(default_factory=dict)  # sources/: frames and json by file stem
    unreadable: list[str] = field(default_factory=list)

    def part(self, name: str) -> dict[str, Any]:
        return dict(self.meta.get("parts", {}).get(name, {}))


def read_parquet_parts(
    path: Path, unreadable: list[str], columns: list[str] | None = None
) -> pd.DataFrame | None:
    """One table from a Parquet file or a folder of chunks; None when nothing is there."""
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.glob("*.parquet") if p.is_file())
    else:
        return None
    tables = []
    for file in files:
        try:
            tables.append(pq.read_table(file, columns=columns))
        except Exception:  # a torn chunk from a crash: skip it, keep the rest, say so
            unreadable.append(str(file))
    if not tables:
        return None
    import pyarrow as pa

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
        data.requests = read_parquet_parts(load_dir / "requests.parquet", data.unreadable)
        data.host = read_parquet_parts(load_dir / "host.parquet", data.unreadable)
        data.target = read_parquet_parts(load_dir / "target.parquet", data.unreadable)
        data.load_events = _json(load_dir / "events.json")
    browser_dir = run.path / "browser"
    if browser_dir.is_dir():
        data.frames = read_parquet_parts(browser_dir / "frames.parquet", data.unreadable)
        data.interactions = read_parquet_parts(browser_dir / "interactions.parquet", data.unreadable)
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
    s3_diff = _json(run.path / "s3" / "s3_diff.json")
    if s3_diff is not None:
        data.evidence["s3_diff.json"] = s3_diff
    probes_file = run.path / "probe" / "probes.parquet"
    if probes_file.exists():
        data.probes = read_parquet_parts(probes_file, data.unreadable)
    jobs_file = run.path / "pipeline" / "jobs.parquet"
    if jobs_file.exists():
        data.jobs = read_parquet_parts(jobs_file, data.unreadable)
    return data
