"""Evidence from moto server over HTTP, collected by sources/ and judged: real values reach the gates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3

from harness.config import AwsSettings, Target, parse_scenarios
from harness.runstore import create_run
from reports.model import Verdict
from reports.report import build_report
from sources.collect import collect
from sources.spec import SourcesSpec

from .conftest import Moto
from .test_cloudwatch import put
from .test_cost import FEB, JAN, month

LB = "app/pavi-api/50dc6c495c0c9188"
SCENARIOS = parse_scenarios(
    {
        "gates": {
            "evidence": {
                "cost-30": {"metric": "cost.monthly_usd", "reduced_by_pct_vs_baseline": 30},
                "cost-20": {"metric": "cost.monthly_usd", "within_pct_of_baseline": 25},
                "alb-errors": {"metric": "cloudwatch.error_rate", "at_most": "1%"},
            }
        }
    }
)


def test_cost_and_cloudwatch_gates_get_real_values(moto: Moto, tmp_path: Path) -> None:
    moto.inject_costs(month(*FEB, {"AWS Amplify": 30.0, "AWS Fargate": 10.0}), month(*JAN, {"AWS EB": 50.0}))
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=moto.url)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    dims = {"LoadBalancer": LB}
    put(cloudwatch, "AWS/ApplicationELB", "RequestCount", dims, now - timedelta(minutes=3), 6000.0)
    put(cloudwatch, "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", dims, now - timedelta(minutes=3), 12.0)
    target = Target(kind="remote", api_url="http://127.0.0.1:9", aws=AwsSettings(endpoint_url=moto.url))
    spec = SourcesSpec.model_validate(
        {
            "cost": {
                "period": {"start": FEB[0], "end": FEB[1]},
                "baseline": {"start": JAN[0], "end": JAN[1]},
            },
            "cloudwatch": {"lookback": "15m", "period": 60, "load_balancer": LB},
            "cost_cache_dir": tmp_path / "cost-cache",
        }
    )
    run = create_run("staging", None, root=tmp_path / "runs")
    collect(run, target, spec, today=date(2025, 6, 1), now=now + timedelta(minutes=1))
    run.finish()

    results = {r.name: r for r in build_report(run, SCENARIOS, "evidence").results}
    assert results["cost-30"].measurement.value == 40.0
    assert results["cost-30"].baseline.value == 50.0
    assert results["cost-30"].verdict is Verdict.FAIL  # -20% is not the -30% the plan wants
    assert results["cost-20"].verdict is Verdict.PASS
    errors = results["alb-errors"]
    assert errors.measurement.value == 12 / 6000
    assert errors.measurement.n == 6000
    assert errors.verdict is Verdict.PASS, errors.reason
