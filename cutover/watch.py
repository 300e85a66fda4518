"""`canary watch`: did a rollback trigger fire in the last window, and is Route 53 at the expected step?

Collects, judges nothing. The ALB's 5xx count, request count and p95 TargetResponseTime for the
window ending now go into the run exactly as the sources part collects them (`sources/cloudwatch.*`,
`parts.sources.cloudwatch` in run.json), so the same metrics judge them. When
`workloads.canary.route53` is set, the weighted records are read with ListResourceRecordSets and
written to `canary/route53.json`: each side's weight, the new side's share of the traffic, the
expected canary step and the records seen.

What only real AWS shows: percentile values (moto computes none) and a weighted group split across
ListResourceRecordSets pages (moto returns no NextRecordIdentifier, so a split group repeats and
botocore stops with "the same next token was received twice").
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from harness.config import Route53Spec, Target
from harness.errors import ConfigError, EnvironmentProblem, ExitCode, HarnessError
from harness.runstore import Run, write_json_atomic
from sources.aws import aws_errors, open_session, redact
from sources.spec import CloudWatchSpec, SourcesSpec

PART = "watch"
WEIGHTS_DIR = "canary"
WEIGHTS_FILE = "route53.json"
SIDES = ("blue", "green")
_ESCAPED = re.compile(r"\\([0-7]{3})")  # Route 53 writes e.g. `*` as \052 in the names it returns


def dns_name(name: str) -> str:
    """A record name as Route 53 compares it: escapes decoded, lower case, no trailing dot."""
    return _ESCAPED.sub(lambda found: chr(int(found[1], 8)), name).rstrip(".").lower()


def _record(raw: dict[str, Any]) -> dict[str, Any]:
    alias = raw.get("AliasTarget")
    return {
        "name": raw.get("Name"),
        "type": raw.get("Type"),
        "set_identifier": raw.get("SetIdentifier"),
        "weight": raw.get("Weight"),
        "values": [value.get("Value") for value in raw.get("ResourceRecords", [])],
        "alias": alias.get("DNSName") if alias else None,
        "health_check_id": raw.get("HealthCheckId"),
    }


def matching_records(
    pages: Iterable[dict[str, Any]], record_name: str, record_type: str
) -> tuple[list[dict[str, Any]], str | None, int]:
    """The records named `record_name` of `record_type` from ListResourceRecordSets pages listed from there.

    Route 53 lists in order from StartRecordName/StartRecordType, so the first record of another name
    or type ends the group: later pages are not fetched. A record seen twice (same SetIdentifier) is
    kept once. Returns the records, the first other record ("name type", None if the zone ended) and
    the pages read.
    """
    wanted = dns_name(record_name)
    records: list[dict[str, Any]] = []
    seen: set[str | None] = set()
    read = 0
    for page in pages:
        read += 1
        for raw in page.get("ResourceRecordSets", []):
            if dns_name(str(raw.get("Name", ""))) != wanted or raw.get("Type") != record_type:
                return records, f"{raw.get('Name')} {raw.get('Type')}", read
            if raw.get("SetIdentifier") in seen:
                continue
            seen.add(raw.get("SetIdentifier"))
            records.append(_record(raw))
    return records, None, read


def weights(
    records: list[dict[str, Any]], spec: Route53Spec, new_side: str, step_pct: float | None
) -> dict[str, Any]:
    """Each side's weight, the new side's share in % and what is missing, from the group's records.

    The share is over every weighted record of the group (a third one takes traffic too); when all
    weights are 0, Route 53 answers with each record equally often.
    """
    by_id = {record["set_identifier"]: record for record in records}
    identifiers = {"blue": spec.blue_set_identifier, "green": spec.green_set_identifier}
    side_weights: dict[str, int | None] = {}
    missing: list[str] = []
    for side, identifier in identifiers.items():
        record = by_id.get(identifier)
        if record is None:
            missing.append(f"{side}: no record with SetIdentifier {identifier!r}")
        elif record["weight"] is None:
            missing.append(
                f"{side}: the record with SetIdentifier {identifier!r} has no Weight (not weighted)"
            )
        side_weights[side] = None if record is None else record["weight"]
    others = {
        str(record["set_identifier"]): int(record["weight"])
        for record in records
        if record["set_identifier"] not in identifiers.values() and record["weight"] is not None
    }
    total = sum(weight or 0 for weight in side_weights.values()) + sum(others.values())
    share: float | None = None
    if not missing:
        new_weight = side_weights[new_side] or 0
        share = 100 * new_weight / total if total else 100 / (2 + len(others))
    return {
        "set_identifiers": identifiers,
        "new_side": new_side,
        "weights": side_weights,
        "other_weights": others,
        "total_weight": total,
        "new_share_pct": None if share is None else round(share, 4),
        "expected_step_pct": step_pct,
        "missing": missing,
    }


def read_route53(
    client: Any,
    spec: Route53Spec,
    new_side: str,
    step_pct: float | None,
    *,
    now: datetime | None = None,
    page_size: int | None = None,
) -> dict[str, Any]:
    """The weighted group of `spec` from a `route53` client, as written to route53.json."""
    start_name = spec.record_name.rstrip(".") + "."
    what = "Route 53 ListResourceRecordSets"
    config: dict[str, Any] = {"PageSize": page_size} if page_size else {}
    pages = client.get_paginator("list_resource_record_sets").paginate(
        HostedZoneId=spec.hosted_zone_id,
        StartRecordName=start_name,
        StartRecordType=spec.record_type,
        PaginationConfig=config,
    )
    with aws_errors(what):  # what is not handled here becomes a clear HarnessError (sources.aws)
        try:
            records, next_record, read = matching_records(pages, spec.record_name, spec.record_type)
        except ClientError as error:
            info = error.response.get("Error", {})
            code = str(info.get("Code", ""))
            if code in ("NoSuchHostedZone", "InvalidInput"):
                raise ConfigError(
                    f"{what}: {code}: {redact(str(info.get('Message', '')))}",
                    "check workloads.canary.route53.hosted_zone_id and record_name in scenarios.yaml",
                ) from None
            if code in ("AccessDenied", "AccessDeniedException"):
                raise EnvironmentProblem(
                    f"{what}: access denied ({code})", "grant the role route53:ListResourceRecordSets"
                ) from None
            raise
    summary = weights(records, spec, new_side, step_pct)
    if summary["missing"] and not records:
        after = f"; the listing continued with {next_record}" if next_record else "; the zone ends there"
        summary["missing"].insert(
            0, f"no {spec.record_type} record {start_name} in hosted zone {spec.hosted_zone_id}{after}"
        )
    return {
        "read_at": (now or datetime.now(UTC)).astimezone(UTC).isoformat(),
        "hosted_zone_id": spec.hosted_zone_id,
        "record_name": start_name,
        "record_type": spec.record_type,
        **summary,
        "records": records,
        "next_record": next_record,
        "pages": read,
    }


def _check(cloudwatch: CloudWatchSpec | None, window_s: float, step_pct: float | None, new_side: str) -> str:
    if cloudwatch is None or not cloudwatch.load_balancer:
        raise ConfigError(
            "canary watch needs the ALB: sources.cloudwatch.load_balancer is not set",
            "set sources.cloudwatch.load_balancer in scenarios.yaml to the ALB's LoadBalancer dimension "
            "(app/<name>/<id>, the end of its ARN), e.g. app/pavi-api/50dc6c495c0c9188",
        )
    if window_s < cloudwatch.period:
        raise ConfigError(
            f"the window ({window_s:g} s) is shorter than one CloudWatch period ({cloudwatch.period} s)",
            "use a longer --window (15m is the plan's watch) or a smaller sources.cloudwatch.period",
        )
    if step_pct is not None and not 0 <= step_pct <= 100:
        raise ConfigError(f"the canary step {step_pct:g}% is not a share of traffic", "give --step 0 to 100")
    if new_side not in SIDES:
        raise ConfigError(f"new side {new_side!r} is neither blue nor green", "set workloads.canary.new_side")
    return cloudwatch.load_balancer


def run_watch(
    run: Run,
    target: Target,
    cloudwatch: CloudWatchSpec | None,
    *,
    window_s: float,
    step_pct: float | None,
    route53: Route53Spec | None,
    new_side: str,
    now: datetime | None = None,
    urls: tuple[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Collect the ALB's CloudWatch window ending `now` and, when `route53` is set, the weighted records.

    Returns what each did ({"cloudwatch": facts, "route53": facts}), as recorded in run.json. A source
    that fails is recorded (its gates become INVALID) and the other still runs; when everything asked
    for failed, raises the first failure's error.
    """
    from sources.collect import collect

    load_balancer = _check(cloudwatch, window_s, step_pct, new_side)
    assert cloudwatch is not None
    now = now or datetime.now(UTC)
    run.record_part(
        PART,
        window_s=window_s,
        step_pct=step_pct,
        new_side=new_side,
        load_balancer=load_balancer,
        route53=None if route53 is None else {"requested": route53.model_dump()},
    )
    # only the ALB's three series, over the window ending now (not the sources block's own window)
    spec = cloudwatch.model_copy(
        update={
            "lookback": float(window_s),
            "start": None,
            "end": None,
            "queries": [],
            "state_machine_arn": None,
        }
    )
    alb_only = target.model_copy(update={"state_machine_arn": None})
    outcomes = collect(run, alb_only, SourcesSpec(cloudwatch=spec), urls=urls or ("", ""), now=now)
    if route53 is not None:
        started = time.monotonic()
        scrub = redact
        try:
            session = open_session(target.aws)
            scrub = session.redact
            found = read_route53(session.client("route53"), route53, new_side, step_pct, now=now)
            write_json_atomic(run.part_dir(WEIGHTS_DIR) / WEIGHTS_FILE, found)
            facts: dict[str, Any] = {
                "status": "collected",
                "file": f"{WEIGHTS_DIR}/{WEIGHTS_FILE}",
                "weights": found["weights"],
                "new_share_pct": found["new_share_pct"],
                "missing": found["missing"],
            }
        except HarnessError as error:
            facts = {"status": "failed", "error": scrub(str(error)), "exit_code": int(error.exit_code)}
        except Exception as error:  # a bug here must not lose the CloudWatch evidence already collected
            facts = {"status": "failed", "error": scrub(f"{type(error).__name__}: {error}")}
        facts["seconds"] = round(time.monotonic() - started, 3)
        outcomes["route53"] = facts
        run.record_part(PART, route53={"requested": route53.model_dump(), **facts})
    failed = [name for name, facts in outcomes.items() if facts.get("status") == "failed"]
    status = "failed" if len(failed) == len(outcomes) else "partial" if failed else "complete"
    run.record_part(PART, status=status, failed=failed)
    if status == "failed":
        errors = "; ".join(f"{name}: {outcomes[name].get('error')}" for name in failed)
        code = outcomes[failed[0]].get("exit_code", ExitCode.ENVIRONMENT)
        raise HarnessError(f"canary watch collected nothing: {errors}", "see run.json parts", ExitCode(code))
    return outcomes
