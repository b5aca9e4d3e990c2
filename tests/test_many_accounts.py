"""Many accounts: an environment's provider assumes a role in its account; regions are checked against botocore."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from programmatic_iam.regions import known_regions
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import user_with_policy
from tests.support.helpers import base_environment, run_cli, run_module, synth, write_config
from tests.support.terraform import Terraform

STACK = "production-streammanager"
ACCOUNT = "123456789012"  # the emulator's account
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/identity-deployer"


def environment(extra: str = "", region: str = "us-east-1") -> str:
    return f'[[environments]]\nname = "production"\nregion = "{region}"\n{extra}'


ASSUMING = environment(f'\n[environments.assume_role]\nrole_arn = "{ROLE_ARN}"\nexternal_id = "video-team"\n')


@pytest.mark.engine
def test_the_provider_assumes_the_role_and_is_held_to_its_account(tmp_path: Path) -> None:
    provider = synth(ASSUMING, tmp_path)[STACK]["provider"]["aws"][0]
    assert provider["assume_role"] == [
        {"role_arn": ROLE_ARN, "session_name": "programmatic-iam-production", "external_id": "video-team"}
    ]
    assert provider["allowed_account_ids"] == [ACCOUNT]


@pytest.mark.parametrize(
    ("setting", "why"),
    [
        ('role_arn = "arn:aws:iam::123:role/x"', "is not an IAM role ARN"),
        ('role_arn = "arn:aws:iam::123456789012:user/x"', "is not an IAM role ARN"),
        (f'role_arn = "{ROLE_ARN}"\nsession_name = "a b"', "is not a session name"),
        (f'role_arn = "{ROLE_ARN}"\nexternal_id = "${{x}}"', "is not an external id"),
        (f'role_arn = "{ROLE_ARN}"\nrole = "x"', "this key is not a configuration key"),
    ],
)
def test_a_bad_role_setting_is_named(tmp_path: Path, setting: str, why: str) -> None:
    write_config(tmp_path, environment(f"\n[environments.assume_role]\n{setting}\n"))
    code, _, stderr = run_cli(tmp_path, "check")
    assert code == 2 and "environments[0].assume_role" in stderr and why in stderr and "Traceback" not in stderr


def test_a_role_in_another_account_than_account_id_is_refused(tmp_path: Path) -> None:
    write_config(
        tmp_path, environment(f'account_id = "111111111111"\n\n[environments.assume_role]\nrole_arn = "{ROLE_ARN}"\n')
    )
    code, _, stderr = run_cli(tmp_path, "check")
    assert code == 2
    assert f"assume_role.role_arn is in account {ACCOUNT}, but account_id is 111111111111" in stderr


@pytest.mark.engine
def test_an_unknown_well_formed_region_warns_and_still_synthesizes(tmp_path: Path) -> None:
    write_config(tmp_path, environment(region="eu-wset-1") + '\n[backend]\nregion = "ap-lunar-7"\n')
    code, _, stderr = run_cli(tmp_path, "check")
    assert code == 0
    assert "environments[0].region: 'eu-wset-1' is not a region the installed botocore" in stderr
    assert "did you mean 'eu-west-1'" in stderr
    assert "backend.region: 'ap-lunar-7' is not a region" in stderr and "ignore this warning" in stderr
    assert synth(environment(region="eu-wset-1"), tmp_path)[STACK]["provider"]["aws"][0]["region"] == "eu-wset-1"


def test_known_regions_do_not_warn(tmp_path: Path) -> None:
    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= known_regions()
    write_config(tmp_path, environment(region="eu-central-2") + '\n[backend]\nregion = "cn-north-1"\n')
    code, _, stderr = run_cli(tmp_path, "check")
    assert code == 0 and "region" not in stderr


@pytest.mark.parametrize("region", ["us_east_1", "US-EAST-1", "useast1", "us-east-", "eu-west-1 "])
def test_a_malformed_region_is_an_error(tmp_path: Path, region: str) -> None:
    write_config(tmp_path, environment(region=region))
    code, _, stderr = run_cli(tmp_path, "check")
    assert code == 2 and "is not an AWS region name" in stderr


@pytest.mark.engine
@pytest.mark.terraform
def test_an_environment_deploys_through_its_assumed_role_on_the_emulator(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    """The caller may only assume the role and use the state bucket: the deploy works only through the role."""
    iam = aws.client("iam")
    aws.client("s3").create_bucket(Bucket="terraform-state")
    # The emulator checks the trust policy, its sts:ExternalId condition included, against the caller's ARN.
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/ci"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": "video-team"}},
            }
        ],
    }
    iam.create_role(RoleName="identity-deployer", AssumeRolePolicyDocument=json.dumps(trust))
    admin = iam.create_policy(
        PolicyName="identity-deployer",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="identity-deployer", PolicyArn=admin)
    caller_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE_ARN},
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        ],
    }
    caller = user_with_policy(aws, "ci", json.dumps(caller_policy))
    terraform = emulated_terraform.with_environment(caller.environment(emulated_terraform.env))

    direct, assuming, wrong_id = tmp_path / "direct", tmp_path / "assuming", tmp_path / "wrong-id"
    for folder, config in ((direct, None), (assuming, ASSUMING), (wrong_id, ASSUMING.replace("video-team", "other"))):
        folder.mkdir()
        synth(config, folder)
    aws.enforce_iam(after_calls=0)
    try:
        # Without the role, the caller's own key is refused by IAM: the check below is not vacuous.
        direct_stack = direct / "cdktf.out" / "stacks" / STACK
        terraform.init(direct_stack)
        refused = terraform.attempt(["apply", "-auto-approve", "-input=false", "-no-color"], direct_stack)
        # moto's IAM denial reaches the provider as a bare 403 (its XML error body is not IAM's).
        assert refused.returncode != 0 and "CreateUser, https response error StatusCode: 403" in refused.stderr

        # With another external id than the trust policy requires, the role is not assumed.
        wrong_stack = wrong_id / "cdktf.out" / "stacks" / STACK
        terraform.init(wrong_stack)
        untrusted = terraform.attempt(["plan", "-input=false", "-no-color"], wrong_stack)
        assert untrusted.returncode != 0 and "AssumeRole" in untrusted.stderr

        stack = assuming / "cdktf.out" / "stacks" / STACK
        terraform.init(stack)
        terraform.apply(stack)
        assert not terraform.plan_has_changes(stack)

        # keys status reads IAM in the environment's account as the provider does: through the role.
        write_config(assuming, ASSUMING)
        status = run_module(
            "programmatic_iam",
            "keys",
            "status",
            cwd=assuming,
            **caller.environment(aws.environment(base=base_environment())),
        )
        assert status.returncode == 0, status.stderr
        assert status.stdout.startswith(f"{STACK} (user {STACK} in {ACCOUNT}, keys may be 90 days old)\n")
        assert "Active" in status.stdout and status.stdout.endswith("No key is due.\n")
    finally:
        aws.enforce_iam(after_calls=None)
    assert [user["UserName"] for user in iam.list_users()["Users"]] == ["ci", STACK]
    assert len(iam.list_access_keys(UserName=STACK)["AccessKeyMetadata"]) == 1


def test_the_deployer_policy_says_where_its_statements_go_with_an_assumed_role(tmp_path: Path) -> None:
    write_config(tmp_path, ASSUMING)
    code, stdout, stderr = run_cli(tmp_path, "deployer-policy")
    assert code == 0 and '"iam:CreateUser"' in stdout
    assert f"environment 'production' assumes {ROLE_ARN}: attach the statements for its identity to that role" in stderr
