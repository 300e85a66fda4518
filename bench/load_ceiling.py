"""How fast can the load generator go? Locust (one process, FastHttpUser, no wait) vs wrk on
`GET /api/health` of a local stack, 10 s each, with Locust's CPU per request (run by hand, not a test).

Usage: python bench/load_ceiling.py [--url http://127.0.0.1:PORT] [--seconds 10] [--users 50]

Without --url a temporary local stack is started on a free loopback port and stopped afterwards.
Three generators, one after the other: `wrk` (C, the target's ceiling), a bare FastHttpUser (Locust's
own ceiling) and the harness's PaviUser limited to its health step with the recorder on (what the
harness really costs per request). CPU per request is measured over the middle of each run (after
start-up, before shutdown) from the process's CPU time and Locust's per-second history CSV.
Prints one JSON object. Load goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtests.runner import LOCUSTFILE  # noqa: E402
from loadtests.settings import ENV_VAR, LoadSettings  # noqa: E402

WRK = "/usr/bin/wrk"
BARE_LOCUSTFILE = """
from locust import FastHttpUser, constant, task

class Health(FastHttpUser):
    wait_time = constant(0)

    @task
    def health(self):
        self.client.get("/api/health")
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _stack(url: str | None) -> Iterator[tuple[str, int | None]]:
    """The given loopback URL, or a temporary local stack (its pid is returned to measure its CPU)."""
    if url:
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
            raise SystemExit("load_ceiling only loads 127.0.0.1")
        yield url.rstrip("/"), None
        return
    from harness import stack
    from harness.config import Target

    with tempfile.TemporaryDirectory() as data:
        os.environ["PAVI_DATA_DIR"] = data
        state = stack.start_stack("load-ceiling", Target(kind="local", port=_free_port()))
        try:
            yield state.url, state.pid
        finally:
            stack.stop_stack("load-ceiling")


def _cpu(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return float("nan")
    return times.user + times.system


def run_wrk(url: str, seconds: int, connections: int, stack_pid: int | None) -> dict:
    stack_before = _cpu(stack_pid)
    before = os.times()
    out = subprocess.run(
        [WRK, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", f"{url}/api/health"],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.MULTILINE))
    return {
        "connections": connections,
        "requests": requests,
        "rps": round(rps, 1),
        "latency_p50": latency.get("50"),
        "latency_p99": latency.get("99"),
        "cpu_share": round(cpu / seconds, 3),
        "cpu_ms_per_request": round(cpu / requests * 1000, 4),
        "stack_cpu_share": _share(_cpu(stack_pid) - stack_before, seconds),
    }


def run_locust(
    url: str, seconds: int, users: int, locustfile: Path, env: dict, workdir: Path, stack_pid: int | None
) -> dict:
    """One headless Locust process; CPU per request over the middle of the run."""
    prefix = workdir / "locust"
    command = [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(users),
        "-r", str(users), "-t", f"{seconds}s", "--host", url, "--csv", str(prefix),
        "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "2",
    ]  # fmt: skip
    log = workdir / f"{locustfile.stem}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=sink)
    samples: list[tuple[float, float, float]] = []  # (time, locust cpu s, stack cpu s)
    deadline = time.monotonic() + seconds + 60
    while process.poll() is None and time.monotonic() < deadline:
        samples.append((time.time(), _cpu(process.pid), _cpu(stack_pid)))
        time.sleep(0.25)
    if process.poll() is None:
        process.kill()
    process.wait()
    history = _history(Path(f"{prefix}_stats_history.csv"))
    # the middle of the run: from 2 s after the first request to 1 s before the last history row
    begin, end = history[0][0] + 2, history[-1][0] - 1
    window = [s for s in samples if begin <= s[0] <= end]
    counted = [h for h in history if begin <= h[0] <= end]
    if len(window) < 2 or len(counted) < 2:
        return {"error": "run too short to measure", "log": log.read_text(errors="replace")[-500:]}
    requests = counted[-1][1] - counted[0][1]
    span = counted[-1][0] - counted[0][0]
    cpu = _rate(window, 1, counted[0][0], counted[-1][0])
    stack_cpu = _rate(window, 2, counted[0][0], counted[-1][0])
    return {
        "users": users,
        "requests": int(history[-1][1]),
        "rps": round(requests / span, 1),
        "cpu_share": round(cpu, 3),
        "cpu_ms_per_request": round(cpu * span / requests * 1000, 4) if requests else None,
        "stack_cpu_share": _share(stack_cpu, 1.0),
    }


def _share(cpu_s: float, seconds: float) -> float | None:
    """CPU seconds per second, None (not NaN, which is not JSON) when unmeasured."""
    share = cpu_s / seconds
    return None if share != share else round(share, 3)


def _history(path: Path) -> list[tuple[float, float]]:
    """(timestamp, cumulative requests) from Locust's Aggregated rows, one per second."""
    with path.open() as file:
        rows = [row for row in csv.DictReader(file) if row["Name"] == "Aggregated"]
    points = [(float(row["Timestamp"]), float(row["Total Request Count"])) for row in rows]
    return [p for p in points if p[1] > 0]


def _rate(samples: list[tuple[float, float, float]], column: int, begin: float, end: float) -> float:
    """CPU seconds per second between the samples nearest to begin and end."""
    first = min(samples, key=lambda s: abs(s[0] - begin))
    last = min(samples, key=lambda s: abs(s[0] - end))
    return (last[column] - first[column]) / max(last[0] - first[0], 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running stack on 127.0.0.1 (default: start a temporary one)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--users", type=int, default=50, help="Locust users and wrk connections")
    args = parser.parse_args()
    if not shutil.which(WRK):
        raise SystemExit(f"{WRK} is not installed (Debian: apt-get install wrk)")

    with _stack(args.url) as (url, stack_pid), tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bare = workdir / "bare_locustfile.py"
        bare.write_text(BARE_LOCUSTFILE)
        plain_env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
        journey = LoadSettings(
            weights={"health": 1}, think_time=(0.0, 0.0), seed_jobs=0, run_dir=str(workdir / "run")
        )
        journey_env = {**plain_env, **journey.to_env()}
        result = {
            "target": url,
            "seconds": args.seconds,
            "cpu_count": os.cpu_count(),
            "wrk": run_wrk(url, args.seconds, args.users, stack_pid),
            "locust_bare": run_locust(url, args.seconds, args.users, bare, plain_env, workdir, stack_pid),
            "locust_journey_health": run_locust(
                url, args.seconds, args.users, LOCUSTFILE, journey_env, workdir, stack_pid
            ),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
