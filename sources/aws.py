"""boto3 sessions and clients from a target's `aws:` settings, with AWS failures turned into fixable errors.

Credentials are resolved once, up front, so an expired SSO login or a missing profile is reported
before any collection starts, as a message naming the problem and the fix instead of a traceback.
Nothing here logs or writes credentials; `redact` scrubs them (and anything shaped like an access
key or a signature) from error text before it reaches run.json.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOError,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)

from harness.config import AwsSettings
from harness.errors import ConfigError, EnvironmentProblem, ExitCode, HarnessError

# Few, quick retries: the sources part runs before the load test and should fail fast when AWS is away.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=60)

_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
_REJECTED = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "AuthFailure",
    "MissingAuthenticationToken",
}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException"}
_SECRET_PATTERNS = (
    re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b"),
    re.compile(r"(?i)(authorization|x-amz-security-token|x-amz-signature|signature|credential)([=:]\s*)\S+"),
)
_XML_CODE = re.compile(r"<Code>([^<]+)</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")
PROFILE_OVERRIDE = "PAVI_AWS_PROFILE"
_ENV_SECRETS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ACCESS_KEY_ID")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Error text with credential values (given, or from the environment) and key-like strings removed."""
    known = [*secrets, *(os.environ.get(name, "") for name in _ENV_SECRETS)]
    for secret in sorted({s for s in known if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    text = _SECRET_PATTERNS[0].sub("[redacted]", text)
    return _SECRET_PATTERNS[1].sub(r"\1\2[redacted]", text)


def _login_fix(profile: str | None) -> str:
    if profile:
        return (
            f"run `aws sso login --profile {profile}` (or refresh that profile's keys), "
            "then run the command again"
        )
    return (
        "set AWS_PROFILE (then `aws sso login`) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or the target's "
        "aws.profile in scenarios.yaml; in CI, add the aws-actions/configure-aws-credentials step"
    )


def _for(profile: str | None) -> str:
    return f" for profile {profile!r}" if profile else " in the environment (no profile set)"


def translate(error: Exception, what: str, profile: str | None = None) -> HarnessError:
    """A boto3/botocore failure as a HarnessError saying what went wrong and how to fix it."""
    if isinstance(error, HarnessError):
        return error
    if isinstance(error, ProfileNotFound):
        # the profile botocore looked for: the target's, or AWS_PROFILE from the environment
        profile = getattr(error, "kwargs", {}).get("profile", profile)
        config = os.environ.get("AWS_CONFIG_FILE", "~/.aws/config")
        return EnvironmentProblem(
            f"{what}: AWS profile {profile!r} is not defined in {config}",
            f"create it with `aws configure sso --profile {profile}`, or fix the target's aws.profile",
        )
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return EnvironmentProblem(f"{what}: no AWS credentials found{_for(profile)}", _login_fix(profile))
    if isinstance(error, UnauthorizedSSOTokenError | SSOTokenLoadError | TokenRetrievalError | SSOError):
        return EnvironmentProblem(
            f"{what}: the AWS SSO login{_for(profile)} is missing or expired", _login_fix(profile)
        )
    if isinstance(error, CredentialRetrievalError):
        return EnvironmentProblem(
            f"{what}: AWS credentials{_for(profile)} could not be loaded: {redact(str(error))}",
            _login_fix(profile),
        )
    if isinstance(error, NoRegionError):
        return ConfigError(f"{what}: no AWS region", "set the target's aws.region in scenarios.yaml")
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError):
        url = getattr(error, "kwargs", {}).get("endpoint_url", "the AWS endpoint")
        return EnvironmentProblem(
            f"{what}: cannot reach {url}",
            "check the network (proxy, VPN) and, if set, the target's aws.endpoint_url",
        )
    if isinstance(error, ReadTimeoutError):
        return EnvironmentProblem(f"{what}: AWS did not answer in time", "try again; check the network")
    if isinstance(error, ClientError):
        return _client_error(error, what, profile)
    if isinstance(error, BotoCoreError):
        return EnvironmentProblem(f"{what}: {redact(str(error))}", "check the target's aws settings")
    return HarnessError(f"{what}: {type(error).__name__}: {redact(str(error))}", "", ExitCode.ENVIRONMENT)


def _client_error(error: ClientError, what: str, profile: str | None) -> HarnessError:
    info = error.response.get("Error", {})
    code = str(info.get("Code", "Unknown"))
    message = redact(str(info.get("Message", "")))
    if code.isdigit():  # an error body in another protocol than the client's (moto does this for auth)
        found = _XML_CODE.search(message)
        inner = _XML_MESSAGE.search(message)
        code, message = (found[1] if found else f"HTTP {code}"), (inner[1] if inner else message)
    message = message[:300]
    if code in _EXPIRED:
        return EnvironmentProblem(f"{what}: the AWS session token has expired ({code})", _login_fix(profile))
    if code in _REJECTED:
        return EnvironmentProblem(
            f"{what}: AWS rejected the credentials{_for(profile)} ({code}: {message})",
            _login_fix(profile),
        )
    if code in _DENIED:
        return EnvironmentProblem(
            f"{what}: access denied ({code}: {message})",
            "grant the role ce:GetCostAndUsage and cloudwatch:GetMetricData, or use another profile",
        )
    if code.startswith("Validation") or code.startswith("InvalidParameter"):
        return ConfigError(
            f"{what}: AWS refused the request ({code}: {message})", "check the sources settings"
        )
    return EnvironmentProblem(f"{what}: AWS answered {code}: {message}", "try again later")


@contextmanager
def aws_errors(what: str, profile: str | None = None) -> Iterator[None]:
    """Re-raise boto3/botocore failures inside the block as HarnessError (see `translate`)."""
    try:
        yield
    except (BotoCoreError, ClientError) as error:
        raise translate(error, what, profile) from None


@dataclass
class AwsSession:
    """A boto3 session for one target, with credentials checked and remembered only for redaction."""

    settings: AwsSettings
    session: boto3.Session
    _secrets: tuple[str, ...] = field(default=(), repr=False)

    def client(self, name: str) -> Any:
        """A client for `name` ("ce", "cloudwatch"), at the target's endpoint_url when one is set."""
        with aws_errors(f"AWS {name} client", self.settings.profile):
            return self.session.client(name, endpoint_url=self.settings.endpoint_url, config=CLIENT_CONFIG)

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)


def effective_settings(settings: AwsSettings) -> AwsSettings:
    """The target's settings, with PAVI_AWS_PROFILE (when set) replacing its profile; empty means none.

    CI gets credentials as environment variables (OIDC), and boto3 ignores those whenever a profile is
    named, so a workflow sets PAVI_AWS_PROFILE="" rather than editing scenarios.yaml.
    """
    override = os.environ.get(PROFILE_OVERRIDE)
    if override is None:
        return settings
    return settings.model_copy(update={"profile": override or None})


def open_session(settings: AwsSettings) -> AwsSession:
    """Session(profile_name, region_name) with its credentials resolved now (fails fast and clearly)."""
    settings = effective_settings(settings)
    what = "AWS credentials"
    try:
        session = boto3.Session(profile_name=settings.profile, region_name=settings.region)
        credentials = session.get_credentials()
        if credentials is None:
            raise NoCredentialsError()
        frozen = credentials.get_frozen_credentials()  # forces an SSO/role refresh now, not mid-collection
    except (BotoCoreError, ClientError) as error:
        raise translate(error, what, settings.profile) from None
    secrets = tuple(value for value in (frozen.secret_key, frozen.token, frozen.access_key) if value)
    return AwsSession(settings=settings, session=session, _secrets=secrets)
