"""The workload's payload specs resolved into the concrete payload of every job.

Jobs cycle through the specs (job 1 gets the first, job 2 the second, ...). A generated spec makes a
new payload per job, seeded with the job's sequence number, so consecutive jobs differ (a cache or
a stuck result cannot pass for a fresh run) and a resumed run gives a re-run job the same payload.
Files are read and checked once, before any job is submitted, so a typo fails the command at once
instead of as job 37. Generated payloads come from the local stand-in itself (`pavi_contract.admin`):
they name its genome, which a deployed PAVI does not have, so the command refuses them for a remote
target before anything is sent (`harness.config.require_payload_files`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.config import PayloadSpec
from harness.errors import ConfigError
from pavi_contract.admin import generated_payload
from pavi_contract.payload import fasta_file_urls, read_payload_file

# (entries, seed) -> payload
Generator = Callable[[int, int], list[dict[str, Any]]]


@dataclass(frozen=True)
class JobPayload:
    """One job's body and what it must give."""

    body: list[dict[str, Any]]
    source: str  # the file as configured, or "generated:<entries>"
    expect: str  # "completed" or "failed"
    expected_alignment: bytes | None = None  # exact Clustal text the job must return
    seed: int | None = None  # generated payloads only


def _read_expected(spec: PayloadSpec) -> bytes | None:
    if spec.expected_alignment is None:
        return None
    where = spec.file if spec.file is not None else f"generated:{spec.entries}"
    if spec.file is None:
        raise ConfigError(
            f"payload {where}: expected_alignment needs a payload file",
            "generated payloads differ job by job (one seed per job); use `file:` for a fixed payload",
        )
    if spec.expect == "failed":
        raise ConfigError(
            f"payload {where}: expected_alignment cannot apply to a job expected to fail",
            "drop expected_alignment, or expect: completed",
        )
    try:
        return spec.expected_alignment.read_bytes()
    except OSError as error:
        raise ConfigError(
            f"expected_alignment {spec.expected_alignment}: cannot be read ({error.strerror or error})",
            "give the path of a Clustal file the job must reproduce byte for byte",
        ) from None


class PayloadPlan:
    """Every job's payload, from the specs; files are read and generated specs tried in the constructor.

    `generate` makes a generated spec's payload; by default the stand-in at `api_url` is asked.
    """

    def __init__(self, specs: Sequence[PayloadSpec], api_url: str, generate: Generator | None = None) -> None:
        if not specs:
            raise ConfigError(
                "the pipeline workload lists no payloads", "add e.g. `payloads: [{entries: 10}]`"
            )
        self.specs = list(specs)
        self._generate = generate or (lambda entries, seed: generated_payload(api_url, entries, seed=seed))
        self._files: dict[int, list[dict[str, Any]]] = {}
        self._digests: dict[int, str] = {}
        self._expected: dict[int, bytes | None] = {}
        self._fasta: dict[int, str] = {}
        for index, spec in enumerate(self.specs):
            if spec.file is not None:
                self._files[index] = read_payload_file(spec.file)
                self._digests[index] = hashlib.sha256(spec.file.read_bytes()).hexdigest()
            self._expected[index] = _read_expected(spec)
            if spec.file is None:  # once now, so a spec the stand-in refuses fails before job 1
                self._fasta[index] = ", ".join(sorted(fasta_file_urls(self._generate(spec.entries, 1))))

    def for_job(self, seq: int) -> JobPayload:
        """The payload of job `seq` (1-based); the same seq always gives the same payload."""
        index = (seq - 1) % len(self.specs)
        spec = self.specs[index]
        if spec.file is not None:
            return JobPayload(self._files[index], str(spec.file), spec.expect, self._expected[index])
        return JobPayload(
            self._generate(spec.entries, seq), f"generated:{spec.entries}", spec.expect, None, seed=seq
        )

    def describe(self) -> list[dict[str, Any]]:
        """What each spec is, for run.json (a file's digest pins down exactly what was submitted)."""
        described = []
        for index, spec in enumerate(self.specs):
            item: dict[str, Any] = {"expect": spec.expect}
            if spec.file is not None:
                item |= {
                    "source": str(spec.file),
                    "entries": len(self._files[index]),
                    "sha256": self._digests[index],
                }
            else:
                item |= {
                    "source": f"generated:{spec.entries}",
                    "entries": spec.entries,
                    "seed": "job seq",
                    "fasta_file_url": self._fasta[index],
                }
            expected = self._expected[index]
            if expected is not None:
                item["expected_alignment"] = str(spec.expected_alignment)
                item["expected_alignment_sha256"] = hashlib.sha256(expected).hexdigest()
            described.append(item)
        return described
