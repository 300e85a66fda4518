"""Pipeline jobs held in memory, as today's PAVI API does, behind one lock.

The API's event loop and the pipeline worker threads both change jobs; the lock keeps every read a
consistent snapshot.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from uuid import UUID


class JobStatus(IntEnum):
    """Ordered like upstream's enum: logs exist only from FAILED on."""

    PENDING = 0
    RUNNING = 1
    FAILED = 2
    COMPLETED = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass
class Job:
    uuid: UUID
    result_dir: Path
    status: JobStatus = JobStatus.PENDING
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    stages: dict[str, float] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"pavi-job-{self.uuid}"

    def public(self) -> dict[str, str]:
        """The API's job shape, exactly as upstream: uuid, status, name."""
        return {"uuid": str(self.uuid), "status": self.status.label, "name": self.name}

    def timings(self) -> dict[str, object]:
        return {
            **self.public(),
            "submitted": self.submitted,
            "started": self.started,
            "finished": self.finished,
            "stages": dict(self.stages),
        }


class JobStore:
    def __init__(self) -> None:
        self._jobs: dict[UUID, Job] = {}
        self._lock = threading.Lock()

    def add(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.uuid] = job

    def get(self, uuid: UUID) -> Job | None:
        with self._lock:
            return self._jobs.get(uuid)

    def set_status(self, uuid: UUID, status: JobStatus, at: float | None = None) -> None:
        with self._lock:
            job = self._jobs[uuid]
            job.status = status
            now = at or time.time()
            if status is JobStatus.RUNNING:
                job.started = now
            elif status in (JobStatus.FAILED, JobStatus.COMPLETED):
                job.finished = now

    def counts(self) -> dict[str, int]:
        with self._lock:
            counts = {status.label: 0 for status in JobStatus}
            for job in self._jobs.values():
                counts[job.status.label] += 1
            return counts
