"""End to end in real Chromium: a page that logs console errors still gets frame-rate verdicts, the
report (JSON, HTML, Markdown) shows the errors grouped with counts, `browser.page_errors` gates them,
and an ignore_console pattern takes them out of the count."""

from __future__ import annotations

import json

import pytest

from browser_bench.jobs import ensure_alignment_job
from browser_bench.runner import run_browser
from harness.config import BrowserWorkload, parse_scenarios
from harness.runstore import create_run
from reports.model import Report, Verdict
from reports.render_html import render_html
from reports.render_json import render_json
from reports.render_markdown import render_markdown
from reports.report import build_report

pytestmark = pytest.mark.e2e

RECT_ERROR = 'Error: <rect> attribute height: Expected length, "-Infinity".'
WORKLOAD = BrowserWorkload(
    sequences=12,
    repeats=1,
    interaction_time="1s",
    interactions=["pan_horizontal"],
    page_query="console-errors=5",
)
SCENARIOS = parse_scenarios(
    {
        "gates": {
            "page": {
                "fps": {"metric": "browser.fps_mean", "at_least": 1},
                "frame-p50": {"metric": "browser.frame_ms", "stat": "p50", "at_most": "10s"},
                "no-errors": {"metric": "browser.page_errors", "at_most": 0},
                "few-errors": {"metric": "browser.page_errors", "at_most": 5},
                "worst-repeat": {"metric": "browser.page_errors", "stat": "max_per_repeat", "below": 5},
            }
        }
    }
)


def _report(pavi, tmp_path, workload: BrowserWorkload) -> Report:
    uuid = ensure_alignment_job(pavi.url, workload.sequences, timeout_s=120)
    run = create_run("pytest", None, root=tmp_path)
    run_browser(run, pavi.url, uuid, workload, show_progress=False)
    run.finish()
    return build_report(run, SCENARIOS, "page", figures=False)


def test_console_errors_are_shown_and_gated_not_invalid(pavi, tmp_path) -> None:
    report = _report(pavi, tmp_path, WORKLOAD)
    results = {r.name: r for r in report.results}
    for name in ("fps", "frame-p50"):
        assert results[name].verdict is Verdict.PASS, results[name].reason
        assert "the page logged 5 console error(s)" in results[name].reason
        assert "-Infinity" in results[name].reason
    assert results["no-errors"].verdict is Verdict.FAIL
    assert results["few-errors"].verdict is Verdict.PASS
    assert results["worst-repeat"].verdict is Verdict.FAIL
    assert results["no-errors"].measurement.value == 5

    summary = json.loads(render_json(report))
    group = {"text": RECT_ERROR, "type": "console", "count": 5, "ignored": False}
    assert summary["page_console"] == [{**group, "repeats": [0], "phases": ["load"]}]
    html = render_html(report)
    assert "Page console errors" in html and "Error: &lt;rect&gt; attribute height" in html
    markdown = render_markdown(report)
    assert "### Page console errors (browser)" in markdown and "\\<rect\\>" in markdown


def test_an_ignore_pattern_takes_them_out_of_the_gate(pavi, tmp_path) -> None:
    ignoring = WORKLOAD.model_copy(update={"ignore_console": [r"Expected length, \"-Infinity\""]})
    report = _report(pavi, tmp_path, ignoring)
    results = {r.name: r for r in report.results}
    assert results["no-errors"].verdict is Verdict.PASS, results["no-errors"].reason
    assert results["fps"].verdict is Verdict.PASS and "console" not in results["fps"].reason
    assert results["fps"].measurement.facts["page_errors_ignored"] == 5
    console = json.loads(render_json(report))["page_console"]
    assert [(g["text"], g["count"], g["ignored"]) for g in console] == [(RECT_ERROR, 5, True)]
