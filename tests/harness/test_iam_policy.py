"""The IAM policies in docs/iam/ grant exactly the AWS calls the harness makes (docs/IAM.md).

The calls are found in the source, not listed by hand: every `client("service")` names a service,
and every method called anywhere whose name is one of that service's operations (botocore's model,
snake_case), or every `get_paginator("operation")`, is an AWS call. A new call without a policy
update fails here; so does a grant nothing calls any more.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]
POLICIES = {
    name: ROOT / "docs" / "iam" / f"{name}.json" for name in ("harness-read-only", "harness-pipeline-driver")
}
# local_pavi and selftest talk only to moto servers they start themselves (selftest seeds its lab's
# buckets, metrics and records there), never to an AWS account
SKIPPED = {".venv", "tests", "local_pavi", "selftest", "node_modules", ".git", "runs", ".pavi"}
# boto3 service name -> IAM action prefix (add a service here when the harness starts using it)
IAM_PREFIX = {
    "ce": "ce",
    "cloudwatch": "cloudwatch",
    "dynamodb": "dynamodb",
    "route53": "route53",
    "s3": "s3",
    "stepfunctions": "states",
    "sts": "sts",
}
# API operations whose IAM action has another name
ACTION_OF = {"s3:ListObjectsV2": "s3:ListBucket", "s3:HeadObject": "s3:GetObject"}
# services without resource-level permissions for the actions used: "*" is the only resource
STAR_ONLY = {"ce:GetCostAndUsage", "cloudwatch:GetMetricData"}
WRITES = {"states:StartExecution"}
# Calls in the harness's own code that only a local stack's moto server ever receives: the
# Step Functions driver hands pavi_contract.execution a payload bucket only for a local stack
# (StepFunctionsDriver.for_local_stack), so no policy grants them (docs/IAM.md, Notes).
LOCAL_ONLY = {"s3:PutObject": {"pavi_contract/execution.py"}}


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if not SKIPPED.isdisjoint(parts) or any(part.startswith(".") for part in parts):
            continue
        try:
            text = path.read_text()
        except FileNotFoundError:  # a temporary file of another process, gone since the listing
            continue
        yield path, ast.parse(text, filename=str(path))


def _string_arg(call: ast.Call) -> str | None:
    first = call.args[0] if call.args else None
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def aws_calls() -> dict[str, set[str]]:
    """IAM action -> the files that call it."""
    trees = list(_sources())
    services: set[str] = set()
    for _, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = (
                    node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                )
                if name == "client" and (service := _string_arg(node)) is not None:
                    services.add(service)
    unknown = services - IAM_PREFIX.keys()
    assert not unknown, (
        f"boto3 clients for {sorted(unknown)}: add their IAM prefix to IAM_PREFIX and a policy"
    )
    session = botocore.session.get_session()
    operations: dict[str, set[tuple[str, str]]] = {}
    for service in services:
        for operation in session.get_service_model(service).operation_names:
            operations.setdefault(xform_name(operation), set()).add((service, operation))
    found: dict[str, set[str]] = {}
    for path, tree in trees:
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            method = node.func.attr
            if method in ("get_paginator", "get_waiter", "can_paginate"):
                method = _string_arg(node) or ""
            for service, operation in operations.get(method, ()):
                action = f"{IAM_PREFIX[service]}:{operation}"
                found.setdefault(ACTION_OF.get(action, action), set()).add(str(path.relative_to(ROOT)))
    return found


def _statements(name: str) -> list[dict]:
    policy = json.loads(POLICIES[name].read_text())
    assert policy["Version"] == "2012-10-17"
    return policy["Statement"]


def _actions(name: str) -> set[str]:
    return {action for statement in _statements(name) for action in statement["Action"]}


@pytest.fixture(scope="module")
def calls() -> dict[str, set[str]]:
    return aws_calls()


def test_the_scan_finds_the_calls_known_today(calls) -> None:
    """So a broken scan cannot pass by finding nothing."""
    assert {
        "ce:GetCostAndUsage",
        "cloudwatch:GetMetricData",
        "states:StartExecution",
        "states:DescribeExecution",
        "states:GetExecutionHistory",
        "dynamodb:GetItem",
        "s3:ListBucket",
        "s3:GetObject",
    } <= calls.keys()


def test_every_aws_call_is_granted(calls) -> None:
    granted = _actions("harness-read-only") | _actions("harness-pipeline-driver")
    missing = {
        action: sorted(files)
        for action, files in calls.items()
        if action not in granted and not set(files) <= LOCAL_ONLY.get(action, set())
    }
    assert not missing, (
        f"AWS calls no policy in docs/iam/ grants (add them there and to docs/IAM.md): {missing}"
    )


def test_nothing_is_granted_that_no_code_calls(calls) -> None:
    granted = _actions("harness-read-only") | _actions("harness-pipeline-driver")
    assert granted <= calls.keys(), f"granted but never called: {sorted(granted - calls.keys())}"


def test_read_only_policy_only_reads_and_the_driver_only_starts_executions() -> None:
    read_only = _actions("harness-read-only")
    assert not read_only & WRITES
    assert all(action.split(":")[1].startswith(("Get", "List", "Describe")) for action in read_only)
    assert _actions("harness-pipeline-driver") == {"states:StartExecution"}


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_statements_are_allow_only_and_scoped(name: str) -> None:
    for statement in _statements(name):
        assert statement["Effect"] == "Allow" and statement["Sid"]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        if "*" in resources:
            assert set(statement["Action"]) <= STAR_ONLY, f"{statement['Sid']}: '*' where a resource ARN fits"
        else:
            prefixes = {action.split(":")[0] for action in statement["Action"]}
            assert all(r.startswith(tuple(f"arn:aws:{p}:" for p in prefixes)) for r in resources)


def test_docs_name_every_granted_action() -> None:
    text = (ROOT / "docs" / "IAM.md").read_text()
    granted = _actions("harness-read-only") | _actions("harness-pipeline-driver")
    assert not [action for action in granted if action not in text]
