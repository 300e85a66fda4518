"""canary watch against a real moto server over HTTP: ALB metrics in CloudWatch, weighted records in
Route 53, collected into a run and judged by gate set canary-watch.

moto computes no percentiles (a p95 query over existing TargetResponseTime data answers HTTP 500), so
no latency data is put and the latency gate is INVALID here; its request is checked as recorded.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from cutover.watch import WEIGHTS_DIR, WEIGHTS_FILE, dns_name, matching_records, read_route53, run_watch
from harness.config import AwsSettings, Route53Spec, Target, load_scenarios, parse_scenarios
from harness.errors import ConfigError, ExitCode
from harness.parts import Overrides, Where, measure_watch, parts_for
from harness.runstore import Run, create_run
from reports.model import Verdict
from reports.report import build_report
from sources.spec import CloudWatchSpec

from ..conftest import Moto

pytestmark = pytest.mark.usefixtures("aws_env")  # dummy keys only (tests/conftest.py)

LB = "app/pavi-api/50dc6c495c0c9188"
ZONE = "example.org"
RECORD = "pavi-api.example.org"  # written without the trailing dot, as users do
ELB = "AWS/ApplicationELB"
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios.yaml"  # the project's own canary-watch set


def scenarios(zone_id: str | None, *, load_balancer: str | None = LB) -> Any:
    canary: dict[str, Any] = {"new_side": "blue"}
    if zone_id is not None:
        canary["route53"] = {"hosted_zone_id": zone_id, "record_name": RECORD}
    raw: dict[str, Any] = {"workloads": {"canary": canary}}
    if load_balancer is not None:
        raw["sources"] = {"cloudwatch": {"period": 60, "load_balancer": load_balancer}}
    raw["gates"] = {"canary-watch": yaml.safe_load(SCENARIOS.read_text())["gates"]["canary-watch"]}
    return parse_scenarios(raw)


def where(moto: Moto) -> Where:
    target = Target(kind="remote", api_url="http://127.0.0.1:9", aws=AwsSettings(endpoint_url=moto.url))
    return Where("prod", target, target.api_url or "", target.web_url or "")


def put_alb(moto: Moto, end: datetime, requests: int, errors: int, minutes: int = 5) -> None:
    """`requests` and `errors` spread over `minutes` one-minute periods inside the window ending `end`."""
    client = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=moto.url)
    dims = [{"Name": "LoadBalancer", "Value": LB}]
    for minute in range(minutes):
        at = end - timedelta(minutes=2 + minute)
        share = (requests // minutes, errors // minutes)
        data = [
            {"MetricName": name, "Dimensions": dims, "Timestamp": at, "Value": float(value)}
            for name, value in zip(("RequestCount", "HTTPCode_Target_5XX_Count"), share, strict=True)
        ]
        client.put_metric_data(Namespace=ELB, MetricData=data)


def weighted_zone(moto: Moto, weights: dict[str, int], *extra: dict[str, Any]) -> str:
    client = boto3.client("route53", region_name="us-east-1", endpoint_url=moto.url)
    zone = client.create_hosted_zone(Name=ZONE, CallerReference=str(datetime.now(UTC).timestamp()))
    changes = [
        {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": RECORD,
                "Type": "A",
                "SetIdentifier": side,
                "Weight": weight,
                "TTL": 60,
                "ResourceRecords": [{"Value": f"10.0.0.{n + 1}"}],
            },
        }
        for n, (side, weight) in enumerate(weights.items())
    ]
    changes += [{"Action": "CREATE", "ResourceRecordSet": record} for record in extra]
    zone_id = zone["HostedZone"]["Id"]
    client.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return zone_id


def watch(moto: Moto, tmp_path: Path, zone_id: str | None, step: float | None) -> Run:
    """What the CLI's `canary watch` does: the watch part over one run (parts.measure_watch), then judged."""
    run = create_run("prod", None, root=tmp_path / "runs", gate_set="canary-watch")
    options = Overrides(watch_window_s=900.0, step_pct=step)
    measure_watch(run, scenarios(zone_id), where(moto), options)
    run.finish()
    return run


def results(run: Run, zone_id: str | None) -> dict[str, Any]:
    return {result.name: result for result in build_report(run, scenarios(zone_id), "canary-watch").results}


def minute(now: datetime) -> datetime:
    return datetime.fromtimestamp(now.timestamp() // 60 * 60, UTC)


def test_5xx_over_one_percent_fires_the_rollback_trigger(moto: Moto, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    put_alb(moto, minute(now), requests=1000, errors=30)
    zone_id = weighted_zone(moto, {"blue": 10, "green": 90})
    run = watch(moto, tmp_path, zone_id, 10)

    judged = results(run, zone_id)
    errors = judged["error-rate"]
    assert errors.measurement.value == 30 / 1000 and errors.measurement.n == 1000
    assert errors.measurement.ci[0] > 0.01  # Wilson: 2.1% to 4.3%, wholly above the trigger
    assert errors.verdict is Verdict.FAIL, errors.reason
    weights = judged["route53-weights"]
    assert weights.verdict is Verdict.PASS, weights.reason
    assert weights.measurement.value == 0
    assert weights.measurement.facts["blue_weight"] == 10 and weights.measurement.facts["green_weight"] == 90
    latency = judged["latency-p95"]  # moto computes no percentiles: no data points, never a PASS
    assert latency.verdict is Verdict.INVALID and "TargetResponseTime p95" in latency.reason

    # the window ends at the last whole minute and lasts 15 min; the p95 query is the one AWS gets
    summary = json.loads((run.path / "sources" / "cloudwatch.json").read_text())
    start, end = datetime.fromisoformat(summary["start"]), datetime.fromisoformat(summary["end"])
    assert end - start == timedelta(minutes=15) and end.second == 0
    assert minute(now) <= end <= minute(now) + timedelta(minutes=1)  # the minute may turn meanwhile
    queries = {query["id"]: query for query in summary["queries"]}
    assert set(queries) == {"alb_latency_p95", "alb_5xx", "alb_requests"}  # no Step Functions series
    assert queries["alb_latency_p95"]["stat"] == "p95" and queries["alb_latency_p95"]["period"] == 60
    assert run.meta["parts"]["watch"]["status"] == "complete"


def test_quiet_window_passes_and_weights_off_the_step_fail(moto: Moto, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    put_alb(moto, minute(now), requests=1000, errors=2)
    zone_id = weighted_zone(moto, {"blue": 10, "green": 90})
    run = watch(moto, tmp_path, zone_id, 25)

    judged = results(run, zone_id)
    errors = judged["error-rate"]
    assert errors.measurement.ci[1] < 0.01  # Wilson: 0.05% to 0.73%, wholly below the trigger
    assert errors.verdict is Verdict.PASS, errors.reason
    weights = judged["route53-weights"]
    assert weights.verdict is Verdict.FAIL
    assert weights.measurement.value == 15  # 10% of traffic on blue, the step wants 25%
    assert "blue (new side) has weight 10 = 10% of traffic, green weight 90" in weights.reason
    assert "expects 25%" in weights.reason

    written = json.loads((run.path / WEIGHTS_DIR / WEIGHTS_FILE).read_text())
    assert written["weights"] == {"blue": 10, "green": 90}
    assert written["new_side"] == "blue" and written["new_share_pct"] == 10.0
    assert written["expected_step_pct"] == 25 and written["record_name"] == RECORD + "."
    assert [record["set_identifier"] for record in written["records"]] == ["blue", "green"]
    assert written["records"][0]["values"] == ["10.0.0.1"]


def test_missing_record_is_invalid_and_names_what_was_not_found(moto: Moto, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    put_alb(moto, minute(now), requests=1000, errors=2)
    zone_id = weighted_zone(moto, {"blue": 10, "green-v2": 90})
    run = watch(moto, tmp_path, zone_id, 10)

    weights = results(run, zone_id)["route53-weights"]
    assert weights.verdict is Verdict.INVALID
    assert "green: no record with SetIdentifier 'green'" in weights.reason


def test_no_record_of_that_name_says_where_the_listing_went(moto: Moto, tmp_path: Path) -> None:
    other = {"Name": f"www.{ZONE}", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "10.1.1.1"}]}
    zone_id = weighted_zone(moto, {}, other)
    client = boto3.client("route53", region_name="us-east-1", endpoint_url=moto.url)
    found = read_route53(client, Route53Spec(hosted_zone_id=zone_id, record_name=RECORD), "blue", 10)
    assert found["records"] == [] and found["new_share_pct"] is None
    assert found["missing"][0] == (
        f"no A record {RECORD}. in hosted zone {zone_id}; the listing continued with www.{ZONE}. A"
    )


def test_without_a_step_the_weights_are_recorded_and_the_gate_skipped(moto: Moto, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    put_alb(moto, minute(now), requests=1000, errors=2)
    zone_id = weighted_zone(moto, {"blue": 50, "green": 50})
    run = watch(moto, tmp_path, zone_id, None)

    judged = results(run, zone_id)
    assert judged["route53-weights"].verdict is Verdict.SKIPPED
    assert judged["error-rate"].verdict is Verdict.PASS
    written = json.loads((run.path / WEIGHTS_DIR / WEIGHTS_FILE).read_text())
    assert written["new_share_pct"] == 50.0 and written["expected_step_pct"] is None


def test_unknown_hosted_zone_is_a_clear_error_and_cloudwatch_still_judged(moto: Moto, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    put_alb(moto, minute(now), requests=1000, errors=30)
    run = watch(moto, tmp_path, "ZNOSUCHZONE", 10)

    facts = run.meta["parts"]["watch"]["route53"]
    assert facts["status"] == "failed" and facts["exit_code"] == ExitCode.USAGE
    assert "NoSuchHostedZone" in facts["error"]
    assert "workloads.canary.route53.hosted_zone_id" in facts["error"]
    assert run.meta["parts"]["watch"]["status"] == "partial"
    judged = results(run, "ZNOSUCHZONE")
    assert judged["route53-weights"].verdict is Verdict.INVALID
    assert "reading Route 53 failed" in judged["route53-weights"].reason
    assert judged["error-rate"].verdict is Verdict.FAIL


def test_missing_load_balancer_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    run = create_run("prod", None, root=tmp_path / "runs")
    target = Target(kind="remote", api_url="http://127.0.0.1:9")
    with pytest.raises(ConfigError) as raised:
        run_watch(run, target, CloudWatchSpec(), window_s=900, step_pct=10, route53=None, new_side="blue")
    assert "sources.cloudwatch.load_balancer" in str(raised.value)
    assert "app/pavi-api/" in raised.value.fix and raised.value.exit_code == ExitCode.USAGE
    with pytest.raises(ConfigError, match=r"sources\.cloudwatch\.load_balancer"):
        measure_watch(run, scenarios(None, load_balancer=None), Where("prod", target, "", ""), Overrides())
    with pytest.raises(ConfigError, match="shorter than one CloudWatch period"):
        run_watch(run, target, CloudWatchSpec(load_balancer=LB), window_s=30, step_pct=None, route53=None,
                  new_side="blue")  # fmt: skip


def test_records_are_paginated_and_the_group_ends_the_listing(moto: Moto) -> None:
    """Two pages of two records: the group fills the first; the next name/type ends the listing."""
    aaaa = {"Name": RECORD, "Type": "AAAA", "TTL": 60, "ResourceRecords": [{"Value": "::1"}]}
    before = {"Name": f"a.{ZONE}", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "10.1.1.1"}]}
    after = {"Name": f"www.{ZONE}", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "10.1.1.2"}]}
    zone_id = weighted_zone(moto, {"blue": 0, "green": 255}, aaaa, before, after)
    client = boto3.client("route53", region_name="us-east-1", endpoint_url=moto.url)
    calls: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.route53.ListResourceRecordSets", lambda params, **_: calls.append(dict(params))
    )
    spec = Route53Spec(hosted_zone_id=zone_id, record_name=RECORD + ".")
    found = read_route53(client, spec, "green", 100, page_size=2)
    assert [record["set_identifier"] for record in found["records"]] == ["blue", "green"]
    assert found["pages"] == 2 and found["next_record"] == f"{RECORD}. AAAA"
    assert calls[0]["StartRecordName"] == RECORD + "." and calls[0]["StartRecordType"] == "A"
    assert calls[1]["StartRecordName"] == RECORD + "." and calls[1]["StartRecordType"] == "AAAA"
    assert found["new_share_pct"] == 100.0 and found["weights"] == {"blue": 0, "green": 255}


def _raw(name: str, ident: str, weight: int | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"Name": name, "Type": "A", "SetIdentifier": ident, "TTL": 60}
    if weight is not None:
        record["Weight"] = weight
    return {**record, "ResourceRecords": [{"Value": "10.0.0.1"}]}


def test_a_group_split_across_pages_is_read_whole() -> None:
    """Real Route 53 continues a weighted group on the next page (NextRecordIdentifier); moto cannot."""
    name = r"\052.pavi.example.org."  # how Route 53 returns *.pavi.example.org
    pages = [
        {"ResourceRecordSets": [_raw(name, "blue", 0)], "IsTruncated": True},
        {"ResourceRecordSets": [_raw(name, "blue", 0), _raw(name, "canary-old", 0)], "IsTruncated": True},
        {"ResourceRecordSets": [_raw(name, "green", 0), _raw("x.example.org.", "blue", 5)]},
        {"ResourceRecordSets": [_raw(name, "never-read", 7)]},
    ]
    records, next_record, read = matching_records(pages, "*.pavi.example.org", "A")
    assert [record["set_identifier"] for record in records] == ["blue", "canary-old", "green"]
    assert next_record == "x.example.org. A" and read == 3
    assert dns_name(name) == "*.pavi.example.org" == dns_name("*.PAVI.example.org.")


def test_share_counts_every_weighted_record_and_all_zero_splits_evenly() -> None:
    from cutover.watch import _record, weights

    spec = Route53Spec(hosted_zone_id="Z1", record_name=RECORD)
    name = RECORD + "."
    three = [
        _record(_raw(name, "blue", 25)),
        _record(_raw(name, "green", 50)),
        _record(_raw(name, "old", 25)),
    ]
    assert weights(three, spec, "blue", 25)["new_share_pct"] == 25.0
    assert weights(three, spec, "blue", 25)["other_weights"] == {"old": 25}
    zeros = [_record(_raw(name, "blue", 0)), _record(_raw(name, "green", 0))]
    assert weights(zeros, spec, "blue", 50)["new_share_pct"] == 50.0  # Route 53: all 0 -> equal split
    unweighted = [_record(_raw(name, "blue")), _record(_raw(name, "green", 100))]
    assert weights(unweighted, spec, "blue", 0)["missing"] == [
        "blue: the record with SetIdentifier 'blue' has no Weight (not weighted)"
    ]


def test_only_canary_watch_picks_the_watch_part() -> None:
    config = load_scenarios(SCENARIOS)
    assert parts_for(config, "canary-watch") == ["watch"]
    assert "sources" in parts_for(config, "success") and "watch" not in parts_for(config, "success")
    assert "watch" not in parts_for(config, "phase-2")


def test_the_canary_watch_command_says_roll_back_with_exit_1(moto: Moto, tmp_path: Path) -> None:
    from tests.support import run_cli

    put_alb(moto, minute(datetime.now(UTC)), requests=1000, errors=30)
    zone_id = weighted_zone(moto, {"blue": 25, "green": 75})
    raw = {
        "default_target": "prod",
        "targets": {
            "prod": {"kind": "remote", "api_url": "http://127.0.0.1:9", "aws": {"endpoint_url": moto.url}}
        },
        "sources": {"cloudwatch": {"period": 60, "load_balancer": LB}},
        "workloads": {"canary": {"route53": {"hosted_zone_id": zone_id, "record_name": RECORD}}},
        "gates": {"canary-watch": yaml.safe_load(SCENARIOS.read_text())["gates"]["canary-watch"]},
    }
    config = tmp_path / "scenarios.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = run_cli(
        "canary", "watch", "--config", str(config), "--window", "15m", "--step", "25",
        env={"PAVI_RUNS_DIR": str(tmp_path / "runs")},
    )  # fmt: skip
    assert result.returncode == ExitCode.GATE_FAILED, result.stdout + result.stderr
    summary = json.loads(next((tmp_path / "runs").glob("*/report/summary.json")).read_text())
    verdicts = {gate["name"]: gate["verdict"] for gate in summary["gates"]}
    assert verdicts["error-rate"] == "FAIL"  # 3% 5xx: the rollback trigger fired
    assert verdicts["route53-weights"] == "PASS"  # blue (new) at 25% as the step says
    assert "Traceback" not in result.stderr
