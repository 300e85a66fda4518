"""Every renderer on a constructed Report (every verdict kind) and synthetic samples: no run needed."""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.config import Gate
from harness.errors import ExitCode
from reports.metrics import endpoint_table
from reports.model import GateResult, Measurement, Report, Verdict
from reports.plots import figures_for
from reports.render_html import render_html
from reports.render_json import render_json
from reports.render_junit import render_junit
from reports.render_markdown import EXIT_CODE_MEANINGS, render_markdown
from reports.rundata import RunData

HOSTILE = "<script>alert(1)</script>"
PIPE_NAME = "GET /api/odd|name\nsecond line"
T0 = 1_700_000_000.0
LOAD_FIGURES = [
    "Latency percentiles over time",
    "Throughput and errors over time",
    "Latency histogram",
    "Latency by endpoint over time against jobs in flight",
    "Load generator and host CPU",
]


def synthetic_requests(rows: int, seconds: float, names: list[str], seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = T0 + np.sort(rng.uniform(0, seconds, rows))
    status = np.where(rng.random(rows) < 0.02, 503, 200)
    return pd.DataFrame(
        {
            "start": start,
            "name": rng.choice(np.array(names, dtype=object), rows),
            "method": "GET",
            "status": status.astype("int32"),
            "latency_ms": rng.lognormal(4.0, 0.6, rows) * (1 + (start - T0) / seconds),
            "bytes": rng.integers(100, 5000, rows),
            "error": np.where(status == 503, f"503 Service Unavailable {HOSTILE}", None),
            "user": "w0-1",
        }
    )


def synthetic_data(rows: int = 20_000, seconds: float = 60.0, path: Path = Path("/nonexistent")) -> RunData:
    names = ["GET /api/health", "POST /api/pipeline-job/", f"GET {HOSTILE}", PIPE_NAME]
    times = T0 + np.arange(0, seconds, 1.0)
    host = pd.concat(
        [
            pd.DataFrame({"time": times, "process": "host", "cpu": 0.55, "cpu_unniced": 0.35}),
            pd.DataFrame({"time": times, "process": "locust", "cpu": 0.4, "cpu_unniced": None}),
        ],
        ignore_index=True,
    )
    queue = np.minimum(np.arange(len(times)) // 3, 12)
    target = pd.DataFrame(
        {
            "time": times,
            "pending": queue,
            "running": 2,
            "completed": np.arange(len(times)),
            "failed": 0,
            "in_flight": queue + 2,
        }
    )
    meta = {
        "id": "20250101-120000-abc123",
        "status": "incomplete",
        "started": "2025-01-01T12:00:00.000+00:00",
        "ended": None,
        "target": "local",
        "harness_version": "0.1.0",
        "git_commit": "deadbeef",
        "host": {"hostname": HOSTILE, "cpu_count": 2, "load_average": [0.5, 0.4, 0.3]},
        "parts": {"load": {"duration_s": seconds, "settle_s": 5.0, "users": 50, "last_error": HOSTILE}},
    }
    return RunData(
        meta=meta,
        path=path,
        requests=synthetic_requests(rows, seconds, names),
        host=host,
        target=target,
        load_events={"test_start": T0, "spawning_complete": T0 + 5.0, "test_stop": T0 + seconds},
    )


def _latency(value: float, ci: tuple[float, float] | None, n: int = 10_000, **facts: object) -> Measurement:
    return Measurement("load.latency_ms", "p95", "ms", value, n, ci, (T0 + 10, T0 + 60), facts)


def _results() -> list[GateResult]:
    p95 = Gate(metric="load.latency_ms", stat="p95", below="500ms", window="steady", plan="p95 < 500 ms")
    errors = Gate(metric="load.error_rate", at_most="1%", plan="errors at most 1 %")
    fps = Gate(metric="browser.fps_mean", at_least=30, plan="30 fps while scrolling")
    cost = Gate(metric="cost.monthly_usd", within_pct_of_baseline=20, plan="cost within 20 %")
    streak = Gate(metric="pipeline.consecutive_successes", stat="longest", at_least=100)
    return [
        GateResult(
            "phase-2",
            "api-latency",
            p95,
            Verdict.PASS,
            "p95 300.0 ms; gate < 500.0 ms",
            _latency(300, (290, 310)),
        ),
        GateResult(
            "phase-2",
            "api-latency-strict",
            p95,
            Verdict.FAIL,
            f"p95 700 ms {HOSTILE}",
            _latency(700, (690, 710), first_error=HOSTILE),
        ),
        GateResult(
            "phase-2",
            "errors",
            errors,
            Verdict.INCONCLUSIVE,
            "straddles | the\nthreshold",
            Measurement(
                "load.error_rate",
                "value",
                "ratio",
                float("nan"),
                500,
                (float("nan"), float("inf")),
                None,
                {"failures": 5},
            ),
        ),
        GateResult(
            "phase-2",
            "frames",
            fps,
            Verdict.INVALID,
            "the page logged 2 error(s) while measured",
            Measurement("browser.fps_mean", "mean", "fps", 55.0, 10, None, None, {"page_errors": 2}),
        ),
        GateResult(
            "phase-2",
            "cost",
            cost,
            Verdict.PENDING,
            "the cost period is still running",
            Measurement("cost.monthly_usd", "value", "usd", None, 0, facts={"pending": True}),
            relative_change=(float("inf"), float("-inf"), float("nan")),
        ),
        GateResult(
            "phase-2",
            "streak",
            streak,
            Verdict.SKIPPED,
            "pipeline.consecutive_successes was not measured in this run",
        ),
    ]


@pytest.fixture(scope="module")
def data() -> RunData:
    return synthetic_data()


@pytest.fixture(scope="module")
def report(data: RunData) -> Report:
    return Report(
        run=data.meta,
        gate_set="phase-2",
        results=_results(),
        overall=Verdict.FAIL,
        exit_code=int(ExitCode.GATE_FAILED),
        endpoints=endpoint_table(data),
        notes=[f"this run is incomplete {HOSTILE}"],
        baseline_run=None,
        figures=figures_for(data),
    )


# ---------------------------------------------------------------- JSON


def test_json_is_strict_with_nan_as_null(report: Report) -> None:
    text = render_json(report)
    assert "NaN" not in text and "Infinity" not in text
    summary = json.loads(text, parse_constant=lambda name: pytest.fail(f"non-strict JSON constant {name}"))
    assert list(summary)[:3] == ["schema_version", "run_id", "status"]
    assert summary["overall"] == "FAIL" and summary["exit_code"] == 1
    gates = {gate["name"]: gate for gate in summary["gates"]}
    assert list(gates) == [result.name for result in report.results]
    assert gates["errors"]["value"] is None and gates["errors"]["ci"] == [None, None]
    assert gates["cost"]["relative_change"] == {"value": None, "ci": [None, None]}
    latency = gates["api-latency"]
    assert latency["comparison"] == "below" and latency["threshold"] == 500.0
    assert latency["ci"] == [290, 310] and latency["n"] == 10_000 and latency["unit"] == "ms"
    assert latency["measurement_window"] == [T0 + 10, T0 + 60] and latency["plan"] == "p95 < 500 ms"
    assert gates["streak"]["value"] is None and gates["streak"]["verdict"] == "SKIPPED"
    assert render_json(report) == text  # stable


# ---------------------------------------------------------------- JUnit


def test_junit_parses_and_counts_every_kind(report: Report) -> None:
    suite = ET.fromstring(render_junit(report))
    assert suite.tag == "testsuite" and suite.get("name") == "pavi-validate phase-2"
    # FAIL, INCONCLUSIVE and PENDING fail the build; INVALID is an error; SKIPPED is skipped
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "6",
        "3",
        "1",
        "1",
    )
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["api-latency"].find("failure") is None and cases["api-latency"].find("error") is None
    failure = cases["api-latency-strict"].find("failure")
    assert failure is not None and failure.get("type") == "FAIL" and HOSTILE in failure.get("message", "")
    assert "700.0 ms" in (failure.text or "") and "< 500.0 ms" in (failure.text or "")
    assert cases["errors"].find("failure").get("type") == "INCONCLUSIVE"
    assert cases["cost"].find("failure").get("type") == "PENDING"
    assert cases["frames"].find("error").get("type") == "INVALID"
    assert cases["streak"].find("skipped") is not None
    assert "p95 < 500 ms" in cases["api-latency"].find("system-out").text
    assert all(case.get("classname") == "phase-2" and case.get("time") == "0" for case in cases.values())


def test_junit_survives_control_characters(report: Report) -> None:
    result = report.results[1]
    broken = GateResult(result.gate_set, "ctrl", result.gate, Verdict.FAIL, "bad \x00\x1b[31m byte")
    text = render_junit(Report(report.run, "s", [broken], Verdict.FAIL, 1, None))
    assert ET.fromstring(text).find("testcase/failure") is not None


# ---------------------------------------------------------------- Markdown


def _cells(line: str) -> int:
    """Table delimiters in a row: pipes not escaped by a backslash."""
    return len(re.findall(r"\|", re.sub(r"\\.", "", line)))


def _table_after(lines: list[str], heading: str) -> list[str]:
    start = lines.index(heading) + 2
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    return lines[start:end]


def test_markdown_tables_hold_one_row_per_gate_and_endpoint(report: Report) -> None:
    text = render_markdown(report)
    lines = text.splitlines()
    assert lines[0] == "## pavi-validate phase-2: FAIL"
    assert "**Status: failed**" in lines[2]
    verdicts = _table_after(lines, "### Verdicts")
    assert len(verdicts) == 2 + len(report.results)
    assert {_cells(line) for line in verdicts} == {8}
    endpoints = _table_after(lines, "### Endpoints (steady window)")
    assert len(endpoints) == 2 + len(report.endpoints)
    assert {_cells(line) for line in endpoints} == {10}
    assert "odd\\|name<br>second line" in text
    assert "<script>" not in text
    assert text.index("### Verdicts") < text.index("### Notes") < text.index("### Endpoints")
    assert "Exit code: **1 (GATE\\_FAILED" in text


def test_markdown_without_endpoints(report: Report) -> None:
    empty = Report(report.run, "s", report.results[:1], Verdict.PASS, 0, pd.DataFrame())
    assert "No requests in the steady window." in render_markdown(empty)


# ---------------------------------------------------------------- HTML


def test_html_is_self_contained_and_escapes_server_text(report: Report) -> None:
    html = render_html(report)
    assert 'src="http' not in html and "<link" not in html and "@import" not in html
    assert html.count('<img src="data:image/png;base64,') == len(report.figures) == len(LOAD_FIGURES)
    assert HOSTILE not in html
    assert "&lt;script&gt;" in html
    # the hostile string was planted in a reason, a request name, an error fact, a note and run facts
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5
    assert "<script" not in html.lower()
    assert html.index('id="verdicts"') < html.index('id="notes"') < html.index('id="run"')
    assert html.index('id="run"') < html.index('id="part-load"') < html.index('id="exit-codes"')
    assert all(f'class="badge v-{verdict}"' in html for verdict in Verdict)
    assert "p95 &lt; 500 ms" in html  # the plan line


def test_every_exit_code_is_explained() -> None:
    assert set(EXIT_CODE_MEANINGS) == set(ExitCode)


# ---------------------------------------------------------------- figures


def test_figures_are_pngs_in_display_order(report: Report) -> None:
    assert list(report.figures) == LOAD_FIGURES
    for png in report.figures.values():
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000


def test_figures_only_for_data_that_exists(data: RunData) -> None:
    assert figures_for(RunData(meta={}, path=Path("/nonexistent"))) == {}
    cpu_only = RunData(meta={}, path=Path("/nonexistent"), host=data.host)
    assert list(figures_for(cpu_only)) == ["Load generator and host CPU"]
    # no jobs-in-flight data (a remote target): the endpoint chart claims no jobs
    no_jobs = [*LOAD_FIGURES[:3], "Latency by endpoint over time"]
    no_target = RunData(data.meta, data.path, requests=data.requests, load_events=data.load_events)
    assert list(figures_for(no_target)) == no_jobs
    # a target that reports no queue columns, and no Locust events (no steady window to shade)
    blind = pd.DataFrame({"time": data.target["time"], "pending": None, "in_flight": None})
    no_events = RunData({}, data.path, requests=data.requests, host=data.host, target=blind)
    assert list(figures_for(no_events)) == [*no_jobs, LOAD_FIGURES[4]]


def test_a_million_requests_plot_in_seconds() -> None:
    big = synthetic_data(rows=1_000_000, seconds=600.0)
    began = time.perf_counter()
    figures = figures_for(big)
    assert list(figures) == LOAD_FIGURES
    assert time.perf_counter() - began < 15


def test_console_prints_server_text_literally_not_as_rich_markup(report: Report) -> None:
    from dataclasses import replace

    from rich.console import Console

    from reports.render_console import print_verdicts

    tricky = "first failure: GET /api/pipeline-job/[uuid] answered [/bold] [red]503"
    results = [replace(report.results[0], name="gate [b]x[/b]", reason=tricky), *report.results[1:]]
    console = Console(record=True, width=400, color_system=None)
    print_verdicts(replace(report, results=results, notes=["[/x] note"]), console)
    text = console.export_text()
    assert tricky in text and "gate [b]x[/b]" in text and "[/x] note" in text
