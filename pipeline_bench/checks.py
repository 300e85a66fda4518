"""The checks every job must pass to count as a success; pure functions of what the driver saw.

"Successful run" means more than status `completed`: the alignment must be Clustal text the UI can
parse and hold the sequences that were asked for, less those the pipeline rejected (absent, with an
`"error"` in seq-info, as upstream's seq_retrieval does for an alternative whose variant changes the
start codon), and seq-info must describe exactly the aligned and the rejected (`pavi_contract.results`);
with an expected alignment, byte for byte (upstream's own test). A job meant to fail succeeds by
failing cleanly: status `failed` and no results. Each check keeps its reason, so a failure says
what went wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pavi_contract.clustal import parse_clustal
from pavi_contract.results import ResultShape, result_shape
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


def _info(outcome: JobOutcome) -> dict[str, Any] | None:
    return outcome.seq_info if isinstance(outcome.seq_info, dict) else None


def shape_of(
    outcome: JobOutcome, rows: Mapping[str, str] | None, body: Sequence[Mapping[str, Any]]
) -> ResultShape | None:
    """The job's results held against its payload; None without a parsable alignment."""
    return None if rows is None else result_shape(body, list(rows), _info(outcome))


def _rejected(shape: ResultShape) -> str:
    return (
        f", {len(shape.rejected)} rejected by the pipeline ({_names(shape.rejected)})"
        if shape.rejected
        else ""
    )


def check_rows(shape: ResultShape | None) -> Check:
    """Every requested sequence aligned or rejected with a reason; no row nobody asked for."""
    if shape is None:
        return Check("alignment_rows", False, NOT_CHECKED + "no parsable alignment")
    if shape.rows_ok:
        return Check("alignment_rows", True, f"{len(shape.aligned)} rows as requested{_rejected(shape)}")
    problems = [f"{len(shape.aligned)} rows for {len(shape.requested)} requested{_rejected(shape)}"]
    if shape.missing:
        problems.append(f"missing without an error in seq-info: {_names(shape.missing)}")
    if shape.unexpected_rows:
        problems.append(f"unexpected {_names(shape.unexpected_rows)}")
    return Check("alignment_rows", False, "; ".join(problems))


def check_seq_info(outcome: JobOutcome, shape: ResultShape | None) -> Check:
    """seq-info describes exactly the aligned and the rejected sequences (the UI joins them by name)."""
    if _info(outcome) is None:
        http = f"HTTP {outcome.seq_info_http}" if outcome.seq_info_http else "not fetched"
        why = "not a JSON object" if outcome.seq_info_http == 200 else http
        return Check("seq_info_names", False, f"no seq-info ({why})")
    if shape is None:
        return Check("seq_info_names", False, NOT_CHECKED + "no parsable alignment")
    if shape.info_ok:
        rejected = f" and {len(shape.rejected)} rejected" if shape.rejected else ""
        return Check("seq_info_names", True, f"{len(shape.aligned)} aligned{rejected}, as described")
    problems = []
    if shape.info_missing:
        problems.append(f"no info for {_names(shape.info_missing)}")
    if shape.info_unaligned:
        problems.append(f"info for neither aligned nor rejected {_names(shape.info_unaligned)}")
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
    shape = shape_of(outcome, rows, payload.body)
    checks = [status, clustal, check_rows(shape), check_seq_info(outcome, shape)]
    if payload.expected_alignment is not None:
        checks.append(check_expected_alignment(outcome.alignment, payload.expected_alignment))
    return checks


def rejected_sequences(outcome: JobOutcome, payload: JobPayload) -> dict[str, str]:
    """Name -> the pipeline's reason, for each sequence a completed job legitimately left out."""
    if outcome.status != COMPLETED or outcome.alignment is None:
        return {}
    try:
        rows = parse_clustal(outcome.alignment)
    except ValueError:
        return {}
    shape = shape_of(outcome, rows, payload.body)
    return shape.rejected if shape is not None else {}


def succeeded(checks: Iterable[Check]) -> bool:
    return all(check.passed for check in checks)


def failure_reason(checks: Iterable[Check]) -> str | None:
    """The failed checks' reasons, leaving out those that could not run because of an earlier one."""
    failed = [c for c in checks if not c.passed and not c.detail.startswith(NOT_CHECKED)]
    return "; ".join(f"{c.name}: {c.detail}" for c in failed) or None
