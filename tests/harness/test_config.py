"""scenarios.yaml validation: good files load, bad ones name the field, the value and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_scenarios, parse_scenarios
from harness.errors import ConfigError, ExitCode

REPO = Path(__file__).resolve().parents[2]


def test_shipped_scenarios_validate() -> None:
    scenarios = load_scenarios(REPO / "scenarios.yaml")
    assert scenarios.default_target == "local"
    gate = scenarios.gates["phase-2"]["api-latency"]
    assert gate.comparison == ("below", 500.0)
    assert gate.statistic == "p95"
    assert scenarios.workloads.load.users == 500
    assert scenarios.workloads.load.duration == 300.0
    assert scenarios.targets["staging"].urls()[0].startswith("https://")
    assert {"phase-1", "phase-2", "canary", "success"} <= set(scenarios.gates)


def test_defaults_without_a_file(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    scenarios = load_scenarios()
    assert scenarios.target(None)[1].kind == "local"


def _problem(raw: object) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_scenarios(raw)
    assert caught.value.exit_code == ExitCode.USAGE
    return str(caught.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"workloads": {"load": {"users": -5}}}, ["workloads.load.users", "-5", "greater than 0"]),
        ({"workloads": {"load": {"users": "many"}}}, ["workloads.load.users", "'many'", "integer"]),
        ({"workloads": {"load": {"duration": 300}}}, ["workloads.load.duration", "unit"]),
        ({"workloads": {"load": {"think_time": ["3s", "1s"]}}}, ["workloads.load.think_time", "minimum"]),
        ({"workloads": {"load": {"userz": 5}}}, ["workloads.load.userz", "unknown field"]),
        ({"default_target": "prod"}, ["default_target 'prod'", "local"]),
        ({"targets": {"staging": {"kind": "remote"}}}, ["targets.staging", "api_url"]),
        ({"targets": {"s": {"api_url": "ftp://x"}}}, ["targets.s.api_url", "http(s) URL", "ftp://x"]),
        (
            {"gates": {"p": {"g": {"metric": "load.latency", "below": "1s"}}}},
            ["gates.p.g.metric", "unknown metric", "load.latency_ms", "'load.latency'"],
        ),
        (
            {"gates": {"p": {"g": {"metric": "load.latency_ms", "below": 500}}}},
            ["gates.p.g", "below: 500", "unit"],
        ),
        (
            {"gates": {"p": {"g": {"metric": "load.latency_ms", "stat": "p42", "below": "1s"}}}},
            ["gates.p.g", "p42", "p95"],
        ),
        ({"gates": {"p": {"g": {"metric": "load.error_rate", "below": 5}}}}, ["gates.p.g", "5%"]),
        ({"gates": {"p": {"g": {"metric": "load.error_rate"}}}}, ["gates.p.g", "exactly one comparison"]),
        (
            {"gates": {"p": {"g": {"metric": "load.error_rate", "below": "1%", "above": "0%"}}}},
            ["exactly one comparison", "below", "above"],
        ),
        ([1, 2], ["top level must be a mapping"]),
    ],
)
def test_bad_configs_name_field_value_and_rule(raw: object, expected: list[str]) -> None:
    message = _problem(raw)
    for fragment in expected:
        assert fragment in message


def test_yaml_syntax_error_gives_line(tmp_path) -> None:
    path = tmp_path / "scenarios.yaml"
    path.write_text("targets:\n  local:\n    kind: local\n   port: 8765\n")
    with pytest.raises(ConfigError, match=r"YAML syntax error at line \d+"):
        load_scenarios(path)


def test_duplicate_gate_names_are_refused(tmp_path) -> None:
    path = tmp_path / "scenarios.yaml"
    path.write_text(
        "gates:\n"
        "  phase-2:\n"
        "    api-latency: {metric: load.latency_ms, stat: p95, below: 500ms}\n"
        "    api-latency: {metric: load.latency_ms, stat: p95, below: 900ms}\n"
    )
    with pytest.raises(ConfigError, match=r"duplicate key 'api-latency' at line 4 \(first at line 3"):
        load_scenarios(path)


def test_missing_named_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_scenarios(tmp_path / "nope.yaml")


def test_units_convert_to_the_metric_unit() -> None:
    scenarios = parse_scenarios(
        {
            "gates": {
                "s": {
                    "a": {"metric": "load.latency_ms", "at_most": "1s"},
                    "b": {"metric": "load.error_rate", "at_most": "1%"},
                    "c": {"metric": "load.error_rate", "at_most": 0.02},
                    "d": {"metric": "pipeline.duration_s", "below": "2m"},
                }
            }
        }
    )
    gates = scenarios.gates["s"]
    assert gates["a"].comparison == ("at_most", 1000.0)
    assert gates["b"].comparison == ("at_most", 0.01)
    assert gates["c"].comparison == ("at_most", 0.02)
    assert gates["d"].comparison == ("below", 120.0)
