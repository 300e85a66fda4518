"""The Step Functions execution input the migration plan's state machine takes: an assumption.

The plan names the state machine but not its input, so this is the harness's assumption, shared by
the stand-in's state machine and the `stepfunctions` pipeline driver: `{"jobId", "payload"}`, or
`{"jobId", "payloadS3": {"Bucket", "Key"}}` for a payload too large to travel inline. If your state
machine takes another shape, change these two functions; nothing else builds or reads the input.

Step Functions refuses state data over 256 KiB with States.DataLimitExceeded, which no Catch catches
(moto enforces it too): a 500-entry payload is ~285 KB, so larger payloads go through S3.
"""

from __future__ import annotations

import json
from typing import Any

INLINE_PAYLOAD_BYTES = 192 * 1024


def execution_input(
    job_id: str, payload: list[dict[str, Any]], s3: Any = None, bucket: str | None = None
) -> str:
    """The input text for `start_execution`; a large payload is put into `bucket` first.

    Without a bucket a large payload stays inline: AWS refuses it at StartExecution, and moto ends
    the execution with States.DataLimitExceeded (the record stays `running`).
    """
    inline = json.dumps({"jobId": job_id, "payload": payload})
    if len(inline.encode()) <= INLINE_PAYLOAD_BYTES or s3 is None or bucket is None:
        return inline
    key = f"{job_id}/payload.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(payload).encode(), ContentType="application/json")
    return json.dumps({"jobId": job_id, "payloadS3": {"Bucket": bucket, "Key": key}})


def execution_payload(execution_input_text: str, s3: Any) -> list[dict[str, Any]]:
    """The payload an execution was started with, inline or from S3 (see `execution_input`)."""
    given = json.loads(execution_input_text)
    if "payload" in given:
        return given["payload"]
    location = given["payloadS3"]
    return json.loads(s3.get_object(Bucket=location["Bucket"], Key=location["Key"])["Body"].read())
