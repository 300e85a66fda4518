"""The job budget's arithmetic and ledger, without Locust (real runs: tests/harness/test_remote_target.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import REMOTE_MAX_JOBS, LoadWorkload
from loadtests.budget import JobBudget, read_ledgers, share


@pytest.mark.parametrize(("total", "processes"), [(6, 2), (7, 3), (2, 5), (0, 4), (50, 1)])
def test_shares_add_up_to_the_budget_and_differ_by_at_most_one(total: int, processes: int) -> None:
    parts = [share(total, index, processes) for index in range(processes)]
    assert sum(p or 0 for p in parts) == total
    assert max(p or 0 for p in parts) - min(p or 0 for p in parts) <= 1
    assert share(None, 0, processes) is None


def test_a_spent_budget_refuses_per_side_and_the_ledgers_add_up(tmp_path: Path) -> None:
    first = JobBudget(["blue", "green"], 2, tmp_path / "jobs-w1.json")
    assert [first.take("blue") for _ in range(3)] == [True, True, False]
    assert first.take("green")
    first.record("blue", "a")
    first.record("green", "b")
    first.save()
    second = JobBudget(["blue", "green"], 1, tmp_path / "jobs-w2.json")
    assert second.take("blue") and not second.take("blue")
    second.record("blue", "c")
    second.save()
    ledgers = read_ledgers(tmp_path)
    assert ledgers["blue"] == {"posts": 3, "uuids": ["a", "c"]}
    assert ledgers["green"] == {"posts": 1, "uuids": ["b"]}


def test_the_default_budget_is_bounded_on_remote_targets_only() -> None:
    assert LoadWorkload().job_budget(remote=True) == REMOTE_MAX_JOBS
    assert LoadWorkload().job_budget(remote=False) is None
    assert LoadWorkload(max_jobs=7).job_budget(remote=True) == 7
    assert LoadWorkload(max_jobs=7).job_budget(remote=False, override=3) == 3
