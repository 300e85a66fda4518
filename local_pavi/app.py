"""The local PAVI API and web UI: upstream's routes, statuses and shapes, served from one port.

The `/api` routes follow `api/src/main.py` of alliance-genome/agr_pavi (201 on submit, 404 for unknown
jobs and missing results, 400 for logs of an unfinished job, 422 from FastAPI's own validation).
`/_pavi/*` is the harness's admin surface: faults, job timings, pool statistics and generated payloads,
never load-tested.

Threading `upstream` copies how upstream's API uses threads, because that is what limits it under load:
each job's pipeline is a sync BackgroundTask and every result route a StreamingResponse over a sync
generator, so both share AnyIO's default pool of 40 threads, and with 40 jobs running downloads wait.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from uuid import UUID, uuid1

from fastapi import APIRouter, BackgroundTasks, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from local_pavi.faults import FaultInjector, FaultSettings
from local_pavi.genome import FASTA_NAME, build_genome
from local_pavi.jobs import Job, JobStatus, JobStore
from local_pavi.payload import generate_payload
from local_pavi.pipeline import ALIGNMENT_FILE, LOG_FILE, SEQ_INFO_FILE, PipelineRunner
from local_pavi.timing import ServerTimingMiddleware, ServerTimings

WEB_DIR = Path(__file__).parent / "web"
THREADING = ("bounded", "upstream")
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
    threading: str = "bounded"  # or "upstream" (inprocess only): see the module docstring
    port: int | None = None  # the port it is served on: its own /genome/ URLs are read from memory


def _lines(handle: BinaryIO) -> Iterator[bytes]:
    """Upstream's `iterfile`: a sync generator, so Starlette pulls every line through AnyIO's pool."""
    with handle:
        yield from handle


def create_app(settings: StackSettings) -> FastAPI:
    """Raises ValueError: an unknown threading mode, or `upstream` with a backend other than inprocess."""
    if settings.threading not in THREADING:
        raise ValueError(f"threading must be one of {', '.join(THREADING)}, not {settings.threading!r}")
    upstream_threads = settings.threading == "upstream"
    if upstream_threads and settings.backend != "inprocess":
        raise ValueError("threading 'upstream' needs backend 'inprocess' (the pipeline runs in the API)")
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
            own_port=settings.port,
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
            own_port=settings.port,
        )
    blocking = settings.backend == "stepfunctions"
    build_genome()  # cached; built now so /_pavi/payload never stalls the event loop
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
    async def create_job(
        pipeline_seq_regions: list[PipelineSeqRegion], background_tasks: BackgroundTasks
    ) -> PipelineJob:
        uuid = uuid1()
        job = Job(uuid=uuid, result_dir=jobs_dir / str(uuid))
        await call(store.add, job)
        payload = [region.model_dump() for region in pipeline_seq_regions]
        if upstream_threads:  # run after the answer is sent, on a thread of AnyIO's pool
            background_tasks.add_task(runner.job_task(job, payload))
        else:
            await call(runner.submit, job, payload)
        return PipelineJob(**job.public())

    @api.get("/pipeline-job/{uuid}", responses=not_found)
    async def get_job(uuid: UUID) -> PipelineJob:
        return PipelineJob(**(await job_or_404(uuid)).public())

    async def result(uuid: UUID, name: str, media_type: str) -> FileResponse | StreamingResponse:
        path = await result_file(uuid, name)
        if upstream_threads:
            return StreamingResponse(_lines(path.open("rb")), media_type=media_type)
        return FileResponse(path, media_type=media_type)

    @api.get("/pipeline-job/{uuid}/result/alignment", responses=not_found, response_model=None)
    async def alignment(uuid: UUID) -> FileResponse | StreamingResponse:
        return await result(uuid, ALIGNMENT_FILE, "text/plain")

    @api.get("/pipeline-job/{uuid}/result/seq-info", responses=not_found, response_model=None)
    async def seq_info(uuid: UUID) -> FileResponse | StreamingResponse:
        return await result(uuid, SEQ_INFO_FILE, "application/json")

    @api.get(
        "/pipeline-job/{uuid}/logs", responses={400: {"model": HttpError}, **not_found}, response_model=None
    )
    async def logs(uuid: UUID) -> PlainTextResponse | StreamingResponse:
        job = await job_or_404(uuid)
        if job.status < JobStatus.FAILED:
            raise HTTPException(
                status_code=400,
                detail=f"Logs can only be retrieved for failed or completed jobs ({uuid} is not yet)",
            )
        log_path = job.result_dir / LOG_FILE
        text = log_path.read_text() if log_path.is_file() else "\n".join(job.log)
        if upstream_threads:  # upstream streams `nextflow log` output through a sync generator too
            return StreamingResponse(iter(text.splitlines(keepends=True)), media_type="text/plain")
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

    @admin.get("/payload", responses={422: {"model": HttpError}})
    async def payload(request: Request, entries: int, seed: int = 0) -> list[dict[str, Any]]:
        """pavi_contract.admin.generated_payload's route: the payload names this server's own genome."""
        base = str(request.base_url).rstrip("/")
        try:
            return generate_payload(entries, fasta_file_url=f"{base}/genome/{FASTA_NAME}", seed=seed)
        except ValueError as error:
            raise HTTPException(status_code=422, detail=str(error)) from None

    @admin.get("/stats")
    async def stats() -> dict[str, object]:
        answer = {
            "backend": settings.backend,
            "threading": settings.threading,
            "jobs": await call(store.counts),
        }
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
