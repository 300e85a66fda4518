"""The local stand-in for the pipeline's Batch jobs: the state machine's two task stages.

One poller thread per SQS queue receives task messages (`waitForTaskToken`), a bounded pool of
niced threads does the real stage work with `PipelineRunner`'s stage methods (as `inprocess` does),
and the answer goes back with `send_task_success` / `send_task_failure`. A message is deleted only
after the answer: if the stack dies mid-stage, the state's TimeoutSeconds ends the job `failed`.

Stages hand data over through files in the job's result dir, as Batch jobs would through S3; the
payload comes from the execution's input (or S3, for a large one), never through the SQS message.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import Any
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError

from local_pavi.faults import FaultSettings
from local_pavi.jobs import Job
from local_pavi.pipeline import LOG_FILE, JobFailure, PipelineRunner, _lower_thread_priority
from local_pavi.sfn_backend import AwsStack, client
from pavi_contract.execution import execution_payload

HANDOVER_DIR = "seq_retrieval"  # seq_retrieval's output, read by alignment, removed after it
ERROR_CHARS = 256  # Step Functions' limit for a task failure's `error`
log = logging.getLogger(__name__)


class StageWorker:
    def __init__(
        self,
        aws: AwsStack,
        stages: PipelineRunner,
        jobs_dir: Path,
        faults: FaultSettings,
        rng: random.Random,
        workers: int = 2,
    ) -> None:
        self.aws = aws
        self.stages = stages
        self.jobs_dir = jobs_dir
        self.faults = faults
        self.rng = rng
        self.sqs = client("sqs", aws, aws.region)
        self.sfn = client("stepfunctions", aws, aws.region)
        self.s3 = client("s3", aws, aws.region)
        self.pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="pavi-sfn-stage", initializer=_lower_thread_priority
        )
        self.slots = threading.Semaphore(workers)  # a poller holds at most one message waiting for a slot
        self._stop = threading.Event()
        self._pollers: list[threading.Thread] = []

    def start(self) -> None:
        for stage, queue_url in self.aws.queues.items():
            thread = threading.Thread(
                target=self._poll, args=(stage, queue_url), name=f"pavi-sfn-poll-{stage}", daemon=True
            )
            thread.start()
            self._pollers.append(thread)

    def stop(self, timeout_s: float = 3.0) -> None:
        self._stop.set()
        for thread in self._pollers:
            thread.join(timeout_s)
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _poll(self, stage: str, queue_url: str) -> None:
        while not self._stop.is_set():
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1
                ).get("Messages", [])
            except (BotoCoreError, ClientError) as error:
                if not self._stop.is_set():
                    log.warning("receiving from %s failed: %s", queue_url, error)
                    self._stop.wait(1.0)
                continue
            for message in messages:
                while not self.slots.acquire(timeout=0.5):
                    if self._stop.is_set():
                        return
                self.pool.submit(self._handle, stage, queue_url, message)

    def _handle(self, stage: str, queue_url: str, message: dict[str, Any]) -> None:
        try:
            self._answer(stage, json.loads(message["Body"]))
        except Exception:  # a malformed message or a lost answer: the state's timeout ends the job
            log.exception("%s task message %s not answered", stage, message.get("MessageId"))
        finally:
            self.slots.release()
            with suppress(BotoCoreError, ClientError):
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _answer(self, stage: str, body: dict[str, Any]) -> None:
        token = body["taskToken"]
        try:
            uuid = UUID(str(body.get("jobId")))
        except ValueError:  # never used as a path then
            self._fail(token, f"jobId {body.get('jobId')!r} is not a UUID")
            return
        job = Job(uuid=uuid, result_dir=self.jobs_dir / str(uuid))
        try:
            if stage == "seq_retrieval":
                output = self._seq_retrieval(job, body["executionArn"])
            else:
                output = self._alignment(job)
        except JobFailure as failure:
            reason = str(failure)
        except Exception as error:  # a bug in a stage must still end the job, never leave it running
            reason = f"unexpected {type(error).__name__}: {error}"
        else:
            _append_log(job)
            self.sfn.send_task_success(taskToken=token, output=json.dumps(output))
            return
        job.log.append(f"ERROR: {reason}")
        _append_log(job)
        self._fail(token, reason)

    def _fail(self, token: str, reason: str) -> None:
        # moto drops `cause`, so the reason travels in `error` (the record's `error` attribute)
        self.sfn.send_task_failure(taskToken=token, error=reason[:ERROR_CHARS], cause=reason)

    def _seq_retrieval(self, job: Job, execution_arn: str) -> dict[str, Any]:
        execution = self.sfn.describe_execution(executionArn=execution_arn)
        payload = execution_payload(execution["input"], self.s3)
        job.result_dir.mkdir(parents=True, exist_ok=True)
        job.log.append(f"job {job.name} started with {len(payload)} entries")
        if self.faults.pipeline_failure_ratio and self.rng.random() < self.faults.pipeline_failure_ratio:
            raise JobFailure("injected fault: pipeline_failure_ratio")
        start = time.perf_counter()
        fasta, infos = self.stages._retrieve(payload)
        seconds = time.perf_counter() - start
        handover = job.result_dir / HANDOVER_DIR
        handover.mkdir(exist_ok=True)
        (handover / "sequences.fa").write_text(fasta)
        (handover / "seq_info.json").write_text(json.dumps(infos))
        job.log.append(f"seq_retrieval: {len(infos)} sequences in {seconds:.3f} s")
        # strings: the callback state puts them into DynamoDB number attributes as they are
        return {"seconds": f"{seconds:.6f}", "sequences": len(infos)}

    def _alignment(self, job: Job) -> dict[str, Any]:
        handover = job.result_dir / HANDOVER_DIR
        try:
            fasta = (handover / "sequences.fa").read_text()
            infos = json.loads((handover / "seq_info.json").read_text())
        except OSError as error:
            raise JobFailure(f"alignment: seq_retrieval's output is missing: {error}") from None
        start = time.perf_counter()
        clustal = self.stages._align(job, fasta, len(infos))
        aligned = time.perf_counter()
        self.stages._seq_info(job, infos, clustal)
        done = time.perf_counter()
        shutil.rmtree(handover, ignore_errors=True)
        job.log.append(f"alignment completed in {aligned - start:.3f} s, seq info in {done - aligned:.3f} s")
        return {"seconds": f"{aligned - start:.6f}", "seq_info_seconds": f"{done - aligned:.6f}"}


def _append_log(job: Job) -> None:
    """Each stage appends its lines; the API's logs route serves this file once the job ended."""
    if job.log and job.result_dir.is_dir():
        with (job.result_dir / LOG_FILE).open("a") as out:
            out.write("\n".join(job.log) + "\n")
