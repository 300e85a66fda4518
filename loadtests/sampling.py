"""Once-a-second samples taken by the runner beside Locust: CPU of the generator and the host, and
the target's job counts. They let the judge tell a slow target from a saturated load generator.

`load/host.parquet` (long format): time (epoch s), process ("host", "locust", "locust-master",
"locust-worker-1", ...), cpu (a process: share of ONE core, 1.0 = a full core; "host": share of all
cores busy), cpu_unniced ("host": busy share without `nice` time, since the local stack's pipeline
runs niced and only un-niced load competes with the measurement; NaN for processes).
`load/target.parquet`: time, pending, running, completed, failed, in_flight (from `/_pavi/stats`,
which only the local stack has).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

HOST_SCHEMA = pa.schema(
    [
        ("time", pa.float64()),
        ("process", pa.string()),
        ("cpu", pa.float64()),
        ("cpu_unniced", pa.float64()),
    ]
)
JOB_STATES = ("pending", "running", "completed", "failed")
TARGET_SCHEMA = pa.schema(
    [("time", pa.float64())] + [(name, pa.int64()) for name in (*JOB_STATES, "in_flight")]
)


def write_parquet_atomic(rows: list[dict[str, Any]], schema: pa.Schema, path: Path) -> None:
    table = pa.Table.from_pylist(rows, schema=schema)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


class CpuSampler:
    """CPU of named processes (share of one core) and of the whole host (share of all cores)."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes: dict[str, psutil.Process] = {}
        for label, pid in processes.items():
            try:
                process = psutil.Process(pid)
                process.cpu_percent(None)  # the first call only sets the baseline
                self.processes[label] = process
            except psutil.Error:
                continue
        self._last_times = psutil.cpu_times()
        self.rows: list[dict[str, Any]] = []

    def sample(self) -> None:
        now = time.time()
        busy, unniced = self._host_shares()
        self.rows.append({"time": now, "process": "host", "cpu": busy, "cpu_unniced": unniced})
        for label, process in self.processes.items():
            try:
                cpu = process.cpu_percent(None) / 100
            except psutil.Error:
                continue  # exited; its last samples stay
            self.rows.append({"time": now, "process": label, "cpu": cpu, "cpu_unniced": math.nan})

    def _host_shares(self) -> tuple[float, float]:
        times = psutil.cpu_times()
        delta = {field: getattr(times, field) - getattr(self._last_times, field) for field in times._fields}
        self._last_times = times
        # Linux counts guest time inside user/nice already (psutil subtracts it the same way)
        total = sum(delta.values()) - delta.get("guest", 0.0) - delta.get("guest_nice", 0.0)
        if total <= 0:
            return math.nan, math.nan
        busy = total - delta.get("idle", 0.0) - delta.get("iowait", 0.0)
        return busy / total, (busy - delta.get("nice", 0.0)) / total

    def write(self, path: Path) -> None:
        write_parquet_atomic(self.rows, HOST_SCHEMA, path)


class TargetSampler:
    """Job counts from the local stack's `/_pavi/stats`; switches itself off if the target lacks it."""

    def __init__(self, api_url: str, timeout_s: float = 0.5) -> None:
        self.client = httpx.Client(base_url=api_url, timeout=timeout_s)
        self.enabled = bool(api_url)  # "": nothing to sample
        self.rows: list[dict[str, Any]] = []

    def sample(self) -> None:
        if not self.enabled:
            return
        try:
            answer = self.client.get("/_pavi/stats")
            body = answer.json() if answer.status_code == 200 else None
            jobs = body["jobs"] if isinstance(body, dict) else None
        except (httpx.HTTPError, ValueError, KeyError):
            jobs = body = None
        if not isinstance(jobs, dict):
            if not self.rows:
                self.enabled = False  # not the local stack (or not up): never ask again
            return
        row: dict[str, Any] = {"time": time.time(), "in_flight": int(body.get("in_flight", 0))}
        row.update({state: int(jobs.get(state, 0)) for state in JOB_STATES})
        self.rows.append(row)

    def write(self, path: Path) -> None:
        if self.rows:
            write_parquet_atomic(self.rows, TARGET_SCHEMA, path)

    def close(self) -> None:
        self.client.close()
