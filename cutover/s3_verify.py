"""Did the copy to the new account's bucket land whole? Compare two S3 prefixes key by key.

Sizes always; checksums by ETag when both are plain MD5 ETags (no multipart `-N` suffix), since a
multipart ETag depends on the part size and says nothing across copies; otherwise by SHA-256 of the
content, for a sample or all of those keys. Reports what is missing, extra and different; judges
nothing.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from harness.errors import EnvironmentProblem, HarnessError
from harness.runstore import write_json_atomic

HashMode = Literal["none", "sample", "all"]
DIFF_JSON = "s3_diff.json"
DIFF_PARQUET = "s3_diff.parquet"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_PLAIN_ETAG = re.compile(r"^[0-9a-f]{32}$")
_CHUNK = 1024 * 1024

DIFF_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),  # relative to the prefix
        pa.field("kind", pa.string(), nullable=False),  # missing | extra | different
        pa.field("reason", pa.string()),  # size | etag | sha256 for different; null otherwise
        pa.field("source_size", pa.int64()),  # null for extra
        pa.field("dest_size", pa.int64()),  # null for missing
        pa.field("source_checksum", pa.string()),  # ETag or sha256 compared; null when not compared
        pa.field("dest_checksum", pa.string()),
    ]
)


@dataclass(frozen=True)
class S3Object:
    size: int
    etag: str  # without quotes


@dataclass
class S3Diff:
    source: str
    dest: str
    hash_content: HashMode
    source_objects: int = 0
    dest_objects: int = 0
    source_bytes: int = 0
    dest_bytes: int = 0
    compared_by_etag: int = 0
    compared_by_sha256: int = 0
    missing: list[str] = field(default_factory=list)  # in source, not in dest
    extra: list[str] = field(default_factory=list)  # in dest, not in source
    different: list[dict[str, Any]] = field(default_factory=list)  # DIFF_SCHEMA rows, kind different
    unverified: list[str] = field(default_factory=list)  # same size, ETags not comparable, not hashed
    seconds: float = 0.0

    @property
    def differences(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.different)


def parse_s3_url(url: str, argument: str) -> tuple[str, str]:
    """`s3://bucket[/prefix]` -> (bucket, prefix ending in `/` or empty).

    The prefix is taken as a folder, so `s3://b/data` never matches `data2/...`.
    """
    shape = "s3://<bucket>[/<prefix>], e.g. s3://pavi-results/jobs/"
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise HarnessError(f"{argument} {url!r} is not an S3 URL", f"write it as {shape}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not _BUCKET.match(bucket):
        raise HarnessError(
            f"{argument} {url!r} has no valid bucket name ({bucket!r})", f"write it as {shape}"
        )
    prefix = prefix.lstrip("/")
    return bucket, (prefix if not prefix or prefix.endswith("/") else prefix + "/")


def etags_comparable(source_etag: str, dest_etag: str) -> bool:
    """Both plain MD5 ETags: equal content gives equal ETags. Multipart (`…-N`) ones depend on the
    part size used by each uploader, so they cannot prove or disprove a difference."""
    return bool(_PLAIN_ETAG.match(source_etag.strip('"')) and _PLAIN_ETAG.match(dest_etag.strip('"')))


def list_prefix(client: Any, bucket: str, prefix: str) -> dict[str, S3Object]:
    """Every object under the prefix, keyed relative to it (folder marker objects skipped)."""
    objects: dict[str, S3Object] = {}
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"][len(prefix) :]
                if key and not (key.endswith("/") and item["Size"] == 0):
                    objects[key] = S3Object(int(item["Size"]), str(item.get("ETag", "")).strip('"'))
    except (ClientError, BotoCoreError) as exc:
        raise EnvironmentProblem(
            f"cannot list s3://{bucket}/{prefix}: {exc}", "check the bucket name, region and credentials"
        ) from None
    return objects


def sha256_of(client: Any, bucket: str, key: str) -> str:
    digest = hashlib.sha256()
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        for chunk in body.iter_chunks(_CHUNK):
            digest.update(chunk)
    except (ClientError, BotoCoreError) as exc:
        raise EnvironmentProblem(f"cannot read s3://{bucket}/{key}: {exc}", "check read access") from None
    return digest.hexdigest()


def verify_s3(
    source: str,
    dest: str,
    *,
    client_source: Any,
    client_dest: Any = None,
    hash_content: HashMode = "sample",
    sample: int = 50,
    out_dir: Path | None = None,
    seed: int = 0,
) -> S3Diff:
    """Compare `source` and `dest` prefixes; two clients because the buckets may sit in two accounts.

    Keys whose ETags cannot be compared are hashed: `sample` of them (seeded, so a rerun checks the
    same keys), all, or none (then they are listed as `unverified`).
    """
    if hash_content not in ("none", "sample", "all"):
        raise HarnessError(f"hash_content {hash_content!r} is not none, sample or all", "pick one of those")
    started = time.monotonic()
    src_bucket, src_prefix = parse_s3_url(source, "source")
    dst_bucket, dst_prefix = parse_s3_url(dest, "dest")
    client_dest = client_dest or client_source
    src = list_prefix(client_source, src_bucket, src_prefix)
    dst = list_prefix(client_dest, dst_bucket, dst_prefix)
    diff = S3Diff(source, dest, hash_content, len(src), len(dst))
    diff.source_bytes = sum(o.size for o in src.values())
    diff.dest_bytes = sum(o.size for o in dst.values())
    diff.missing = sorted(src.keys() - dst.keys())
    diff.extra = sorted(dst.keys() - src.keys())

    def different(key: str, reason: str, a: str | None, b: str | None) -> None:
        diff.different.append(
            {
                "key": key,
                "kind": "different",
                "reason": reason,
                "source_size": src[key].size,
                "dest_size": dst[key].size,
                "source_checksum": a,
                "dest_checksum": b,
            }
        )

    to_hash: list[str] = []
    for key in sorted(src.keys() & dst.keys()):
        a, b = src[key], dst[key]
        if a.size != b.size:
            different(key, "size", None, None)
        elif etags_comparable(a.etag, b.etag):
            diff.compared_by_etag += 1
            if a.etag != b.etag:
                different(key, "etag", a.etag, b.etag)
        else:
            to_hash.append(key)
    if hash_content == "all":
        chosen = to_hash
    elif hash_content == "sample":
        chosen = sorted(random.Random(seed).sample(to_hash, min(sample, len(to_hash))))
    else:
        chosen = []
    picked = set(chosen)
    diff.unverified = [key for key in to_hash if key not in picked]
    for key in chosen:
        a_hash = sha256_of(client_source, src_bucket, src_prefix + key)
        b_hash = sha256_of(client_dest, dst_bucket, dst_prefix + key)
        diff.compared_by_sha256 += 1
        if a_hash != b_hash:
            different(key, "sha256", a_hash, b_hash)
    diff.different.sort(key=lambda row: row["key"])
    diff.seconds = time.monotonic() - started
    if out_dir is not None:
        rows = [{"key": k, "kind": "missing", "source_size": src[k].size} for k in diff.missing]
        rows += [{"key": k, "kind": "extra", "dest_size": dst[k].size} for k in diff.extra]
        write_diff(diff, out_dir, rows + diff.different)
    return diff


def write_diff(diff: S3Diff, out_dir: Path, rows: list[dict[str, Any]]) -> None:
    """`s3_diff.json` (the whole diff) and `s3_diff.parquet` (`rows`, one per difference), atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / DIFF_JSON, {**asdict(diff), "differences": diff.differences})
    table = pa.Table.from_pylist(rows, schema=DIFF_SCHEMA)
    tmp = out_dir / (DIFF_PARQUET + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(out_dir / DIFF_PARQUET)
