"""The run store keeps a readable run.json from the first moment on."""

from __future__ import annotations

import json

import pytest

from harness.errors import ConfigError
from harness.runstore import create_run, iter_runs, open_run


def test_run_is_incomplete_until_finished(tmp_path) -> None:
    run = create_run("local", None, root=tmp_path)
    meta = json.loads((run.path / "run.json").read_text())
    assert meta["status"] == "incomplete"
    assert meta["ended"] is None
    assert meta["host"]["cpu_count"] >= 1

    run.record_part("load", users=50, status="running")
    assert (run.part_dir("load")).is_dir()
    run.finish()
    meta = json.loads((run.path / "run.json").read_text())
    assert meta["status"] == "complete"
    assert meta["parts"]["load"] == {"users": 50, "status": "running"}
    assert meta["ended"] >= meta["started"]


def test_open_by_prefix_and_list(tmp_path) -> None:
    first = create_run("local", None, root=tmp_path)
    second = create_run("staging", None, root=tmp_path)
    assert open_run(second.id, root=tmp_path).meta["target"] == "staging"
    assert open_run(str(first.path)).id == first.id
    assert [run.id for run in iter_runs(tmp_path)] == sorted([first.id, second.id])
    with pytest.raises(ConfigError, match="runs list"):
        open_run("nope", root=tmp_path)
