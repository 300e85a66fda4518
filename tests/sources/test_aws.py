"""Missing, unknown, expired or rejected credentials and unreachable endpoints: clear EnvironmentProblems."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.config import AwsSettings
from harness.errors import EnvironmentProblem, ExitCode
from sources.aws import open_session, redact
from sources.cloudwatch import alb_queries, collect_metrics

from .conftest import Moto, loopback_port

END = datetime.now(UTC).replace(second=0, microsecond=0)


def test_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(EnvironmentProblem) as caught:
        open_session(AwsSettings(endpoint_url="http://127.0.0.1:9"))
    error = caught.value
    assert error.exit_code == ExitCode.ENVIRONMENT
    assert "no AWS credentials found" in error.problem
    assert "configure-aws-credentials" in error.fix and "AWS_PROFILE" in error.fix
    assert "Traceback" not in str(error)


def test_profile_that_does_not_exist() -> None:
    with pytest.raises(EnvironmentProblem) as caught:
        open_session(AwsSettings(profile="pavi-nowhere"))
    assert "'pavi-nowhere' is not defined" in caught.value.problem
    assert "aws configure sso --profile pavi-nowhere" in caught.value.fix


def test_ci_override_drops_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    """In CI the credentials come from OIDC as environment variables; PAVI_AWS_PROFILE="" uses them."""
    monkeypatch.setenv("PAVI_AWS_PROFILE", "")
    session = open_session(AwsSettings(profile="pavi-staging"))
    assert session.settings.profile is None
    assert session.session.get_credentials().method == "env"


def test_sso_profile_not_logged_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SSO token in the (empty, temporary) cache: the fix is `aws sso login`, no network involved."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (tmp_path / "aws-config").write_text(
        "[profile pavi-staging]\n"
        "sso_session = alliance\n"
        "sso_account_id = 123456789012\n"
        "sso_role_name = PaviReadOnly\n"
        "region = us-east-1\n"
        "[sso-session alliance]\n"
        "sso_start_url = https://alliance.awsapps.com/start\n"
        "sso_region = us-east-1\n"
    )
    with pytest.raises(EnvironmentProblem) as caught:
        open_session(AwsSettings(profile="pavi-staging"))
    assert "SSO login for profile 'pavi-staging' is missing or expired" in caught.value.problem
    assert "aws sso login --profile pavi-staging" in caught.value.fix


def test_credentials_rejected_by_the_endpoint(moto: Moto) -> None:
    client = open_session(AwsSettings(endpoint_url=moto.url)).client("cloudwatch")
    moto.require_auth(True)
    try:
        with pytest.raises(EnvironmentProblem) as caught:
            collect_metrics(client, alb_queries("app/x/1"), END - timedelta(minutes=5), END, 60)
    finally:
        moto.require_auth(False)
    assert "AWS rejected the credentials" in caught.value.problem
    assert "InvalidClientTokenId" in caught.value.problem or "Unrecognized" in caught.value.problem


def test_unreachable_endpoint() -> None:
    url = f"http://127.0.0.1:{loopback_port()}"
    client = open_session(AwsSettings(endpoint_url=url)).client("cloudwatch")
    with pytest.raises(EnvironmentProblem) as caught:
        collect_metrics(client, alb_queries("app/x/1"), END - timedelta(minutes=5), END, 60)
    assert f"cannot reach {url}" in caught.value.problem


def test_redact_scrubs_keys_tokens_and_signatures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEXAMPLETOKEN")
    text = (
        "failed: key AKIAIOSFODNN7EXAMPLE token IQoJb3JpZ2luX2VjEXAMPLETOKEN "
        "Authorization: AWS4-HMAC-SHA256 Credential=ASIAXXXXXXXXXXXXXXXX/20250101 Signature=deadbeef"
    )
    clean = redact(text, secrets=("my-secret-value",))
    for leaked in (
        "AKIAIOSFODNN7EXAMPLE",
        "IQoJb3JpZ2luX2VjEXAMPLETOKEN",
        "ASIAXXXX",
        "deadbeef",
        "AWS4-HMAC",
    ):
        assert leaked not in clean
    assert clean.startswith("failed: key [redacted]")
