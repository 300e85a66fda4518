"""Records every request Locust makes into the run folder, as raw samples for the judge.

Active only when the settings name a run dir. The `request` listener appends one tuple and returns;
a greenlet turns the buffer into a Parquet chunk every ~2 s (`rows.ChunkWriter`). In distributed
mode workers hand their buffer to the master inside Locust's own stats report (`report_to_master`),
and the master writes it on `worker_report`: rows and Locust's counts travel in the same message, so
the table always holds exactly the requests Locust counted. The same process also writes
`load/events.json` and `load/progress.json` (for the runner's progress bar).

events.json: test_start, spawning_complete (all users running), test_stop (epoch s; in distributed
mode the latest of the master's and the workers' test_stop, since workers stop their users only
after the master's fires), users (asked), spawned_users, spawn_rate, workers, host, locust_version,
requests and failures (Locust's `stats.total`, final at quitting, when the workers' last reports are
in), rows (written to requests.parquet) and final (true once the last chunk is on disk).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gevent
import locust
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.runstore import write_json_atomic
from loadtests.rows import ChunkWriter, Row, portable
from loadtests.settings import load_settings

FLUSH_INTERVAL_S = 2.0
ROWS_KEY = "pavi_rows"  # our keys in the worker's report; Locust's own are "stats", "errors", ...
STOP_KEY = "pavi_test_stop"


class Recorder:
    def __init__(self, environment: Environment, load_dir: Path) -> None:
        self.environment = environment
        self.load_dir = load_dir
        self.buffer: list[Row] = []
        self.is_worker = isinstance(environment.runner, WorkerRunner)
        self.stopped_at: float | None = None  # a worker's own test_stop, reported to the master
        self.writer: ChunkWriter | None = None
        self.flusher: gevent.Greenlet | None = None
        self.events: dict[str, Any] = {
            "test_start": None,
            "spawning_complete": None,
            "test_stop": None,
            "users": None,
            "spawned_users": None,
            "spawn_rate": None,
            "workers": 0,
            "host": None,
            "locust_version": locust.__version__,
            "requests": None,
            "failures": None,
            "rows": 0,
            "final": False,
        }

    def install(self) -> None:
        hooks = self.environment.events
        hooks.request.add_listener(self.on_request)
        if self.is_worker:
            hooks.report_to_master.add_listener(self.on_report_to_master)
            hooks.test_start.add_listener(self.on_worker_test_start)
            hooks.test_stop.add_listener(self.on_worker_test_stop)
            return
        self.load_dir.mkdir(parents=True, exist_ok=True)  # workers write nothing (they may be remote)
        self.writer = ChunkWriter(self.load_dir / "requests.parquet")
        hooks.worker_report.add_listener(self.on_worker_report)
        hooks.test_start.add_listener(self.on_test_start)
        hooks.spawning_complete.add_listener(self.on_spawning_complete)
        hooks.test_stop.add_listener(self.on_test_stop)
        hooks.quitting.add_listener(self.on_quitting)
        self.flusher = gevent.spawn(self._flush_loop)

    # hot path: one append, nothing else
    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        context: dict | None = None,
        exception: Any = None,
        start_time: float | None = None,
        **_: Any,
    ) -> None:
        self.buffer.append(
            (
                start_time or 0.0,
                name,
                request_type,
                getattr(response, "status_code", 0),
                response_time,
                response_length,
                exception,
                (context := context or {}).get("user", ""),
                context.get("side", ""),
            )
        )

    def _take(self) -> list[Row]:
        rows, self.buffer = self.buffer, []
        return rows

    def on_report_to_master(self, client_id: str, data: dict[str, Any]) -> None:
        data[ROWS_KEY] = portable(self._take())
        if self.stopped_at is not None:
            data[STOP_KEY] = self.stopped_at

    def on_worker_test_start(self, environment: Environment, **_: Any) -> None:
        self.stopped_at = None

    def on_worker_test_stop(self, environment: Environment, **_: Any) -> None:
        self.stopped_at = time.time()

    def on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        self.buffer.extend(tuple(row) for row in data.get(ROWS_KEY, ()))
        # The master's test_stop fires when it tells workers to quit, before they stop their users:
        # the load really ended when the last worker stopped.
        if (stopped := data.get(STOP_KEY)) is not None:
            self.events["test_stop"] = max(stopped, self.events["test_stop"] or 0.0)

    def flush(self) -> None:
        assert self.writer is not None
        self.writer.write(self._take())
        total = self.environment.stats.total
        runner = self.environment.runner
        write_json_atomic(
            self.load_dir / "progress.json",
            {
                "time": time.time(),
                "user_count": runner.user_count if runner else 0,
                "requests": total.num_requests,
                "failures": total.num_failures,
                "rows": self.writer.rows,
            },
        )

    def _flush_loop(self) -> None:
        while True:
            gevent.sleep(FLUSH_INTERVAL_S)
            self.flush()

    def _write_events(self) -> None:
        write_json_atomic(self.load_dir / "events.json", self.events)

    def on_test_start(self, environment: Environment, **_: Any) -> None:
        options = environment.parsed_options
        self.events.update(
            test_start=time.time(),
            users=getattr(options, "num_users", None),
            spawn_rate=getattr(options, "spawn_rate", None),
            workers=runner.worker_count if isinstance(runner := environment.runner, MasterRunner) else 0,
            host=environment.host,
        )
        self._write_events()

    def on_spawning_complete(self, user_count: int, **_: Any) -> None:
        self.events.update(spawning_complete=time.time(), spawned_users=user_count)
        self._write_events()

    def _record_totals(self) -> None:
        total = self.environment.stats.total
        self.events.update(requests=total.num_requests, failures=total.num_failures)

    def on_test_stop(self, environment: Environment, **_: Any) -> None:
        self.events["test_stop"] = max(time.time(), self.events["test_stop"] or 0.0)
        self._record_totals()
        self._write_events()

    def on_quitting(self, environment: Environment, **_: Any) -> None:
        """Final chunk and totals. The master's test_stop fires before the workers' last reports
        arrive, so the totals that match the rows are the ones at quitting."""
        if environment.runner is not None:
            # Quitting fires before Locust's own teardown stops users on SIGTERM; stop them first so
            # no request lands after the last chunk (a no-op after a --run-time stop).
            environment.runner.quit()
        options = environment.parsed_options
        if getattr(options, "csv_prefix", None):
            # Locust writes its CSV once a second and not again at exit: let it catch the last requests.
            gevent.sleep(1.2)
        if self.flusher is not None:
            self.flusher.kill(block=True)
        self.flush()
        assert self.writer is not None
        self.writer.close()
        self._record_totals()
        self.events.update(rows=self.writer.rows, final=True)
        self._write_events()


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    settings = load_settings()
    if settings.run_dir is None:
        return
    Recorder(environment, Path(settings.run_dir) / "load").install()
