"""`pavi-validate selftest` as CI runs it: every shipped gate set at ci scale on its own local stacks and
moto, each gate healthy (PASS) and tripped (FAIL), exit 0. About three minutes on two cores."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.config import load_scenarios
from tests.support import run_cli

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "scenarios.yaml"


@pytest.mark.timeout(900)
def test_every_shipped_gate_passes_healthy_and_trips(pavi_data_dir: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    result = run_cli(
        "selftest", "--config", str(CONFIG),
        env={"PAVI_RUNS_DIR": str(runs), "COLUMNS": "260"}, timeout=840,
    )  # fmt: skip
    folders = sorted(runs.glob("selftest-*/selftest.json"))
    assert folders, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(folders[-1].read_text())
    bad = [row for row in summary["rows"] if not row["ok"]]
    assert result.returncode == 0, (bad, result.stderr[-2000:])
    assert summary["ok"] and not bad and not summary["untestable"]
    assert summary["scale"] == "ci" and all(trial["error"] is None for trial in summary["trials"])

    shipped = load_scenarios(CONFIG).gates
    seen = {(row["gate_set"], row["gate"].rsplit(" (", 1)[0], row["case"]) for row in summary["rows"]}
    for gate_set, gates in shipped.items():
        for name in gates:
            for case in ("healthy", "tripped"):
                assert (gate_set, name, case) in seen, (gate_set, name, case)
            assert name in result.stdout  # the table names it
    assert "every gate behaved" in result.stdout
    for row in summary["rows"]:
        wanted = {"healthy": "PASS", "tripped": "FAIL", "saturated generator": "INVALID"}[row["case"]]
        assert row["expected"] == wanted and row["got"] == wanted, row
    assert any(row["case"] == "saturated generator" for row in summary["rows"])

    junit = ET.parse(folders[-1].parent / "junit.xml").getroot()
    assert int(junit.get("tests")) == len(summary["rows"]) and junit.get("failures") == "0"
    for row in summary["rows"]:  # every case is a real run in the run store, with its run.json
        assert (folders[-1].parent / row["run"] / "run.json").is_file()
