"""The bad-input catalogue at the command line: one clear message naming the problem and the fix, the
documented exit code, and no traceback (scenarios.yaml's own catalogue is in test_config.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.errors import ExitCode
from tests.support import run_cli

NO_AWS = {
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_EC2_METADATA_DISABLED": "true",  # no instance metadata lookup: fail at once, offline
}


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine that never logged in to AWS: no key, token or profile in the environment."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PAVI_AWS_PROFILE", raising=False)


def _clean(result) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert "fix:" in result.stderr, output


def _config(tmp_path: Path, payload: Path) -> Path:
    path = tmp_path / "scenarios.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "workloads": {
                    "load": {"users": 2, "duration": "5s", "payload": {"file": str(payload)}},
                    "pipeline": {"jobs": 1, "payloads": [{"file": str(payload)}]},
                },
                "gates": {"g": {"errors": {"metric": "load.error_rate", "at_most": "1%"}}},
            }
        )
    )
    return path


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot be read"),
        ("{not json", "not JSON"),
        (json.dumps({"entries": []}), "not a list"),
        (json.dumps([]), "holds no entries"),
        (json.dumps([{"seq_id": "chr1"}]), "lacks required field"),
    ],
    ids=["missing", "syntax", "object", "empty", "incomplete"],
)
def test_bad_payload_files_are_named_before_anything_is_sent(tmp_path: Path, content, problem) -> None:
    payload = tmp_path / "payload.json"
    if content is not None:
        payload.write_text(content)
    config = _config(tmp_path, payload)
    env = {"PAVI_RUNS_DIR": str(tmp_path / "runs")}
    for command in ("load", "pipeline"):
        result = run_cli(command, "--config", str(config), "--gates", "g", env=env)
        assert result.returncode == ExitCode.USAGE, (command, result.stderr)
        assert str(payload) in result.stderr and problem in result.stderr
        _clean(result)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["load", "--duration", "5"], "--duration '5'"),
        (["load", "--duration", "soon"], "--duration 'soon'"),
        (["probe"], "--until"),
        (["probe", "--until", "someday"], "--until 'someday'"),
        (
            ["s3-verify", "--source", "s3://a/x", "--dest", "s3://b/y", "--hash-content", "md4"],
            "--hash-content",
        ),
        (["canary", "--blue", "local"], "both sides"),
        (["report", "no-such-run"], "no-such-run"),
        (["load", "--target", "nowhere"], "target 'nowhere'"),
        (["load", "--gates", "phase-9"], "gate set 'phase-9'"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_bad_arguments_name_the_option_and_exit_2(tmp_path: Path, args, words) -> None:
    result = run_cli(*args, env={"PAVI_RUNS_DIR": str(tmp_path / "runs")}, cwd=Path(__file__).parents[2])
    assert result.returncode == ExitCode.USAGE, result.stdout + result.stderr
    assert words in result.stderr
    _clean(result)


def test_options_typer_refuses_exit_2_with_usage() -> None:
    for args in (["load", "--users", "0"], ["load", "--users", "many"], ["load", "--no-such-option"]):
        result = run_cli(*args)
        assert result.returncode == ExitCode.USAGE
        assert "Usage:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.usefixtures("no_aws_credentials")
def test_missing_aws_credentials_exit_5_with_the_fix(tmp_path: Path) -> None:
    result = run_cli(
        "s3-verify", "--source", "s3://pavi-old/jobs", "--dest", "s3://pavi-new/jobs",
        env={**NO_AWS, "PAVI_RUNS_DIR": str(tmp_path / "runs")}, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert result.returncode == ExitCode.ENVIRONMENT, result.stdout + result.stderr
    assert "no AWS credentials found" in result.stderr
    _clean(result)


@pytest.mark.usefixtures("no_aws_credentials")
def test_an_unknown_aws_profile_names_the_login_command(tmp_path: Path) -> None:
    config = tmp_path / "scenarios.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "default_target": "staging",
                "targets": {
                    "staging": {
                        "kind": "remote",
                        "api_url": "http://127.0.0.1:9",
                        "aws": {"profile": "pavi-expired"},
                    }
                },
                "gates": {"cutover": {"s3": {"metric": "s3.differences", "at_most": 0}}},
            }
        )
    )
    env = {**NO_AWS, "PAVI_RUNS_DIR": str(tmp_path / "runs")}
    result = run_cli(
        "s3-verify", "--config", str(config), "--source", "s3://a/x", "--dest", "s3://b/y", env=env
    )
    assert result.returncode == ExitCode.ENVIRONMENT, result.stdout + result.stderr
    assert "pavi-expired" in result.stderr
    _clean(result)
