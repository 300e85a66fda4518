"""The self-test's verdict per case and its outputs, on hand-made rows (nothing measured)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console

from harness.runstore import create_run
from reports.model import Verdict
from selftest.output import print_table, render_json, render_junit
from selftest.recipes import HEALTHY, SATURATED, SLOW_MSA, TRIPPED, Case, Trial, Untestable
from selftest.runner import Outcome, Row, TrialRecord, _to_retry

HOW = "how it was measured"


def _case(case: str, expected: Verdict, trial: Trial, exception: str | None = None) -> Case:
    fault = "" if case == HEALTHY else "a fault"
    return Case("phase-1", "frontend-fps", case, expected, trial, fault, HOW, exception=exception)


def _outcome(tmp_path: Path, rows: list[Row], untestable: list[Untestable] | None = None) -> Outcome:
    return Outcome("ci", ["phase-1"], tmp_path, "now", 12.0, rows, untestable or [])


def test_a_known_exception_is_visible_and_does_not_fail(tmp_path: Path) -> None:
    healthy = _case(HEALTHY, Verdict.PASS, Trial.of("browser"), exception=SLOW_MSA.name)
    tripped = _case(TRIPPED, Verdict.FAIL, Trial.of("browser", slow_frame_ms=50.0))
    rows = [
        Row(
            healthy,
            "FAIL",
            True,
            f"mean 2 fps. Known exception: {SLOW_MSA.why}",
            "01-browser",
            exception=SLOW_MSA,
        ),
        Row(tripped, "FAIL", True, "mean 1 fps", "02-browser"),
    ]
    outcome = _outcome(tmp_path, rows)
    assert outcome.ok
    junit = ET.fromstring(render_junit(outcome))
    assert junit.get("failures") == "0" and junit.get("skipped") == "1"
    skipped = junit.find("testcase/skipped")
    assert skipped is not None and "slow-msa-redraws" in skipped.get("message", "")
    console = Console(record=True, width=250)
    print_table(outcome, console)
    text = console.export_text()
    assert "known (slow-msa-redraws)" in text and "every gate behaved" in text
    assert render_json(outcome, {})["exceptions"] == {SLOW_MSA.name: SLOW_MSA.why}


def test_a_case_that_misbehaves_fails_and_is_retried(tmp_path: Path) -> None:
    trial = Trial.of("load", latency_ms=1000.0)
    case = Case("phase-2", "api-latency", TRIPPED, Verdict.FAIL, trial, "latency", HOW)
    bad = Row(
        case, "INVALID", False, "host saturated", "05-load", attempts=2, first="INVALID: host saturated"
    )
    untestable = [Untestable("mine", "throughput", "depends on the workload")]
    outcome = _outcome(tmp_path, [bad], untestable)
    assert not outcome.ok
    junit = ET.fromstring(render_junit(outcome))
    assert junit.get("failures") == "2" and junit.get("tests") == "2"
    assert "first attempt: INVALID" in (junit.findtext("testcase/system-out") or "")
    summary = render_json(outcome, {"cpu_count": 2})
    assert summary["rows"][0]["first_attempt"] == "INVALID: host saturated"
    assert json.dumps(summary)  # every field is JSON
    console = Console(record=True, width=250)
    print_table(outcome, console)
    text = console.export_text()
    assert "NOT every gate behaved" in text and "NO RECIPE" in text and "2nd attempt" in text


def test_only_the_trials_of_misbehaving_cases_are_measured_again(tmp_path: Path) -> None:
    run = create_run("selftest", None, root=tmp_path)
    healthy, slow = Trial.of("load"), Trial.of("load", latency_ms=1000.0)
    saturated = Trial.of("saturated")
    records = {trial: TrialRecord(trial, run, 1.0) for trial in (healthy, slow, saturated)}
    rows = [
        Row(Case("s", "g", HEALTHY, Verdict.PASS, healthy, "", HOW), "PASS", True, "", "r1"),
        Row(Case("s", "g", TRIPPED, Verdict.FAIL, slow, "f", HOW), "INVALID", False, "", "r2"),
        Row(Case("s", "g", SATURATED, Verdict.INVALID, saturated, "f", HOW), "INVALID", True, "", "r3"),
    ]
    assert _to_retry(rows, records) == [slow]
    records[saturated].environment = True  # an environment problem: retrying would not help
    assert _to_retry(rows, records) == []
