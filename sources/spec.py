"""What to collect: the typed settings of the sources part (meant for a `sources:` block in scenarios.yaml).

Kept free of boto3 and pandas so the config loader can import it cheaply. Durations carry units
(harness.units), like every other duration in scenarios.yaml.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from harness.units import parse_duration_s

Seconds = Annotated[float, BeforeValidator(parse_duration_s), Field(gt=0)]

# CloudWatch statistics: the five basic ones, or an extended one (p95, tm99, PR(:300), IQM, ...).
_BASIC_STATS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_EXTENDED_STAT = re.compile(
    r"^(?:(?:p|tm|wm|tc|ts)\d{1,2}(?:\.\d{1,10})?|p100|(?:TM|WM|TC|TS|PR)\(.+\)|IQM)$"
)
_QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")


def _period(value: int) -> int:
    if value not in (1, 5, 10, 20, 30) and value % 60:
        raise ValueError("CloudWatch periods are 1, 5, 10, 20, 30 s or a multiple of 60 s")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricQuery(_Model):
    """One CloudWatch metric and statistic; `period` (seconds) falls back to the collection's period."""

    id: str
    namespace: str
    metric: str
    dimensions: dict[str, str] = Field(default_factory=dict)
    stat: str
    period: int | None = Field(None, gt=0)

    @field_validator("id")
    @classmethod
    def _cloudwatch_id(cls, value: str) -> str:
        if not _QUERY_ID.match(value):
            raise ValueError("must start with a lowercase letter, then letters, digits or _ (CloudWatch)")
        return value

    @field_validator("stat")
    @classmethod
    def _known_stat(cls, value: str) -> str:
        if value in _BASIC_STATS or _EXTENDED_STAT.match(value):
            return value
        raise ValueError(
            f"not a CloudWatch statistic; use one of {', '.join(_BASIC_STATS)} or a percentile such as p95"
        )

    @field_validator("period")
    @classmethod
    def _cloudwatch_period(cls, value: int | None) -> int | None:
        return None if value is None else _period(value)


class DateRange(_Model):
    """Days [start, end): the end is exclusive, as in Cost Explorer's TimePeriod."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start}); the end is exclusive")
        return self


class CostSpec(_Model):
    period: DateRange
    baseline: DateRange
    granularity: Literal["MONTHLY", "DAILY"] = "MONTHLY"
    group_by_service: bool = True
    tag: tuple[str, str] | None = None  # [key, value]: only resources with this cost allocation tag


class CloudWatchSpec(_Model):
    """The window is [start, end) when both are given, otherwise the `lookback` ending now."""

    lookback: Seconds = 86400.0
    start: datetime | None = None
    end: datetime | None = None
    period: int = Field(60, gt=0)
    load_balancer: str | None = None  # the ALB's LoadBalancer dimension, e.g. app/pavi-api/50dc6c495c0c9188
    state_machine_arn: str | None = None  # defaults to the target's state_machine_arn
    queries: list[MetricQuery] = Field(default_factory=list)

    @field_validator("period")
    @classmethod
    def _cloudwatch_period(cls, value: int) -> int:
        return _period(value)

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """A time written without a zone means UTC, as in CloudWatch (never the harness host's zone)."""
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @model_validator(mode="after")
    def _window(self) -> CloudWatchSpec:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither (then lookback applies)")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        ids = [query.id for query in self.queries]
        if len(ids) != len(set(ids)):
            raise ValueError("query ids must be unique")
        return self


class E2ESpec(_Model):
    junit: list[str] = Field(min_length=1)  # glob patterns, e.g. cypress/results/*.xml


class SmokeSpec(_Model):
    timeout: Seconds = 10.0
    expected_version: str | None = None  # must appear in the body or in `version_header`
    version_header: str = "x-version"
    web_path: str = "/health"
    api_path: str = "/api/health"


class SourcesSpec(_Model):
    cost: CostSpec | None = None
    cloudwatch: CloudWatchSpec | None = None
    e2e: E2ESpec | None = None
    smoke: SmokeSpec | None = None
    cost_cache_dir: Path | None = None  # default: <PAVI_DATA_DIR>/cost-cache
