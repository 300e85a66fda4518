"""Where a job's genome comes from: each entry's `fasta_file_url`, as upstream downloads it.

Upstream's seq_retrieval downloads the FASTA (and its .fai) at `fasta_file_url`. The stand-in must
never leave this machine, so it fetches a URL only when its host is loopback, reads its own
`/genome/<FASTA_NAME>` route straight from memory (no request to itself), and fails the job for any
other URL, and for one that answers anything but 200 or cannot be fetched.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from local_pavi.genome import parse_fasta
from pavi_contract.admin import is_loopback

OFFLINE = "offline: the stand-in fetches genome FASTA only from this machine"
FETCH_TIMEOUT_S = 60.0
MAX_FASTA_BYTES = 1 << 30  # far above any test genome; a runaway answer must not fill memory


class FastaUnavailable(Exception):
    """The genome at a `fasta_file_url` cannot be had; the message goes into the job's log."""


class GenomeSources:
    """Chromosomes by `fasta_file_url` for one job: each URL is fetched at most once per job, so a
    URL that stops answering fails the next job as it would upstream."""

    def __init__(
        self,
        own_chromosomes: Mapping[str, str],
        own_path: str,
        own_port: int | None,
        timeout_s: float = FETCH_TIMEOUT_S,
    ) -> None:
        self.own_chromosomes = own_chromosomes
        self.own_path = own_path
        self.own_port = own_port
        self.timeout_s = timeout_s
        self._fetched: dict[str, Mapping[str, str]] = {}

    def is_own(self, url: str) -> bool:
        """The stand-in's own genome route (any loopback name for its host, its port, its path)."""
        parts = urlsplit(url)
        try:
            port = parts.port or 80
        except ValueError:
            return False
        return (
            self.own_port is not None
            and parts.scheme == "http"
            and is_loopback(parts.hostname)
            and port == self.own_port
            and parts.path == self.own_path
        )

    def chromosomes(self, url: str) -> Mapping[str, str]:
        """Raises FastaUnavailable: not a loopback http(s) URL, not 200, unreachable, or not FASTA."""
        if self.is_own(url):
            return self.own_chromosomes
        if url not in self._fetched:
            self._fetched[url] = self._fetch(url)
        return self._fetched[url]

    def _fetch(self, url: str) -> Mapping[str, str]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not is_loopback(parts.hostname):
            raise FastaUnavailable(
                f"{OFFLINE} (http(s) on 127.0.0.1, localhost or ::1); fasta_file_url {url!r} is not"
            )
        body = bytearray()
        try:
            # no proxies from the environment, no redirects: the request must stay on this machine
            with (
                httpx.Client(trust_env=False, follow_redirects=False, timeout=self.timeout_s) as client,
                client.stream("GET", url) as answer,
            ):
                if answer.status_code != 200:
                    raise FastaUnavailable(f"fasta_file_url {url!r} answered HTTP {answer.status_code}")
                for chunk in answer.iter_bytes():
                    body += chunk
                    if len(body) > MAX_FASTA_BYTES:
                        raise FastaUnavailable(
                            f"fasta_file_url {url!r} is larger than {MAX_FASTA_BYTES} bytes"
                        )
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise FastaUnavailable(f"fasta_file_url {url!r} cannot be fetched: {error}") from None
        try:
            chromosomes = parse_fasta(body.decode("ascii", errors="replace"))
        except ValueError as error:
            raise FastaUnavailable(f"fasta_file_url {url!r} is not FASTA: {error}") from None
        if not chromosomes:
            raise FastaUnavailable(f"fasta_file_url {url!r} holds no sequences")
        return chromosomes
