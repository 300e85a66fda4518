"""What the runner tells the Locust processes, through one environment variable.

Locust starts its processes itself (master, workers), so the only channel that reaches every one of
them before the locustfile is imported is the environment: `PAVI_LOAD_SETTINGS` holds this model as
JSON. Large payloads (600 entries are ~350 KB, over Linux's 128 KB limit for one variable) travel
as a file named in `payload_file`. Without the variable, `./scenarios.yaml` gives the defaults, so
`locust -f loadtests/locustfile.py` works on its own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.config import LoadWorkload, PayloadSpec, load_scenarios

ENV_VAR = "PAVI_LOAD_SETTINGS"

Step = Literal["submit", "poll", "read_results", "health"]
NameKey = Literal["submit", "poll", "alignment", "seq_info", "health"]

# Grouped names: one line per endpoint in Locust's tables and in requests.parquet, not one per job.
DEFAULT_NAMES: dict[str, str] = {
    "submit": "POST /api/pipeline-job/",
    "poll": "GET /api/pipeline-job/[uuid]",
    "alignment": "GET /api/pipeline-job/[uuid]/result/alignment",
    "seq_info": "GET /api/pipeline-job/[uuid]/result/seq-info",
    "health": "GET /api/health",
}
DEFAULT_WEIGHTS: dict[str, int] = {"submit": 1, "poll": 4, "read_results": 10, "health": 2}


class LoadSettings(BaseModel):
    """Everything a Locust process needs that is not on Locust's own command line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weights: dict[Step, int] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    think_time: tuple[float, float] = (1.0, 3.0)
    names: dict[NameKey, str] = Field(default_factory=lambda: dict(DEFAULT_NAMES))
    payloads: list[list[dict[str, Any]]] = Field(default_factory=list)
    payload_file: str | None = None
    payload_entries: int = Field(10, ge=1, le=600)
    seed_uuids: list[str] = Field(default_factory=list)
    seed_jobs: int = Field(3, ge=0, le=50)
    # jobs per side (None: unbounded; see budget.py): from the runner, what the users may still submit
    # after its seed jobs; in a plain locustfile run, scenarios.yaml's max_jobs, seed jobs included
    max_jobs: int | None = Field(None, ge=0)
    run_dir: str | None = None
    # canary runs: side name -> API base URL; each user alternates between the sides task by task
    sides: dict[str, str] = Field(default_factory=dict)
    side_seed_uuids: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("names", mode="before")
    @classmethod
    def _complete_names(cls, value: Any) -> Any:
        """A partial override keeps the defaults for the names it does not mention."""
        return {**DEFAULT_NAMES, **value} if isinstance(value, Mapping) else value

    @model_validator(mode="after")
    def _sane(self) -> LoadSettings:
        if any(weight < 0 for weight in self.weights.values()):
            raise ValueError("task weights must be >= 0")
        if not any(self.weights.values()):
            raise ValueError("at least one task weight must be positive")
        if len(self.sides) == 1:
            raise ValueError("a canary run needs two sides (or none)")
        low, high = self.think_time
        if not 0 <= low <= high:
            raise ValueError("think_time must be (min, max) with 0 <= min <= max")
        return self

    def weight(self, step: Step) -> int:
        return self.weights.get(step, 0)

    def load_payloads(self) -> list[list[dict[str, Any]]]:
        """Inline payloads plus those in `payload_file`; empty means: ask the local stand-in for some.

        Raises:
            FileNotFoundError: `payload_file` is not on this machine (a remote worker needs a copy).
        """
        payloads = list(self.payloads)
        if self.payload_file:
            payloads += json.loads(Path(self.payload_file).read_text())
        return payloads

    def to_env(self) -> dict[str, str]:
        return {ENV_VAR: self.model_dump_json()}

    @classmethod
    def from_workload(cls, workload: LoadWorkload, **overrides: Any) -> LoadSettings:
        payloads: dict[str, Any] = {}
        if workload.payload.file is not None:
            payloads["payloads"] = [read_payload_file(workload.payload)]
        return cls(
            weights=dict(workload.weights),
            think_time=workload.think_time,
            payload_entries=workload.payload.entries,
            **{"max_jobs": workload.max_jobs, **payloads, **overrides},
        )


def read_payload_file(spec: PayloadSpec) -> list[dict[str, Any]]:
    """The workload's payload file, checked (a ConfigError names the file and what is wrong)."""
    from pavi_contract.payload import read_payload_file as read_checked

    assert spec.file is not None
    return read_checked(spec.file)


def load_settings(environ: Mapping[str, str] | None = None, scenarios: Path | None = None) -> LoadSettings:
    """From `PAVI_LOAD_SETTINGS` when set, else from the load workload of `scenarios.yaml` (or defaults)."""
    environ = os.environ if environ is None else environ
    raw = environ.get(ENV_VAR)
    if raw:
        return LoadSettings.model_validate_json(raw)
    return LoadSettings.from_workload(load_scenarios(scenarios).workloads.load)
