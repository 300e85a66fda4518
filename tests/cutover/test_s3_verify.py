"""verify_s3 against a real moto server on 127.0.0.1, with dummy credentials only."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import httpx
import pyarrow.parquet as pq
import pytest
from boto3.s3.transfer import TransferConfig

from cutover.s3_verify import DIFF_JSON, DIFF_PARQUET, etags_comparable, parse_s3_url, verify_s3
from harness.errors import ExitCode, HarnessError

from ..conftest import Moto

pytestmark = pytest.mark.usefixtures("aws_env")  # dummy keys only (tests/conftest.py)


@pytest.fixture(scope="module")
def moto_url(moto_server: Moto) -> str:
    return moto_server.url


@pytest.fixture
def s3(moto_url: str, aws_env: None):
    httpx.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    client = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    for bucket in ("blue-bucket", "green-bucket"):
        client.create_bucket(Bucket=bucket)
    return client


def _put(client, bucket: str, objects: dict[str, bytes]) -> None:
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)


BASE = {f"jobs/{n}/alignment.aln": f"CLUSTAL {n}\n".encode() * 20 for n in range(5)}


def test_missing_changed_and_extra_are_exactly_reported(s3, tmp_path: Path) -> None:
    _put(s3, "blue-bucket", {**BASE, "other/outside.txt": b"x"})
    dest = dict(BASE)
    del dest["jobs/0/alignment.aln"]
    dest["jobs/1/alignment.aln"] = BASE["jobs/1/alignment.aln"].replace(b"1", b"9")  # same size
    dest["jobs/new/extra.json"] = b"{}"
    _put(s3, "green-bucket", {"data/" + key: body for key, body in dest.items()})
    _put(s3, "green-bucket", {"data2/jobs/0/alignment.aln": b"not under data/"})

    diff = verify_s3(
        "s3://blue-bucket/jobs", "s3://green-bucket/data/jobs/", client_source=s3, out_dir=tmp_path
    )

    assert diff.source_objects == 5 and diff.dest_objects == 5
    assert diff.missing == ["0/alignment.aln"] and diff.extra == ["new/extra.json"]
    assert [(d["key"], d["reason"]) for d in diff.different] == [("1/alignment.aln", "etag")]
    assert diff.differences == 3 and diff.compared_by_etag == 4 and not diff.unverified

    written = json.loads((tmp_path / DIFF_JSON).read_text())
    assert written["differences"] == 3 and written["missing"] == ["0/alignment.aln"]
    rows = pq.read_table(tmp_path / DIFF_PARQUET).to_pylist()
    assert sorted((r["kind"], r["key"]) for r in rows) == [
        ("different", "1/alignment.aln"),
        ("extra", "new/extra.json"),
        ("missing", "0/alignment.aln"),
    ]
    assert next(r for r in rows if r["kind"] == "missing")["source_size"] == len(BASE["jobs/0/alignment.aln"])


def test_identical_prefixes_have_no_differences(s3) -> None:
    _put(s3, "blue-bucket", BASE)
    _put(s3, "green-bucket", BASE)
    diff = verify_s3("s3://blue-bucket/jobs/", "s3://green-bucket/jobs/", client_source=s3, client_dest=s3)
    assert diff.differences == 0 and diff.compared_by_etag == 5 and diff.source_bytes == diff.dest_bytes


def test_a_multipart_etag_forces_the_content_hash(s3) -> None:
    body = os.urandom(6 * 1024 * 1024)
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_fileobj(io.BytesIO(body), "blue-bucket", "big.bin", Config=config)
    s3.put_object(Bucket="green-bucket", Key="big.bin", Body=body)  # same bytes, plain ETag
    s3.put_object(Bucket="green-bucket", Key="bad.bin", Body=body[:-1] + b"\0")
    s3.upload_fileobj(io.BytesIO(body), "blue-bucket", "bad.bin", Config=config)
    assert "-" in s3.head_object(Bucket="blue-bucket", Key="big.bin")["ETag"]

    diff = verify_s3("s3://blue-bucket", "s3://green-bucket", client_source=s3, hash_content="all")
    assert diff.compared_by_etag == 0 and diff.compared_by_sha256 == 2
    assert [(d["key"], d["reason"]) for d in diff.different] == [("bad.bin", "sha256")]

    skipped = verify_s3("s3://blue-bucket", "s3://green-bucket", client_source=s3, hash_content="none")
    assert skipped.differences == 0 and skipped.unverified == ["bad.bin", "big.bin"]


def test_etag_comparability_rule() -> None:
    plain = '"9e107d9d372bb6826bd81d3542a419d6"'
    assert etags_comparable(plain, "e4d909c290d0fb1ca068ffaddf22cbd0")
    assert not etags_comparable(plain, '"d41d8cd98f00b204e9800998ecf8427e-2"')
    assert not etags_comparable("d41d8cd98f00b204e9800998ecf8427e-3", "d41d8cd98f00b204e9800998ecf8427e-3")


@pytest.mark.parametrize("url", ["blue-bucket/jobs", "s3:/blue", "s3://", "s3://Bad_Bucket/x", "https://b/x"])
def test_bad_urls_name_the_argument_and_the_shape(url: str) -> None:
    with pytest.raises(HarnessError) as caught:
        verify_s3("s3://blue-bucket/jobs", url, client_source=object())
    assert caught.value.exit_code == ExitCode.USAGE
    assert "dest" in caught.value.problem and "s3://<bucket>" in caught.value.fix


def test_prefixes_are_folders() -> None:
    assert parse_s3_url("s3://b-1/data", "source") == ("b-1", "data/")
    assert parse_s3_url("s3://b-1", "source") == ("b-1", "")


def test_s3_verify_command_judges_the_copy(s3, moto_url: str, tmp_path: Path) -> None:
    """The CLI as a user runs it after the migration: a missing object is a FAIL naming it (exit 1)."""
    import json
    import os

    s3.create_bucket(Bucket="old")
    s3.create_bucket(Bucket="new")
    _put(s3, "old", {"jobs/a.aln": b"A", "jobs/b.aln": b"B"})
    _put(s3, "new", {"jobs/a.aln": b"A"})
    config = tmp_path / "scenarios.yaml"
    target = f"{{api_url: 'http://127.0.0.1:9', aws: {{endpoint_url: '{moto_url}'}}}}"
    config.write_text(
        f"targets:\n  aws: {target}\ndefault_target: aws\n"
        "gates:\n  cutover:\n    s3: {metric: s3.differences, at_most: 0}\n"
    )
    command = [str(Path(sys.executable).parent / "pavi-validate"), "s3-verify", "--config", str(config),
               "--source", "s3://old/jobs", "--dest", "s3://new/jobs"]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "PAVI_RUNS_DIR": str(tmp_path / "runs"), "COLUMNS": "200"},
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    (gate,) = json.loads((run_dir / "report" / "summary.json").read_text())["gates"]
    assert gate["verdict"] == "FAIL"
    assert "missing: b.aln" in gate["reason"]
