"""`browser --until-decided`: looks after 3, 6... fresh pages; a frame rate far above its gate stops
after the first look instead of running all the repeats allowed."""

from __future__ import annotations

import pytest

from browser_bench.jobs import ensure_alignment_job
from harness.config import Target, parse_scenarios
from harness.parts import Overrides, Where, measure_browser
from harness.runstore import create_run
from reports.model import Verdict
from reports.report import build_report

pytestmark = pytest.mark.e2e

SCENARIOS = {
    "targets": {"local": {"kind": "local"}},
    "workloads": {
        "browser": {
            "sequences": 20,
            "repeats": 3,
            "interaction_time": "0.5s",
            "interactions": ["scroll_vertical"],
        }
    },
    "gates": {"g": {"fps": {"metric": "browser.fps_mean", "at_least": 1}}},
}


def test_a_clear_frame_rate_stops_after_the_first_look(local_stack, tmp_path) -> None:
    scenarios = parse_scenarios(SCENARIOS)
    job = ensure_alignment_job(local_stack.url, 20, timeout_s=180)
    run = create_run("local", None, root=tmp_path / "runs")
    options = Overrides(until_decided=True, max_repeats=12, gate_set="g", uuid=job)
    measure_browser(
        run, scenarios, Where("local", Target(kind="local"), local_stack.url, local_stack.url), options
    )
    run.finish()
    part = run.meta["parts"]["browser"]
    assert part["until_decided"]["looks_repeats"] == [3.0, 6.0, 12.0]
    assert part["until_decided"]["stopped_at_repeats"] == 3, part
    assert part["repeats_done"] == 3 and part["confidence"] == pytest.approx(1 - 0.05 / 3)
    result = build_report(run, scenarios, "g", figures=False).results[0]
    assert result.verdict is Verdict.PASS, result.reason
