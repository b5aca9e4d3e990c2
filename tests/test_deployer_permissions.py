"""The deployer policy, proven: Terraform runs init, apply, plan and destroy with nothing more.

A user "deployer" gets the emitted policy; then the emulator checks every call against IAM, the S3
backend's included (sts:GetCallerIdentity is always allowed, as on AWS), while real Terraform deploys,
changes and destroys the stack with the deployer's key.

The emulator matches IAM, STS and DynamoDB calls against the resource "*" (it knows no ARN for them), so
a statement naming ARNs would never match there: the deployer gets the policy with those statements'
resources widened to "*" (the S3 statements keep their ARNs, which the emulator does check), and the
tests check separately that the ARNs Terraform created are the ones the real policy names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
import json
from pathlib import Path
from typing import Any

import pytest

from programmatic_iam.analysis.deployer import deployer_policy
from programmatic_iam.policy.document import PolicyDocument, Statement
from programmatic_iam.spec import Blueprint, RolePrincipal
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import AccessKey, error_code, iam_resource_matches, user_with_policy
from tests.support.helpers import blueprint_of, synth_blueprint
from tests.support.terraform import Terraform, TerraformError

pytestmark = [pytest.mark.terraform, pytest.mark.engine]

LOCK_TABLE = "terraform-locks"
CONFIGS = [
    pytest.param(None, id="default"),
    pytest.param(
        f'[user]\nattach_policies_to = "group"\ntags = {{ team = "video" }}\n\n[backend]\ndynamodb_table = "{LOCK_TABLE}"\n',
        id="group-tags-and-dynamodb-lock",
    ),
    pytest.param('[access_key]\ndelivery = "secretsmanager"\n', id="secretsmanager"),
    pytest.param('[access_key]\ndelivery = "ssm"\n', id="ssm"),
    pytest.param('kind = "instance-profile"\n', id="instance-profile"),
]


def emulator_view(document: PolicyDocument) -> str:
    """The document as the emulator can evaluate it: ARNs only where it checks them (S3)."""
    statements = tuple(
        statement if all(a.startswith("s3:") for a in statement.actions) else replace(statement, resources="*")
        for statement in document.statements
    )
    return replace(document, statements=statements).to_json()


def without(document: PolicyDocument, action: str) -> PolicyDocument:
    """The document with ``action`` taken out of every statement."""
    return replace(
        document,
        statements=tuple(replace(s, actions=tuple(a for a in s.actions if a != action)) for s in document.statements),
    )


def statement(document: PolicyDocument, sid: str) -> Statement:
    """The statement with this Sid."""
    (found,) = (s for s in document.statements if s.sid == sid)
    return found


def covers(statement: Statement, arn: str) -> bool:
    """Whether one of the statement's resources matches ``arn``."""
    resources = [statement.resources] if isinstance(statement.resources, str) else statement.resources
    return any(iam_resource_matches(pattern, arn) for pattern in resources)


@pytest.fixture
def enforce_iam(aws: AwsEmulator) -> Iterator[Callable[[], None]]:
    """Turns the emulator's IAM checks on when called; they end with the test whatever happens."""
    yield lambda: aws.enforce_iam(after_calls=0)
    aws.enforce_iam(after_calls=None)


def prepare(aws: AwsEmulator, blueprint: Blueprint, policy: PolicyDocument, directory: Path) -> tuple[Path, AccessKey]:
    """Synthesize, create the state bucket (and lock table) and the deployer; the stack's folder and key."""
    (stack_id,) = synth_blueprint(blueprint, directory / "cdktf.out")
    backend = blueprint.stacks[0].backend
    aws.client("s3").create_bucket(Bucket=backend.bucket)
    if backend.dynamodb_table:
        aws.client("dynamodb").create_table(
            TableName=backend.dynamodb_table,
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    return directory / "cdktf.out" / "stacks" / stack_id, user_with_policy(aws, "deployer", emulator_view(policy))


def output(terraform: Terraform, stack_dir: Path, name: str) -> Any:
    """One output's value (not all of them: the secret stays where it is)."""
    return json.loads(terraform.run(["output", "-json", "-no-color", name], stack_dir).stdout)


def store_arns(terraform: Terraform, stack_dir: Path, blueprint: Blueprint) -> list[tuple[str, str]]:
    """The ARNs of the stores the key was delivered to, each with the Sid that must cover it."""
    spec = blueprint.stacks[0]
    delivery = spec.identity.credentials.delivery
    if delivery == "secretsmanager":
        return [(output(terraform, stack_dir, "secret_arn"), "KeySecret")]
    if delivery == "ssm":
        prefix = f"arn:aws:ssm:{spec.region}:123456789012:parameter"
        return [(prefix + name, "KeyParameters") for name in output(terraform, stack_dir, "parameter_names")]
    return []


@pytest.mark.parametrize("config", CONFIGS)
def test_the_emitted_policy_is_all_terraform_needs(
    config: str | None,
    emulated_terraform: Terraform,
    aws: AwsEmulator,
    enforce_iam: Callable[[], None],
    tmp_path: Path,
) -> None:
    blueprint = blueprint_of(config, tmp_path)
    policy = deployer_policy(blueprint).document
    stack_dir, deployer = prepare(aws, blueprint, policy, tmp_path)
    terraform = emulated_terraform.with_environment(deployer.environment(emulated_terraform.env))
    enforce_iam()
    intruder = error_code(lambda: deployer.client(aws, "ec2").describe_instances())
    assert intruder == "AccessDenied", "the emulator is not checking the deployer's calls"

    terraform.init(stack_dir)
    terraform.apply(stack_dir)
    changes = terraform.plan_has_changes(stack_dir)
    assert changes is False, "a plan right after the apply proposes changes"
    role = isinstance(blueprint.stacks[0].identity.principal, RolePrincipal)
    principals = (
        [
            (output(terraform, stack_dir, "role_arn"), "Roles"),
            # The emulator does not check iam:PassRole, which AddRoleToInstanceProfile needs on AWS.
            (output(terraform, stack_dir, "role_arn"), "PassRoleToInstanceProfile"),
            (output(terraform, stack_dir, "instance_profile_arn"), "InstanceProfiles"),
        ]
        if role
        else [(output(terraform, stack_dir, "user_arn"), "Users")]
    )
    policy_arns = output(terraform, stack_dir, "policy_arns")
    stores = store_arns(terraform, stack_dir, blueprint)
    terraform.destroy(stack_dir)

    # What the emulator could not check: the ARNs Terraform made are those the real policy names.
    created = [*principals, *((arn, "Policies") for arn in policy_arns), *stores]
    assert [arn for arn, sid in created if not covers(statement(policy, sid), arn)] == []
    aws.enforce_iam(after_calls=None)
    name = blueprint.stacks[0].identity.principal.name
    iam = aws.client("iam")
    gone = (lambda: iam.get_role(RoleName=name)) if role else (lambda: iam.get_user(UserName=name))
    assert error_code(gone) == "NoSuchEntity"


def test_the_same_policy_covers_changes_and_drift(
    emulated_terraform: Terraform, aws: AwsEmulator, enforce_iam: Callable[[], None], tmp_path: Path
) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir()
    after.mkdir()
    first = blueprint_of('tags = { team = "video" }\n', before)
    second = blueprint_of(
        'tags = { owner = "audio" }\n\n[policy]\nactions = ["ec2:DescribeInstances", "ec2:DescribeRegions"]\n',
        after,
    )
    policy = deployer_policy(second).document
    assert policy == deployer_policy(first).document, "the deployer policy depends on names, not on what is granted"
    first_dir, deployer = prepare(aws, first, policy, before)
    (second_id,) = synth_blueprint(second, after / "cdktf.out")
    second_dir = after / "cdktf.out" / "stacks" / second_id
    terraform = emulated_terraform.with_environment(deployer.environment(emulated_terraform.env))
    enforce_iam()

    terraform.init(first_dir)
    terraform.apply(first_dir)
    key_id = output(terraform, first_dir, "access_key_id")
    aws.enforce_iam(after_calls=None)  # drift: someone deactivates the key by hand
    aws.client("iam").update_access_key(
        UserName=first.stacks[0].identity.principal.name, AccessKeyId=key_id, Status="Inactive"
    )
    enforce_iam()
    terraform.init(second_dir)
    # A new default policy version, new tags on the user and the policy, and the key made active again.
    terraform.apply(second_dir)
    changes = terraform.plan_has_changes(second_dir)
    assert changes is False, "a plan right after the update proposes changes"
    policy_arn = output(terraform, second_dir, "policy_arns")[0]
    versions = deployer.client(aws, "iam").list_policy_versions(PolicyArn=policy_arn)["Versions"]
    assert sorted((v["VersionId"], v["IsDefaultVersion"]) for v in versions) == [("v1", False), ("v2", True)]
    terraform.destroy(second_dir)  # the old version goes first (iam:DeletePolicyVersion), then the policy


def test_a_policy_missing_one_action_fails_the_apply_with_access_denied(
    emulated_terraform: Terraform, aws: AwsEmulator, enforce_iam: Callable[[], None], tmp_path: Path
) -> None:
    blueprint = blueprint_of(None, tmp_path)
    policy = without(deployer_policy(blueprint).document, "iam:CreateAccessKey")
    stack_dir, deployer = prepare(aws, blueprint, policy, tmp_path)
    terraform = emulated_terraform.with_environment(deployer.environment(emulated_terraform.env))
    enforce_iam()

    terraform.init(stack_dir)
    with pytest.raises(TerraformError) as caught:
        terraform.apply(stack_dir)
    # AWS answers "AccessDenied: ... is not authorized to perform: iam:CreateAccessKey". The emulator's
    # denial is not in the IAM query protocol's error format, so the provider's SDK reports it as a 403
    # with an unknown error code.
    message = str(caught.value)
    assert "creating IAM Access Key" in message and "CreateAccessKey, https response error StatusCode: 403" in message


FLEET = (
    '[user]\npath = "/programmatic-iam/"\n[policy]\npath = "/programmatic-iam/"\n'
    '[backend]\nkey = "programmatic-iam/{{ user }}/terraform.tfstate"\n'
    + "".join(f'[[environments]]\nname = "{name}"\nregion = "us-east-1"\n' for name in ("dev", "staging", "prod"))
)


def test_a_path_scoped_fleet_deploys_with_the_path_and_folder_grants_alone(
    emulated_terraform: Terraform, aws: AwsEmulator, enforce_iam: Callable[[], None], tmp_path: Path
) -> None:
    """Three stacks under one IAM path and state folder: the deployer holds the path and folder, not their names.

    The emulator checks S3 object ARNs, so the state folder is proven here, outside it refused; IAM ARNs and
    conditions are not checked by it: the created ARNs are matched against the real policy below, and
    tests/test_deployer_fleet_conditions.py decides the rest with the independent evaluator.
    """
    blueprint = blueprint_of(FLEET, tmp_path)
    policy = deployer_policy(blueprint).document
    assert statement(policy, "Users").resources == "arn:aws:iam::*:user/programmatic-iam/*"
    assert statement(policy, "StateObjects").resources == "arn:aws:s3:::terraform-state/programmatic-iam/*"
    stack_ids = list(synth_blueprint(blueprint, tmp_path / "cdktf.out"))
    assert len(stack_ids) == 3
    bucket = blueprint.stacks[0].backend.bucket
    aws.client("s3").create_bucket(Bucket=bucket)
    deployer = user_with_policy(aws, "deployer", emulator_view(policy))
    terraform = emulated_terraform.with_environment(deployer.environment(emulated_terraform.env))
    enforce_iam()
    s3 = deployer.client(aws, "s3")
    outside_folder = error_code(lambda: s3.put_object(Bucket=bucket, Key="other/terraform.tfstate", Body=b"{}"))
    assert outside_folder == "AccessDenied", "the deployer may write a state outside the fleet's folder"

    created: list[tuple[str, str]] = []
    for stack_id in stack_ids:
        stack_dir = tmp_path / "cdktf.out" / "stacks" / stack_id
        terraform.init(stack_dir)
        terraform.apply(stack_dir)
        assert terraform.plan_has_changes(stack_dir) is False, f"{stack_id}: a plan right after the apply changes"
        created.append((output(terraform, stack_dir, "user_arn"), "Users"))
        created += [(arn, "Policies") for arn in output(terraform, stack_dir, "policy_arns")]
    for stack_id in stack_ids:
        terraform.destroy(tmp_path / "cdktf.out" / "stacks" / stack_id)

    assert [arn for arn, sid in created if not covers(statement(policy, sid), arn)] == []
    assert [arn for arn, _ in created if "/programmatic-iam/" not in arn] == []
    assert not covers(statement(policy, "Users"), "arn:aws:iam::123456789012:user/admin")
    assert not covers(statement(policy, "Policies"), "arn:aws:iam::123456789012:policy/admin")
