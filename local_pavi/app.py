"""The local PAVI API and web UI: upstream's routes, statuses and shapes, served from one port.

The `/api` routes follow `api/src/main.py` of alliance-genome/agr_pavi (201 on submit, 404 for unknown
jobs and missing results, 400 for logs of an unfinished job, 422 from FastAPI's own validation).
`/_pavi/*` is the harness's admin surface: faults, job timings and pool statistics, never load-tested.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid1

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from local_pavi.faults import FaultInjector, FaultSettings
from local_pavi.jobs import Job, JobStatus, JobStore
from local_pavi.pipeline import ALIGNMENT_FILE, LOG_FILE, SEQ_INFO_FILE, PipelineRunner
from local_pavi.timing import ServerTimingMiddleware, ServerTimings

WEB_DIR = Path(__file__).parent / "web"
UPSTREAM_HELP = "Welcome to the PAVI API! For more information on how to use it, see the docs at {host}/docs"


class PipelineSeqRegion(BaseModel):
    """One payload entry, typed exactly as upstream's `Pipeline_seq_region`."""

    base_seq_name: str
    unique_entry_id: str
    seq_id: str
    seq_strand: str
    exon_seq_regions: list[str | dict[str, str | int]]
    cds_seq_regions: list[str | dict[str, str | int]]
    fasta_file_url: str
    variant_ids: list[str]
    alt_seq_name_suffix: str | None = None


class PipelineJob(BaseModel):
    uuid: UUID
    status: str
    name: str


class HttpError(BaseModel):
    detail: str


@dataclass
class StackSettings:
    data_dir: Path
    genome_fasta: Path
    chromosomes: dict[str, str]
    workers: int = 2
    faults: FaultSettings | None = None
    seed: int | None = None
    cache_min_sequences: int = 100
    backend: str = "inprocess"
    aws: Any = None  # local_pavi.sfn_backend.AwsStack when backend is "stepfunctions"


def create_app(settings: StackSettings) -> FastAPI:
    faults = settings.faults or FaultSettings()
    rng = random.Random(settings.seed)
    jobs_dir = settings.data_dir / "jobs"
    store: Any
    runner: Any
    if settings.backend == "stepfunctions":
        from local_pavi.sfn_backend import create_sfn_backend

        store, runner = create_sfn_backend(
            settings.aws, jobs_dir, settings.genome_fasta, settings.chromosomes, faults, rng,
            settings.workers, settings.data_dir / "alignment-cache", settings.cache_min_sequences,
        )  # fmt: skip
    else:
        store = JobStore()
        runner = PipelineRunner(
            store,
            settings.genome_fasta,
            settings.chromosomes,
            faults,
            rng,
            workers=settings.workers,
            cache_dir=settings.data_dir / "alignment-cache",
            cache_min_sequences=settings.cache_min_sequences,
        )
    blocking = settings.backend == "stepfunctions"
    timings = ServerTimings()

    app = FastAPI(title="PAVI (local stand-in)", on_shutdown=[runner.shutdown])
    api = APIRouter(prefix="/api")
    not_found: dict[int | str, dict[str, Any]] = {404: {"model": HttpError}}

    async def call(work: Any, *args: Any) -> Any:
        """DynamoDB and Step Functions calls block: keep them off the event loop."""
        return await run_in_threadpool(work, *args) if blocking else work(*args)

    async def job_or_404(uuid: UUID) -> Job:
        job = await call(store.get, uuid)
        if job is None:
            raise HTTPException(status_code=404, detail="Job not found.")
        return job

    async def result_file(uuid: UUID, name: str) -> Path:
        path = jobs_dir / str(uuid) / name
        job = await call(store.get, uuid)
        if job is None or job.status is not JobStatus.COMPLETED or not path.is_file():
            raise HTTPException(status_code=404, detail="File not found.")
        return path

    @api.get("/")
    async def help_msg() -> dict[str, str]:
        return {"help": UPSTREAM_HELP}

    @api.get("/health", tags=["metadata"])
    async def health() -> dict[str, str]:
        return {"status": "up"}

    @api.post("/pipeline-job/", status_code=201)
    async def create_job(pipeline_seq_regions: list[PipelineSeqRegion]) -> PipelineJob:
        uuid = uuid1()
        job = Job(uuid=uuid, result_dir=jobs_dir / str(uuid))
        await call(store.add, job)
        await call(runner.submit, job, [region.model_dump() for region in pipeline_seq_regions])
        return PipelineJob(**job.public())

    @api.get("/pipeline-job/{uuid}", responses=not_found)
    async def get_job(uuid: UUID) -> PipelineJob:
        return PipelineJob(**(await job_or_404(uuid)).public())

    @api.get("/pipeline-job/{uuid}/result/alignment", responses=not_found)
    async def alignment(uuid: UUID) -> FileResponse:
        return FileResponse(await result_file(uuid, ALIGNMENT_FILE), media_type="text/plain")

    @api.get("/pipeline-job/{uuid}/result/seq-info", responses=not_found)
    async def seq_info(uuid: UUID) -> FileResponse:
        return FileResponse(await result_file(uuid, SEQ_INFO_FILE), media_type="application/json")

    @api.get("/pipeline-job/{uuid}/logs", responses={400: {"model": HttpError}, **not_found})
    async def logs(uuid: UUID) -> PlainTextResponse:
        job = await job_or_404(uuid)
        if job.status < JobStatus.FAILED:
            raise HTTPException(
                status_code=400,
                detail=f"Logs can only be retrieved for failed or completed jobs ({uuid} is not yet)",
            )
        log_path = job.result_dir / LOG_FILE
        text = log_path.read_text() if log_path.is_file() else "\n".join(job.log)
        return PlainTextResponse(text)

    app.include_router(api)

    admin = APIRouter(prefix="/_pavi", tags=["harness admin"])

    @admin.get("/faults")
    async def get_faults() -> dict[str, float | bool]:
        return faults.as_dict()

    @admin.put("/faults")
    async def put_faults(changes: dict[str, float | bool]) -> dict[str, float | bool]:
        try:
            faults.update(changes)
        except ValueError as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        return faults.as_dict()

    @admin.get("/jobs/{uuid}", responses=not_found)
    async def job_timings(uuid: UUID) -> dict[str, object]:
        return (await job_or_404(uuid)).timings()

    @admin.get("/server-timing")
    async def server_timing(since: float = 0.0) -> dict[str, list]:
        return timings.since(since)

    @admin.get("/stats")
    async def stats() -> dict[str, object]:
        answer = {"backend": settings.backend, "jobs": await call(store.counts)}
        answer["in_flight"] = await call(lambda: runner.in_flight)
        if settings.aws is not None:
            answer["aws"] = settings.aws.as_dict()
        return answer

    app.include_router(admin)

    @app.get("/result", include_in_schema=False, response_model=None)
    async def result_page(uuid: str | None = None) -> FileResponse | RedirectResponse:
        if not uuid:
            return RedirectResponse("/submit")
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")

    @app.get("/health", include_in_schema=False)
    async def health_page() -> FileResponse:
        return FileResponse(WEB_DIR / "health.html", media_type="text/html")

    @app.get("/submit", include_in_schema=False)
    async def submit_page() -> PlainTextResponse:
        return PlainTextResponse("The local PAVI stand-in has no submit form: POST /api/pipeline-job/.")

    @app.get(f"/genome/{settings.genome_fasta.name}", include_in_schema=False)
    async def genome() -> FileResponse:
        return FileResponse(settings.genome_fasta, media_type="text/plain")

    dist = WEB_DIR / "dist"
    dist.mkdir(exist_ok=True)
    app.mount("/static", StaticFiles(directory=dist), name="static")
    app.add_middleware(FaultInjector, faults=faults, rng=rng)
    app.add_middleware(ServerTimingMiddleware, timings=timings)  # added last = outermost
    return app
