"""Page console errors, pure (no browser): they never make a frame-rate verdict INVALID, they are shown
beside it, and `browser.page_errors` gates PASS or FAIL on its exact count."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.config import Gate, parse_scenarios
from harness.errors import ConfigError
from reports.judge import judge_gate
from reports.metrics import console_table, measure
from reports.model import Measurement, Verdict
from reports.rundata import RunData

FPS = Gate(metric="browser.fps_mean", at_least=58)
NO_ERRORS = Gate(metric="browser.page_errors", at_most=0)
TOP = '300x "Error: <rect> attribute height: Expected length, "-Infinity"."'


def fps(value: float, ci: tuple[float, float], **facts: object) -> Measurement:
    base = {"frames_drawn": 446, "rendered": True, "page_errors": 0}
    return Measurement("browser.fps_mean", "mean", "fps", value, 5, ci, facts={**base, **facts})


def test_console_errors_never_make_a_frame_rate_verdict_invalid() -> None:
    # issue 12: 446 frames at a mean 4.2 FPS with 330 console errors is a FAIL, not INVALID
    slow = judge_gate("s", "fps", FPS, fps(4.2, (3.9, 4.5), page_errors=330, page_errors_top=TOP))
    assert slow.verdict is Verdict.FAIL
    assert "330 console error(s)" in slow.reason and "-Infinity" in slow.reason
    fast = judge_gate("s", "fps", FPS, fps(59.9, (59.8, 60.0), page_errors=330))
    assert fast.verdict is Verdict.PASS
    assert judge_gate("s", "fps", FPS, fps(58.5, (57.0, 60.0), page_errors=2)).verdict is Verdict.INCONCLUSIVE
    assert "console" not in judge_gate("s", "fps", FPS, fps(59.9, (59.8, 60.0))).reason


def test_what_breaks_the_measurement_is_still_invalid() -> None:
    for broken in ({"frames_drawn": 0}, {"rendered": False, "empty_reason": "the alignment never rendered"}):
        result = judge_gate("s", "fps", FPS, fps(59.9, (59.8, 60.0), page_errors=3, **broken))
        assert result.verdict is Verdict.INVALID, broken


def errors(value: float, n: int = 5, **facts: object) -> Measurement:
    base = {"rendered": True, "page_errors": int(value)}
    return Measurement("browser.page_errors", "total", "count", value, n, facts={**base, **facts})


def test_page_errors_gate_passes_and_fails_on_the_count() -> None:
    assert judge_gate("s", "e", NO_ERRORS, errors(0)).verdict is Verdict.PASS
    failed = judge_gate("s", "e", NO_ERRORS, errors(330, page_errors_top=TOP))
    assert failed.verdict is Verdict.FAIL and "-Infinity" in failed.reason
    some = Gate(metric="browser.page_errors", stat="max_per_repeat", at_most=10)
    assert judge_gate("s", "e", some, errors(3)).verdict is Verdict.PASS
    assert judge_gate("s", "e", some, errors(11)).verdict is Verdict.FAIL
    # a page that never rendered was never driven: its count says nothing
    unrendered = errors(0, rendered=False, empty_reason="the alignment never rendered in 1 of 1 repeats")
    assert judge_gate("s", "e", NO_ERRORS, unrendered).verdict is Verdict.INVALID


def test_page_errors_gates_in_scenarios_yaml() -> None:
    scenarios = parse_scenarios(
        {
            "gates": {
                "page": {
                    "clean": {"metric": "browser.page_errors", "at_most": 0},
                    "worst": {"metric": "browser.page_errors", "stat": "max_per_repeat", "below": 5},
                }
            }
        }
    )
    assert scenarios.gates["page"]["clean"].statistic == "total"
    with pytest.raises(ConfigError, match="max_per_repeat"):
        bad = {"metric": "browser.page_errors", "stat": "p95", "at_most": 0}
        parse_scenarios({"gates": {"page": {"x": bad}}})


def _data(page_errors: object) -> RunData:
    interactions = pd.DataFrame(
        {
            "repeat": [0, 0, 1, 1],
            "interaction": ["pan_horizontal", "zoom"] * 2,
            "frames": [30, 40, 30, 40],
            "redraws": [10, 10, 10, 10],
            "duration_ms": [1000.0] * 4,
            "rendered": [True] * 4,
            "page_errors": [7, 1, 2, 0],  # the first row of a repeat also holds the load's errors
            "page_errors_ignored": [1, 0, 1, 0],
        }
    )
    frames = pd.DataFrame(
        {"repeat": [0] * 70, "interaction": ["pan_horizontal"] * 70, "frame_ms": [16.7] * 70}
    )
    return RunData(meta={}, path=Path("."), interactions=interactions, frames=frames, page_errors=page_errors)


GROUPS = {
    "groups": [
        {"text": "Failed to load resource: net::ERR_NAME_NOT_RESOLVED", "type": "console", "ignored": True,
         "count": 2, "repeats": [0, 1], "phases": ["load"]},
        {"text": "Error: <rect> attribute height: Expected length, \"-Infinity\".", "type": "console",
         "ignored": False, "count": 10, "repeats": [0, 1], "phases": ["load", "zoom"]},
    ]
}  # fmt: skip


def test_the_metric_counts_per_repeat_from_the_raw_rows() -> None:
    data = _data(GROUPS)
    total = measure(Gate(metric="browser.page_errors", at_most=0), data)
    assert total is not None and (total.value, total.n, total.ci) == (10.0, 2, None)
    assert total.facts["page_errors_ignored"] == 2 and "frames_drawn" not in total.facts
    worst = measure(Gate(metric="browser.page_errors", stat="max_per_repeat", at_most=0), data)
    assert worst is not None and worst.value == 8.0
    zoom = measure(Gate(metric="browser.page_errors", at_most=0, interaction="zoom"), data)
    assert zoom is not None and zoom.value == 1.0
    frame_rate = measure(FPS, data)
    assert frame_rate is not None and frame_rate.facts["page_errors"] == 10
    assert str(frame_rate.facts["page_errors_top"]).startswith('10x "Error: <rect>')


def test_console_table_puts_counted_groups_first_and_reads_old_runs() -> None:
    table = console_table(_data(GROUPS))
    assert list(table["ignored"]) == [False, True] and list(table["count"]) == [10, 2]
    old = [  # page_errors.json before grouping: one entry per message
        {"repeat": 0, "phase": "load", "type": "console", "text": "boom\n  at x.js:1", "at_s": 0.1},
        {"repeat": 1, "phase": "zoom", "type": "console", "text": "boom", "at_s": 0.2},
    ]
    rows = console_table(_data(old)).to_dict("records")
    assert rows == [
        {"text": "boom", "type": "console", "count": 2, "ignored": False, "repeats": [0, 1],
         "phases": ["load", "zoom"]}
    ]  # fmt: skip
    assert console_table(_data(None)).empty
