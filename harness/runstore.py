"""The run store: `runs/<run-id>/run.json` plus one folder per measuring part.

run.json is rewritten atomically at every change and says `incomplete` until the run ends, so a crash
or Ctrl-C leaves a readable record of what was measured and how.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from harness import __version__

Status = Literal["incomplete", "complete", "aborted"]
DEFAULT_RUNS_DIR = Path("runs")


def runs_dir() -> Path:
    return Path(os.environ.get("PAVI_RUNS_DIR", DEFAULT_RUNS_DIR))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def host_facts() -> dict[str, Any]:
    """How the numbers were taken: a number without its machine is not comparable (pyperf's lesson)."""
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
    }


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


@dataclass
class Run:
    path: Path
    meta: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    def part_dir(self, part: str) -> Path:
        directory = self.path / part
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def record_part(self, part: str, **facts: Any) -> None:
        """Merge facts about how a part ran (settings, tool versions, status) into run.json."""
        self.meta.setdefault("parts", {}).setdefault(part, {}).update(facts)
        self.save()

    def finish(self, status: Status = "complete") -> None:
        self.meta["status"] = status
        self.meta["ended"] = _now()
        self.save()

    def save(self) -> None:
        write_json_atomic(self.path / "run.json", self.meta)


def create_run(target: str, scenario_file: Path | None, root: Path | None = None, **extra: Any) -> Run:
    root = root or runs_dir()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_id = f"{stamp}-{secrets.token_hex(3)}"
    path = root / run_id
    path.mkdir(parents=True)
    meta: dict[str, Any] = {
        "id": run_id,
        "status": "incomplete",
        "started": _now(),
        "ended": None,
        "target": target,
        "scenario_file": str(scenario_file) if scenario_file else None,
        "harness_version": __version__,
        "git_commit": _git_commit(),
        "host": host_facts(),
        "parts": {},
        **extra,
    }
    run = Run(path=path, meta=meta)
    run.save()
    return run


def open_run(ref: str | Path, root: Path | None = None) -> Run:
    """A run by id, by unambiguous id prefix, or by path."""
    from harness.errors import ConfigError

    root = root or runs_dir()
    candidate = Path(ref)
    if not (candidate / "run.json").exists():
        matches = (
            sorted(p for p in root.glob(f"{ref}*") if (p / "run.json").exists()) if root.exists() else []
        )
        if len(matches) != 1:
            why = "no run matches" if not matches else f"{len(matches)} runs match"
            raise ConfigError(f"{why} {ref!r} in {root}", "use `pavi-validate runs list` to see run ids")
        candidate = matches[0]
    return Run(path=candidate, meta=json.loads((candidate / "run.json").read_text()))


def iter_runs(root: Path | None = None) -> Iterator[Run]:
    root = root or runs_dir()
    if not root.exists():
        return
    for path in sorted(root.iterdir()):
        meta_file = path / "run.json"
        if meta_file.is_file():
            try:
                yield Run(path=path, meta=json.loads(meta_file.read_text()))
            except json.JSONDecodeError:
                continue
