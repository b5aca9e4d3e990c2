"""The risk engine judges what a statement really allows: no spelling of a grant walks around a high finding.

Each bypass below is the plain grant written another way (a wildcard, an all-resource ARN, ``NotResource``,
a condition that narrows nothing); each must give the plain spelling's high findings. The counter-cases are
really scoped and must give none, so the gate does not cry wolf. docs/policy.md lists the shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
import os
import subprocess
import sys
from typing import Any

import pytest

from programmatic_iam.analysis.risk import Finding, assess
from programmatic_iam.analysis.scope import matches_every
from tests.support.helpers import REPO

ACCOUNT = "123456789012"
SOFT_HYPHEN = "\u00ad"
KELVIN = "\u212a"  # KELVIN SIGN: Unicode lower-cases it to an ASCII "k"
PASSED_TO_EC2 = {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}


def document(*statements: Mapping[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], resource: str | list[str] | None = "*", **more: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": action, **more}
    if resource is not None:
        statement["Resource"] = resource
    return statement


def high(*statements: Mapping[str, Any]) -> set[tuple[str, str, tuple[str, ...]]]:
    return {(f.kind, f.title, f.actions) for f in assess([document(*statements)]) if f.severity == "high"}


def titles(findings: tuple[Finding, ...]) -> set[str]:
    return {finding.title for finding in findings}


CREATE_ACCESS_KEY = allow("iam:CreateAccessKey")
PASS_ROLE_AND_RUN = allow(["iam:PassRole", "ec2:RunInstances"])
ATTACH_TO_ONE_USER = allow("iam:AttachUserPolicy", f"arn:aws:iam::{ACCOUNT}:user/app")


def create_access_key(**statement: Any) -> dict[str, Any]:
    return {**CREATE_ACCESS_KEY, **statement}


def pass_role(condition: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [allow("iam:PassRole", Condition=condition), allow("ec2:RunInstances")]


def attach(condition: Mapping[str, Any]) -> dict[str, Any]:
    return {**ATTACH_TO_ONE_USER, "Condition": condition}


BYPASSES: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    # Actions: IAM matches `*` and `?` anywhere, ignoring case; NotAction grants everything it does not name.
    "? in the action": (CREATE_ACCESS_KEY, [allow("iam:CreateAccessKe?")]),
    "? in PassRole": (PASS_ROLE_AND_RUN, [allow(["iam:P?ssRole", "ec2:RunInstances"])]),
    "* and ? together": (CREATE_ACCESS_KEY, [allow("iam:Cr*AccessK?y")]),
    "the case of the action": (CREATE_ACCESS_KEY, [allow("IAM:createACCESSkey")]),
    "? in the service": (CREATE_ACCESS_KEY, [allow("i?m:CreateAccessKey")]),
    "* for the service": (CREATE_ACCESS_KEY, [allow("*:CreateAccessKey")]),
    "NotAction": (CREATE_ACCESS_KEY, [{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}]),
    "NotAction on one user's ARN type": (
        CREATE_ACCESS_KEY,
        [{"Effect": "Allow", "NotAction": ["s3:*"], "Resource": "arn:aws:iam::*:user/*"}],
    ),
    # Resources: every resource of the action's type, whatever the partition, region and account.
    "every user in every account": (CREATE_ACCESS_KEY, [create_access_key(Resource="arn:aws:iam::*:user/*")]),
    "everything of IAM": (CREATE_ACCESS_KEY, [create_access_key(Resource="arn:*:iam::*:*")]),
    "every user of the account": (CREATE_ACCESS_KEY, [create_access_key(Resource=f"arn:aws:iam::{ACCOUNT}:user/*")]),
    "everything of the account": (CREATE_ACCESS_KEY, [create_access_key(Resource=f"arn:aws:iam::{ACCOUNT}:*")]),
    "a * spanning the service": (CREATE_ACCESS_KEY, [create_access_key(Resource=f"arn:*:{ACCOUNT}:user/*")]),
    "arn:*": (CREATE_ACCESS_KEY, [create_access_key(Resource="arn:*")]),
    "?s for a name": (CREATE_ACCESS_KEY, [create_access_key(Resource="arn:aws:iam::*:user/" + "?" * 20 + "*")]),
    "one user and every user": (
        CREATE_ACCESS_KEY,
        [create_access_key(Resource=[f"arn:aws:iam::{ACCOUNT}:user/app", "arn:aws:iam::*:user/*"])],
    ),
    "every role for PassRole": (
        PASS_ROLE_AND_RUN,
        [allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/*"), allow("ec2:RunInstances", "arn:aws:ec2:*:*:*")],
    ),
    "NotResource": (
        CREATE_ACCESS_KEY,
        [{"Effect": "Allow", "Action": "iam:CreateAccessKey", "NotResource": f"arn:aws:iam::{ACCOUNT}:user/admin"}],
    ),
    # Conditions that narrow nothing.
    "aws:SecureTransport": (
        CREATE_ACCESS_KEY,
        [create_access_key(Condition={"Bool": {"aws:SecureTransport": "true"}})],
    ),
    "aws:MultiFactorAuthPresent IfExists": (
        CREATE_ACCESS_KEY,
        [create_access_key(Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}})],
    ),
    "aws:RequestedRegion": (
        CREATE_ACCESS_KEY,
        [create_access_key(Condition={"StringEquals": {"aws:RequestedRegion": "us-east-1"}})],
    ),
    "a soft hyphen under IfExists": (
        CREATE_ACCESS_KEY,
        [create_access_key(Condition={"BoolIfExists": {f"aws:Secure{SOFT_HYPHEN}Transport": "true"}})],
    ),
    "a soft hyphen in a real key": (
        PASS_ROLE_AND_RUN,
        pass_role({"StringEquals": {f"iam:Passed{SOFT_HYPHEN}ToService": "ec2.amazonaws.com"}}),
    ),
    "a look-alike letter in a real key": (
        PASS_ROLE_AND_RUN,
        [
            allow("iam:PassRole"),
            allow("ec2:RunInstances", Condition={"StringEquals": {f"ec2:{KELVIN}eyPairName": "app"}}),
        ],
    ),
    "a key of another action": (
        CREATE_ACCESS_KEY,
        [create_access_key(Condition={"StringEquals": {"ec2:InstanceType": "t3.micro"}})],
    ),
    "a made-up operator": (
        PASS_ROLE_AND_RUN,
        pass_role({"StringEqualz": {"iam:PassedToService": "lambda.amazonaws.com"}}),
    ),
    "a real key under IfExists": (
        PASS_ROLE_AND_RUN,
        pass_role({"StringEqualsIfExists": {"iam:PassedToService": "lambda.amazonaws.com"}}),
    ),
    "ForAllValues": (
        PASS_ROLE_AND_RUN,
        pass_role({"ForAllValues:StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}),
    ),
    "a negated operator": (
        PASS_ROLE_AND_RUN,
        pass_role({"StringNotEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}),
    ),
    "Null": (PASS_ROLE_AND_RUN, pass_role({"Null": {"iam:PassedToService": "false"}})),
    "a real key matching anything": (PASS_ROLE_AND_RUN, pass_role({"StringLike": {"iam:PassedToService": "*"}})),
    "a real key matching any service": (
        PASS_ROLE_AND_RUN,
        pass_role({"StringLike": {"iam:PassedToService": ["lambda.amazonaws.com", "*.amazonaws.com"]}}),
    ),
    "a role tag matching anything": (
        PASS_ROLE_AND_RUN,
        pass_role({"StringLike": {"aws:ResourceTag/team": "?*"}}),
    ),
    "any source address": (
        CREATE_ACCESS_KEY,
        [create_access_key(Condition={"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}})],
    ),
    "any IPv6 source address": (
        CREATE_ACCESS_KEY,
        [create_access_key(Condition={"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "::/0"]}})],
    ),
    "every address in two halves": (
        CREATE_ACCESS_KEY,
        [create_access_key(Condition={"IpAddress": {"aws:SourceIp": ["0.0.0.0/1", "128.0.0.0/1"]}})],
    ),
    "half the internet": (
        CREATE_ACCESS_KEY,
        [create_access_key(Condition={"IpAddress": {"aws:SourceIp": "0.0.0.0/1"}})],
    ),
    "a source that is not an address": (
        CREATE_ACCESS_KEY,
        [create_access_key(Condition={"IpAddress": {"aws:SourceIp": "anywhere"}})],
    ),
    "several tests, none narrowing": (
        CREATE_ACCESS_KEY,
        [
            create_access_key(
                Condition={
                    "Bool": {"aws:SecureTransport": "true"},
                    "StringLike": {"aws:ResourceTag/team": "*"},
                    "NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"},
                }
            )
        ],
    ),
    # iam:PolicyARN that names every policy.
    'iam:PolicyARN "*"': (ATTACH_TO_ONE_USER, [attach({"StringLike": {"iam:PolicyARN": "*"}})]),
    "iam:PolicyARN arn:*": (ATTACH_TO_ONE_USER, [attach({"StringLike": {"iam:PolicyARN": "arn:*"}})]),
    "every ARN, field by field": (ATTACH_TO_ONE_USER, [attach({"ArnLike": {"iam:PolicyARN": "arn:*:*:*:*:*"}})]),
    "every policy of a type": (ATTACH_TO_ONE_USER, [attach({"ArnLike": {"iam:PolicyARN": "arn:aws:iam::*:policy/*"}})]),
    "every AWS managed policy": (
        ATTACH_TO_ONE_USER,
        [attach({"ArnLike": {"iam:PolicyARN": "arn:aws:iam::aws:policy/*"}})],
    ),
    "a prefix of arn:": (ATTACH_TO_ONE_USER, [attach({"StringLike": {"iam:PolicyARN": "a*"}})]),
    "a type spelt with a wildcard": (
        ATTACH_TO_ONE_USER,
        [attach({"ArnLike": {"iam:PolicyARN": "arn:aws:iam::*:po*"}})],
    ),
    "iam:PolicyARN under IfExists": (
        ATTACH_TO_ONE_USER,
        [attach({"ArnEqualsIfExists": {"iam:PolicyARN": "arn:aws:iam::aws:policy/ReadOnlyAccess"}})],
    ),
    # A Deny takes away only what it denies on every resource, unconditionally.
    "a Deny of one role": (
        PASS_ROLE_AND_RUN,
        [PASS_ROLE_AND_RUN, {"Effect": "Deny", "Action": "iam:PassRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/x"}],
    ),
    "a conditioned Deny": (
        PASS_ROLE_AND_RUN,
        [
            PASS_ROLE_AND_RUN,
            {
                "Effect": "Deny",
                "Action": "iam:PassRole",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    ),
}


@pytest.mark.parametrize(("plain", "bypass"), list(BYPASSES.values()), ids=list(BYPASSES))
def test_every_spelling_of_a_grant_gives_its_high_findings(plain: dict[str, Any], bypass: list[dict[str, Any]]) -> None:
    expected = high(plain)
    assert expected
    found = {(kind, title): set(actions) for kind, title, actions in high(*bypass)}
    for kind, title, actions in expected:
        assert set(actions) <= found.get((kind, title), set()), title


SCOPED: dict[str, list[dict[str, Any]]] = {
    "one user": [create_access_key(Resource=f"arn:aws:iam::{ACCOUNT}:user/app")],
    "the caller's own user": [create_access_key(Resource="arn:aws:iam::*:user/${aws:username}")],
    "users under a path": [create_access_key(Resource=f"arn:aws:iam::{ACCOUNT}:user/apps/*")],
    "roles named app-*, then a launch": [allow("iam:PassRole", "arn:aws:iam::*:role/app-*"), allow("ec2:RunInstances")],
    "PassRole to one service": [allow("iam:PassRole", Condition=PASSED_TO_EC2)],
    "PassRole to Lambda, then an EC2 launch": pass_role(
        {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}
    ),
    "PassRole, the key in upper case": [
        allow("iam:PassRole", Condition={"StringEquals": {"IAM:PASSEDTOSERVICE": "ec2.amazonaws.com"}})
    ],
    "PassRole with ForAnyValue": [
        allow("iam:PassRole", Condition={"ForAnyValue:StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})
    ],
    "roles tagged for the application": pass_role({"StringEquals": {"aws:ResourceTag/Application": "streammanager"}}),
    "a narrowing test beside one that narrows nothing": pass_role(
        {"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"iam:ResourceTag/team": "app"}}
    ),
    "from one network": [
        create_access_key(Condition={"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/48"]}})
    ],
    "from one VPC endpoint": [
        create_access_key(Condition={"StringEquals": {"aws:SourceVpce": "vpce-0123456789abcdef0"}})
    ],
    "one managed policy": [attach({"ArnEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/ReadOnlyAccess"}})],
    "the team's policies": [attach({"ArnLike": {"iam:PolicyARN": f"arn:aws:iam::{ACCOUNT}:policy/team/*"}})],
    "denied on every resource": [PASS_ROLE_AND_RUN, {"Effect": "Deny", "Action": "iam:Pass*", "Resource": "*"}],
    "denied by a NotAction Deny": [
        CREATE_ACCESS_KEY,
        {"Effect": "Deny", "NotAction": ["ec2:*", "s3:*"], "Resource": "*"},
    ],
}


@pytest.mark.parametrize("statements", list(SCOPED.values()), ids=list(SCOPED))
def test_a_really_scoped_grant_has_no_high_finding(statements: list[dict[str, Any]]) -> None:
    assert high(*statements) == set()


def test_passrole_to_a_service_still_completes_a_path_through_that_service() -> None:
    """Passing any role to EC2 and launching an instance is CreateEC2WithExistingIP, whatever else is scoped."""
    found = high(allow("iam:PassRole", Condition=PASSED_TO_EC2), allow("ec2:RunInstances"))
    assert found == {
        (
            "privilege-escalation",
            "privilege escalation (CreateEC2WithExistingIP)",
            ("ec2:RunInstances", "iam:PassRole"),
        )
    }
    wildcard_service = {"StringLike": {"iam:PassedToService": "ec2.*"}}
    assert high(allow("iam:PassRole", Condition=wildcard_service), allow("ec2:RunInstances")) == found


@pytest.mark.parametrize(
    "statement",
    [
        allow("iam:*", Condition={"Bool": {"aws:SecureTransport": "true"}}),
        allow("IAM:*"),
        allow("iam:?*", "arn:aws:iam::*:user/*"),
        {"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"},
    ],
    ids=["under aws:SecureTransport", "in upper case", "as ?*", "NotAction"],
)
def test_a_whole_service_is_reported_however_it_is_spelt(statement: dict[str, Any]) -> None:
    (wildcards,) = [f for f in assess([document(statement)]) if f.kind == "service-wildcard"]
    assert "iam:*" in wildcards.actions


def test_a_whole_service_denied_in_part_is_not_every_action() -> None:
    findings = assess([document(allow("iam:*"), {"Effect": "Deny", "Action": "iam:Delete*", "Resource": "*"})])
    assert "every action of a service" not in titles(findings)


@pytest.mark.parametrize(
    ("pattern", "arn_format", "every"),
    [
        ("*", "arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}", True),
        ("arn:aws-cn:iam::*:role/*", "arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}", True),
        (
            "arn:aws:ec2:eu-west-1:123456789012:instance/*",
            "arn:${Partition}:ec2:${Region}:${Account}:instance/${InstanceId}",
            True,
        ),
        ("arn:aws:ec2:eu-west-1:*", "arn:${Partition}:ec2:${Region}:${Account}:instance/${InstanceId}", True),
        ("arn:aws:s3:::*/*", "arn:${Partition}:s3:::${BucketName}/${ObjectName}", True),
        ("arn:aws:s3:::app-*/*", "arn:${Partition}:s3:::${BucketName}/${ObjectName}", False),
        ("arn:aws:ec2:*:*:instance/i-0abc", "arn:${Partition}:ec2:${Region}:${Account}:instance/${InstanceId}", False),
        ("arn:aws:iam::*:role/*", "arn:${Partition}:iam::${Account}:user/${UserNameWithPath}", False),
        ("arn:aws:iam::*:role/*x*", "arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}", False),
    ],
)
def test_an_arn_pattern_matches_every_resource_of_a_type_or_not(pattern: str, arn_format: str, every: bool) -> None:
    assert matches_every(pattern, arn_format) is every


def test_the_guides_policy_keeps_its_findings() -> None:
    """Benign input is judged as before: the guide's one escalation path, and nothing new."""
    statement = {
        "Effect": "Allow",
        "Action": ["ec2:ModifyInstanceAttribute", "ec2:StartInstances", "ec2:StopInstances", "ec2:DescribeInstances"],
        "Resource": "*",
    }
    assert high(statement) == {
        (
            "privilege-escalation",
            "privilege escalation (ModifyEC2InstanceUserDataThenRestart)",
            ("ec2:ModifyInstanceAttribute", "ec2:StartInstances", "ec2:StopInstances"),
        )
    }


def test_a_pattern_made_to_backtrack_is_judged_at_once() -> None:
    """``*a*a*...*b`` takes a backtracking matcher years on a long name; a policy may hold such a pattern.

    Judged in another process, so that a matcher that backtracks fails this test instead of hanging the suite.
    """
    pattern = "*a" * 30 + "b"
    statement = allow(pattern, "arn:aws:iam::*:user/" + pattern, Condition={"StringLike": {"iam:PolicyARN": pattern}})
    script = (
        "import sys; from programmatic_iam.analysis.scope import glob_matcher; "
        "from programmatic_iam.analysis.risk import assess; "
        f"print(bool(glob_matcher({pattern!r})('a' * 80)), len(assess([{document(statement)!r}])))"
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO / "modules")}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=environment, check=True
    )
    assert result.stdout == "False 0\n"


# ---------------------------------------------------------------------------------------------------------------------
# Each finding's fix is the one that applies to it: the EC2 hardened template only for the EC2 user-data path
# ---------------------------------------------------------------------------------------------------------------------

HARDENED_TEMPLATE = "stream-manager-2.0-hardened"
ADVICE = {
    "PassRole and an instance launch": (
        [allow(["iam:PassRole", "ec2:RunInstances"])],
        "privilege escalation (CreateEC2WithExistingIP)",
        "iam:PassedToService",
    ),
    "PassRole alone": ([allow("iam:PassRole")], "iam:PassRole on any role", "iam:PassedToService"),
    "a function's code": (
        [allow("lambda:UpdateFunctionCode")],
        "privilege escalation (EditExistingLambdaFunctionWithRole)",
        "arn:aws:lambda:REGION:ACCOUNT:function:NAME",
    ),
    "a policy version": (
        [allow("iam:CreatePolicyVersion")],
        "privilege escalation (CreateNewPolicyVersion)",
        "a key that can change IAM can give itself any permission",
    ),
    "attaching policies to its own user": (
        [allow("iam:AttachUserPolicy", f"arn:aws:iam::{ACCOUNT}:user/app")],
        "attaching any managed policy",
        "iam:PolicyARN",
    ),
    "an access key": ([allow("iam:CreateAccessKey")], "actions that return credentials", "drop them unless"),
    "a launch template": (
        [allow(["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"])],
        "privilege escalation (ModifyExistingEC2LaunchTemplate)",
        "What counts as scoped",
    ),
}


@pytest.mark.parametrize(("statements", "title", "advice"), list(ADVICE.values()), ids=list(ADVICE))
def test_a_finding_that_is_not_the_user_data_path_gets_its_own_fix(
    statements: list[dict[str, Any]], title: str, advice: str
) -> None:
    (finding,) = [f for f in assess([document(*statements)]) if f.title == title]
    assert advice in finding.fix
    assert HARDENED_TEMPLATE not in finding.fix


def test_the_user_data_path_is_pointed_at_the_hardened_template() -> None:
    """The guide's own path: the one the hardened profile narrows to the application's tagged instances."""
    statement = allow(["ec2:ModifyInstanceAttribute", "ec2:StartInstances", "ec2:StopInstances"])
    (finding,) = [f for f in assess([document(statement)]) if f.kind == "privilege-escalation"]
    assert "aws:ResourceTag" in finding.fix
    assert f'policy.template = "{HARDENED_TEMPLATE}"' in finding.fix


def test_every_finding_has_a_fix() -> None:
    statements = [
        allow(["iam:PassRole", "ec2:RunInstances", "lambda:UpdateFunctionCode", "iam:CreateAccessKey"]),
        allow(["ec2:TerminateInstances", "s3:GetObject", "sqs:*"]),
    ]
    findings = assess([document(*statements)])
    assert {f.severity for f in findings} == {"high", "medium"}
    assert all(finding.fix for finding in findings)
