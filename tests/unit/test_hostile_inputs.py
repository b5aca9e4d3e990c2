"""Hostile and malformed input: each is a problem that names the key to fix, never a traceback, never accepted."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
import json
import os
from pathlib import Path
import re
from typing import Any

import pytest

from programmatic_iam.cli import main
from programmatic_iam.cli.inputs import load_blueprint
from programmatic_iam.errors import ConfigError
from tests.support.helpers import REPO

DEEP_JSON = "[" * 5000 + "]" * 5000
HUGE_NUMBER = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": '
    + "9" * 5000
    + "}]}"
)
WITH_NAN = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*",'
    ' "Condition": {"NumericLessThan": {"s3:max-keys": NaN}}}]}'
)
ESCAPED_EURO = '{"Version": "2012-10-17", "Statement": [{"Effect": "allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b-\\u20ac/*"}]}'


def problems_of(tmp_path: Path, toml: str, files: dict[str, str] | None = None) -> list[str]:
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "iam.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_blueprint({}, tmp_path)
    return [problem.render() for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("toml", "files", "expected"),
    [
        pytest.param(
            '[naming]\nuser = "{{ name | nosuchfilter }}"\n',
            {},
            "naming.user (environment 'production'): '{{ name | nosuchfilter }}' is not a valid jinja2 template "
            "(No filter named 'nosuchfilter'",
            id="unknown-filter",
        ),
        pytest.param(
            "[naming]\nuser = \"{{ 'a' * 10**9 }}\"\n",
            {},
            "exceeds the template limits at line 1: it would build a text of 1,000,000,000 characters (at most 1,000,000)",
            id="huge-string",
        ),
        pytest.param(
            '[naming]\nuser = "{{ 2 ** 100000 }}"\n',
            {},
            "exceeds the template limits at line 1: it would compute an integer of 100,001 bits (at most 100,000)",
            id="huge-power",
        ),
        pytest.param(
            '[policy]\nfile = "p.json"\n',
            {"p.json": DEEP_JSON},
            "p.json: nests arrays or objects more than 100 deep",
            id="deep-json",
        ),
        pytest.param(
            '[policy]\nfile = "p.json"\n',
            {"p.json": HUGE_NUMBER},
            "p.json: Statement[0].Resource: 99999999999999999999... (5,000 characters) is a number of more than",
            id="huge-number",
        ),
        pytest.param(
            '[policy]\nfile = "p.json"\n',
            {"p.json": WITH_NAN},
            "p.json: Statement[0].Condition.NumericLessThan.s3:max-keys: NaN is not a finite number",
            id="nan",
        ),
        pytest.param(
            '[policy]\nfile = "p\\u0000.json"\n', {}, "iam.toml: policy.file: 'p\\x00.json' cannot be read", id="nul"
        ),
        pytest.param(
            f'[policy]\ntemplate = "{"t" * 5000}"\n', {}, "iam.toml: policy.template: ", id="long-template-name"
        ),
        pytest.param(
            "name = " + "[" * 600 + "]" * 600 + "\n",
            {},
            "iam.toml: the file nests arrays or tables too deeply",
            id="deep-toml",
        ),
        pytest.param(
            '[[environments]]\nname = "a"\nregion = "us-east-1\\n"\n',
            {},
            "iam.toml: environments[0].region: 'us-east-1\\n' is not an AWS region",
            id="region-newline",
        ),
        pytest.param(
            '[backend]\nbucket = "state\\n"\n',
            {},
            "iam.toml: backend.bucket: 'state\\n' is not an S3 bucket name",
            id="bucket-newline",
        ),
        pytest.param(
            '[terraform]\nprovider_version = "banana"\n',
            {},
            "iam.toml: terraform.provider_version: 'banana' is not a Terraform version constraint",
            id="version",
        ),
        pytest.param(
            '[terraform]\nrequired_version = "${v}"\n',
            {},
            "iam.toml: terraform.required_version: '${v}' is not a Terraform version constraint",
            id="version-template",
        ),
        pytest.param(
            '[policy]\nactions = ["s3:GetObject"]\nresources = ["", "*"]\n',
            {},
            "iam.toml: policy.resources: ['', '*'] has an empty resource",
            id="empty-resource",
        ),
        pytest.param(
            '[policy]\nactions = ["s3:GetObject"]\nresources = ["arn:aws:s3:::\\u20ac"]\n',
            {},
            "has characters outside Latin-1 ('€')",
            id="resource-euro",
        ),
        pytest.param(
            '[tags]\nowner = "a\\nb"\n',
            {},
            "iam.toml: tags: has 'a\\nb', with characters AWS tags do not allow",
            id="tag-newline",
        ),
        pytest.param(
            '[[naming]]\nname = "x"\n',
            {},
            "iam.toml: naming: is a list of tables ([[naming]]), but a single table is expected\n    fix: write [naming] (single brackets), once",
            id="double-brackets",
        ),
        pytest.param(
            "[naming]\nname = true\n", {}, "iam.toml: naming.name: true should be text in quotes", id="toml-words"
        ),
        pytest.param(
            '[policy]\nfile = "folder"\n', {}, "iam.toml: policy.file: 'folder' is a folder", id="policy-folder"
        ),
    ],
)
def test_rejects_hostile_input_with_a_problem_at_its_key(
    tmp_path: Path, toml: str, files: dict[str, str], expected: str
) -> None:
    (tmp_path / "folder").mkdir()
    problems = problems_of(tmp_path, toml, files)
    assert any(expected in problem for problem in problems), problems


def test_a_non_latin1_character_does_not_hide_the_other_problems_of_a_policy_file(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, '[policy]\nfile = "p.json"\n', {"p.json": ESCAPED_EURO})
    assert any("are characters outside Latin-1" in p for p in problems), problems
    assert any("Statement[0].Effect: 'allow' must be exactly" in p for p in problems), problems


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda p: p.mkdir(), "a folder"),
        (lambda p: p.symlink_to(p.with_name("missing.toml")), "a broken symbolic link"),
        (os.mkfifo, "a named pipe (FIFO)"),
    ],
)
def test_rejects_an_iam_toml_that_is_not_a_file(tmp_path: Path, make: Callable[[Path], None], kind: str) -> None:
    make(tmp_path / "iam.toml")
    with pytest.raises(ConfigError) as caught:
        load_blueprint({}, tmp_path)
    (problem,) = caught.value.problems
    assert problem.render().startswith(f"iam.toml: is {kind}, not a file")


def test_rejects_an_iam_config_that_names_a_folder(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    with pytest.raises(ConfigError) as caught:
        load_blueprint({"IAM_CONFIG": "conf"}, tmp_path)
    (problem,) = caught.value.problems
    assert problem.render().startswith("$IAM_CONFIG: 'conf' is a folder, not a file")


@pytest.mark.parametrize("constraint", [">= 5.100.0, < 7.0.0", "~> 1.10", "1.11.4", "= 6.0.0-beta1", ">=5,<7"])
def test_accepts_terraform_version_constraints(tmp_path: Path, constraint: str) -> None:
    (tmp_path / "iam.toml").write_text(f'[terraform]\nprovider_version = "{constraint}"\n', encoding="utf-8")
    (stack,) = load_blueprint({}, tmp_path).stacks
    assert stack.provider_version == constraint


def test_a_long_rendered_name_is_shown_shortened(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, f'[naming]\nname = "{"x" * 5000}"\n')
    assert problems and all(len(problem) < 1000 for problem in problems), [len(p) for p in problems]


# ---------------------------------------------------------------------------------------------------------------------
# JSON input: a key written twice, a number no JSON can hold (policy documents, action lists, rendered templates)
# ---------------------------------------------------------------------------------------------------------------------

TWO_CONDITION_BLOCKS = """{"Version": "2012-10-17", "Statement": [{"Sid": "TagScoped", "Effect": "Allow",
  "Action": "ec2:TerminateInstances", "Resource": "*",
  "Condition": {"StringEquals": {"aws:ResourceTag/app": "streammanager"},
                "StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}]}"""
DENY_THEN_ALLOW = """{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
  {"Effect": "Deny", "Effect": "Allow", "Action": "iam:CreateAccessKey", "Resource": "*"}]}"""
OVERFLOW = """{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*",
  "Condition": {"NumericLessThan": {"s3:max-keys": 1e999}}}]}"""


@pytest.mark.parametrize(
    ("files", "toml", "expected"),
    [
        pytest.param(
            {"p.json": TWO_CONDITION_BLOCKS},
            '[policy]\nfile = "p.json"\n',
            "p.json: Statement[0].Condition.StringEquals: is a key written more than once in the same object; JSON "
            "readers keep only the last 'StringEquals', silently dropping the others\n"
            "    fix: merge them into one 'StringEquals' block",
            id="two-condition-blocks",
        ),
        pytest.param(
            {"p.json": DENY_THEN_ALLOW},
            '[policy]\nfile = "p.json"\n',
            "p.json: Statement[1].Effect: is a key written more than once",
            id="deny-then-allow",
        ),
        pytest.param(
            {"p.json": '{"Version": "2012-10-17", "Statement": [], "Statement": []}'},
            '[policy]\nfile = "p.json"\n',
            "p.json: Statement: is a key written more than once",
            id="top-level",
        ),
        pytest.param(
            {"p.json": '["s3:GetObject", {"Action": "a", "Action": "b"}]'},
            '[policy]\nfile = "p.json"\n',
            "p.json: [1].Action: is a key written more than once",
            id="in-an-action-list",
        ),
        pytest.param(
            {"t.json.j2": DENY_THEN_ALLOW.replace("iam:CreateAccessKey", "{{ 'iam:CreateAccessKey' }}")},
            '[policy]\ntemplate = "t.json.j2"\n',
            "policy template 't.json.j2': Statement[1].Effect: is a key written more than once",
            id="in-a-rendered-template",
        ),
        pytest.param(
            {"p.json": OVERFLOW},
            '[policy]\nfile = "p.json"\n',
            "p.json: Statement[0].Condition.NumericLessThan.s3:max-keys: 1e999 is not a finite number",
            id="overflow",
        ),
        pytest.param(
            {"p.json": OVERFLOW.replace("1e999", "-Infinity")},
            '[policy]\nfile = "p.json"\n',
            "p.json: Statement[0].Condition.NumericLessThan.s3:max-keys: -Infinity is not a finite number",
            id="infinity",
        ),
        pytest.param(
            {"t.json.j2": OVERFLOW.replace("1e999", "{{ '1e999' }}")},
            '[policy]\ntemplate = "t.json.j2"\n',
            "policy template 't.json.j2': Statement[0].Condition.NumericLessThan.s3:max-keys: 1e999 is not a finite",
            id="overflow-in-a-template",
        ),
        pytest.param(
            {"p.json": '["s3:GetObject\\ud800"]'},
            '[policy]\nfile = "p.json"\n',
            "p.json: [0]: holds half of a UTF-16 surrogate pair",
            id="lone-surrogate",
        ),
    ],
)
def test_rejects_json_that_readers_would_read_differently(
    tmp_path: Path, files: dict[str, str], toml: str, expected: str
) -> None:
    problems = problems_of(tmp_path, toml, files)
    assert any(expected in problem for problem in problems), problems


# ---------------------------------------------------------------------------------------------------------------------
# Plans: every malformed shape is a problem at its field, never a traceback
# ---------------------------------------------------------------------------------------------------------------------

REAL_PLAN = (REPO / "bench" / "plans" / "create" / "plan.json").read_text(encoding="utf-8")
"""A real plan (``terraform show -json`` of the default stack being created), changed by each case below."""


def _policy_index(plan: dict[str, Any]) -> int:
    return next(i for i, change in enumerate(plan["resource_changes"]) if change["type"] == "aws_iam_policy")


def _set(path: str, value: Any) -> Callable[[str], str]:
    """The real plan with the value at ``path`` (``a.b.0.c``) replaced."""

    def change(text: str) -> str:
        plan = json.loads(text)
        *parents, last = [int(step) if step.isdigit() else step for step in path.split(".")]
        target = plan
        for step in parents:
            target = target[step]
        target[last] = value
        return json.dumps(plan)

    return change


def _statement(key: str, value: Any) -> Callable[[str], str]:
    """The real plan with one key of its policy's first statement replaced."""

    def change(text: str) -> str:
        plan = json.loads(text)
        after = plan["resource_changes"][_policy_index(plan)]["change"]["after"]
        document = json.loads(after["policy"])
        document["Statement"][0][key] = value
        after["policy"] = json.dumps(document)
        return json.dumps(plan)

    return change


def _policy_text(replace: Callable[[str], str]) -> Callable[[str], str]:
    """The real plan with its policy's JSON text changed by ``replace``."""

    def change(text: str) -> str:
        plan = json.loads(text)
        after = plan["resource_changes"][_policy_index(plan)]["change"]["after"]
        after["policy"] = replace(after["policy"])
        return json.dumps(plan)

    return change


POLICY = "plan.json: resource_changes[1].change.after.policy"

HOSTILE_PLANS = [
    pytest.param(_set("prior_state", []), "plan.json: prior_state: is a list, not an object", id="prior-state-list"),
    pytest.param(_set("prior_state", "x"), "plan.json: prior_state: is a string, not an object", id="prior-state-text"),
    pytest.param(_set("prior_state", {"values": []}), "plan.json: prior_state.values: is a list", id="prior-values"),
    pytest.param(_set("planned_values", []), "plan.json: planned_values: is a list, not an object", id="planned"),
    pytest.param(
        _set("planned_values.root_module.resources", 5),
        "plan.json: planned_values.root_module.resources: is a number, not a list",
        id="planned-resources",
    ),
    pytest.param(
        _set("planned_values.root_module.child_modules", [5]),
        "plan.json: planned_values.root_module.child_modules[0]: is a number, not an object",
        id="child-module",
    ),
    pytest.param(_set("output_changes", []), "plan.json: output_changes: is a list, not an object", id="outputs"),
    pytest.param(_set("configuration", []), "plan.json: configuration: is a list, not an object", id="configuration"),
    pytest.param(
        _set("configuration.root_module.resources", "x"),
        "plan.json: configuration.root_module.resources: is a string, not a list",
        id="configuration-resources",
    ),
    pytest.param(
        _set("configuration.root_module.resources.0.expressions", []),
        "plan.json: configuration.root_module.resources[0].expressions: is a list, not an object",
        id="expressions",
    ),
    pytest.param(_set("resource_drift", {}), "plan.json: resource_drift: is an object, not a list", id="drift"),
    pytest.param(
        _set("resource_drift", [{"address": "a", "change": {"before": [], "after": {}}}]),
        "plan.json: resource_drift[0].change.before: is a list, not an object",
        id="drift-before",
    ),
    pytest.param(_set("relevant_attributes", 5), "plan.json: relevant_attributes: is a number", id="relevant"),
    pytest.param(_set("complete", "yes"), "plan.json: complete: is a string, not true or false", id="complete"),
    pytest.param(_set("resource_changes", {}), "plan.json: resource_changes: is an object, not a list", id="changes"),
    pytest.param(_set("resource_changes.0", 7), "plan.json: resource_changes[0]: is a number", id="change"),
    pytest.param(
        _set("resource_changes.0.type", {"a": 1}),
        "plan.json: resource_changes[0].type: is an object, not a string",
        id="type-object",
    ),
    pytest.param(_set("resource_changes.0.address", 5), "resource_changes[0].address: is a number", id="address"),
    pytest.param(
        _set("resource_changes.0.change.actions", [1]),
        "plan.json: resource_changes[0].change.actions: [1] is not an action list Terraform writes",
        id="non-string-actions",
    ),
    pytest.param(
        _set("resource_changes.0.change.after", []),
        "plan.json: resource_changes[0].change.after: is a list, not an object",
        id="after-list",
    ),
    pytest.param(
        _set("resource_changes.0.change.replace_paths", "user"),
        "plan.json: resource_changes[0].change.replace_paths: is a string, not a list",
        id="replace-paths",
    ),
    pytest.param(
        _statement("Action", 5), f"{POLICY}: Statement[0].Action: 5 should be a string or a list", id="action-number"
    ),
    pytest.param(
        _statement("Action", ["ec2:StartInstances", None]),
        f"{POLICY}: Statement[0].Action: ['ec2:StartInstances', None] should be a string or a list of strings",
        id="action-null",
    ),
    pytest.param(
        _statement("Action", ["ec2"]),
        f"{POLICY}: Statement[0].Action[0]: 'ec2' is not an IAM action (service:action, or *)",
        id="action-without-service",
    ),
    pytest.param(_statement("Effect", 1), f"{POLICY}: Statement[0].Effect: is a number, not a string", id="effect"),
    pytest.param(
        _statement("Resource", {"a": 1}), f"{POLICY}: Statement[0].Resource: {{'a': 1}} should be", id="resource"
    ),
    pytest.param(
        _statement("Condition", "x"), f"{POLICY}: Statement[0].Condition: is a string, not an object", id="condition"
    ),
    pytest.param(
        _statement("Condition", {"StringEquals": {"aws:RequestedRegion": {"x": 1}}}),
        f"{POLICY}: Statement[0].Condition.StringEquals.aws:RequestedRegion: {{'x': 1}} should be a string",
        id="condition-value",
    ),
    pytest.param(
        _policy_text(lambda text: text.replace('"Effect":"Allow"', '"Effect":"Deny","Effect":"Allow"')),
        f"{POLICY}: Statement[0].Effect: is a key written more than once",
        id="policy-duplicate-key",
    ),
    pytest.param(_policy_text(lambda text: text[:-1]), f"{POLICY}: is not valid JSON", id="policy-not-json"),
    pytest.param(_policy_text(lambda text: "[]"), f"{POLICY}: is a list, not an object", id="policy-list"),
    pytest.param(
        lambda text: text.replace('"resource_changes":', '"resource_changes":[],"resource_changes":', 1),
        "plan.json: resource_changes: is a key written more than once",
        id="duplicate-key",
    ),
    pytest.param(
        lambda text: text.replace('"complete":', '"size":1e999,"complete":', 1),
        "plan.json: size: 1e999 is not a finite number",
        id="overflow",
    ),
    pytest.param(
        lambda text: text.replace('"complete":', '"size":NaN,"complete":', 1),
        "plan.json: size: NaN is not a finite number",
        id="nan",
    ),
    pytest.param(lambda text: "[" * 100_000 + "]" * 100_000, "plan.json: nests arrays or objects", id="deep"),
    pytest.param(
        _set("resource_changes.0.change.after.tags", json.loads("[" * 900 + "]" * 900)),
        "plan.json: resource_changes[0].change...: nests arrays or objects more than 100 deep",
        id="deep-value",
    ),
    pytest.param(
        lambda text: text.replace('"production-streammanager"', '"production-\\udc00"', 1),
        "holds half of a UTF-16 surrogate pair",
        id="lone-surrogate",
    ),
]


def _review(tmp_path: Path, *plans: str) -> tuple[int, str, str]:
    stdout, stderr = StringIO(), StringIO()
    code = main(["review", *plans], environ={}, cwd=tmp_path, stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.mark.parametrize(("change", "expected"), HOSTILE_PLANS)
def test_rejects_a_malformed_plan_with_a_problem_at_its_field(
    tmp_path: Path, change: Callable[[str], str], expected: str
) -> None:
    (tmp_path / "plan.json").write_text(change(REAL_PLAN), encoding="utf-8")
    code, stdout, stderr = _review(tmp_path, "plan.json")
    assert (code, stdout) == (2, ""), stderr
    assert stderr.startswith("1 problem in the plans:\n  - plan.json"), stderr
    assert expected in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("field", ["prior_state", "output_changes", "resource_drift", "configuration", "complete"])
def test_null_where_terraform_leaves_a_field_out_is_read_as_absent(tmp_path: Path, field: str) -> None:
    (tmp_path / "plan.json").write_text(_set(field, None)(REAL_PLAN), encoding="utf-8")
    code, stdout, stderr = _review(tmp_path, "plan.json")
    assert (code, stderr) == (0, "")
    assert "1 stack: 1 creates the identity" in stdout


def test_rejects_a_duplicate_key_in_the_stack_beside_the_plan(tmp_path: Path) -> None:
    """The backend there decides the state warning: `"encrypt": false, "encrypt": true` must not read as encrypted."""
    (tmp_path / "plan.json").write_text(REAL_PLAN, encoding="utf-8")
    stack = (REPO / "bench" / "plans" / "create" / "cdk.tf.json").read_text(encoding="utf-8")
    doubled = re.sub(r'"encrypt": true', '"encrypt": false, "encrypt": true', stack, count=1)
    assert doubled != stack
    (tmp_path / "cdk.tf.json").write_text(doubled, encoding="utf-8")
    code, _, stderr = _review(tmp_path, "plan.json")
    assert code == 2
    assert "cdk.tf.json beside plan.json: terraform.backend.s3.encrypt: is a key written more than once" in stderr


# Twelve Arabic-Indic digits: Python's \d takes them for digits, AWS does not.
OTHER_DIGITS = "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        pytest.param(
            f'[[environments]]\nname = "a"\nregion = "us-east-1"\naccount_id = "{OTHER_DIGITS}"\n',
            f"iam.toml: environments[0].account_id: '{OTHER_DIGITS}' is not an AWS account id",
            id="account-id-digits",
        ),
        pytest.param(
            '[[environments]]\nname = "a"\nregion = "us-east-\u0661"\n',
            "iam.toml: environments[0].region: 'us-east-\u0661' is not an AWS region name",
            id="region-digit",
        ),
        pytest.param(
            f'[user]\npermissions_boundary = "arn:aws:iam::{OTHER_DIGITS}:policy/boundary"\n',
            "iam.toml: user.permissions_boundary: 'arn:aws:iam::",
            id="boundary-digits",
        ),
        pytest.param(
            f'[backend]\nkms_key_id = "arn:aws:kms:us-east-1:{OTHER_DIGITS}:alias/state"\n',
            "is not a KMS key ARN, key id or alias",
            id="kms-digits",
        ),
        pytest.param(
            '[terraform]\nprovider_version = ">= \u0665.0"\n',
            "iam.toml: terraform.provider_version: '>= \u0665.0' is not a Terraform version constraint",
            id="version-digit",
        ),
        pytest.param(
            '[terraform]\nrequired_version = ">=\\u00a01.10"\n',
            "iam.toml: terraform.required_version: '>=\\xa01.10' is not a Terraform version constraint",
            id="version-no-break-space",
        ),
        pytest.param(
            '[policy]\nallow_unlisted_actions = ["ec2:Launch*", "ec2:Launch Rocket", "ec2:LaunchRocket\\n"]\n',
            "iam.toml: policy.allow_unlisted_actions: ['ec2:Launch*', 'ec2:Launch Rocket', 'ec2:LaunchRocket\\n'] "
            "lists 'ec2:Launch*', 'ec2:Launch Rocket', 'ec2:LaunchRocket\\n', which are not an IAM action name",
            id="unlisted-action-not-an-action",
        ),
        pytest.param(
            '[tags]\nOwner = "a"\nowner = "b"\n',
            "iam.toml: tags: has the tag keys 'Owner' and 'owner', which IAM takes for one",
            id="tag-keys-equal-but-for-case",
        ),
        pytest.param(
            '[tags]\nOwner = "a"\n[user.tags]\nOWNER = "b"\n',
            "iam.toml: tags: 'Owner' and 'OWNER' reach the user of environment 'production' as two tag keys",
            id="tag-keys-equal-but-for-case-across-tables",
        ),
        pytest.param(
            '[policy.hardening]\ntag_value = "e\\u0301"\n',
            "iam.toml: policy.hardening.tag_value: 'e\u0301' is not a tag value AWS accepts",
            id="tag-value-combining-mark",
        ),
        pytest.param(
            '[policy]\nactions = ["s3:GetObject"]\nresources = ["arn:aws:s3:::b\\u0007"]\n',
            "iam.toml: policy.resources: ['arn:aws:s3:::b\\x07'] has control characters ('\\x07')",
            id="resource-control-character",
        ),
        pytest.param(
            '[policy]\ndescription = "line one\\nline two"\n',
            "iam.toml: policy.description (environment 'production'): 'line one\\nline two' renders with control",
            id="description-newline",
        ),
        pytest.param(
            "[policy]\ndescription = \"{{ '\\u202e' }}for {{ name }}\"\n",
            "renders with control or format characters ('\\u202e'), which IAM refuses",
            id="description-bidi-override",
        ),
        pytest.param(
            '[backend]\nkey = "{{ user }}/' + "\u00e9" * 600 + '.tfstate"\n',
            "may have at most 1024 bytes in UTF-8",
            id="state-key-bytes",
        ),
        pytest.param(
            '[cloud]\norganization = "acme"\nproject = "iam\\n"\n',
            "iam.toml: cloud.project: 'iam\\n' is not an HCP Terraform project name",
            id="cloud-project",
        ),
        pytest.param(
            '[cloud]\norganization = "acme"\nhostname = "https://tfe.example.com/"\n',
            "iam.toml: cloud.hostname: 'https://tfe.example.com/' is not a host name",
            id="cloud-hostname",
        ),
        pytest.param(
            "[" + ".".join(["a"] * 500) + "]\nx = 1\n",
            "iam.toml: a.a.a.a.a.a.a.a.a.a.a.a.a: nests tables or arrays more than 12 deep",
            id="deep-dotted-table",
        ),
        pytest.param(
            "a = " + "{ b = " * 100 + "1" + " }" * 100 + "\n",
            "nests tables or arrays more than 12 deep",
            id="deep-inline-tables",
        ),
        pytest.param(
            "[policy]\nactions = " + "[" * 100 + "]" * 100 + "\n",
            "iam.toml: policy.actions[0][0][0][0][0][0][0][0][0][0][0]: nests tables or arrays",
            id="deep-arrays",
        ),
    ],
)
def test_rejects_values_that_aws_s3_or_terraform_refuse(tmp_path: Path, toml: str, expected: str) -> None:
    problems = problems_of(tmp_path, toml)
    assert any(expected in problem for problem in problems), problems


def test_a_printed_problem_shows_control_characters_escaped(tmp_path: Path) -> None:
    (tmp_path / "iam.toml").write_text(
        '"\\u001b[2J\\u001b]0;owned\\u0007" = 1\n[tags]\n"k\\u009b" = "v"\n[naming]\nname = "a\\u202eb"\n',
        encoding="utf-8",
    )
    stdout, stderr = StringIO(), StringIO()
    assert main(["check"], environ={}, cwd=tmp_path, stdout=stdout, stderr=stderr) == 2
    printed = stderr.getvalue()
    assert not [c for c in printed if not c.isprintable() and c != "\n"], printed
    assert "iam.toml: \\x1b[2J\\x1b]0;owned\\x07: this key is not a configuration key" in printed
    assert "iam.toml: tags: has 'k\\x9b', with characters AWS tags do not allow" in printed
    assert "'a\\u202eb' has characters IAM does not allow in names: '\\u202e'" in printed


def test_a_folder_that_cannot_be_written_is_named_with_control_characters_escaped(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a folder", encoding="utf-8")
    stdout, stderr = StringIO(), StringIO()
    folder = tmp_path / "blocker" / "module\x1b[2J"
    assert main(["export-module", str(folder)], environ={}, cwd=tmp_path, stdout=stdout, stderr=stderr) == 1
    assert "module\\x1b[2J: cannot write the output" in stderr.getvalue()
    assert "\x1b" not in stderr.getvalue()
