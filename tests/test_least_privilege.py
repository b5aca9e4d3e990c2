"""Least privilege, proven: the deployed key may call what its policy grants and nothing else.

The default stack (the guide's 63 EC2 actions) and a one-action stack are deployed into the emulator with
real Terraform; then the emulator checks every call against IAM, and each call below is made with the key
Terraform created, read from the stack's outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import DENIED_CODES, AccessKey, error_code
from tests.support.helpers import synth
from tests.support.terraform import Terraform

pytestmark = [pytest.mark.terraform, pytest.mark.engine]

STATE_BUCKET = "terraform-state"  # the default backend.bucket
ONE_ACTION = '[naming]\nname = "one-action"\n\n[policy]\nactions = ["ec2:DescribeInstances"]\n'
HARDENED = '[naming]\nname = "hardened"\n\n[policy]\ntemplate = "stream-manager-2.0-hardened"\n'
NO_SUCH_INSTANCE = "i-0123456789abcdef0"


@dataclass(frozen=True)
class Sandbox:
    """The deployed keys, and EC2 resources (made with the emulator's own key) to act on."""

    guide: AccessKey  # the default stack: the guide's 63 actions
    one_action: AccessKey  # only ec2:DescribeInstances
    hardened: AccessKey  # the guide's actions, scoped (templates/policies/stream-manager-2.0-hardened.json.j2)
    guide_user: str
    guide_state_key: str
    image_id: str
    instance_id: str
    volume_id: str
    vpc_id: str
    security_group_id: str
    subnet_id: str


def deploy(terraform: Terraform, config: str | None, directory: Path) -> tuple[str, AccessKey]:
    """Synthesize, init and apply one stack; its user name and the key Terraform made for it."""
    (stack_id,) = synth(config, directory)
    stack_dir = directory / "cdktf.out" / "stacks" / stack_id
    terraform.init(stack_dir)
    terraform.apply(stack_dir)
    outputs = terraform.outputs(stack_dir)
    # The secret leaves the dict first and lives only in the key, whose repr leaves it out.
    key = AccessKey(secret_access_key=outputs.pop("secret_access_key"), access_key_id=outputs.pop("access_key_id"))
    return str(outputs["user_name"]), key


@pytest.fixture(scope="module")
def sandbox(
    terraform: Terraform, aws_emulator: AwsEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sandbox]:
    """Both stacks deployed once for the module (an apply takes seconds; the calls take milliseconds)."""
    aws_emulator.reset()
    try:
        emulated = terraform.with_environment(aws_emulator.environment(base=terraform.env))
        aws_emulator.client("s3").create_bucket(Bucket=STATE_BUCKET)
        guide_user, guide = deploy(emulated, None, tmp_path_factory.mktemp("guide"))
        _, one_action = deploy(emulated, ONE_ACTION, tmp_path_factory.mktemp("one-action"))
        _, hardened = deploy(emulated, HARDENED, tmp_path_factory.mktemp("hardened"))
        ec2 = aws_emulator.client("ec2")
        image_id = ec2.describe_images()["Images"][0]["ImageId"]
        instance = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t3.micro")
        subnet = ec2.describe_subnets()["Subnets"][0]
        yield Sandbox(
            guide=guide,
            one_action=one_action,
            hardened=hardened,
            guide_user=guide_user,
            guide_state_key=f"{guide_user}/terraform.tfstate",
            image_id=image_id,
            instance_id=instance["Instances"][0]["InstanceId"],
            volume_id=ec2.create_volume(AvailabilityZone=subnet["AvailabilityZone"], Size=8)["VolumeId"],
            vpc_id=subnet["VpcId"],
            security_group_id=ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"],
            subnet_id=subnet["SubnetId"],
        )
    finally:
        aws_emulator.reset()


@pytest.fixture
def enforcing(sandbox: Sandbox, aws_emulator: AwsEmulator) -> Iterator[Sandbox]:
    """The sandbox with the emulator checking every call against IAM; the checks end with the test."""
    aws_emulator.enforce_iam(after_calls=0)
    yield sandbox
    aws_emulator.enforce_iam(after_calls=None)


Call = Callable[[Any, Sandbox], object]

# (service, call, the answer expected). ``None``: the call succeeds. A moto validation error such as
# InvalidInstanceID.NotFound comes after IAM authorised the call, so it shows the action was granted.
GRANTED: list[Any] = [
    pytest.param("ec2", lambda c, s: c.describe_instances(), None, id="List-ec2:DescribeInstances"),
    pytest.param("ec2", lambda c, s: c.describe_regions(), None, id="List-ec2:DescribeRegions"),
    pytest.param("ec2", lambda c, s: c.describe_security_groups(), None, id="List-ec2:DescribeSecurityGroups"),
    pytest.param("ec2", lambda c, s: c.describe_volumes(), None, id="List-ec2:DescribeVolumes"),
    pytest.param("ec2", lambda c, s: c.describe_key_pairs(), None, id="List-ec2:DescribeKeyPairs"),
    pytest.param(
        "ec2",
        lambda c, s: c.get_subnet_cidr_reservations(SubnetId=s.subnet_id),
        None,
        id="Read-ec2:GetSubnetCidrReservations",
    ),
    pytest.param(
        "ec2",
        lambda c, s: c.create_tags(Resources=[s.instance_id], Tags=[{"Key": "role", "Value": "origin"}]),
        None,
        id="Tagging-ec2:CreateTags",
    ),
    pytest.param(
        "ec2",
        lambda c, s: c.delete_tags(Resources=[s.instance_id], Tags=[{"Key": "role"}]),
        None,
        id="Tagging-ec2:DeleteTags",
    ),
    pytest.param(
        "ec2",
        lambda c, s: c.run_instances(ImageId=s.image_id, MinCount=1, MaxCount=1, InstanceType="t3.micro"),
        None,
        id="Write-ec2:RunInstances",
    ),
    pytest.param("ec2", lambda c, s: c.stop_instances(InstanceIds=[s.instance_id]), None, id="Write-ec2:StopInstances"),
    pytest.param(
        "ec2", lambda c, s: c.start_instances(InstanceIds=[s.instance_id]), None, id="Write-ec2:StartInstances"
    ),
    pytest.param(
        "ec2", lambda c, s: c.reboot_instances(InstanceIds=[s.instance_id]), None, id="Write-ec2:RebootInstances"
    ),
    pytest.param(
        "ec2",
        lambda c, s: c.create_volume(AvailabilityZone="us-east-1a", Size=8),
        None,
        id="Write-ec2:CreateVolume",
    ),
    pytest.param(
        "ec2",
        lambda c, s: c.authorize_security_group_ingress(
            GroupId=s.security_group_id,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 5080, "ToPort": 5080, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
            ],
        ),
        None,
        id="Write-ec2:AuthorizeSecurityGroupIngress",
    ),
    pytest.param(
        "ec2",
        lambda c, s: c.terminate_instances(InstanceIds=[NO_SUCH_INSTANCE]),
        "InvalidInstanceID.NotFound",
        id="Write-ec2:TerminateInstances-authorised-then-not-found",
    ),
]

# Calls outside the grant, each of which AWS would deny for this key too.
DENIED: list[Any] = [
    pytest.param("ec2", lambda c, s: c.create_vpc(CidrBlock="10.9.0.0/16"), id="ec2:CreateVpc"),
    pytest.param("ec2", lambda c, s: c.delete_vpc(VpcId=s.vpc_id), id="ec2:DeleteVpc"),
    pytest.param("ec2", lambda c, s: c.create_snapshot(VolumeId=s.volume_id), id="ec2:CreateSnapshot"),
    pytest.param(
        "ec2", lambda c, s: c.describe_snapshots(OwnerIds=["self"]), id="ec2:DescribeSnapshots-List-not-granted"
    ),
    pytest.param("iam", lambda c, s: c.create_user(UserName="intruder"), id="iam:CreateUser"),
    pytest.param("iam", lambda c, s: c.list_users(), id="iam:ListUsers"),
    pytest.param("iam", lambda c, s: c.get_user(UserName=s.guide_user), id="iam:GetUser-itself"),
    pytest.param("iam", lambda c, s: c.create_access_key(UserName=s.guide_user), id="iam:CreateAccessKey-itself"),
    pytest.param(
        "iam",
        lambda c, s: c.attach_user_policy(
            UserName=s.guide_user, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
        ),
        id="iam:AttachUserPolicy-admin-to-itself",
    ),
    pytest.param("s3", lambda c, s: c.list_buckets(), id="s3:ListAllMyBuckets"),
    pytest.param("s3", lambda c, s: c.create_bucket(Bucket="exfiltration"), id="s3:CreateBucket"),
    pytest.param(
        "s3", lambda c, s: c.get_object(Bucket=STATE_BUCKET, Key=s.guide_state_key), id="s3:GetObject-its-own-state"
    ),
    pytest.param(
        "sts",
        lambda c, s: c.assume_role(RoleArn="arn:aws:iam::123456789012:role/admin", RoleSessionName="probe"),
        id="sts:AssumeRole",
    ),
]


@pytest.mark.parametrize(("service", "call", "answer"), GRANTED)
def test_granted_actions_are_authorised(
    enforcing: Sandbox, aws_emulator: AwsEmulator, service: str, call: Call, answer: str | None
) -> None:
    client = enforcing.guide.client(aws_emulator, service)
    assert error_code(lambda: call(client, enforcing)) == answer


@pytest.mark.parametrize("key", ["guide", "hardened"])
@pytest.mark.parametrize(("service", "call"), DENIED)
def test_actions_outside_the_grant_are_denied(
    enforcing: Sandbox, aws_emulator: AwsEmulator, service: str, call: Call, key: str
) -> None:
    client = getattr(enforcing, key).client(aws_emulator, service)
    assert error_code(lambda: call(client, enforcing)) in DENIED_CODES


@pytest.mark.parametrize(
    ("call", "granted"),
    [
        pytest.param(lambda c, s: c.describe_instances(), True, id="ec2:DescribeInstances-granted"),
        pytest.param(lambda c, s: c.describe_regions(), False, id="ec2:DescribeRegions-not-granted"),
    ],
)
def test_a_one_action_policy_grants_that_action_only(
    enforcing: Sandbox, aws_emulator: AwsEmulator, call: Call, granted: bool
) -> None:
    client = enforcing.one_action.client(aws_emulator, "ec2")
    code = error_code(lambda: call(client, enforcing))
    assert code is None if granted else code in DENIED_CODES


# The emulator checks actions and treats a statement scoped to ARNs as not matching (facts.md), so of the
# hardened profile it can prove the statements on "*" (reads, region-scoped by a condition it does not
# evaluate); that nothing outside the guide's actions is granted is proven above for both keys.
HARDENED_GRANTED = [param for param in GRANTED if param.id.startswith(("List-", "Read-"))]


@pytest.mark.parametrize(("service", "call", "answer"), HARDENED_GRANTED)
def test_the_hardened_key_still_reads_what_the_guide_reads(
    enforcing: Sandbox, aws_emulator: AwsEmulator, service: str, call: Call, answer: str | None
) -> None:
    client = enforcing.hardened.client(aws_emulator, service)
    assert error_code(lambda: call(client, enforcing)) == answer


@pytest.mark.parametrize("key", ["guide", "one_action", "hardened"])
def test_who_am_i_is_always_answered(enforcing: Sandbox, aws_emulator: AwsEmulator, key: str) -> None:
    # AWS answers sts:GetCallerIdentity for any valid key, even under an explicit Deny; so does the emulator.
    sts = getattr(enforcing, key).client(aws_emulator, "sts")
    assert sts.get_caller_identity()["Arn"].startswith("arn:aws:iam::123456789012:user/")
