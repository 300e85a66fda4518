"""Probe data -> rows, the browser part's Parquet schemas, and convenience numbers for summary.json.

The rows are the raw material the judge recomputes everything from; the convenience numbers exist
only so a person can read summary.json without pandas. Nothing here compares with a threshold.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FRAMES_SCHEMA = pa.schema(
    [
        ("repeat", pa.int32()),
        ("interaction", pa.string()),
        ("t_ms", pa.float64()),  # end of this frame interval, ms after the interaction's first frame
        ("frame_ms", pa.float64()),  # interval since the previous animation frame
        ("redraw", pa.bool_()),  # at least one drawCompleted fell in (previous frame, this frame]
        ("draws", pa.int32()),  # how many drawCompleted fell in it
    ]
)

INTERACTIONS_SCHEMA = pa.schema(
    [
        ("repeat", pa.int32()),
        ("interaction", pa.string()),
        ("duration_ms", pa.float64()),  # first to last animation frame of the interaction (page clock)
        ("frames", pa.int32()),  # frame intervals, i.e. rows in frames.parquet
        ("redraws", pa.int32()),  # drawCompleted events in the interaction
        ("task_duration_ms", pa.float64()),  # CDP Performance TaskDuration delta
        ("metrics_window_ms", pa.float64()),  # CDP Performance Timestamp delta over the same window
        ("rendered", pa.bool_()),  # the page reached 'rendered' in this repeat
        ("render_ms", pa.float64()),  # navigation start until rendered (wall clock), per repeat
        # console errors + uncaught exceptions since the previous row (the first interaction of a repeat
        # also holds the load's), less those ignore_console matches; page_errors.json has the texts
        ("page_errors", pa.int32()),
        ("page_errors_ignored", pa.int32()),  # the ones ignore_console matched
        ("long_frames", pa.int32()),  # Long Animation Frames entries (null where unsupported)
        ("steps", pa.int32()),  # gestures / wheel notches / scheme changes performed
        ("error", pa.string()),  # why this row has no (trustworthy) frames; null when none
    ]
)


def frame_rows(repeat: int, interaction: str, probe: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per animation frame after the anchor frame t0; draws are assigned to the interval
    that ends at the first frame after them (the frame their cost delayed)."""
    frames: Sequence[float] = probe["frames"]
    if len(frames) < 2:
        return []
    t0 = frames[0]
    ends = np.asarray(frames, dtype=float)
    counts = np.zeros(len(ends), dtype=int)
    draws = np.asarray(probe.get("draws", []), dtype=float)
    if draws.size:
        # index i such that ends[i-1] < draw <= ends[i]
        slots = np.searchsorted(ends, draws, side="left")
        slots = slots[(slots >= 1) & (slots < len(ends))]
        np.add.at(counts, slots, 1)
    return [
        {
            "repeat": repeat,
            "interaction": interaction,
            "t_ms": float(ends[i] - t0),
            "frame_ms": float(ends[i] - ends[i - 1]),
            "redraw": bool(counts[i] > 0),
            "draws": int(counts[i]),
        }
        for i in range(1, len(ends))
    ]


def write_table(path: Path, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    """Rewrite the whole file through a temporary name, so a crash leaves the last complete version."""
    table = pa.Table.from_pylist(rows, schema=schema)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _percentile(values: np.ndarray, q: float) -> float | None:
    """Nearest-rank percentile (an observed frame), as the judge computes them."""
    if values.size == 0:
        return None
    return float(np.quantile(values, q, method="inverted_cdf"))


def convenience(frames: list[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any]:
    """Readable numbers for one repeat x interaction; the judge recomputes its own from the Parquet."""
    intervals = np.asarray([f["frame_ms"] for f in frames], dtype=float)
    duration_s = (row.get("duration_ms") or 0.0) / 1000
    window_ms = row.get("metrics_window_ms")
    task_ms = row.get("task_duration_ms")

    def rounded(value: float | None, digits: int = 2) -> float | None:
        return None if value is None or math.isnan(value) else round(value, digits)

    return {
        "repeat": row["repeat"],
        "interaction": row["interaction"],
        "rendered": row["rendered"],
        "error": row.get("error"),
        "frames": len(frames),
        "duration_ms": rounded(row.get("duration_ms"), 1),
        "fps_mean": rounded(len(frames) / duration_s) if duration_s > 0 else None,
        "redraws_per_s": rounded(row["redraws"] / duration_s) if duration_s > 0 else None,
        "frame_ms_p50": rounded(_percentile(intervals, 0.50)),
        "frame_ms_p95": rounded(_percentile(intervals, 0.95)),
        "frame_ms_p99": rounded(_percentile(intervals, 0.99)),
        "frame_ms_max": rounded(float(intervals.max())) if intervals.size else None,
        "frames_over_25ms": int((intervals > 25.0).sum()),
        "frames_over_33_4ms": int((intervals > 33.4).sum()),
        "busy_share": rounded(task_ms / window_ms, 3) if task_ms is not None and window_ms else None,
        "long_frames": row.get("long_frames"),
        "steps": row.get("steps"),
    }
