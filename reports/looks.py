"""One look of a run that lasts until its verdict is known (`--until-decided`): judge what is on disk.

The runner calls this between its looks; it reads the run folder like any report (raw samples, never
the running Locust or browser) and judges only the gates the running part measures, so evidence
gates from other parts neither hold a run open nor stop it. The decision rule is the judge's
(`judge.stop_reason`).
"""

from __future__ import annotations

from harness.config import Scenarios
from harness.registry import METRICS
from harness.runstore import Run
from reports.canary import canary_sides, expand_sides
from reports.judge import judge, stop_reason
from reports.metrics import measure
from reports.model import GateResult
from reports.rundata import load_run_data

LOAD_PARTS = ("load", "canary")


def judge_look(
    run: Run, scenarios: Scenarios, gate_set: str, parts: tuple[str, ...] = LOAD_PARTS
) -> tuple[str | None, list[GateResult]]:
    """(why the run may stop now or None, the results of the gates `parts` measure at this look)."""
    data = load_run_data(run)
    gates = {
        name: gate
        for name, gate in expand_sides(scenarios.gate_set(gate_set), canary_sides(data)).items()
        if METRICS[gate.metric].part in parts and gate.metric != "canary.consistency_mismatches"
    }
    results = judge(gate_set, gates, {name: measure(gate, data) for name, gate in gates.items()})
    return stop_reason(results), results
