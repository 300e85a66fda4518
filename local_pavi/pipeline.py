"""The `inprocess` backend: PAVI's three pipeline stages run by the API, as upstream runs Nextflow.

Threading `bounded` (the default): jobs go to a bounded pool of worker threads (so 500 users
submitting queue jobs as `pending` instead of starting 500 Clustal Omega processes), and the workers
run at low CPU priority so the API keeps answering while alignments run on the same cores.
Threading `upstream`: the API runs `job_task(...)` as upstream's API runs its pipeline, a sync
Starlette BackgroundTask in AnyIO's thread pool (see local_pavi.app); the bounded pool stays idle.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from local_pavi.alignment import aligned_seq_info, run_clustalo
from local_pavi.fasta_source import FastaUnavailable, GenomeSources
from local_pavi.faults import FaultSettings, alter_alignment
from local_pavi.jobs import Job, JobStatus, JobStore
from local_pavi.seq_retrieval import retrieve_protein
from pavi_contract.clustal import parse_clustal

ALIGNMENT_FILE = "alignment-output.aln"
SEQ_INFO_FILE = "aligned_seq_info.json"
LOG_FILE = "pipeline.log"
WORKER_NICENESS = 10
T = TypeVar("T")


class JobFailure(Exception):
    """A pipeline stage failed; the message goes into the job's log."""


def _lower_thread_priority() -> None:
    """Linux keeps a nice value per thread and children inherit it, so clustalo runs niced too."""
    with suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICENESS)


class PipelineRunner:
    def __init__(
        self,
        store: JobStore,
        genome_fasta: Path,
        chromosomes: dict[str, str],
        faults: FaultSettings,
        rng: random.Random,
        workers: int = 2,
        cache_dir: Path | None = None,
        cache_min_sequences: int = 100,
        own_port: int | None = None,
    ) -> None:
        """`own_port`: the API's port, so payloads naming its own /genome/ route are served from
        memory; without it such URLs are fetched over loopback like any other."""
        self.store = store
        self.genome_name = genome_fasta.name
        self.own_port = own_port
        self.chromosomes = chromosomes
        self.faults = faults
        self.rng = rng
        self.cache_dir = cache_dir
        self.cache_min_sequences = cache_min_sequences
        self.pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="pavi-pipeline", initializer=_lower_thread_priority
        )
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def submit(self, job: Job, payload: list[dict[str, Any]]) -> None:
        """Threading `bounded`: the job waits for one of the pool's threads."""
        self.pool.submit(self.job_task(job, payload))

    def job_task(self, job: Job, payload: list[dict[str, Any]]) -> Callable[[], None]:
        """The job as a call that runs it to its end on the caller's thread; counted in flight from now."""
        with self._lock:
            self._in_flight += 1
        return partial(self._run, job, payload)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, job: Job, payload: list[dict[str, Any]]) -> None:
        job.result_dir.mkdir(parents=True, exist_ok=True)
        self.store.set_status(job.uuid, JobStatus.RUNNING)
        job.log.append(f"job {job.name} started with {len(payload)} entries")
        try:
            self._stages(job, payload)
        except JobFailure as failure:
            job.log.append(f"ERROR: {failure}")
            self.store.set_status(job.uuid, JobStatus.FAILED)
        except Exception as error:  # a bug in a stage must still end the job, never leave it running
            job.log.append(f"ERROR: unexpected {type(error).__name__}: {error}")
            self.store.set_status(job.uuid, JobStatus.FAILED)
        else:
            job.log.append("job completed")
            self.store.set_status(job.uuid, JobStatus.COMPLETED)
        finally:
            (job.result_dir / LOG_FILE).write_text("\n".join(job.log) + "\n")
            with self._lock:
                self._in_flight -= 1

    def _stages(self, job: Job, payload: list[dict[str, Any]]) -> None:
        if self.faults.pipeline_failure_ratio and self.rng.random() < self.faults.pipeline_failure_ratio:
            raise JobFailure("injected fault: pipeline_failure_ratio")
        fasta, infos = _timed(job, "seq_retrieval", lambda: self._retrieve(payload))
        clustal = _timed(job, "alignment", lambda: self._align(job, fasta, len(infos)))
        _timed(job, "seq_info", lambda: self._seq_info(job, infos, clustal))

    def _retrieve(self, payload: list[dict[str, Any]]) -> tuple[str, dict[str, dict]]:
        """FASTA of the sequences to align and every sequence's info (rejected ones included)."""
        records: list[str] = []
        infos: dict[str, dict] = {}
        genomes = GenomeSources(self.chromosomes, f"/genome/{self.genome_name}", self.own_port)
        for entry in payload:
            try:
                retrieved = retrieve_protein(genomes.chromosomes(str(entry["fasta_file_url"])), entry)
            except (FastaUnavailable, KeyError, ValueError) as error:
                raise JobFailure(
                    f"sequence retrieval failed for {entry['unique_entry_id']}: {error}"
                ) from None
            for sequence in retrieved:
                if sequence.protein is not None:  # a rejected alternative is not aligned (as upstream)
                    records.append(f">{sequence.name}\n{sequence.protein}\n")
                infos[sequence.name] = sequence.info
        if not records:
            raise JobFailure("no sequences to align")
        return "".join(records), infos

    def _align(self, job: Job, fasta: str, count: int) -> str:
        """Clustal Omega, then the fault `alter_alignment` when it is on (the cache keeps the true text).

        Both backends' alignment stage comes here (sfn_worker calls it too). The fault
        `pipeline_delay_ms` makes the stage that much longer (a slower pipeline, for relative gates).
        """
        if self.faults.pipeline_delay_ms:
            time.sleep(self.faults.pipeline_delay_ms / 1000)
            job.log.append(f"alignment: injected fault pipeline_delay_ms {self.faults.pipeline_delay_ms:g}")
        clustal = self._clustal(job, fasta, count)
        if self.faults.alter_alignment:
            clustal = alter_alignment(clustal)
            (job.result_dir / ALIGNMENT_FILE).write_text(clustal)
            job.log.append("alignment: injected fault alter_alignment changed one residue")
        return clustal

    def _clustal(self, job: Job, fasta: str, count: int) -> str:
        """Clustal Omega; inputs of many sequences are cached by content (they take about a minute)."""
        cached: Path | None = None
        if self.cache_dir is not None and count >= self.cache_min_sequences:
            cached = self.cache_dir / f"{hashlib.sha256(fasta.encode()).hexdigest()}.aln"
            if cached.exists():
                job.log.append(f"alignment: cache hit {cached.name}")
                shutil.copyfile(cached, job.result_dir / ALIGNMENT_FILE)
                return cached.read_text()
        workdir = job.result_dir / "work"
        workdir.mkdir(exist_ok=True)
        try:
            clustal = run_clustalo(fasta, workdir)
        except Exception as error:
            raise JobFailure(f"alignment failed: {error}") from None
        (job.result_dir / ALIGNMENT_FILE).write_text(clustal)
        shutil.rmtree(workdir, ignore_errors=True)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp")
            tmp.write_text(clustal)
            os.replace(tmp, cached)
        return clustal

    def _seq_info(self, job: Job, infos: dict[str, dict], clustal: str) -> None:
        merged = aligned_seq_info(infos, parse_clustal(clustal))
        (job.result_dir / SEQ_INFO_FILE).write_text(json.dumps(merged))


def _timed(job: Job, stage: str, work: Callable[[], T]) -> T:
    start = time.perf_counter()
    try:
        return work()
    finally:
        job.stages[f"{stage}_s"] = round(time.perf_counter() - start, 6)
