"""A rotation driven by ``keys rotate`` while consumers call EC2 with the key their store holds, on the emulator with
its permission checks on throughout (an inactive key refused, every signed call recorded as its key's last use).

A consumer that re-reads its store (docs/key-rotation.md, "A consumer that follows the rotation") loses no call;
one that never re-reads keeps using the old key, and ``keys rotate`` refuses to deactivate it, naming the use.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
import time
from typing import Any

import boto3
import pytest

from programmatic_iam.rotation import DELIVERY_ALLOWANCE
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import AccessKey, error_code, user_with_policy
from tests.support.helpers import base_environment, run_module, synth, write_config
from tests.support.rotation import ADMINISTRATOR, consuming, store_reader
from tests.support.terraform import Terraform

USER = "production-streammanager"


def rotate(aws: AwsEmulator, cwd: Path, deployer: AccessKey, *args: str) -> tuple[int, str, str]:
    environment = deployer.environment(aws.environment(base=base_environment()))
    completed = run_module(
        "programmatic_iam", "keys", "rotate", "--environment", "production", *args, cwd=cwd, **environment
    )
    return completed.returncode, completed.stdout, completed.stderr


def keys_in_iam(aws: AwsEmulator, deployer: AccessKey) -> list[dict[str, Any]]:
    listed = deployer.client(aws, "iam").list_access_keys(UserName=USER)["AccessKeyMetadata"]
    return sorted(listed, key=lambda key: key["CreateDate"])


def apply_the_file(terraform: Terraform, directory: Path, config: Path) -> None:
    """What the merge of the pull request does: synthesize the file as it now is, apply it."""
    synth(config.read_text(encoding="utf-8"), directory)
    terraform.apply(directory / "cdktf.out" / "stacks" / USER)


@pytest.mark.engine
@pytest.mark.terraform
@pytest.mark.parametrize("delivery", ["secretsmanager", "ssm"])
def test_keys_rotate_takes_a_rotation_through_without_a_failed_call_and_stops_for_a_consumer_left_behind(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path, delivery: str
) -> None:
    aws.client("s3").create_bucket(Bucket="terraform-state")
    deployer = user_with_policy(aws, "deployer", ADMINISTRATOR)  # Terraform, keys rotate and the store's reader
    terraform = emulated_terraform.with_environment(deployer.environment(emulated_terraform.env))
    config = write_config(
        tmp_path,
        f'[policy]\nactions = ["ec2:DescribeInstances"]\n\n# How the media servers get their key.\n'
        f'[access_key]\ndelivery = "{delivery}"\n',
    )
    aws.enforce_iam(after_calls=0)
    try:
        synth(config.read_text(encoding="utf-8"), tmp_path)
        stack_dir = tmp_path / "cdktf.out" / "stacks" / USER
        terraform.init(stack_dir)
        terraform.apply(stack_dir)
        read_store = store_reader(delivery, terraform.outputs(stack_dir), aws, deployer)
        first_key = read_store(boto3.session.Session())
        with consuming(read_store, aws, re_reads=True) as follower:
            # Rotation 1, every step by keys rotate, the grace period passed with --as-of.
            (first,) = keys_in_iam(aws, deployer)
            code, _, stderr = rotate(aws, tmp_path, deployer, "--step", "create")
            assert (code, stderr) == (0, "")
            apply_the_file(terraform, tmp_path, config)
            old, new = keys_in_iam(aws, deployer)
            assert old["AccessKeyId"] == first["AccessKeyId"]
            time.sleep(1)  # a few calls on the new key before the next step
            code, _, stderr = rotate(aws, tmp_path, deployer, "--step", "deactivate")
            assert (code, stderr) == (0, ""), f"{stderr}\nconsumer: {follower.failures}"
            apply_the_file(terraform, tmp_path, config)
            assert [key["Status"] for key in keys_in_iam(aws, deployer)] == ["Inactive", "Active"]
            # Deactivated for real: the first key is refused now, so the consumer's calls went out with the new one.
            assert error_code(lambda: first_key.client(aws, "ec2").describe_instances()) == "AuthFailure"
            later = (date.today() + timedelta(days=7)).isoformat()
            code, _, stderr = rotate(aws, tmp_path, deployer, "--step", "delete", "--as-of", later)
            assert (code, stderr) == (0, "")
            apply_the_file(terraform, tmp_path, config)
            assert [key["AccessKeyId"] for key in keys_in_iam(aws, deployer)] == [new["AccessKeyId"]]
            time.sleep(1)
            assert follower.failures == []
            assert follower.keys_used == [old["AccessKeyId"], new["AccessKeyId"]]
            assert config.read_text(encoding="utf-8").startswith(  # only the rotation keys written
                '[policy]\nactions = ["ec2:DescribeInstances"]\n\n# How the media servers get their key.\n'
                f'[access_key]\ndelivery = "{delivery}"\ngeneration = 2\nprevious = "none"\n'
            )
            calls = follower.calls

            # Rotation 2, while a second consumer that never re-reads holds the current key.
            with consuming(read_store, aws, re_reads=False) as stale:
                code, _, stderr = rotate(aws, tmp_path, deployer, "--step", "create")
                assert (code, stderr) == (0, "")
                apply_the_file(terraform, tmp_path, config)
                old, new = keys_in_iam(aws, deployer)
                beyond_delivery = new["CreateDate"] + DELIVERY_ALLOWANCE + timedelta(seconds=1)
                while datetime.now(UTC) < beyond_delivery:
                    time.sleep(0.5)
            assert stale.failures == [] and stale.keys_used == [old["AccessKeyId"]]
            used = deployer.client(aws, "iam").get_access_key_last_used(AccessKeyId=old["AccessKeyId"])
            used = used["AccessKeyLastUsed"]
            assert (used["ServiceName"], used["Region"]) == ("ec2", "us-east-1")
            before = config.read_text(encoding="utf-8")
            code, _, stderr = rotate(aws, tmp_path, deployer, "--step", "deactivate")
            assert code == 1
            assert "step 2 of 3: deactivate the old key refused:" in stderr
            assert (
                f"the old key {old['AccessKeyId']} was used at {used['LastUsedDate'].astimezone(UTC):%Y-%m-%d %H:%M:%S} "
                f"UTC (ec2, us-east-1), after the new key {new['AccessKeyId']} was delivered at "
                f"{new['CreateDate'].astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC: switch that consumer to the new key first"
            ) in stderr
            assert config.read_text(encoding="utf-8") == before
            assert follower.failures == [] and follower.calls > calls
    finally:
        aws.enforce_iam(after_calls=None)


def test_a_call_refused_for_an_inactive_key_is_not_its_last_use(aws: AwsEmulator) -> None:
    """AWS records the calls it authenticated; moto recorded every request's key, a refused one's included."""
    key = user_with_policy(aws, USER, ADMINISTRATOR)
    iam = aws.client("iam")
    aws.enforce_iam(after_calls=0)
    try:
        key.client(aws, "ec2").describe_instances()
        used = key.client(aws, "iam").get_access_key_last_used(AccessKeyId=key.access_key_id)["AccessKeyLastUsed"]
        assert (used["ServiceName"], used["Region"]) == ("iam", "us-east-1")  # the call asking is a use too
        key.client(aws, "iam").update_access_key(UserName=USER, AccessKeyId=key.access_key_id, Status="Inactive")
        time.sleep(1.1)
        assert error_code(lambda: key.client(aws, "ec2").describe_instances()) == "AuthFailure"
    finally:
        aws.enforce_iam(after_calls=None)
    after = iam.get_access_key_last_used(AccessKeyId=key.access_key_id)["AccessKeyLastUsed"]
    assert after["LastUsedDate"] < datetime.now(UTC) - timedelta(seconds=1)
    assert (after["ServiceName"], after["Region"]) == ("iam", "us-east-1")
