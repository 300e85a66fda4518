"""The sources part: collect what a SourcesSpec asks for into `runs/<id>/sources/` and record it in run.json.

Each source runs on its own: one that fails (expired credentials, a broken JUnit file) records its
error under `parts.sources.<name>` and the others still run, so the judge can say INVALID for the
gates that lost their evidence and judge the rest. Error text is scrubbed of credentials first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.config import AwsSettings, Target
from harness.errors import HarnessError
from harness.runstore import Run
from sources.aws import AwsSession, effective_settings, open_session, redact
from sources.spec import CloudWatchSpec, CostSpec, E2ESpec, SmokeSpec, SourcesSpec

PART = "sources"


class _Aws:
    """One session per collection, opened when the first AWS source needs it (a failure is retried)."""

    def __init__(self, settings: AwsSettings) -> None:
        self.settings = settings
        self.session: AwsSession | None = None

    def get(self) -> AwsSession:
        if self.session is None:
            self.session = open_session(self.settings)
        return self.session

    def redact(self, text: str) -> str:
        return self.session.redact(text) if self.session else redact(text)


def _cost(run: Run, aws: _Aws, spec: CostSpec, cache_dir: Path, today: date | None) -> dict[str, Any]:
    from sources.cost import COST_FILE, SUMMARY_FILE, collect_cost

    evidence = collect_cost(
        aws.get().client("ce"),
        spec.period.start,
        spec.period.end,
        spec.baseline.start,
        spec.baseline.end,
        granularity=spec.granularity,
        group_by_service=spec.group_by_service,
        tag=spec.tag,
        today=today,
        cache_dir=cache_dir,
        cache_scope=f"{aws.settings.profile or ''}|{aws.settings.region}",
        out_dir=run.part_dir(PART),
    )
    return {
        "files": [COST_FILE, SUMMARY_FILE],
        "complete": evidence.complete,
        "period_total_usd": round(evidence.period.total_usd, 6),
        "baseline_total_usd": round(evidence.baseline.total_usd, 6),
        "requests": evidence.requests,
        "cache_hits": evidence.cache_hits,
    }


def window(spec: CloudWatchSpec, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end) as given, or the lookback ending at `now` floored to whole periods."""
    if spec.start is not None and spec.end is not None:
        return spec.start, spec.end
    now = now or datetime.now(UTC)
    end = datetime.fromtimestamp(now.timestamp() // spec.period * spec.period, UTC)
    return end - timedelta(seconds=spec.lookback), end


def _cloudwatch(
    run: Run, target: Target, aws: _Aws, spec: CloudWatchSpec, now: datetime | None
) -> dict[str, Any]:
    from sources.cloudwatch import (
        METRICS_FILE,
        SUMMARY_FILE,
        alb_queries,
        collect_metrics,
        stepfunctions_queries,
        write_metrics,
    )

    queries = list(spec.queries)
    if spec.load_balancer:
        queries += alb_queries(spec.load_balancer)
    state_machine = spec.state_machine_arn or target.state_machine_arn
    if state_machine:
        queries += stepfunctions_queries(state_machine)
    start, end = window(spec, now)
    frame = collect_metrics(aws.get().client("cloudwatch"), queries, start, end, spec.period)
    write_metrics(frame, run.part_dir(PART), queries, start, end, spec.period)
    return {
        "files": [METRICS_FILE, SUMMARY_FILE],
        "start": start.isoformat(),
        "end": end.isoformat(),
        "queries": len(queries),
        "points": len(frame),
    }


def _e2e(run: Run, spec: E2ESpec) -> dict[str, Any]:
    from sources.e2e import CASES_FILE, SUMMARY_FILE, collect_e2e

    frame = collect_e2e(spec.junit, out_dir=run.part_dir(PART))
    return {"files": [CASES_FILE, SUMMARY_FILE], "cases": len(frame)}


def _smoke(run: Run, spec: SmokeSpec, web_url: str, api_url: str) -> dict[str, Any]:
    from sources.smoke import SMOKE_FILE, smoke

    result = smoke(
        web_url,
        api_url,
        timeout_s=spec.timeout,
        expected_version=spec.expected_version,
        version_header=spec.version_header,
        web_path=spec.web_path,
        api_path=spec.api_path,
        out_dir=run.part_dir(PART),
    )
    return {"files": [SMOKE_FILE], **{f"{name}_ok": check["ok"] for name, check in result["checks"].items()}}


def collect(
    run: Run,
    target: Target,
    spec: SourcesSpec,
    *,
    urls: tuple[str, str] | None = None,
    today: date | None = None,
    now: datetime | None = None,
) -> dict[str, dict[str, Any]]:
    """Collect every source `spec` names; returns (and records in run.json) what each one did.

    `urls` is (api_url, web_url) when the caller has resolved them (default: `target.urls()`).
    Each entry has `status` ("collected" or "failed"), `seconds`, and either facts or `error`.
    """
    from harness.stack import data_dir

    api_url, web_url = urls or target.urls()
    cache_dir = spec.cost_cache_dir or data_dir() / "cost-cache"
    settings = effective_settings(target.aws)
    aws = _Aws(settings)
    jobs: dict[str, Callable[[], dict[str, Any]]] = {}
    if spec.cost is not None:
        cost_spec = spec.cost
        jobs["cost"] = lambda: _cost(run, aws, cost_spec, cache_dir, today)
    if spec.cloudwatch is not None:
        cloudwatch_spec = spec.cloudwatch
        jobs["cloudwatch"] = lambda: _cloudwatch(run, target, aws, cloudwatch_spec, now)
    if spec.e2e is not None:
        e2e_spec = spec.e2e
        jobs["e2e"] = lambda: _e2e(run, e2e_spec)
    if spec.smoke is not None:
        smoke_spec = spec.smoke
        jobs["smoke"] = lambda: _smoke(run, smoke_spec, web_url, api_url)
    run.record_part(PART, requested=list(jobs), aws=settings.model_dump())
    outcomes: dict[str, dict[str, Any]] = {}
    for name, job in jobs.items():
        started = time.monotonic()
        try:
            facts: dict[str, Any] = {"status": "collected", **job()}
        except HarnessError as error:
            facts = {"status": "failed", "error": aws.redact(str(error)), "exit_code": int(error.exit_code)}
        except Exception as error:  # one source's bug must not lose the others' evidence
            facts = {"status": "failed", "error": aws.redact(f"{type(error).__name__}: {error}")}
        facts["seconds"] = round(time.monotonic() - started, 3)
        outcomes[name] = facts
        run.record_part(PART, **{name: facts})
    failed = [name for name, facts in outcomes.items() if facts["status"] == "failed"]
    status = "failed" if failed and len(failed) == len(outcomes) else "partial" if failed else "complete"
    run.record_part(PART, status=status, failed=failed)
    return outcomes
