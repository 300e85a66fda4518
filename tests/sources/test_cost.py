"""Cost Explorer against moto server: results injected through moto's API, read back, cached."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from harness.config import AwsSettings
from sources.aws import open_session
from sources.cost import COST_SCHEMA, collect_cost, cost_request, is_complete

from .conftest import Moto

FEB = (date(2025, 2, 1), date(2025, 3, 1))  # the measured month (end exclusive)
JAN = (date(2025, 1, 1), date(2025, 2, 1))  # the baseline month
LATER = date(2025, 6, 1)


def month(start: date, end: date, services: dict[str, float], estimated: bool = False) -> dict[str, Any]:
    """One GetCostAndUsage answer as Cost Explorer gives it when grouped by SERVICE (Total is empty)."""
    return {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
                "Total": {},
                "Groups": [
                    {"Keys": [name], "Metrics": {"UnblendedCost": {"Amount": f"{usd:.10f}", "Unit": "USD"}}}
                    for name, usd in services.items()
                ],
                "Estimated": estimated,
            }
        ],
        "DimensionValueAttributes": [],
    }


def ce_client(moto: Moto) -> Any:
    return open_session(AwsSettings(region="us-east-1", endpoint_url=moto.url)).client("ce")


class Sent:
    """GetCostAndUsage requests that really left the client (botocore's before-send event)."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        client.meta.events.register("before-send.ce.GetCostAndUsage", self._seen)

    def _seen(self, **_: Any) -> None:
        self.count += 1


def test_totals_against_baseline(moto: Moto, tmp_path: Path) -> None:
    moto.inject_costs(
        month(*FEB, {"AWS Step Functions": 12.5, "Amazon DynamoDB": 30.0, "AWS Amplify": 40.0}),
        month(*JAN, {"AWS Batch": 70.0, "Amazon Elastic Compute Cloud - Compute": 30.0}),
    )
    evidence = collect_cost(ce_client(moto), *FEB, *JAN, today=LATER, out_dir=tmp_path)
    assert evidence.period.total_usd == pytest.approx(82.5)
    assert evidence.baseline.total_usd == pytest.approx(100.0)
    assert evidence.period.total_usd / evidence.baseline.total_usd - 1 == pytest.approx(-0.175)
    assert evidence.complete and evidence.requests == 2 and evidence.cache_hits == 0

    table = pq.read_table(tmp_path / "cost.parquet")
    assert table.schema.equals(COST_SCHEMA)
    rows = table.to_pylist()
    assert len(rows) == 5
    dynamo = next(row for row in rows if row["service"] == "Amazon DynamoDB")
    assert dynamo == {
        "period": "period",
        "start": FEB[0],
        "end": FEB[1],
        "service": "Amazon DynamoDB",
        "amount_usd": 30.0,
        "estimated": False,
    }
    summary = json.loads((tmp_path / "cost.json").read_text())
    assert summary["complete"] is True
    assert summary["period"]["total_usd"] == 82.5 and summary["baseline"]["total_usd"] == 100.0
    assert (summary["period"]["days"], summary["baseline"]["days"]) == (28, 31)
    assert summary["metric"] == "UnblendedCost" and summary["group_by"] == "SERVICE"


def test_pages_are_followed(moto: Moto) -> None:
    first = month(*FEB, {"AWS Amplify": 1.0})
    first["NextPageToken"] = "page-2"
    moto.inject_costs(first, month(*FEB, {"Amazon DynamoDB": 2.0}), month(*JAN, {"AWS Batch": 4.0}))
    evidence = collect_cost(ce_client(moto), *FEB, *JAN, today=LATER)
    assert evidence.requests == 3
    assert sorted(row["service"] for row in evidence.period.rows) == ["AWS Amplify", "Amazon DynamoDB"]
    assert evidence.period.total_usd == pytest.approx(3.0)
    assert evidence.baseline.total_usd == pytest.approx(4.0)


def test_a_period_still_running_is_not_complete(moto: Moto, tmp_path: Path) -> None:
    moto.inject_costs(month(*FEB, {"AWS Amplify": 5.0}, estimated=True), month(*JAN, {"AWS Batch": 9.0}))
    # Cost Explorer lags a day: on 1 March the last day of February is not in yet.
    evidence = collect_cost(ce_client(moto), *FEB, *JAN, today=date(2025, 3, 1), out_dir=tmp_path)
    assert not evidence.period.complete and evidence.baseline.complete and not evidence.complete
    assert evidence.period.estimated
    summary = json.loads((tmp_path / "cost.json").read_text())
    assert summary["complete"] is False and summary["period"]["complete"] is False
    assert summary["baseline"]["complete"] is True


def test_completeness_rule() -> None:
    assert not is_complete(date(2025, 3, 1), today=date(2025, 3, 1))
    assert is_complete(date(2025, 3, 1), today=date(2025, 3, 2))


def test_cache_avoids_a_second_call(moto: Moto, tmp_path: Path) -> None:
    moto.inject_costs(month(*FEB, {"AWS Amplify": 5.0}), month(*JAN, {"AWS Batch": 9.0}))
    client = ce_client(moto)
    sent = Sent(client)
    first = collect_cost(client, *FEB, *JAN, today=LATER, cache_dir=tmp_path / "cache")
    assert sent.count == 2
    second = collect_cost(client, *FEB, *JAN, today=LATER, cache_dir=tmp_path / "cache")
    assert sent.count == 2, "the cached, complete periods must not be asked again"
    assert (second.requests, second.cache_hits) == (0, 2)
    assert second.period.source == "cache" and second.period.total_usd == first.period.total_usd
    assert second.baseline.rows == first.baseline.rows
    assert len(list((tmp_path / "cache").glob("ce-*.json"))) == 2


def test_cache_is_not_reused_for_an_incomplete_period(moto: Moto, tmp_path: Path) -> None:
    moto.inject_costs(month(*FEB, {"AWS Amplify": 5.0}), month(*JAN, {"AWS Batch": 9.0}))
    client = ce_client(moto)
    sent = Sent(client)
    cache = tmp_path / "cache"
    collect_cost(client, *FEB, *JAN, today=date(2025, 3, 1), cache_dir=cache)
    again = collect_cost(client, *FEB, *JAN, today=date(2025, 3, 1), cache_dir=cache)
    assert sent.count == 3  # February twice (still running), January once (complete, cached)
    assert (again.period.source, again.baseline.source) == ("api", "cache")


def test_request_shape_with_tag_and_daily() -> None:
    request = cost_request(*FEB, "DAILY", True, ("project", "pavi"))
    assert request == {
        "TimePeriod": {"Start": "2025-02-01", "End": "2025-03-01"},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        "Filter": {"Tags": {"Key": "project", "Values": ["pavi"], "MatchOptions": ["EQUALS"]}},
    }


def test_ungrouped_totals(moto: Moto) -> None:
    def total(start: date, end: date, usd: float) -> dict[str, Any]:
        period = {"Start": start.isoformat(), "End": end.isoformat()}
        amount = {"UnblendedCost": {"Amount": str(usd), "Unit": "USD"}}
        return {"ResultsByTime": [{"TimePeriod": period, "Total": amount, "Groups": [], "Estimated": False}]}

    moto.inject_costs(total(*FEB, 7.25), total(*JAN, 8.0))
    evidence = collect_cost(ce_client(moto), *FEB, *JAN, group_by_service=False, today=LATER)
    assert [row["service"] for row in evidence.period.rows] == [None]
    assert (evidence.period.total_usd, evidence.baseline.total_usd) == (7.25, 8.0)
