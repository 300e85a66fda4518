"""E2E evidence: Cypress results from CI as JUnit XML (mocha-junit-reporter), one row per test case.

The plan's gate is "E2E test pass rate 100% (Cypress CI)". Cypress writes one XML file per spec;
suites may nest. A file that does not parse is an error naming the file, never zero tests: an
empty or broken report must not read as a clean pass. Files: `e2e.parquet`, `e2e.json`.
"""

from __future__ import annotations

import glob
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.errors import ConfigError, ExitCode, HarnessError
from harness.runstore import write_json_atomic

CASES_FILE = "e2e.parquet"
SUMMARY_FILE = "e2e.json"
MESSAGE_CHARS = 500

CASES_SCHEMA = pa.schema(
    [
        pa.field("file", pa.string(), nullable=False),  # the JUnit file, as matched by the glob
        pa.field("spec", pa.string()),  # the Cypress spec file (a suite's `file` attribute), when given
        pa.field("suite", pa.string(), nullable=False),  # the nearest enclosing <testsuite> name
        pa.field("name", pa.string(), nullable=False),
        pa.field("classname", pa.string(), nullable=False),
        pa.field("time_s", pa.float64()),
        pa.field("outcome", pa.string(), nullable=False),  # passed | failed | error | skipped
        pa.field("message", pa.string()),  # failure/error/skip message, first MESSAGE_CHARS characters
    ]
)


def _outcome(case: ET.Element) -> tuple[str, str | None]:
    for tag, outcome in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        child = case.find(tag)
        if child is not None:
            message = child.get("message") or (child.text or "").strip() or None
            return outcome, message[:MESSAGE_CHARS] if message else None
    return "passed", None


def _time(value: str | None) -> float | None:
    try:
        return float(value.replace(",", "")) if value else None
    except ValueError:
        return None


def _walk(element: ET.Element, suite: str, spec: str | None, file: str) -> Iterable[dict[str, Any]]:
    if element.tag == "testsuite":
        suite = element.get("name", suite)
        spec = element.get("file") or spec
    for child in element:
        if child.tag == "testcase":
            outcome, message = _outcome(child)
            yield {
                "file": file,
                "spec": spec,
                "suite": suite,
                "name": child.get("name", ""),
                "classname": child.get("classname", ""),
                "time_s": _time(child.get("time")),
                "outcome": outcome,
                "message": message,
            }
        elif child.tag in ("testsuite", "testsuites"):
            yield from _walk(child, suite, spec, file)


def read_junit(path: Path) -> list[dict[str, Any]]:
    """The test cases of one JUnit XML file; HarnessError naming the file when it is not JUnit XML."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise HarnessError(
            f"{path}: not well-formed XML ({error})",
            "the CI job's JUnit report is damaged or truncated; re-run the E2E job or drop this file",
            ExitCode.INVALID,
        ) from None
    except OSError as error:
        raise HarnessError(
            f"{path}: cannot read ({error.strerror})", "check the path", ExitCode.INVALID
        ) from None
    if root.tag not in ("testsuites", "testsuite"):
        raise HarnessError(
            f"{path}: root element <{root.tag}> is not <testsuites> or <testsuite>",
            "point sources.e2e.junit at Cypress's mocha-junit-reporter output",
            ExitCode.INVALID,
        )
    # Cypress names the spec file once, on an empty "Root Suite" next to (not around) the real suites.
    spec = next((suite.get("file") for suite in root.iter("testsuite") if suite.get("file")), None)
    return list(_walk(root, root.get("name", ""), spec, str(path)))


def junit_files(patterns: Sequence[str], root: Path | None = None) -> list[Path]:
    """Files matching the glob patterns (`**` allowed), relative to `root` (default: working directory)."""
    base = root or Path.cwd()
    found: set[Path] = set()
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        found.update(Path(match) for match in glob.glob(full, recursive=True) if Path(match).is_file())
    if not found:
        raise ConfigError(
            f"no JUnit files match {', '.join(patterns)} (in {base})",
            "check sources.e2e.junit and that the Cypress job ran with mocha-junit-reporter",
        )
    return sorted(found)


def collect_e2e(
    patterns: Sequence[str], *, root: Path | None = None, out_dir: Path | None = None
) -> pd.DataFrame:
    """Every test case of every matching file; with `out_dir`, e2e.parquet and e2e.json are written."""
    files = junit_files(patterns, root)
    rows = [row for path in files for row in read_junit(path)]
    frame = pa.Table.from_pylist(rows, schema=CASES_SCHEMA).to_pandas()
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / CASES_FILE
        tmp = target.with_name(target.name + ".tmp")
        pq.write_table(pa.Table.from_pylist(rows, schema=CASES_SCHEMA), tmp)
        os.replace(tmp, target)
        counts = frame["outcome"].value_counts().to_dict() if len(frame) else {}
        write_json_atomic(
            out_dir / SUMMARY_FILE,
            {
                "patterns": list(patterns),
                "files": [str(path) for path in files],
                "cases": len(frame),
                "outcomes": {k: int(counts.get(k, 0)) for k in ("passed", "failed", "error", "skipped")},
            },
        )
    return frame
