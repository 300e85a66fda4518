"""The checks every job must pass to count as a success; pure functions of what the driver saw.

"Successful run" means more than status `completed`: the alignment must be Clustal text the UI can
parse, hold exactly the sequences that were asked for, and agree with seq-info; with an expected
alignment, byte for byte (upstream's own test). A job meant to fail succeeds by failing cleanly:
status `failed` and no results. Each check keeps its reason, so a failure says what went wrong.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from local_pavi.alignment import parse_clustal
from pipeline_bench.drivers import COMPLETED, JobOutcome
from pipeline_bench.payloads import JobPayload

NOT_CHECKED = "not checked: "
SHOWN_CHARS = 80
SHOWN_NAMES = 5


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


def expected_names(body: Iterable[Mapping[str, Any]]) -> list[str]:
    """Alignment row names for a payload, named as PAVI's seq_retrieval names its output.

    One row per entry (`base_seq_name`), or two for an entry with variant_ids:
    `<base>_ref` and `<base><alt_seq_name_suffix or "_alt">`.
    """
    names: list[str] = []
    for entry in body:
        base = str(entry["base_seq_name"])
        if entry.get("variant_ids"):
            names += [f"{base}_ref", f"{base}{entry.get('alt_seq_name_suffix') or '_alt'}"]
        else:
            names.append(base)
    return names


def _names(names: Iterable[str]) -> str:
    shown = sorted(names)
    more = f" (+{len(shown) - SHOWN_NAMES} more)" if len(shown) > SHOWN_NAMES else ""
    return ", ".join(shown[:SHOWN_NAMES]) + more


def check_status(outcome: JobOutcome, expect: str) -> Check:
    passed = outcome.status == expect
    detail = outcome.status if passed else f"{outcome.status} (expected {expect})"
    if not passed:
        detail += f": {outcome.error}" if outcome.error else ""
        detail += f"; log: {outcome.log}" if outcome.log else ""
    return Check("status", passed, detail)


def check_clustal(outcome: JobOutcome) -> tuple[Check, dict[str, str] | None]:
    """The alignment parses as Clustal (what the web UI's clustal-js must read); the rows if so."""
    if outcome.alignment is None:
        http = f"HTTP {outcome.alignment_http}" if outcome.alignment_http else "not fetched"
        return Check("alignment_clustal", False, f"no alignment ({http})"), None
    try:
        rows = parse_clustal(outcome.alignment)
    except ValueError as error:
        return Check("alignment_clustal", False, f"not Clustal: {error}"), None
    width = len(next(iter(rows.values())))
    return Check("alignment_clustal", True, f"{len(rows)} rows x {width} columns"), rows


def check_rows(rows: Mapping[str, str] | None, body: Sequence[Mapping[str, Any]]) -> Check:
    """One row per requested sequence, named as requested: no sequence lost, none extra."""
    if rows is None:
        return Check("alignment_rows", False, NOT_CHECKED + "no parsable alignment")
    wanted = Counter(expected_names(body))
    got = Counter(list(rows))  # Counter(mapping) would take the rows as counts
    if got == wanted:
        return Check("alignment_rows", True, f"{len(rows)} rows as requested")
    problems = [f"{sum(got.values())} rows for {sum(wanted.values())} requested"]
    if missing := wanted - got:
        problems.append(f"missing {_names(missing.elements())}")
    if extra := got - wanted:
        problems.append(f"unexpected {_names(extra.elements())}")
    return Check("alignment_rows", False, "; ".join(problems))


def check_seq_info(outcome: JobOutcome, rows: Mapping[str, str] | None) -> Check:
    """seq-info describes exactly the aligned sequences (the UI joins the two by name)."""
    if outcome.seq_info is None:
        http = f"HTTP {outcome.seq_info_http}" if outcome.seq_info_http else "not fetched"
        why = "not a JSON object" if outcome.seq_info_http == 200 else http
        return Check("seq_info_names", False, f"no seq-info ({why})")
    if rows is None:
        return Check("seq_info_names", False, NOT_CHECKED + "no parsable alignment")
    info, aligned = set(outcome.seq_info), set(rows)
    if info == aligned:
        return Check("seq_info_names", True, f"{len(info)} sequences, as aligned")
    problems = []
    if missing := aligned - info:
        problems.append(f"no info for {_names(missing)}")
    if extra := info - aligned:
        problems.append(f"info for unaligned {_names(extra)}")
    return Check("seq_info_names", False, "; ".join(problems))


def check_expected_alignment(alignment: str | None, expected: bytes) -> Check:
    """Byte-for-byte equality with the expected file, as upstream's integration test demands."""
    if alignment is None:
        return Check("alignment_matches_expected", False, NOT_CHECKED + "no alignment")
    got = alignment.encode("utf-8", "surrogateescape")
    if got == expected:
        return Check("alignment_matches_expected", True, f"identical ({len(got)} bytes)")
    got_lines, expected_lines = got.splitlines(keepends=True), expected.splitlines(keepends=True)
    pairs = enumerate(zip(got_lines, expected_lines, strict=False), start=1)
    common = min(len(got_lines), len(expected_lines))
    number = next((n for n, (mine, theirs) in pairs if mine != theirs), common + 1)
    mine = got_lines[number - 1] if number <= len(got_lines) else b"(end of text)"
    theirs = expected_lines[number - 1] if number <= len(expected_lines) else b"(end of file)"
    return Check(
        "alignment_matches_expected",
        False,
        f"differs at line {number} ({len(got)} bytes vs {len(expected)} expected): "
        f"got {mine[:SHOWN_CHARS]!r}, expected {theirs[:SHOWN_CHARS]!r}",
    )


def check_results_absent(outcome: JobOutcome) -> Check:
    """A failed job must not serve results: both result routes answer 404."""
    codes = {"alignment": outcome.alignment_http, "seq-info": outcome.seq_info_http}
    detail = ", ".join(f"{route} {code or 'not fetched'}" for route, code in codes.items())
    return Check("results_absent", all(code == 404 for code in codes.values()), detail)


def run_checks(outcome: JobOutcome, payload: JobPayload) -> list[Check]:
    """Every check that applies to this job, in a fixed order."""
    status = check_status(outcome, payload.expect)
    if payload.expect != COMPLETED:
        return [status, check_results_absent(outcome)]
    names = ["alignment_clustal", "alignment_rows", "seq_info_names"]
    names += ["alignment_matches_expected"] if payload.expected_alignment is not None else []
    if not status.passed:  # missing results are the status's consequence, not failures of their own
        return [status, *(Check(name, False, f"{NOT_CHECKED}job ended {outcome.status}") for name in names)]
    clustal, rows = check_clustal(outcome)
    checks = [status, clustal, check_rows(rows, payload.body), check_seq_info(outcome, rows)]
    if payload.expected_alignment is not None:
        checks.append(check_expected_alignment(outcome.alignment, payload.expected_alignment))
    return checks


def succeeded(checks: Iterable[Check]) -> bool:
    return all(check.passed for check in checks)


def failure_reason(checks: Iterable[Check]) -> str | None:
    """The failed checks' reasons, leaving out those that could not run because of an earlier one."""
    failed = [c for c in checks if not c.passed and not c.detail.startswith(NOT_CHECKED)]
    return "; ".join(f"{c.name}: {c.detail}" for c in failed) or None
