"""Per-gate batch plots and the effective sample size, in every renderer, on constructed results."""

from __future__ import annotations

import base64
import json
import re
import struct

import pytest

from harness.config import Gate
from reports.model import BatchSeries, GateResult, Measurement, Report, Verdict
from reports.plots import batch_figure_name, batch_figures, batch_plot
from reports.render_html import render_html
from reports.render_json import render_json
from reports.render_markdown import render_markdown

NAN = float("nan")
SERIES = BatchSeries(starts=(0.0, 5.0, 10.0, 15.0), values=(300.0, NAN, 320.0, 310.0), length=5.0)
P95 = Gate(metric="load.latency_ms", stat="p95", below="500ms", window="steady")
ERRORS = Gate(metric="load.error_rate", at_most="1%")
COST = Gate(metric="cost.monthly_usd", within_pct_of_baseline=20)


def _results() -> list[GateResult]:
    latency = Measurement(
        "load.latency_ms", "p95", "ms", 310.0, 10_000, (290.0, 330.0), n_eff=1234.4, series=SERIES
    )
    rate = BatchSeries((0.0, 1.0, 2.0), (0.002, 0.004, 0.001), 1.0, axis="job")
    errors = Measurement("load.error_rate", "value", "ratio", 0.003, 500, (0.0, float("inf")), series=rate)
    plain = Measurement("load.latency_ms", "p95", "ms", 280.0, 800, (270.0, 290.0))
    empty = BatchSeries((0.0,), (NAN,), 1.0)  # every batch empty: nothing to draw
    cost = Measurement("cost.monthly_usd", "value", "usd", 10.0, 3, None, series=empty)
    return [
        GateResult("s", "api-latency", P95, Verdict.PASS, "p95 310 ms", latency),
        GateResult("s", "errors", ERRORS, Verdict.INCONCLUSIVE, "no upper bound", errors),
        GateResult("s", "plain", P95, Verdict.PASS, "independent samples", plain),
        GateResult("s", "cost", COST, Verdict.PENDING, "no finite batch", cost),
        GateResult("s", "skipped", P95, Verdict.SKIPPED, "not measured"),
    ]


@pytest.fixture(scope="module")
def report() -> Report:
    results = _results()
    return Report({"id": "r1"}, "s", results, Verdict.INCONCLUSIVE, 4, None, figures=batch_figures(results))


def _row(html: str, gate: str) -> str:
    start = html.index(f'<div class="gate-name">{gate}</div>')
    return html[start : html.index("</tr>", start)]


def test_plots_only_for_gates_with_a_finite_series(report: Report) -> None:
    assert list(report.figures) == [batch_figure_name("api-latency"), batch_figure_name("errors")]
    png = report.figures[batch_figure_name("api-latency")]
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert struct.unpack(">II", png[16:24]) == (320, 160)  # small: 3.2 x 1.6 in at 100 dpi
    assert batch_plot(_results()[2]) is None and batch_plot(_results()[4]) is None


def test_html_shows_each_plot_in_its_gate_row_with_n_eff(report: Report) -> None:
    html = render_html(report)
    row = _row(html, "api-latency")
    b64 = base64.b64encode(report.figures[batch_figure_name("api-latency")]).decode("ascii")
    assert f'<img src="data:image/png;base64,{b64}" alt="batches: api-latency"' in row
    assert '<td class="num n">10,000</td>' in row and '<td class="num n n-eff">1,234</td>' in row
    assert "dashed: threshold" in row and "p95 per batch of 5 s" in row
    errors = _row(html, "errors")
    assert 'alt="batches: errors"' in errors and "dashed: threshold" in errors
    plain = _row(html, "plain")
    assert "<img" not in plain and '<td class="num n n-eff">—</td>' in plain
    assert "<img" not in _row(html, "cost") and "<img" not in _row(html, "skipped")
    # one <img> per figure, none of them in a part section (no "other" part for the batch plots)
    assert html.count('<img src="data:image/png;base64,') == len(report.figures) == 2
    assert 'id="part-other"' not in html


def test_json_has_n_eff_and_the_series_with_nan_as_null(report: Report) -> None:
    text = render_json(report)
    summary = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    gates = {g["name"]: g for g in summary["gates"]}
    latency = gates["api-latency"]
    assert latency["n"] == 10_000 and latency["n_eff"] == pytest.approx(1234.4)
    assert latency["series"] == {"starts": [0.0, 5.0, 10.0, 15.0], "values": [300.0, None, 320.0, 310.0],
                                 "length": 5.0, "axis": "s"}  # fmt: skip
    assert gates["errors"]["series"]["axis"] == "job" and gates["errors"]["ci"] == [0.0, None]
    assert gates["plain"]["n_eff"] is None and gates["plain"]["series"] is None
    skipped = gates["skipped"]
    assert skipped["n_eff"] is None and skipped["series"] is None and skipped["n"] is None
    assert list(latency).index("n_eff") == list(latency).index("n") + 1  # every old key kept, in order
    assert {"value", "ci", "at_least", "unit", "measurement_window", "facts", "baseline"} <= set(latency)


def test_markdown_shows_n_eff_next_to_n(report: Report) -> None:
    text = render_markdown(report)
    assert "| n (effective n) |" in text
    assert re.search(r"\| 10,000 \(1,234\) \|", text) and re.search(r"\| 800 \(—\) \|", text)


def test_a_report_without_batch_figures_renders_without_plots() -> None:
    results = _results()
    bare = Report({"id": "r1"}, "s", results, Verdict.PASS, 0, None)  # figures=False in build_report
    html = render_html(bare)
    assert "<img" not in html and '<td class="num n n-eff">1,234</td>' in html
    assert json.loads(render_json(bare))["gates"][0]["series"]["length"] == 5.0
