"""The browser bench on the real local stack in real Chromium, at small scale (30 sequences)."""

from __future__ import annotations

import json
import uuid as uuidlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from browser_bench.interactions import DEFAULT_INTERACTIONS
from browser_bench.jobs import ensure_alignment_job
from browser_bench.runner import BrowserOutcome, run_browser
from harness import stack
from harness.config import BrowserWorkload
from harness.errors import EnvironmentProblem
from harness.runstore import create_run
from pavi_contract.admin import generated_payload

pytestmark = pytest.mark.e2e

SEQUENCES = 30
REPEATS = 2
TIME_S = 1.5
WORKLOAD = BrowserWorkload(sequences=SEQUENCES, repeats=REPEATS, interaction_time="1.5s")


def p95(frames: pd.DataFrame) -> float:
    return float(np.quantile(frames["frame_ms"].to_numpy(), 0.95, method="inverted_cdf"))


@pytest.fixture(scope="module")
def job_uuid(local_stack: stack.StackState) -> str:

    url = local_stack.url
    return ensure_alignment_job(url, SEQUENCES, timeout_s=180)


@pytest.fixture(scope="module")
def healthy(
    local_stack: stack.StackState, job_uuid: str, tmp_path_factory: pytest.TempPathFactory
) -> BrowserOutcome:
    """One default run (every interaction, two repeats), shared by the tests that read it."""
    run = create_run("local", None, root=tmp_path_factory.mktemp("runs"))
    return run_browser(run, local_stack.url, job_uuid, WORKLOAD, show_progress=False)


def test_every_repeat_and_interaction_has_frames(healthy: BrowserOutcome) -> None:
    frames = pd.read_parquet(healthy.frames)
    rows = pd.read_parquet(healthy.interactions)
    assert list(frames.columns) == ["repeat", "interaction", "t_ms", "frame_ms", "redraw", "draws"]
    for repeat in range(REPEATS):
        for name in DEFAULT_INTERACTIONS:
            mine = frames[(frames.repeat == repeat) & (frames.interaction == name)]
            assert len(mine) > 10, (repeat, name)
            assert (mine.frame_ms > 0).all() and mine.t_ms.is_monotonic_increasing
    assert len(rows) == REPEATS * len(DEFAULT_INTERACTIONS)
    assert rows.rendered.all() and rows.error.isna().all()
    assert (rows.page_errors == 0).all()
    assert (rows.render_ms > 0).all() and (rows.duration_ms >= TIME_S * 1000 * 0.9).all()
    assert (rows.task_duration_ms > 0).all() and (
        rows.task_duration_ms <= rows.metrics_window_ms * 1.05
    ).all()
    # the frames table accounts for every redraw counted per interaction
    draws = frames.groupby(["repeat", "interaction"]).draws.sum()
    for row in rows.itertuples():
        assert draws[(row.repeat, row.interaction)] == row.redraws
        assert row.frames == len(
            frames[(frames.repeat == row.repeat) & (frames.interaction == row.interaction)]
        )


def test_pan_and_colour_changes_redraw_the_alignment(healthy: BrowserOutcome) -> None:
    rows = pd.read_parquet(healthy.interactions).set_index(["repeat", "interaction"])
    for repeat in range(REPEATS):
        assert rows.loc[(repeat, "pan_horizontal"), "redraws"] > 0
        assert rows.loc[(repeat, "color_scheme"), "redraws"] > 0
        assert rows.loc[(repeat, "zoom"), "redraws"] > 0
    frames = pd.read_parquet(healthy.frames)
    assert frames[frames.interaction == "pan_horizontal"].redraw.any()


def test_summary_and_run_record_say_how_it_ran(healthy: BrowserOutcome) -> None:
    summary = json.loads(healthy.summary.read_text())
    assert summary["complete"] is True
    assert summary["browser"]["version"] == healthy.browser_version
    assert healthy.browser_version.split(".")[0].isdigit()
    assert "--disable-gpu" in summary["browser"]["launch_flags"]
    assert "HeadlessChrome" in summary["browser"]["user_agent"]
    assert summary["sequences"] == SEQUENCES and summary["repeats"] == REPEATS
    assert summary["cpu_throttle"] == 1 and summary["uncapped"] is False
    assert [r["sequences_shown"] for r in summary["per_repeat"]] == [SEQUENCES] * REPEATS
    assert len(summary["per_interaction"]) == REPEATS * len(DEFAULT_INTERACTIONS)
    errors = json.loads(healthy.page_errors.read_text())
    assert errors["total"] == 0 and errors["groups"] == [] and len(errors["repeats"]) == REPEATS
    run_json = json.loads((healthy.browser_dir.parent / "run.json").read_text())
    part = run_json["parts"]["browser"]
    assert part["status"] == "complete" and part["browser_version"] == healthy.browser_version
    assert part["repeats"] == REPEATS and part["interaction_time_s"] == TIME_S
    for trace in healthy.traces:  # taken when a repeat ran under 30 FPS (panning does at 30 sequences)
        assert trace.stat().st_size > 1000


def test_slow_frames_raise_the_pan_frame_time(pavi, job_uuid: str, healthy: BrowserOutcome, tmp_path) -> None:
    pavi.faults(slow_frame_ms=60)
    run = create_run("local", None, root=tmp_path)
    slowed = run_browser(
        run, pavi.url, job_uuid, WORKLOAD, interactions=["pan_horizontal"], show_progress=False
    )
    healthy_pan = pd.read_parquet(healthy.frames).query("interaction == 'pan_horizontal'")
    slowed_pan = pd.read_parquet(slowed.frames).query("interaction == 'pan_horizontal'")
    assert len(slowed_pan) > 5
    assert slowed_pan.redraw.any()
    # every redraw now costs 60 ms more on the main thread, so the long frames get ~60 ms longer
    assert p95(slowed_pan) > p95(healthy_pan) + 40, (p95(slowed_pan), p95(healthy_pan))


def test_a_page_that_errors_is_recorded_not_raised(pavi, tmp_path: Path) -> None:
    run = create_run("local", None, root=tmp_path)
    outcome = run_browser(
        run, pavi.url, str(uuidlib.uuid4()), WORKLOAD, repeats=1, interaction_time_s=0.5, show_progress=False
    )
    rows = pd.read_parquet(outcome.interactions)
    assert len(rows) == len(DEFAULT_INTERACTIONS)
    assert not rows.rendered.any()
    assert rows.error.str.contains("404").all()
    assert (rows.frames == 0).all() and (rows.redraws == 0).all() and rows.duration_ms.isna().all()
    assert rows.page_errors.sum() > 0  # the page logs the failed fetch
    assert pd.read_parquet(outcome.frames).empty
    assert outcome.rendered_repeats == 0 and outcome.frame_rows == 0
    summary = json.loads(outcome.summary.read_text())
    assert summary["per_repeat"][0]["rendered"] is False and summary["per_interaction"] == []
    assert json.loads(outcome.page_errors.read_text())["repeats"][0]["messages"][0]["phase"] == "load"


def test_a_failed_job_stops_the_bench_before_it_starts(pavi) -> None:
    # the local pipeline fails a job whose FASTA is not its genome, before Clustal Omega runs
    wrong_fasta = pavi.fasta_url().replace("genome.fa", "other.fa")
    with pytest.raises(EnvironmentProblem, match="failed"):
        payload = [entry | {"fasta_file_url": wrong_fasta} for entry in generated_payload(pavi.url, 2)]
        ensure_alignment_job(pavi.url, 2, timeout_s=60, payload=payload)
