"""scenarios.yaml: the typed model and the loader that explains every mistake.

Errors name the field path, the bad value and what is allowed, and carry exit code 2. Durations and
timed thresholds carry units (harness.units). Duplicate keys in the YAML are refused, since PyYAML
would otherwise keep the last one silently and a gate could vanish.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.errors import ConfigError
from harness.registry import METRICS
from harness.units import parse_duration_s, parse_ratio
from sources.spec import SourcesSpec

DEFAULT_CONFIG = Path("scenarios.yaml")

Seconds = Annotated[float, BeforeValidator(parse_duration_s), Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Faults(_Model):
    """Fault injection for the local stack; all off by default."""

    latency_ms: float = Field(0, ge=0)
    latency_jitter_ms: float = Field(0, ge=0)
    error_ratio: float = Field(0, ge=0, le=1)
    drop_ratio: float = Field(0, ge=0, le=1)  # answers cut off after the headers (connection dropped)
    pipeline_failure_ratio: float = Field(0, ge=0, le=1)
    pipeline_delay_ms: float = Field(0, ge=0)  # added to every job's alignment stage
    slow_frame_ms: float = Field(0, ge=0)
    alter_alignment: bool = False  # change one residue of every alignment (a data inconsistency)


class AwsSettings(_Model):
    profile: str | None = None
    region: str = "us-east-1"
    endpoint_url: str | None = None


class Target(_Model):
    """Where the harness points: the embedded local stack or a deployed PAVI."""

    kind: Literal["local", "remote"] = "remote"
    api_url: str | None = None
    web_url: str | None = None
    production: bool = False
    aws: AwsSettings = AwsSettings()
    state_machine_arn: str | None = None
    jobs_table: str = "pavi-jobs"
    # local stack only
    port: int = Field(8765, ge=1024, le=65535)
    backend: Literal["inprocess", "stepfunctions"] = "inprocess"
    # bounded: the stand-in's own job pool; upstream: upstream API's threads (AnyIO's pool of 40)
    threading: Literal["bounded", "upstream"] = "bounded"
    pipeline_workers: int = Field(2, ge=1, le=16)
    faults: Faults = Faults()

    @field_validator("api_url", "web_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as https://pavi.example.org")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _remote_needs_urls(self) -> Target:
        if self.kind == "remote" and not self.api_url:
            raise ValueError("a remote target needs api_url (and web_url for the browser bench)")
        return self

    def urls(self) -> tuple[str, str]:
        """API and web UI base URLs; the local stack serves both from one port."""
        if self.kind == "local":
            base = f"http://127.0.0.1:{self.port}"
            return base, base
        assert self.api_url is not None
        return self.api_url, self.web_url or self.api_url


class PayloadSpec(_Model):
    """A payload file in PAVI's schema, or a generated one of `entries` transcripts."""

    file: Path | None = None
    entries: int = Field(10, ge=1, le=600)
    expect: Literal["completed", "failed"] = "completed"
    expected_alignment: Path | None = None


REMOTE_MAX_JOBS = 50  # a load run's job budget on a remote target when max_jobs is not set


class LoadWorkload(_Model):
    users: int = Field(500, gt=0, le=20000)
    spawn_rate: float = Field(50, gt=0)
    duration: Seconds = 300.0
    settle: Annotated[float, BeforeValidator(parse_duration_s), Field(ge=0)] = 10.0
    think_time: tuple[Seconds, Seconds] = (1.0, 3.0)
    weights: dict[Literal["submit", "poll", "read_results", "health"], int] = Field(
        default_factory=lambda: {"submit": 1, "poll": 4, "read_results": 10, "health": 2}
    )
    payload: PayloadSpec = PayloadSpec()
    # every job a load run submits (seed jobs included; per side in a canary); None: REMOTE_MAX_JOBS on a
    # remote target, unbounded on the local stack
    max_jobs: int | None = Field(None, ge=0, le=100_000)

    def job_budget(self, remote: bool, override: int | None = None) -> int | None:
        """The jobs this run may submit: the command line's, else scenarios.yaml's, else the default."""
        if override is not None:
            return override
        if self.max_jobs is not None:
            return self.max_jobs
        return REMOTE_MAX_JOBS if remote else None

    @field_validator("think_time")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] > value[1]:
            raise ValueError("the first (minimum) think time must not exceed the second (maximum)")
        return value


def _regex_list(value: list[str]) -> list[str]:
    """Compile each pattern once here, so a typo is a config error naming the field, not a crash later."""
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"{pattern!r} is not a regular expression: {error}") from None
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


Selector = Annotated[str, AfterValidator(_not_blank)]
# Chromium's message for a favicon that could not be fetched, matched as "<text> @ <source URL>"
DEFAULT_IGNORE_CONSOLE = (r"(?i)^Failed to load resource: .* @ \S*/favicon[^/\s]*$",)


class BrowserPage(_Model):
    """Where the alignment view's parts are and how hard each interaction pushes (browser_bench PageSpec).

    The defaults are PAVI's markup; another page (or a changed PAVI) needs no code change."""

    msa: Selector = "nightingale-msa"
    color_control: Selector = "#dd-colorscheme"
    # [value for a native <select>, visible label for a dropdown widget], cycled in order; two at least,
    # since choosing the scheme already shown redraws nothing
    color_schemes: list[tuple[Selector, Selector]] = Field(
        default_factory=lambda: [
            ("zappo", "Zappo"),
            ("taylor", "Taylor"),
            ("hydro", "Hydrophobicity"),
            ("clustal2", "Clustal2"),
        ],
        min_length=2,
    )
    state_js: Selector | None = None  # JS function -> 'rendered' | 'error' | 'loading'; None: built in
    error_js: Selector | None = None  # JS function -> the page's error text; None: built in
    scroll_step: Seconds = 0.5  # duration of one vertical gesture
    scroll_speed_min: float = Field(800.0, gt=0)  # px/s
    scroll_speed_max: float = Field(8000.0, gt=0)
    pan_px: float = Field(240.0, gt=0)
    pan_speed: float = Field(1200.0, gt=0)  # px/s
    zoom_notch: float = Field(100.0, gt=0)  # deltaY of one ctrl+wheel notch
    zoom_notches: int = Field(2, ge=1, le=50)
    zoom_interval: Seconds = 0.05
    redraw_timeout: Seconds = 60.0  # one colour change must redraw within this

    @model_validator(mode="after")
    def _speeds_ordered(self) -> BrowserPage:
        if self.scroll_speed_min > self.scroll_speed_max:
            raise ValueError("scroll_speed_min must not exceed scroll_speed_max")
        return self


class BrowserWorkload(_Model):
    sequences: int = Field(500, ge=2, le=600)
    repeats: int = Field(5, ge=1, le=50)
    interaction_time: Seconds = 3.0
    uncapped: bool = False
    cpu_throttle: float = Field(1, ge=1, le=20)
    interactions: list[Literal["scroll_vertical", "pan_horizontal", "zoom", "color_scheme"]] = Field(
        default_factory=lambda: ["scroll_vertical", "pan_horizontal", "zoom", "color_scheme"], min_length=1
    )
    page_query: str = ""  # extra query string for the result page, e.g. "visible-rows=30" (local stack)
    job_uuid: str | None = None  # a completed job of `sequences` entries on a remote target
    # console messages whose "<text> @ <source URL>" a regex matches are stored but not counted
    ignore_console: list[str] = Field(default_factory=lambda: list(DEFAULT_IGNORE_CONSOLE))
    page: BrowserPage = BrowserPage()

    @field_validator("ignore_console")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        return _regex_list(value)


class PipelineWorkload(_Model):
    jobs: int = Field(100, gt=0, le=10000)
    driver: Literal["api", "stepfunctions"] = "api"
    timeout: Seconds = 600.0
    concurrency: int = Field(1, ge=1, le=64)
    payloads: list[PayloadSpec] = Field(default_factory=lambda: [PayloadSpec()])


class Normalise(_Model):
    """What may legitimately differ between blue's and green's results (the data-consistency check)."""

    # regexes (Python `re`, one line each): matching lines of the Clustal text are dropped before comparing;
    # the header names the Clustal Omega version, which a new image may change
    alignment_ignore_lines: list[str] = Field(default_factory=lambda: [r"^CLUSTAL"])
    seq_info_ignore_keys: list[str] = Field(default_factory=list)  # keys dropped at any depth of seq-info

    @field_validator("alignment_ignore_lines")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        return _regex_list(value)


class Route53Spec(_Model):
    """The weighted records that split traffic between the sides (read by `canary watch`)."""

    hosted_zone_id: str
    record_name: str  # e.g. pavi-api.example.org.
    record_type: Literal["A", "AAAA", "CNAME"] = "A"
    blue_set_identifier: str = "blue"
    green_set_identifier: str = "green"


class CanaryWorkload(_Model):
    """Blue against green before each canary step (`pavi-validate canary`)."""

    new_side: Literal["blue", "green"] = "blue"  # the plan deploys the new infrastructure as blue
    consistency_jobs: int = Field(3, ge=1, le=50)  # payloads submitted to both sides and compared
    payload: PayloadSpec = PayloadSpec()
    job_timeout: Seconds = 300.0
    normalise: Normalise = Normalise()
    route53: Route53Spec | None = None


class Workloads(_Model):
    load: LoadWorkload = LoadWorkload()
    browser: BrowserWorkload = BrowserWorkload()
    pipeline: PipelineWorkload = PipelineWorkload()
    canary: CanaryWorkload = CanaryWorkload()


_ABSOLUTE = ("below", "at_most", "above", "at_least")
_RELATIVE = ("within_pct_of_baseline", "reduced_by_pct_vs_baseline")


class Gate(_Model):
    """One check: metric, statistic, one comparison, and the window it is computed over."""

    metric: str
    stat: str | None = None
    below: Any = None
    at_most: Any = None
    above: Any = None
    at_least: Any = None
    within_pct_of_baseline: float | None = Field(None, gt=0)
    reduced_by_pct_vs_baseline: float | None = Field(None, gt=0, lt=100)
    window: Literal["whole", "steady"] = "whole"
    request: str | None = None  # load metrics: only requests of this name
    interaction: str | None = None  # browser metrics: only this interaction (e.g. pan_horizontal)
    side: Literal["blue", "green"] | None = None  # load metrics in a canary run: only this side's requests
    plan: str = ""

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in METRICS:
            known = ", ".join(sorted(METRICS))
            raise ValueError(f"unknown metric; known metrics: {known}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _one_comparison_with_units(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        given = [key for key in (*_ABSOLUTE, *_RELATIVE) if data.get(key) is not None]
        if len(given) != 1:
            allowed = ", ".join((*_ABSOLUTE, *_RELATIVE))
            raise ValueError(f"give exactly one comparison ({allowed}); found {given or 'none'}")
        metric = METRICS.get(str(data.get("metric")))
        stat = data.get("stat")
        if metric is not None and stat is not None and stat not in metric.stats:
            raise ValueError(f"stat {stat!r} is not offered by {data['metric']}; use one of {metric.stats}")
        key = given[0]
        if metric is not None and data.get("side") is not None and metric.part != "load":
            raise ValueError(f"side applies to load metrics only, not {data['metric']}")
        if metric is not None and key in _ABSOLUTE:
            data = {**data, key: _threshold(metric.unit, data[key], key)}
        return data

    @property
    def comparison(self) -> tuple[str, float]:
        for key in (*_ABSOLUTE, *_RELATIVE):
            value = getattr(self, key)
            if value is not None:
                return key, float(value)
        raise AssertionError("validated gate without comparison")

    @property
    def statistic(self) -> str:
        return self.stat or METRICS[self.metric].default_stat


def _threshold(unit: str, value: Any, key: str) -> float:
    """Threshold in the metric's own unit; timed metrics need an explicit unit."""
    try:
        if unit in ("ms", "s"):
            seconds = parse_duration_s(value)
            return seconds * 1000 if unit == "ms" else seconds
        if unit == "ratio":
            return parse_ratio(value)
    except ValueError as error:
        raise ValueError(f"{key}: {value!r}: {error}") from None
    if isinstance(value, bool) and unit == "bool":
        return float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"{key}: {value!r} must be a number")


class Scenarios(_Model):
    version: Literal[1] = 1
    default_target: str = "local"
    targets: dict[str, Target] = Field(default_factory=lambda: {"local": Target(kind="local")})
    workloads: Workloads = Workloads()
    gates: dict[str, dict[str, Gate]] = Field(default_factory=dict)
    sources: SourcesSpec | None = None  # AWS and CI evidence (sources/README.md)

    @model_validator(mode="after")
    def _default_target_exists(self) -> Scenarios:
        if self.default_target not in self.targets:
            raise ValueError(
                f"default_target {self.default_target!r} is not among targets ({', '.join(self.targets)})"
            )
        return self

    def target(self, name: str | None) -> tuple[str, Target]:
        name = name or self.default_target
        if name not in self.targets:
            raise ConfigError(
                f"target {name!r} is not defined in scenarios.yaml",
                f"use one of: {', '.join(self.targets)}, or add it under `targets:`",
            )
        return name, self.targets[name]

    def gate_set(self, name: str) -> dict[str, Gate]:
        if name not in self.gates:
            raise ConfigError(
                f"gate set {name!r} is not defined in scenarios.yaml",
                f"use one of: {', '.join(self.gates) or '(none defined)'}",
            )
        return self.gates[name]


REMOTE_PAYLOAD_FIX = (
    "set each to a payload file in PAVI's schema (a JSON list of seq-region objects naming your genome's "
    "fasta_file_url and coordinates; see docs/CONFIG.md, 'Pointing at a deployed PAVI')"
)


def require_payload_files(
    workloads: Workloads, targets: dict[str, Target], parts: set[str], job_uuid: str | None = None
) -> None:
    """Refuse generated payloads for a remote target, before anything is sent.

    Generated payloads name the local stand-in's genome and coordinates: a deployed PAVI would fail or
    misread every such job (and each one costs a pipeline run there).

    Raises:
        ConfigError: naming every field that must be a payload file (or a job uuid, for the browser).
    """
    remote = sorted(name for name, target in targets.items() if target.kind == "remote")
    if not remote:
        return
    missing = []
    if {"load", "canary"} & parts and workloads.load.payload.file is None:
        missing.append("workloads.load.payload.file")
    if "pipeline" in parts:
        missing += [
            f"workloads.pipeline.payloads[{i}].file"
            for i, spec in enumerate(workloads.pipeline.payloads)
            if spec.file is None
        ]
    if "canary" in parts and workloads.canary.payload.file is None:
        missing.append("workloads.canary.payload.file")
    if missing:
        raise ConfigError(
            f"target {', '.join(map(repr, remote))} is remote, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set: generated payloads exist only for the stand-in",
            REMOTE_PAYLOAD_FIX,
        )
    if "browser" in parts and job_uuid is None and workloads.browser.job_uuid is None:
        raise ConfigError(
            f"target {', '.join(map(repr, remote))} is remote: the browser bench needs a completed job",
            "pass --uuid <job uuid> or set workloads.browser.job_uuid in scenarios.yaml",
        )


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(
                f"duplicate key {key!r} at line {key_node.start_mark.line + 1} (first at line {seen[key]})",
                "each target, workload and gate name must appear once; rename or remove one",
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_scenarios(path: Path | None = None) -> Scenarios:
    """Read and validate; a missing default file gives the built-in defaults (local target, no gates)."""
    path = path or DEFAULT_CONFIG
    if not path.exists():
        if path == DEFAULT_CONFIG:
            return Scenarios()
        raise ConfigError(f"config file {path} does not exist", "pass the path of your scenarios.yaml")
    try:
        raw = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(
            f"{path}: YAML syntax error{where}: {problem}", "fix the indentation or quoting there"
        ) from None
    return parse_scenarios(raw or {}, source=str(path))


def parse_scenarios(raw: Any, source: str = "scenarios.yaml") -> Scenarios:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping", "start with `targets:`, `gates:`")
    try:
        return Scenarios.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(
            _explain(error, source), "edit the fields named above; see docs/CONFIG.md"
        ) from None


def _explain(error: ValidationError, source: str) -> str:
    lines = [f"{source}: {error.error_count()} problem(s)"]
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field; check its spelling (see docs/CONFIG.md for the allowed fields)"
        bad = item.get("input")
        shown = "" if isinstance(bad, dict) or item["type"] == "missing" else f" (got {bad!r})"
        lines.append(f"  {path}: {message}{shown}")
    return "\n".join(lines)
