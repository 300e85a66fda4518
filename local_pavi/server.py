"""Entry point of the local stack's process: `python -m local_pavi.server --port 8765`.

The harness starts this in its own session (harness.stack) and talks to it over HTTP only, so the
stack behaves like a deployed PAVI: a separate process with its own event loop.
"""

from __future__ import annotations

import argparse
import atexit
import logging
from pathlib import Path

import uvicorn

from local_pavi.app import StackSettings, create_app
from local_pavi.faults import FaultSettings
from local_pavi.genome import load_fasta, write_genome


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--data-dir", type=Path, default=Path(".pavi"))
    parser.add_argument("--workers", type=int, default=2, help="pipeline jobs running at once")
    parser.add_argument("--backend", choices=["inprocess", "stepfunctions"], default="inprocess")
    parser.add_argument(
        "--threading",
        choices=["bounded", "upstream"],
        default="bounded",
        help="bounded: pipeline jobs in a pool of --workers threads; upstream: as upstream's API, jobs and "
        "result downloads share AnyIO's 40-thread pool (inprocess backend only)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for fault draws (reproducible faults)")
    parser.add_argument("--cache-min-sequences", type=int, default=100)
    floats = (
        "latency-ms",
        "latency-jitter-ms",
        "error-ratio",
        "drop-ratio",
        "pipeline-failure-ratio",
        "pipeline-delay-ms",
        "slow-frame-ms",
    )
    for name in floats:
        parser.add_argument(f"--{name}", type=float, default=0.0)
    parser.add_argument(
        "--alter-alignment", action="store_true", help="change one residue of every job's alignment"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    genome_fasta = write_genome(args.data_dir / "genome")
    aws = None
    if args.backend == "stepfunctions":
        from local_pavi.sfn_backend import MotoServer, provision

        moto = MotoServer(args.data_dir / f"moto-{args.port}.log", host=args.host)
        atexit.register(moto.stop)  # on any exit; `stack down` also signals our whole process group
        moto.start()
        aws = provision(moto.endpoint_url)
    faults = FaultSettings(
        latency_ms=args.latency_ms,
        latency_jitter_ms=args.latency_jitter_ms,
        error_ratio=args.error_ratio,
        drop_ratio=args.drop_ratio,
        pipeline_failure_ratio=args.pipeline_failure_ratio,
        pipeline_delay_ms=args.pipeline_delay_ms,
        slow_frame_ms=args.slow_frame_ms,
        alter_alignment=args.alter_alignment,
    )
    app = create_app(
        StackSettings(
            data_dir=args.data_dir,
            genome_fasta=genome_fasta,
            chromosomes=load_fasta(genome_fasta),
            workers=args.workers,
            faults=faults,
            seed=args.seed,
            cache_min_sequences=args.cache_min_sequences,
            backend=args.backend,
            aws=aws,
            threading=args.threading,
            port=args.port,
        )
    )
    logging.basicConfig(level=logging.INFO)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        workers=1,
        access_log=False,
        log_level="warning",
        timeout_keep_alive=30,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
