"""How long the default browser bench takes, how much its frame rate varies, and how it reacts to CPU
throttling (run by hand, not a test; prints JSON).

Usage: python bench/browser_spread.py [--sequences 500] [--repeats 5] [--throttle-sequences 100]
       [--throttle-repeats 3] [--time 3] [--url http://127.0.0.1:8765] [--runs-dir DIR]

Without --url it starts a local stack (data in PAVI_DATA_DIR, so the 500-sequence alignment is cached
for the next time). Spread is across repeats of the same page: if it is wide, the gate needs more
repeats than the default 5 to give a tight interval.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pandas as pd

from browser_bench.jobs import ensure_alignment_job
from browser_bench.runner import BrowserOutcome, run_browser
from harness import stack
from harness.config import BrowserWorkload, Target
from harness.runstore import create_run

JOB_TIMEOUT_S = 900.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fps_by_interaction(outcome: BrowserOutcome) -> dict[str, dict[str, Any]]:
    """Mean FPS per repeat (frames / duration, from the Parquet) and its spread, per interaction."""
    rows = pd.read_parquet(outcome.interactions)
    rows = rows[rows.rendered & rows.error.isna() & (rows.duration_ms > 0)]
    spread: dict[str, dict[str, Any]] = {}
    for name, group in rows.groupby("interaction", sort=False):
        fps = (group.frames / (group.duration_ms / 1000)).round(2).tolist()
        mean = statistics.fmean(fps)
        stdev = statistics.stdev(fps) if len(fps) > 1 else 0.0
        spread[str(name)] = {
            "fps_per_repeat": fps,
            "mean": round(mean, 2),
            "stdev": round(stdev, 2),
            "cv": round(stdev / mean, 3) if mean else None,
            "min": min(fps),
            "max": max(fps),
            "redraws_per_s": round(float((group.redraws / (group.duration_ms / 1000)).mean()), 2),
            "duration_ms_mean": round(float(group.duration_ms.mean()), 1),
        }
    return spread


def measure(
    root: Path, url: str, uuid: str, sequences: int, repeats: int, time_s: float, throttle: float
) -> dict[str, Any]:
    run = create_run("bench", None, root=root)
    began = time.monotonic()
    outcome = run_browser(
        run,
        url,
        uuid,
        BrowserWorkload(sequences=sequences, repeats=repeats),
        interaction_time_s=time_s,
        cpu_throttle=throttle,
        show_progress=sys.stderr.isatty(),
    )
    return {
        "run": str(run.path),
        "sequences": sequences,
        "repeats": repeats,
        "interaction_time_s": time_s,
        "cpu_throttle": throttle,
        "wall_s": round(time.monotonic() - began, 1),
        "rendered_repeats": outcome.rendered_repeats,
        "page_errors": outcome.page_error_count,
        "browser": outcome.browser_version,
        "fps": fps_by_interaction(outcome),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--throttle-sequences", type=int, default=100)
    parser.add_argument("--throttle-repeats", type=int, default=3)
    parser.add_argument("--throttles", type=float, nargs="*", default=[1.0, 2.0, 4.0])
    parser.add_argument("--time", type=float, default=3.0, help="seconds per interaction")
    parser.add_argument("--url", help="a running PAVI (API and web UI on one base URL)")
    parser.add_argument("--runs-dir", type=Path, help="where the bench's runs go (default: a temp dir)")
    args = parser.parse_args()

    root = args.runs_dir or Path(tempfile.mkdtemp(prefix="browser-spread-"))
    report: dict[str, Any] = {"runs_dir": str(root)}
    with ExitStack() as stack_scope:
        url = args.url
        if url is None:
            target = Target(kind="local", port=_free_port())
            url = stack_scope.enter_context(stack.local_stack("browser-spread", target)).url
        began = time.monotonic()
        big = ensure_alignment_job(url, args.sequences, JOB_TIMEOUT_S)
        report["job_s"] = {str(args.sequences): round(time.monotonic() - began, 1)}
        report["default"] = measure(root, url, big, args.sequences, args.repeats, args.time, 1.0)
        began = time.monotonic()
        small = ensure_alignment_job(url, args.throttle_sequences, JOB_TIMEOUT_S)
        report["job_s"][str(args.throttle_sequences)] = round(time.monotonic() - began, 1)
        report["throttle"] = [
            measure(root, url, small, args.throttle_sequences, args.throttle_repeats, args.time, rate)
            for rate in args.throttles
        ]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
