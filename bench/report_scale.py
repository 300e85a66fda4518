"""Does report generation scale to 1 M and 10 M request rows? (run by hand, not a test)

Usage: python bench/report_scale.py [--rows 1000000 10000000] [--repeats 3 2] [--keep DIR]

For each size a synthetic but real run folder is built under a temporary directory: run.json through
`harness.runstore`, `load/requests.parquet` as ~2 s chunks written with the recorder's own
`ChunkWriter` (REQUEST_SCHEMA; a 500-user run at ~400 requests/s, the five journey request names in
the journey's weights, ~0.5% failures answered 503 with an error text, lognormal latencies),
`load/events.json` and a once-a-second `load/host.parquet`. Then, each in a fresh Python process
(so peak RSS is that process's own `ru_maxrss`), interleaved:

- bare: `pandas.read_parquet` of the requests folder (all columns), the floor any reader pays;
- bare, report's columns: the same with `columns=reports.rundata.REQUEST_COLUMNS`;
- report: `reports.report.write_report(run, scenarios, "phase-2")`, every format, HTML with figures.

Times are wall seconds around the call only (imports are done first; they are a fixed ~1-2 s, not a
function of size). Targets (issue 8): 10 M rows in <= 60 s and <= 4 GB peak, and <= 5x the bare
read. Prints a table and one JSON object; deletes the run folders unless --keep is given.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.runstore import create_run, write_json_atomic  # noqa: E402
from loadtests.rows import REQUEST_SCHEMA, ChunkWriter  # noqa: E402
from loadtests.settings import DEFAULT_NAMES  # noqa: E402

TARGET_SECONDS_10M = 60.0
TARGET_PEAK_MB_10M = 4096.0
TARGET_RATIO = 5.0

USERS = 500
SPAWN_RATE = 50.0
SETTLE_S = 10.0
RATE_RPS = 400.0  # the 500-user journey on the local stack (docs/PERFORMANCE.md: 385 requests/s)
CHUNK_S = 2.0  # the recorder's flush interval
ERROR_SHARE = 0.005
# the journey's weights per task (submit 1, poll 4, read_results 10 = two requests, health 2)
SHARES = {"submit": 1, "poll": 4, "alignment": 10, "seq_info": 10, "health": 2}
MEDIAN_MS = {"submit": 45.0, "poll": 12.0, "alignment": 18.0, "seq_info": 16.0, "health": 6.0}
BYTES = {"submit": 95, "poll": 420, "alignment": 5200, "seq_info": 3100, "health": 16}
ERROR_TEXT = "HTTPError('503 Server Error: Service Unavailable for url: {path}')"


def _row_chunks(rows: int, seed: int, start: float):
    """Chunks of rows as the recorder holds them, in REQUEST_SCHEMA's order (error as text)."""
    rng = np.random.default_rng(seed)
    keys = list(SHARES)
    weights = np.array([SHARES[k] for k in keys], dtype=float)
    weights /= weights.sum()
    names = np.array([DEFAULT_NAMES[k] for k in keys], dtype=object)
    methods = np.array(["POST" if k == "submit" else "GET" for k in keys], dtype=object)
    ok_status = np.array([201 if k == "submit" else 200 for k in keys])
    medians = np.log(np.array([MEDIAN_MS[k] for k in keys]))
    sizes = np.array([BYTES[k] for k in keys])
    errors = np.array([ERROR_TEXT.format(path=name.split(" ", 1)[1]) for name in names], dtype=object)
    users = np.array([f"w0-{n}" for n in range(1, USERS + 1)], dtype=object)
    written, t = 0, start
    while written < rows:
        ramp = min(1.0, (t - start + CHUNK_S) * SPAWN_RATE / USERS)  # users still starting: fewer requests
        n = min(rows - written, max(1, int(rng.poisson(RATE_RPS * CHUNK_S * ramp))))
        kind = rng.choice(len(keys), size=n, p=weights)
        failed = rng.random(n) < ERROR_SHARE
        starts = np.sort(t + rng.random(n) * CHUNK_S)
        latency = rng.lognormal(medians[kind], 0.8)
        status = np.where(failed, 503, ok_status[kind])
        size = np.where(failed, 40, sizes[kind])
        error = np.where(failed, errors[kind], None)
        user = users[rng.integers(0, USERS, n)]
        columns = {
            "start": starts.tolist(), "name": names[kind].tolist(), "method": methods[kind].tolist(),
            "status": status.tolist(), "latency_ms": latency.tolist(), "bytes": size.tolist(),
            "error": error.tolist(), "user": user.tolist(),
        }  # fmt: skip
        # in the schema's order; a column added later (e.g. a canary's `side`) is left empty
        yield list(zip(*(columns.get(field, [""] * n) for field in REQUEST_SCHEMA.names), strict=True))
        written += n
        t += CHUNK_S


def build_run(root: Path, rows: int, seed: int = 1) -> tuple[Path, dict[str, float]]:
    """A complete load run of `rows` requests under root; returns its folder and how it was built."""
    began = time.perf_counter()
    run = create_run("bench-report-scale", None, root=root)
    load_dir = run.part_dir("load")
    start = time.time() - rows / RATE_RPS - 60
    writer = ChunkWriter(load_dir / "requests.parquet")
    failures = 0
    error_at = REQUEST_SCHEMA.names.index("error")
    last = start
    for chunk in _row_chunks(rows, seed, start):
        writer.write(chunk)
        failures += sum(1 for row in chunk if row[error_at] is not None)
        last = chunk[-1][0]
    writer.close()
    stop = last + 0.5
    spawned = start + USERS / SPAWN_RATE
    write_json_atomic(
        load_dir / "events.json",
        {
            "test_start": start, "spawning_complete": spawned, "test_stop": stop, "users": USERS,
            "spawned_users": USERS, "spawn_rate": SPAWN_RATE, "workers": 0, "host": "http://127.0.0.1:8765",
            "locust_version": "synthetic", "requests": writer.rows, "failures": failures,
            "rows": writer.rows, "final": True,
        },
    )  # fmt: skip
    _write_host(load_dir / "host.parquet", start, stop, seed)
    run.record_part(
        "load", status="finished", settle_s=SETTLE_S, users=USERS, spawn_rate=SPAWN_RATE,
        duration_s=stop - start, workers=0, started=start, ended=stop, exit_code=0, synthetic=True,
    )  # fmt: skip
    run.finish()
    size = sum(f.stat().st_size for f in (load_dir / "requests.parquet").iterdir())
    return run.path, {
        "build_s": time.perf_counter() - began,
        "chunks": writer.chunks,
        "parquet_mb": size / 1e6,
        "run_seconds": stop - start,
    }


def _write_host(path: Path, start: float, stop: float, seed: int) -> None:
    """Once-a-second CPU samples of the host and one Locust process, as loadtests.sampling writes them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from loadtests.sampling import HOST_SCHEMA

    rng = np.random.default_rng(seed + 1)
    times = np.arange(start, stop, 1.0)
    n = len(times)
    table = pa.table(
        {
            "time": np.concatenate([times, times]),
            "process": ["host"] * n + ["locust"] * n,
            "cpu": np.concatenate([rng.uniform(0.5, 0.9, n), rng.uniform(0.2, 0.4, n)]),
            "cpu_unniced": np.concatenate([rng.uniform(0.3, 0.6, n), np.full(n, np.nan)]),
        },
        schema=HOST_SCHEMA,
    )
    pq.write_table(table, path)


# ---------------------------------------------------------------- children (one per measurement)

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
kind, run = sys.argv[1], sys.argv[2]
if kind in ("bare", "columns"):
    import pandas as pd
    import pyarrow.parquet
    from reports.rundata import REQUEST_COLUMNS
    columns = list(REQUEST_COLUMNS) if kind == "columns" else None
    began = time.perf_counter()
    frame = pd.read_parquet(run + "/load/requests.parquet", columns=columns)
    facts = {{"rows": len(frame)}}
else:
    from harness.config import load_scenarios
    from reports.report import write_report
    import reports.plots, reports.render_html
    scenarios = load_scenarios(__import__("pathlib").Path({root!r}) / "scenarios.yaml")
    began = time.perf_counter()
    written = write_report(run, scenarios, "phase-2")
    facts = {{"overall": str(written.report.overall), "figures": len(written.report.figures),
              "verdicts": {{r.name: str(r.verdict) for r in written.report.results}}}}
seconds = time.perf_counter() - began
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "peak_mb": peak_mb, **facts}}))
"""


def measure(kind: str, run: Path) -> dict:
    code = CHILD.format(root=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code, kind, str(run)], capture_output=True, text=True, cwd=ROOT, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(rows: int, repeats: int, root: Path, keep: bool) -> dict:
    path, built = build_run(root, rows)
    print(
        f"built {rows:,} rows: {built['chunks']:,} chunks, {built['parquet_mb']:.0f} MB, "
        f"{built['run_seconds'] / 3600:.1f} h of run, in {built['build_s']:.0f} s",
        file=sys.stderr,
    )
    bare, columns, report = [], [], []
    for repeat in range(repeats):  # interleaved, so a noisy neighbour hits all alike
        bare.append(measure("bare", path))
        columns.append(measure("columns", path))
        report.append(measure("report", path))
        print(
            f"  repeat {repeat + 1}: bare {bare[-1]['seconds']:.2f} s, report's columns"
            f" {columns[-1]['seconds']:.2f} s, report {report[-1]['seconds']:.2f} s,"
            f" report peak {report[-1]['peak_mb']:.0f} MB",
            file=sys.stderr,
        )
    if not keep:
        shutil.rmtree(path)
    bare_s = statistics.median(m["seconds"] for m in bare)
    report_s = statistics.median(m["seconds"] for m in report)
    return {
        "rows": rows,
        **built,
        "repeats": repeats,
        "bare_s": [round(m["seconds"], 3) for m in bare],
        "columns_s": [round(m["seconds"], 3) for m in columns],
        "report_s": [round(m["seconds"], 3) for m in report],
        "bare_median_s": bare_s,
        "columns_median_s": statistics.median(m["seconds"] for m in columns),
        "report_median_s": report_s,
        "ratio": report_s / bare_s,
        "bare_peak_mb": max(m["peak_mb"] for m in bare),
        "report_peak_mb": max(m["peak_mb"] for m in report),
        "verdicts": report[-1]["verdicts"],
        "figures": report[-1]["figures"],
    }


def _table(results: list[dict]) -> str:
    lines = [
        "| rows | chunks | bare read | bare read, report's columns | report | report / bare | report peak RSS"
        " | bare peak RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['chunks']:,} | {r['bare_median_s']:.2f} s | {r['columns_median_s']:.2f} s"
            f" | {r['report_median_s']:.2f} s | {r['ratio']:.2f} | {r['report_peak_mb']:,.0f} MB"
            f" | {r['bare_peak_mb']:,.0f} MB |"
        )
    return "\n".join(lines)


def _verdict(results: list[dict]) -> list[str]:
    out = []
    for r in results:
        ratio_ok = r["ratio"] <= TARGET_RATIO
        out.append(f"{r['rows']:,} rows: report / bare {r['ratio']:.2f} <= {TARGET_RATIO:g}: "
                   f"{'met' if ratio_ok else 'MISSED'}")  # fmt: skip
        if r["rows"] >= 10_000_000:
            time_ok = r["report_median_s"] <= TARGET_SECONDS_10M
            peak_ok = r["report_peak_mb"] <= TARGET_PEAK_MB_10M
            out.append(f"{r['rows']:,} rows: report {r['report_median_s']:.1f} s <= "
                       f"{TARGET_SECONDS_10M:g} s: {'met' if time_ok else 'MISSED'}; peak "
                       f"{r['report_peak_mb']:,.0f} MB <= {TARGET_PEAK_MB_10M:,.0f} MB: "
                       f"{'met' if peak_ok else 'MISSED'}")  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--repeats", type=int, nargs="+", default=[3, 2], help="per size (the last one repeats for the rest)"
    )
    parser.add_argument("--keep", type=Path, help="build the runs here and keep them (default: a temp dir)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="report-scale-") as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        for index, rows in enumerate(args.rows):
            repeats = args.repeats[min(index, len(args.repeats) - 1)]
            results.append(bench(rows, repeats, root, keep=args.keep is not None))
    print(_table(results))
    for line in _verdict(results):
        print(line)
    print(
        json.dumps(
            {"cpu_count": os.cpu_count(), "load_average_before": load_before,
             "load_average_after": os.getloadavg(), "results": results},
            indent=2,
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
