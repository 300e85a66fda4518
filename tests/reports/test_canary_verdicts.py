"""Blue against green on constructed runs: per-side gates, the comparisons, consistency, GO / NO-GO."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from harness.config import parse_scenarios
from harness.runstore import create_run, write_json_atomic
from loadtests.rows import ChunkWriter
from reports.judge import decision
from reports.model import Verdict
from reports.render_html import render_html
from reports.render_json import render_json
from reports.render_markdown import render_markdown
from reports.report import build_report
from reports.stats import difference_ci, mann_whitney, wilson_ci

GATES = {
    "error-rate": {"metric": "load.error_rate", "at_most": "1%", "window": "steady"},
    "latency-p95": {"metric": "load.latency_ms", "stat": "p95", "at_most": "1s", "window": "steady"},
    "data-consistency": {"metric": "canary.consistency_mismatches", "at_most": 0},
    "latency-vs-old": {
        "metric": "canary.latency_diff_ms",
        "stat": "p95",
        "at_most": "250ms",
        "window": "steady",
    },
    "errors-vs-old": {"metric": "canary.error_rate_diff", "at_most": "0.5%", "window": "steady"},
}
SCENARIOS = parse_scenarios({"gates": {"canary": GATES}})


def _canary_run(
    tmp_path, *, green_errors: float = 0.0, blue_extra_ms: float = 0.0, mismatch: bool = False, n: int = 4000
):
    """A finished canary run: n requests per side over 60 s; green may have errors, blue extra latency."""
    rng = np.random.default_rng(7)
    run = create_run("blue+green", None, root=tmp_path, gate_set="canary")
    run.record_part("canary", sides={"blue": "http://b", "green": "http://g"}, new_side="blue", step_pct=25)
    run.record_part("load", settle_s=0.0, duration_s=60.0)
    start = 1_000_000.0
    rows = []
    for side in ("blue", "green"):
        latencies = rng.lognormal(np.log(40), 0.4, n) + (blue_extra_ms if side == "blue" else 0.0)
        failing = rng.random(n) < (green_errors if side == "green" else 0.0)
        for i in range(n):
            error = "HTTP 503" if failing[i] else None
            rows.append(
                (start + 60 * i / n, "GET /api/health", "GET", 503 if error else 200, float(latencies[i]), 15,
                 error, f"w0-{i % 20}", side)
            )  # fmt: skip
    writer = ChunkWriter(run.part_dir("load") / "requests.parquet")
    writer.write(rows)
    writer.close()
    events = {"test_start": start, "spawning_complete": start, "test_stop": start + 60.0}
    (run.part_dir("load") / "events.json").write_text(json.dumps(events))
    jobs = [
        {"payload": 0, "mismatch": mismatch, "reason": "alignment differs" if mismatch else "",
         "diff": "--- green/x/alignment\n+++ blue/y/alignment\n-<b>old</b>\n+new" if mismatch else ""},
        {"payload": 1, "mismatch": False, "reason": "", "diff": ""},
    ]  # fmt: skip
    write_json_atomic(run.part_dir("canary") / "consistency.json", {"jobs": jobs, "checked": 2})
    run.finish()
    return run


def _verdicts(report) -> dict[str, Verdict]:
    return {result.name: result.verdict for result in report.results}


def test_equal_sides_are_a_go_with_every_load_gate_judged_per_side(tmp_path) -> None:
    report = build_report(_canary_run(tmp_path), SCENARIOS, "canary", figures=False)
    verdicts = _verdicts(report)
    assert set(verdicts) == {
        "error-rate (blue)", "error-rate (green)", "latency-p95 (blue)", "latency-p95 (green)",
        "data-consistency", "latency-vs-old", "errors-vs-old",
    }  # fmt: skip
    assert set(verdicts.values()) == {Verdict.PASS}, [r.reason for r in report.results]
    assert report.canary is not None and report.canary.decision == "GO"
    assert 0.45 < report.canary.slower_share < 0.55  # type: ignore[operator]
    assert report.canary.mann_whitney_p > 0.01  # type: ignore[operator]


def test_errors_on_one_side_are_a_no_go_named_by_side(tmp_path) -> None:
    report = build_report(_canary_run(tmp_path, green_errors=0.03), SCENARIOS, "canary", figures=False)
    verdicts = _verdicts(report)
    assert verdicts["error-rate (green)"] is Verdict.FAIL
    assert verdicts["error-rate (blue)"] is Verdict.PASS
    assert report.canary is not None and report.canary.decision == "NO-GO"


def test_a_slower_new_side_fails_the_comparison_but_not_the_triggers(tmp_path) -> None:
    report = build_report(_canary_run(tmp_path, blue_extra_ms=400.0), SCENARIOS, "canary", figures=False)
    verdicts = _verdicts(report)
    assert verdicts["latency-vs-old"] is Verdict.FAIL  # blue (new) p95 about 400 ms above green
    assert verdicts["latency-p95 (blue)"] is Verdict.PASS  # still under the 1 s rollback trigger
    assert report.canary is not None and report.canary.decision == "NO-GO"
    assert report.canary.slower_share > 0.99  # type: ignore[operator]
    assert report.canary.mann_whitney_p < 1e-6  # type: ignore[operator]


def test_an_inconsistent_result_is_a_no_go_with_an_escaped_readable_diff(tmp_path) -> None:
    report = build_report(_canary_run(tmp_path, mismatch=True), SCENARIOS, "canary", figures=True)
    assert _verdicts(report)["data-consistency"] is Verdict.FAIL
    assert report.canary is not None and report.canary.decision == "NO-GO"
    html = render_html(report)
    assert "<b>old</b>" not in html and "&lt;b&gt;old&lt;/b&gt;" in html
    assert "+++ blue/y/alignment" in html
    assert "alignment differs" in render_markdown(report)
    summary = json.loads(render_json(report))
    assert summary["canary"]["decision"] == "NO-GO"
    assert summary["canary"]["comparison"][0]["side"] == "blue (new)"


def test_too_few_requests_make_the_comparison_invalid_not_a_go(tmp_path) -> None:
    report = build_report(_canary_run(tmp_path, n=30), SCENARIOS, "canary", figures=False)
    verdicts = _verdicts(report)
    assert verdicts["latency-vs-old"] is Verdict.INVALID
    assert report.canary is not None and report.canary.decision == "INCONCLUSIVE"


def test_difference_interval_matches_newcombe_for_proportions() -> None:
    # Newcombe (1998), method 10, example (a): 56/70 vs 48/80 -> 0.0524 to 0.3339
    low, high = difference_ci(56 / 70, wilson_ci(56, 70), 48 / 80, wilson_ci(48, 80))  # type: ignore[misc]
    assert low == pytest.approx(0.0524, abs=5e-4)
    assert high == pytest.approx(0.3339, abs=5e-4)


def test_mann_whitney_share_is_half_for_equal_samples_and_one_for_disjoint() -> None:
    same = np.arange(100.0)
    assert mann_whitney(same, same)[0] == pytest.approx(0.5)
    share, p_value = mann_whitney(same + 1000, same)
    assert share == 1.0 and p_value < 1e-10


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ({Verdict.PASS}, "GO"),
        ({Verdict.PASS, Verdict.FAIL}, "NO-GO"),
        ({Verdict.PASS, Verdict.INVALID}, "INCONCLUSIVE"),
    ],
)
def test_decision_follows_the_worst_gate(verdicts, expected, tmp_path) -> None:
    report = build_report(_canary_run(tmp_path), SCENARIOS, "canary", figures=False)
    results = [replace(report.results[0], verdict=verdict) for verdict in verdicts]
    assert decision(results) == expected
