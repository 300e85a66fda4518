"""The job budget: how many pipeline jobs a load run may submit, and the ledger of those it did.

Every submitted job starts a real pipeline (on the migrated stack a Step Functions execution and
Batch jobs: money and quotas), and a deployed API keeps starting queued runs after the load stops,
so the budget counts every POST sent, answered or not. Seed jobs are taken from it first; the rest is
split between the processes that run users (the master tells each worker its share before any user
starts; a worker that was told nothing submits nothing). When a process's share is spent, its submit
task sends nothing: users keep polling and reading.

Each process writes the uuids it submitted to `load/jobs-<process>.json`, so the runner can tell, after
the load, how many jobs completed, failed or were still running.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

import httpx

from pavi_contract import api

LEDGER_GLOB = "jobs-*.json"
SAVE_EVERY_S = 5.0
STATUS_CHECK_TIMEOUT_S = 30.0  # the final status check of submitted jobs, in all
STATUS_CHECK_MAX_JOBS = 5000


def share(total: int | None, index: int, processes: int) -> int | None:
    """Process `index`'s part of `total` (None: unbounded); the parts add up to `total` exactly."""
    if total is None:
        return None
    base, extra = divmod(total, max(processes, 1))
    return base + (1 if index < extra else 0)


class JobBudget:
    """This process's allowance per side and the jobs it submitted; gevent-safe (no yields inside)."""

    def __init__(self, sides: Iterable[str], allowed: int | None, ledger: Path | None = None) -> None:
        self.sides = list(sides)
        self.allowed: dict[str, int | None] = dict.fromkeys(self.sides, allowed)
        self.posts: dict[str, int] = dict.fromkeys(self.sides, 0)
        self.uuids: dict[str, list[str]] = {side: [] for side in self.sides}
        self.ledger = ledger
        self._saved = 0.0

    def set_allowed(self, allowed: int | None) -> None:
        self.allowed = dict.fromkeys(self.sides, allowed)

    def take(self, side: str) -> bool:
        """Spend one job on `side`; False (and nothing spent) when its allowance is used up."""
        limit = self.allowed[side]
        if limit is not None and self.posts[side] >= limit:
            return False
        self.posts[side] += 1
        return True

    def record(self, side: str, uuid: str) -> None:
        self.uuids[side].append(uuid)
        if time.monotonic() - self._saved > SAVE_EVERY_S:
            self.save()

    def save(self) -> None:
        """Rewrite the ledger atomically (a crash loses at most the last few seconds of uuids)."""
        if self.ledger is None:
            return
        self._saved = time.monotonic()
        body = {"allowed": self.allowed, "posts": self.posts, "uuids": self.uuids}
        tmp = self.ledger.with_name(self.ledger.name + ".tmp")
        tmp.write_text(json.dumps(body))
        os.replace(tmp, self.ledger)


def read_ledgers(load_dir: Path) -> dict[str, dict[str, list[str] | int]]:
    """side -> {"posts": n, "uuids": [...]}, summed over every process's ledger."""
    total: dict[str, dict[str, list[str] | int]] = {}
    for path in sorted(load_dir.glob(LEDGER_GLOB)):
        try:
            body = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for side, uuids in (body.get("uuids") or {}).items():
            entry = total.setdefault(side, {"posts": 0, "uuids": []})
            entry["posts"] = int(entry["posts"]) + int((body.get("posts") or {}).get(side, 0))
            entry["uuids"] = [*entry["uuids"], *uuids]  # type: ignore[misc]
    return total


def final_statuses(
    api_url: str, uuids: list[str], timeout_s: float = STATUS_CHECK_TIMEOUT_S
) -> dict[str, int]:
    """Each job's status, asked once after the load: counts per status (`unknown`: no answer in time)."""
    counts = {api.COMPLETED: 0, api.FAILED: 0, "running": 0, "unknown": 0}
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=api_url.rstrip("/"), timeout=5.0) as client:
        for uuid in uuids[:STATUS_CHECK_MAX_JOBS]:
            status = None
            if time.monotonic() < deadline:
                try:
                    answer = client.get(api.job(uuid))
                    status = answer.json().get("status") if answer.status_code == 200 else None
                except (httpx.HTTPError, ValueError, AttributeError):
                    status = None
            if status in (api.PENDING, api.RUNNING):
                status = "running"
            counts[status if status in counts else "unknown"] += 1
    counts["unknown"] += max(0, len(uuids) - STATUS_CHECK_MAX_JOBS)
    return counts
