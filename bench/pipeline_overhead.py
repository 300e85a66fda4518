"""Does the pipeline runner add time of its own? (run by hand, not a test)

Runs N consecutive jobs through the api driver against a fresh local stack and compares the runner's
wall time with the sum of the jobs' own durations (the server's submit-to-finish times). Target
(issue 8): wall / sum <= 1.1 for the 100-job run. `--delay-ms` lengthens every job's alignment stage
(the local stack's `pipeline_delay_ms` fault) to see the ratio at job lengths closer to real PAVI
jobs. Prints one JSON object per delay. Jobs go to 127.0.0.1 only.

Usage: python bench/pipeline_overhead.py [--jobs 100] [--delay-ms 0 1000] [--entries 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import stack  # noqa: E402
from harness.config import Faults, PayloadSpec, PipelineWorkload, Target  # noqa: E402
from harness.runstore import create_run  # noqa: E402
from pipeline_bench.driver_api import ApiDriver  # noqa: E402
from pipeline_bench.runner import run_pipeline  # noqa: E402
from tests.support import free_port  # noqa: E402


def measure(jobs: int, delay_ms: float, entries: int, root: Path) -> dict[str, float | int]:
    name = f"bench-overhead-{delay_ms:g}"
    target = Target(kind="local", port=free_port(), faults=Faults(pipeline_delay_ms=delay_ms))
    state = stack.start_stack(name, target, seed=1)
    try:
        run = create_run(name, None, root=root / "runs")
        workload = PipelineWorkload(jobs=jobs, payloads=[PayloadSpec(entries=entries)])
        run_pipeline(run, ApiDriver(state.api_url), workload, state.api_url, show_progress=False)
    finally:
        stack.stop_stack(name)
    session = json.loads((run.path / "run.json").read_text())["parts"]["pipeline"]["sessions"][0]
    rows = pd.read_parquet(run.path / "pipeline" / "jobs.parquet").sort_values("seq")
    wall = session["ended"] - session["started"]
    total = float(rows["duration_s"].sum())
    between = rows["submitted"].shift(-1) - rows["observed_done"]
    return {
        "jobs": len(rows),
        "delay_ms": delay_ms,
        "wall_s": round(wall, 2),
        "sum_of_jobs_s": round(total, 2),
        "wall_over_sum": round(wall / total, 3),
        "mean_job_s": round(float(rows["duration_s"].mean()), 3),
        "median_seen_late_s": round(float((rows["observed_done"] - rows["finished"]).median()), 3),
        "median_between_jobs_s": round(float(between.median()), 3),
        "successes": int(rows["success"].sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--delay-ms", type=float, nargs="+", default=[0.0, 1000.0])
    parser.add_argument("--entries", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pavi-bench-") as tmp:
        os.environ.setdefault("PAVI_DATA_DIR", str(Path(tmp) / "data"))
        for delay in args.delay_ms:
            print(json.dumps(measure(args.jobs, delay, args.entries, Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
