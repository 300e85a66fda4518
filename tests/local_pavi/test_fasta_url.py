"""`fasta_file_url`, as upstream downloads it, but only from this machine: loopback URLs are fetched,
the stand-in's own /genome/ route is read from memory, anything else fails the job with a clear log."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from local_pavi.fasta_source import OFFLINE, GenomeSources, is_loopback
from local_pavi.genome import FASTA_NAME
from local_pavi.payload import generate_payload
from pavi_contract.clustal import parse_clustal


class _CountingHandler(SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: pytest shows failures, not every request."""


@pytest.fixture
def fasta_server(pavi_data_dir: Path, tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A plain HTTP server on 127.0.0.1 serving a copy of the genome, as a lab's file server would."""
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / FASTA_NAME).write_bytes((pavi_data_dir / "genome" / FASTA_NAME).read_bytes())
    requests: list[str] = []
    handler = type("Handler", (_CountingHandler,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def _failed_log(pavi, fasta_file_url: str) -> str:
    uuid = pavi.submit(generate_payload(2, fasta_file_url=fasta_file_url, seed=21))
    assert pavi.wait(uuid)["status"] == "failed"
    assert pavi.client.get(f"/api/pipeline-job/{uuid}/result/alignment").status_code == 404
    return pavi.client.get(f"/api/pipeline-job/{uuid}/logs").text


def test_loopback_names_and_the_own_route() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "localhost", "LOCALHOST", "::1", "127.0.0.2"]))
    assert not any(map(is_loopback, ["example.org", "10.0.0.1", "0.0.0.0", "", None]))
    sources = GenomeSources({"1": "ACGT"}, "/genome/genome.fa", own_port=8765)
    for url in ("http://127.0.0.1:8765/genome/genome.fa", "http://localhost:8765/genome/genome.fa"):
        assert sources.is_own(url)
    assert sources.is_own("http://[::1]:8765/genome/genome.fa")
    for url in (
        "http://127.0.0.1:8766/genome/genome.fa",
        "http://127.0.0.1:8765/genome/other.fa",
        "https://127.0.0.1:8765/genome/genome.fa",
        "http://pavi.example.org:8765/genome/genome.fa",
        "http://127.0.0.1:99999/genome/genome.fa",
    ):
        assert not sources.is_own(url), url
    assert not GenomeSources({}, "/genome/genome.fa", own_port=None).is_own(
        "http://127.0.0.1/genome/genome.fa"
    )


def test_a_url_off_this_machine_fails_the_job_without_a_request(pavi) -> None:
    for url in ("https://s3.amazonaws.com/agrjbrowse/genome.fa", "file:///tmp/genome.fa"):
        log = _failed_log(pavi, url)
        assert OFFLINE in log and url in log


def test_a_url_answering_404_or_nothing_fails_the_job(pavi, free_port: int) -> None:
    assert "answered HTTP 404" in _failed_log(pavi, f"{pavi.url}/genome/other.fa")
    assert "cannot be fetched" in _failed_log(pavi, f"http://127.0.0.1:{free_port}/{FASTA_NAME}")


def test_a_loopback_url_is_fetched_once_per_job_and_aligns_like_the_own_genome(pavi, fasta_server) -> None:
    base, requests = fasta_server
    payload = generate_payload(3, fasta_file_url=f"{base}/g/{FASTA_NAME}", seed=22)
    own = generate_payload(3, fasta_file_url=pavi.fasta_url(), seed=22)
    uuids = [pavi.submit(payload), pavi.submit(own)]
    assert [pavi.wait(uuid)["status"] for uuid in uuids] == ["completed", "completed"]
    assert requests == [f"/g/{FASTA_NAME}"]  # one download for three entries; none for the own route
    fetched, local = (pavi.client.get(f"/api/pipeline-job/{u}/result/alignment").text for u in uuids)
    assert parse_clustal(fetched) == parse_clustal(local)
