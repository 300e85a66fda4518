"""Is the load generator measuring the target or itself? (run by hand, not a test)

Runs the default 500-user journey against a fresh local stack and compares, over the steady window,
the client's p95 (every request the harness recorded) with the server's own p95 (the local stack's
`/_pavi/server-timing`, from request arrival to last byte), and reports the Locust process's CPU.
Targets (issue 3): client p95 within 10% + 5 ms of the server's; the 500-user scenario at most 15%
of a core. Prints one JSON object. Load goes to 127.0.0.1 only.

Usage: python bench/load_fidelity.py [--users 500] [--seconds 120]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import stack  # noqa: E402
from harness.config import LoadWorkload, Target  # noqa: E402
from harness.runstore import create_run  # noqa: E402
from loadtests.runner import run_load  # noqa: E402
from reports.metrics import load_window  # noqa: E402
from reports.rundata import load_run_data  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="pavi-fidelity-"))
    os.environ.setdefault("PAVI_DATA_DIR", str(ROOT / ".pavi"))
    target = Target(kind="local", port=_free_port())
    workload = LoadWorkload(users=args.users, duration=f"{args.seconds:g}s")
    state = stack.start_stack("bench-fidelity", target)
    try:
        run = create_run("bench", None, root=scratch)
        run.record_part("load", settle_s=workload.settle)
        run_load(run, state.api_url, workload, show_progress=False)
        run.finish()
        timings = httpx.get(f"{state.url}/_pavi/server-timing", timeout=60).json()
    finally:
        stack.stop_stack("bench-fidelity")

    data = load_run_data(run)
    window = load_window(data, "steady")
    assert not isinstance(window, str), window
    requests = data.requests
    client = requests[(requests["start"] >= window.start) & (requests["start"] <= window.end)]
    server = pd.DataFrame(timings)
    server = server[(server["start"] >= window.start) & (server["start"] <= window.end)]
    host = data.host
    locust = host[host["process"].str.startswith("locust") & (host["time"] >= window.start)]
    machine = host[(host["process"] == "host") & (host["time"] >= window.start)]
    client_p95 = float(np.quantile(client["latency_ms"], 0.95, method="inverted_cdf"))
    server_p95 = float(np.quantile(server["ms"], 0.95, method="inverted_cdf"))
    result = {
        "users": args.users,
        "steady_window_s": round(window.seconds, 1),
        "client_requests": len(client),
        "server_requests": len(server),
        "requests_per_s": round(len(client) / window.seconds, 1),
        "client_p50_ms": round(float(np.quantile(client["latency_ms"], 0.5, method="inverted_cdf")), 2),
        "server_p50_ms": round(float(np.quantile(server["ms"], 0.5, method="inverted_cdf")), 2),
        "client_p95_ms": round(client_p95, 2),
        "server_p95_ms": round(server_p95, 2),
        "p95_gap_ms": round(client_p95 - server_p95, 2),
        "p95_allowed_gap_ms": round(0.10 * server_p95 + 5, 2),
        "locust_cpu_mean": round(float(locust["cpu"].mean()), 3),
        "locust_cpu_max": round(float(locust["cpu"].max()), 3),
        "cpu_ms_per_request": round(float(locust["cpu"].mean()) * 1000 / (len(client) / window.seconds), 3),
        "host_busy_mean": round(float(machine["cpu"].mean()), 3),
        "host_unniced_busy_mean": round(float(machine["cpu_unniced"].mean()), 3),
        "load_average_start": run.meta["host"]["load_average"],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
