"""`policy.hardening`: the regions and source ranges bound every policy source; the tag settings must be used.

What the bounded statements allow is proved decision by decision in tests/test_hardening_conditions.py; these
tests check the documents: where each test goes, that none is widened, and what is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from programmatic_iam.errors import ConfigError
from programmatic_iam.policy.catalogue import load_catalogue
from programmatic_iam.policy.document import PolicyDocument, Statement, with_condition
from programmatic_iam.policy.sizing import MANAGED_POLICY_MAX_CHARACTERS, iam_size
from tests.support.helpers import blueprint_of

REGIONS = ["eu-west-1", "eu-central-1"]
SOURCE_IPS = ["203.0.113.0/24", "2001:db8::/32"]
BOUNDS = f"[policy.hardening]\nregions = {json.dumps(REGIONS)}\nsource_ips = {json.dumps(SOURCE_IPS)}\n"
REGION_TEST = {"aws:RequestedRegion": REGIONS}
SOURCE_TEST = {"aws:SourceIp": SOURCE_IPS}


def documents_of(toml: str, directory: Path, files: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The policy documents of the one stack of ``toml``, with ``files`` (JSON values or template text) beside it."""
    for name, content in (files or {}).items():
        text = content if isinstance(content, str) else json.dumps(content)
        (directory / name).write_text(text, encoding="utf-8")
    (stack,) = blueprint_of(toml, directory).stacks
    return [policy.document.to_json_value() for policy in stack.identity.policies]


def statements_of(toml: str, directory: Path, files: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    (document,) = documents_of(toml, directory, files)
    return list(document["Statement"])


def problems_of(toml: str, directory: Path, files: dict[str, Any] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        documents_of(toml, directory, files)
    return [problem.render() for problem in caught.value.problems]


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(*actions: str, **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": list(actions), "Resource": "*", **more}


TEMPLATE = "{% raw %}" + json.dumps(policy(allow("ec2:StartInstances"), allow("s3:GetObject"))) + "{% endraw %}"
SOURCES = {
    "actions": ('[policy]\nactions = ["s3:GetObject", "ec2:DescribeInstances"]\n', {}),
    "file-of-actions": ('[policy]\nfile = "p.json"\n', {"p.json": ["s3:GetObject"]}),
    "file-document": (
        '[policy]\nfile = "p.json"\n',
        {"p.json": policy(allow("s3:GetObject"), allow("sqs:SendMessage"))},
    ),
    "template": ('[policy]\ntemplate = "p.json.j2"\n', {"p.json.j2": TEMPLATE}),
    "default-template": ("", {}),
}


@pytest.mark.parametrize(("toml", "files"), list(SOURCES.values()), ids=list(SOURCES))
def test_regions_and_source_ips_bound_every_statement_of_every_source(
    tmp_path: Path, toml: str, files: dict[str, Any]
) -> None:
    for statement in statements_of(toml + BOUNDS, tmp_path, files):
        assert statement["Condition"] == {"StringEquals": REGION_TEST, "IpAddress": SOURCE_TEST}


@pytest.mark.parametrize(("toml", "files"), list(SOURCES.values()), ids=list(SOURCES))
def test_without_the_settings_no_source_changes(tmp_path: Path, toml: str, files: dict[str, Any]) -> None:
    assert all("Condition" not in statement for statement in statements_of(toml, tmp_path, files))


def test_a_deny_is_left_alone_and_a_not_action_allow_is_bounded(tmp_path: Path) -> None:
    """A condition on a Deny would narrow the denial, so widen access; NotAction grants the most of all."""
    deny = {"Effect": "Deny", "Action": ["s3:DeleteObject"], "Resource": "*"}
    not_action = {"Effect": "Allow", "NotAction": ["iam:CreateUser"], "Resource": "*"}
    toml = '[policy]\nfile = "p.json"\n' + BOUNDS
    bounded_deny, bounded_not_action = statements_of(toml, tmp_path, {"p.json": policy(deny, not_action)})
    assert bounded_deny == deny
    assert bounded_not_action == {**not_action, "Condition": {"StringEquals": REGION_TEST, "IpAddress": SOURCE_TEST}}


@pytest.mark.parametrize(
    ("own", "bounded"),
    [
        pytest.param(
            {"StringEquals": {"aws:ResourceTag/Team": "video"}},
            {"StringEquals": {"aws:ResourceTag/Team": "video", **REGION_TEST}, "IpAddress": SOURCE_TEST},
            id="beside-the-keys-of-its-block",
        ),
        pytest.param(
            {"stringequals": {"aws:ResourceTag/Team": "video"}},
            {"stringequals": {"aws:ResourceTag/Team": "video", **REGION_TEST}, "IpAddress": SOURCE_TEST},
            id="in-its-block-however-spelt",
        ),
        pytest.param(
            {"StringLike": {"aws:RequestedRegion": "eu-*"}},
            {"StringLike": {"aws:RequestedRegion": "eu-*"}, "StringEquals": REGION_TEST, "IpAddress": SOURCE_TEST},
            id="another-operator-on-the-same-key-is-another-block",
        ),
        pytest.param(
            {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
            {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}, "IpAddress": SOURCE_TEST},
            id="a-narrower-region-test-is-kept-as-written",
        ),
        pytest.param(
            {"StringEquals": {"AWS:requestedregion": ["eu-west-1", "us-east-1", "eu-central-1"]}},
            {"StringEquals": {"AWS:requestedregion": ["eu-west-1", "eu-central-1"]}, "IpAddress": SOURCE_TEST},
            id="a-wider-region-test-keeps-the-common-regions",
        ),
        pytest.param(
            {"IpAddress": {"aws:SourceIp": "203.0.113.128/25"}},
            {"IpAddress": {"aws:SourceIp": "203.0.113.128/25"}, "StringEquals": REGION_TEST},
            id="a-narrower-range-is-kept-as-written",
        ),
        pytest.param(
            {"IpAddress": {"aws:SourceIp": ["203.0.0.0/16", "198.51.100.0/24", "2001:db8:1::/48"]}},
            {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8:1::/48"]}, "StringEquals": REGION_TEST},
            id="wider-ranges-become-the-common-ranges",
        ),
    ],
)
def test_a_statements_own_test_is_merged_and_never_widened(
    tmp_path: Path, own: dict[str, Any], bounded: dict[str, Any]
) -> None:
    toml = '[policy]\nfile = "p.json"\n' + BOUNDS
    (statement,) = statements_of(toml, tmp_path, {"p.json": policy(allow("ec2:StopInstances", Condition=own))})
    assert statement["Condition"] == bounded


@pytest.mark.parametrize(
    ("own", "expected"),
    [
        pytest.param(
            {"StringEquals": {"aws:RequestedRegion": "us-east-1"}},
            "iam.toml: policy.hardening.regions: ['eu-west-1', 'eu-central-1'] cannot bound Statement[0] (Stop) of "
            "policy.file 'p.json', which tests aws:RequestedRegion under StringEquals with 'us-east-1', which has no "
            "value in common with ['eu-west-1', 'eu-central-1']: the statement would allow nothing",
            id="no-region-in-common",
        ),
        pytest.param(
            {"IpAddress": {"aws:SourceIp": ["198.51.100.0/24"]}},
            "iam.toml: policy.hardening.source_ips: ['203.0.113.0/24', '2001:db8::/32'] cannot bound Statement[0] "
            "(Stop) of policy.file 'p.json', which tests aws:SourceIp under IpAddress with ['198.51.100.0/24'], "
            "which has no value in common",
            id="no-range-in-common",
        ),
        pytest.param(
            {"StringEquals": {"aws:RequestedRegion": "${aws:PrincipalTag/region}"}},
            "which tests aws:RequestedRegion under StringEquals with '${aws:PrincipalTag/region}', which cannot be "
            "compared with ['eu-west-1', 'eu-central-1']",
            id="a-policy-variable",
        ),
        pytest.param(
            {"IpAddress": {"aws:SourceIp": "the office"}},
            "which tests aws:SourceIp under IpAddress with 'the office', which cannot be compared",
            id="not-an-address",
        ),
    ],
)
def test_rejects_a_statement_the_bound_would_empty_or_cannot_be_merged_with(
    tmp_path: Path, own: dict[str, Any], expected: str
) -> None:
    statement = allow("ec2:StopInstances", Sid="Stop", Condition=own)
    problems = problems_of('[policy]\nfile = "p.json"\n' + BOUNDS, tmp_path, {"p.json": policy(statement)})
    assert any(expected in problem for problem in problems), problems
    assert all("fix: make that statement's" in problem for problem in problems)


def test_with_condition_leaves_a_deny_and_refuses_an_operator_it_cannot_intersect() -> None:
    deny = Statement(effect="Deny", actions=("s3:GetObject",), resources="*")
    assert with_condition(deny, "IpAddress", "aws:SourceIp", ["203.0.113.0/24"]) == (deny, "")
    with pytest.raises(ValueError, match="cannot intersect 'StringLike'"):
        with_condition(deny, "StringLike", "aws:RequestedRegion", ["eu-*"])


HARDENED = '[policy]\ntemplate = "stream-manager-2.0-hardened"\n'


def test_the_hardened_template_gets_each_test_once(tmp_path: Path) -> None:
    """It tests the same keys itself: the bound finds its own values there and adds nothing beside them."""
    for statement in statements_of(HARDENED + BOUNDS, tmp_path):
        assert statement["Condition"]["StringEquals"]["aws:RequestedRegion"] == REGIONS
        assert statement["Condition"]["IpAddress"] == SOURCE_TEST


def test_the_split_sizes_the_bounded_statements(tmp_path: Path) -> None:
    """The bound adds characters to every statement: a document that fitted may need two policies."""
    ec2 = load_catalogue().matching("ec2:*")
    actions: list[str] = []
    # Within 50 characters of the limit: the two tests add about 130.
    while iam_size(PolicyDocument((Statement("Allow", (*actions, ec2[len(actions)]), "*"),))) <= 6094:
        actions.append(ec2[len(actions)])
    toml = f"[policy]\nactions = {json.dumps(actions)}\n"
    (unbounded,) = documents_of(toml, tmp_path)
    parts = documents_of(toml + BOUNDS, tmp_path)
    assert "Condition" not in unbounded["Statement"][0]
    assert len(parts) == 2
    for part in parts:
        assert all(statement["Condition"]["IpAddress"] == SOURCE_TEST for statement in part["Statement"])
        assert iam_size(_document(part)) <= MANAGED_POLICY_MAX_CHARACTERS
    assert [a for part in parts for s in part["Statement"] for a in s["Action"]] == sorted(actions)


def _document(value: dict[str, Any]) -> PolicyDocument:
    return PolicyDocument(
        tuple(
            Statement(s["Effect"], tuple(s["Action"]), s["Resource"], s.get("Sid"), condition=s.get("Condition"))
            for s in value["Statement"]
        )
    )


# ---------------------------------------------------------------------------------------------------------------------
# The tag settings: used by a template that tests the tag, refused where nothing does
# ---------------------------------------------------------------------------------------------------------------------

TAG_TEMPLATE = (
    '{{ {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ec2:StopInstances"], '
    '"Resource": "*", "Condition": {"StringEquals": {"aws:ResourceTag/" ~ hardening.tag_key: VALUE}}}]} | tojson }}'
)


@pytest.mark.parametrize(
    ("toml", "files"),
    [
        *SOURCES.values(),
        ('[policy]\ntemplate = "p.json.j2"\n', {"p.json.j2": TAG_TEMPLATE.replace("VALUE", '"fixed"')}),
    ],
    ids=[*SOURCES, "template-testing-another-value"],
)
def test_rejects_a_tag_value_no_condition_tests(tmp_path: Path, toml: str, files: dict[str, Any]) -> None:
    problems = problems_of(toml + '[policy.hardening]\ntag_value = "sm-prod"\n', tmp_path, files)
    assert any(
        problem.startswith("iam.toml: policy.hardening.tag_value: 'sm-prod' does nothing: no condition of ")
        and "tests the tag 'Application' against 'sm-prod'" in problem
        for problem in problems
    ), problems


@pytest.mark.parametrize(("toml", "files"), list(SOURCES.values()), ids=list(SOURCES))
def test_rejects_a_tag_key_no_condition_tests(tmp_path: Path, toml: str, files: dict[str, Any]) -> None:
    problems = problems_of(toml + '[policy.hardening]\ntag_key = "Application"\n', tmp_path, files)
    (problem,) = problems
    assert problem.startswith("iam.toml: policy.hardening.tag_key: 'Application' does nothing: no condition of ")
    assert "regions and source_ips bound every policy source" in problem


@pytest.mark.parametrize(
    ("toml", "files"),
    [
        (HARDENED, {}),
        ('[policy]\ntemplate = "p.json.j2"\n', {"p.json.j2": TAG_TEMPLATE.replace("VALUE", "hardening.tag_value")}),
    ],
    ids=["hardened", "own-template"],
)
def test_a_template_that_tests_the_tag_uses_the_tag_settings(tmp_path: Path, toml: str, files: dict[str, Any]) -> None:
    tag = '[policy.hardening]\ntag_key = "red5:app"\ntag_value = "sm-prod"\n'
    tested = [
        tests
        for statement in statements_of(toml + tag, tmp_path, files)
        for tests in statement.get("Condition", {}).values()
        if tests.get("aws:ResourceTag/red5:app") == "sm-prod"
    ]
    assert tested
