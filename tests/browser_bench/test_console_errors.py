"""Page console errors in real Chromium on the local stand-in: counted, grouped, kept raw (capped),
ignored by pattern; the page spec from scenarios.yaml; the CLI names the URL it drives.

The stand-in's `?console-errors=N` makes Chromium itself log nightingale's SVG error N times at the
first draw, and `?favicon=missing` points the icon at a file the server does not have, as on the
deployed page of issue 12. Small and short: 12 sequences, one repeat, half a second per interaction.
"""

from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest

from browser_bench.jobs import ensure_alignment_job
from browser_bench.pageload import KEEP_MESSAGES
from browser_bench.runner import BrowserOutcome, run_browser
from harness import stack
from harness.config import DEFAULT_IGNORE_CONSOLE, BrowserWorkload, parse_scenarios
from harness.runstore import create_run
from tests.support import free_port, run_cli

pytestmark = pytest.mark.e2e

SEQUENCES = 12
RECT_ERROR = 'Error: <rect> attribute height: Expected length, "-Infinity".'
WORKLOAD = BrowserWorkload(
    sequences=SEQUENCES, repeats=1, interaction_time="0.5s", interactions=["pan_horizontal"]
)


@pytest.fixture(scope="module")
def job_uuid(local_stack: stack.StackState) -> str:
    return ensure_alignment_job(local_stack.url, SEQUENCES, timeout_s=180)


def _run(local_stack: stack.StackState, uuid: str, tmp_path, **changes: object) -> BrowserOutcome:
    run = create_run("pytest", None, root=tmp_path)
    workload = WORKLOAD.model_copy(update=changes)
    return run_browser(run, local_stack.url, uuid, workload, show_progress=False)


def test_console_errors_are_counted_grouped_and_kept(local_stack, job_uuid: str, tmp_path) -> None:
    outcome = _run(local_stack, job_uuid, tmp_path, page_query="console-errors=60&favicon=missing")
    rows = pd.read_parquet(outcome.interactions)
    assert rows.rendered.all() and rows.error.isna().all()
    assert (rows.frames > 0).all()  # the page still draws
    assert int(rows.page_errors.sum()) == 60 == outcome.page_error_count
    assert int(rows.page_errors_ignored.sum()) == outcome.page_errors_ignored >= 1  # the favicon

    doc = json.loads(outcome.page_errors.read_text())
    assert doc["ignore_console"] == list(DEFAULT_IGNORE_CONSOLE)
    assert doc["counted"] == 60 and doc["ignored"] >= 1 and doc["total"] == doc["counted"] + doc["ignored"]
    counted = [g for g in doc["groups"] if not g["ignored"]]
    assert counted == [
        {
            "text": RECT_ERROR,
            "type": "console",
            "ignored": False,
            "count": 60,
            "phases": ["load"],
            "example": RECT_ERROR,
            "repeats": [0],
        }
    ]
    favicon = [g for g in doc["groups"] if g["ignored"]]
    assert favicon and favicon[0]["text"].startswith("Failed to load resource")
    repeat = doc["repeats"][0]
    assert repeat["total"] == doc["total"] and repeat["kept"] == KEEP_MESSAGES  # raw texts capped
    assert len(repeat["messages"]) == KEEP_MESSAGES
    ignored = [m for m in repeat["messages"] if m["ignored"]]
    assert all(m["url"].endswith("/favicon.ico") and not m["counted"] for m in ignored)
    summary = json.loads(outcome.summary.read_text())
    assert summary["page_errors"] == 60 and summary["per_repeat"][0]["page_errors"] == 60


def test_an_ignore_pattern_removes_them_from_the_count(local_stack, job_uuid: str, tmp_path) -> None:
    outcome = _run(
        local_stack,
        job_uuid,
        tmp_path,
        page_query="console-errors=5",
        ignore_console=[r'attribute height: Expected length, "-Infinity"'],
    )
    rows = pd.read_parquet(outcome.interactions)
    assert int(rows.page_errors.sum()) == 0 and int(rows.page_errors_ignored.sum()) == 5
    doc = json.loads(outcome.page_errors.read_text())
    assert doc["counted"] == 0 and doc["ignored"] == 5
    assert [(g["text"], g["count"], g["ignored"]) for g in doc["groups"]] == [(RECT_ERROR, 5, True)]
    assert [m["text"] for m in doc["repeats"][0]["messages"]] == [RECT_ERROR] * 5  # still stored raw


def test_the_page_spec_comes_from_scenarios_yaml(local_stack, job_uuid: str, tmp_path) -> None:
    schemes = [["taylor", "Taylor"], ["zappo", "Zappo"]]
    scenarios = parse_scenarios(
        {"workloads": {"browser": {"page": {"color_schemes": schemes, "redraw_timeout": "10s"}}}}
    )
    page = scenarios.workloads.browser.page
    outcome = _run(local_stack, job_uuid, tmp_path / "spec", page=page, interactions=["color_scheme"])
    summary = json.loads(outcome.summary.read_text())
    assert summary["page_spec"]["color_schemes"] == schemes and summary["page_spec"]["redraw_timeout_s"] == 10
    rows = pd.read_parquet(outcome.interactions)
    assert rows.error.isna().all() and rows.redraws.sum() >= 2  # Taylor and Zappo in turn, each redrew

    missing = page.model_copy(update={"msa": "no-such-view"})
    broken = _run(local_stack, job_uuid, tmp_path / "missing", page=missing)
    rows = pd.read_parquet(broken.interactions)
    assert not rows.rendered.any()
    assert rows.error.str.contains("page.msa 'no-such-view'").all()


def test_the_browser_command_names_the_web_url_it_drives(local_stack, job_uuid: str, tmp_path) -> None:
    api_url = f"http://127.0.0.1:{free_port()}"  # nothing listens: the browser part never asks it
    config = tmp_path / "scenarios.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            default_target: split
            targets:
              split: {{kind: remote, api_url: "{api_url}", web_url: "{local_stack.url}"}}
            workloads:
              browser:
                sequences: {SEQUENCES}
                repeats: 1
                interaction_time: 0.5s
                interactions: [pan_horizontal]
                page_query: console-errors=3
            gates:
              frames:
                fps: {{metric: browser.fps_mean, at_least: 1}}
            """
        )
    )
    result = run_cli(
        "browser", "--config", str(config), "--target", "split", "--uuid", job_uuid, "--gates", "frames",
        env={"PAVI_RUNS_DIR": str(tmp_path / "runs")},
    )  # fmt: skip
    out = " ".join(result.stdout.split())  # rich wraps the table's cells
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"browser on {local_stack.url}" in out and api_url not in out
    assert "PASS" in out and "3 console error(s)" in out
