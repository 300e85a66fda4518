"""Evidence gates judged from what sources/ writes: cost (own baseline, PENDING), E2E, smoke, CloudWatch."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.config import parse_scenarios
from harness.runstore import create_run
from reports.model import Verdict
from reports.report import build_report

SCENARIOS = parse_scenarios(
    {
        "gates": {
            "evidence": {
                "cost": {"metric": "cost.monthly_usd", "within_pct_of_baseline": 20},
                "e2e": {"metric": "e2e.pass_rate", "at_least": "100%"},
                "web": {"metric": "deploy.web_up", "at_least": 1},
                "p95": {"metric": "cloudwatch.api_latency_ms", "stat": "p95", "below": "500ms"},
                "errors": {"metric": "cloudwatch.error_rate", "at_most": "1%"},
            }
        }
    }
)


def _run(tmp_path: Path, period_total: float, complete: bool, outcomes: list[str], web_ok: bool):
    run = create_run("staging", None, root=tmp_path)
    folder = run.part_dir("sources")
    import json

    def totals(total: float, done: bool) -> dict:
        return {"days": 31, "total_usd": total, "complete": done}

    (folder / "cost.json").write_text(
        json.dumps(
            {"period": totals(period_total, complete), "baseline": totals(100.0, True), "complete": complete}
        )
    )
    pd.DataFrame({"name": [f"t{i}" for i in range(len(outcomes))], "outcome": outcomes}).to_parquet(
        folder / "e2e.parquet"
    )
    (folder / "smoke.json").write_text(
        json.dumps({"checks": {"web": {"url": "http://x/health", "ok": web_ok}}})
    )
    pd.DataFrame(
        {
            "query_id": ["alb_latency_p95"] * 3 + ["alb_5xx", "alb_requests"],
            "value": [0.21, 0.35, 0.28, 3.0, 10_000.0],
        }
    ).to_parquet(folder / "cloudwatch.parquet")
    run.record_part(
        "sources",
        cost={"status": "collected"},
        e2e={"status": "collected"},
        smoke={"status": "collected"},
        cloudwatch={"status": "collected"},
    )
    run.finish()
    report = build_report(run, SCENARIOS, "evidence")
    return {r.name: r for r in report.results}


def test_healthy_evidence_passes(tmp_path) -> None:
    results = _run(tmp_path, 110.0, True, ["passed"] * 4 + ["skipped"], True)
    assert {name: r.verdict for name, r in results.items()} == dict.fromkeys(results, Verdict.PASS)
    assert "+10.0%" in results["cost"].reason
    assert results["p95"].measurement.value == 350.0  # the worst period, seconds -> ms


def test_broken_evidence_fails_and_incomplete_cost_is_pending(tmp_path) -> None:
    results = _run(tmp_path, 130.0, False, ["passed", "failed", "passed"], False)
    assert results["cost"].verdict is Verdict.PENDING
    assert results["e2e"].verdict is Verdict.FAIL
    assert "t1" in results["e2e"].reason
    assert results["web"].verdict is Verdict.FAIL


def test_a_source_that_failed_is_invalid(tmp_path) -> None:
    run = create_run("staging", None, root=tmp_path)
    run.record_part("sources", cost={"status": "failed", "error": "no AWS credentials: run aws sso login"})
    run.finish()
    results = {r.name: r for r in build_report(run, SCENARIOS, "evidence").results}
    assert results["cost"].verdict is Verdict.INVALID
    assert "aws sso login" in results["cost"].reason
    assert results["e2e"].verdict is Verdict.SKIPPED
