"""JUnit XML (Cypress mocha-junit-reporter) -> test cases; broken files are errors naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness.errors import ConfigError, ExitCode, HarnessError
from sources.e2e import CASES_SCHEMA, collect_e2e, read_junit

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "cypress-alignment.xml"


def test_cases_and_outcomes_from_nested_suites() -> None:
    rows = read_junit(FIXTURE)
    outcomes = [row["outcome"] for row in rows]
    assert sorted(outcomes) == ["failed", "passed", "passed", "passed", "skipped"]
    failed = next(row for row in rows if row["outcome"] == "failed")
    assert failed["suite"] == "Alignment result page"
    assert failed["classname"] == "downloads the Clustal file"
    assert failed["time_s"] == pytest.approx(2.801)
    assert failed["message"].startswith("Timed out retrying after 4000ms")
    nested = next(row for row in rows if row["outcome"] == "skipped")
    assert nested["suite"] == "Alignment result page colour schemes"
    assert {row["spec"] for row in rows} == {"cypress/e2e/alignment.cy.js"}
    assert all(row["message"] is None for row in rows if row["outcome"] == "passed")


def test_glob_writes_parquet_and_summary(tmp_path: Path) -> None:
    reports = tmp_path / "cypress" / "results"
    reports.mkdir(parents=True)
    shutil.copy(FIXTURE, reports / "results-1.xml")
    shutil.copy(FIXTURE, reports / "results-2.xml")
    out = tmp_path / "run" / "sources"
    frame = collect_e2e(["cypress/results/*.xml"], root=tmp_path, out_dir=out)
    assert len(frame) == 10
    table = pq.read_table(out / "e2e.parquet")
    assert table.schema.equals(CASES_SCHEMA)
    assert table.num_rows == 10
    summary = json.loads((out / "e2e.json").read_text())
    assert summary["outcomes"] == {"passed": 6, "failed": 2, "error": 0, "skipped": 2}
    assert len(summary["files"]) == 2


def test_error_element_counts_as_error(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_text(
        '<testsuite name="s"><testcase name="t" classname="c" time="0.1">'
        '<error message="before each hook failed"/></testcase></testsuite>'
    )
    [row] = read_junit(path)
    assert (row["outcome"], row["message"], row["suite"]) == ("error", "before each hook failed", "s")


@pytest.mark.parametrize(
    "text", ["", "<testsuites><testsuite name='x'><testcase name='a'>", "not xml at all"]
)
def test_malformed_xml_names_the_file(tmp_path: Path, text: str) -> None:
    good = tmp_path / "a-good.xml"
    shutil.copy(FIXTURE, good)
    bad = tmp_path / "b-truncated.xml"
    bad.write_text(text)
    with pytest.raises(HarnessError) as caught:
        collect_e2e(["*.xml"], root=tmp_path)
    assert "b-truncated.xml" in caught.value.problem
    assert "not well-formed XML" in caught.value.problem
    assert caught.value.exit_code == ExitCode.INVALID


def test_xml_that_is_not_junit(tmp_path: Path) -> None:
    path = tmp_path / "coverage.xml"
    path.write_text("<coverage/>")
    with pytest.raises(HarnessError, match=r"coverage\.xml: root element <coverage>"):
        read_junit(path)


def test_no_matching_files_is_an_error_not_zero_tests(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no JUnit files match"):
        collect_e2e(["cypress/results/*.xml"], root=tmp_path)
