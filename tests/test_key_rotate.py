"""``keys rotate`` on the emulator: each step written into ``iam.toml`` only when IAM's evidence allows it, each
refusal naming why, ``--force`` saying what it skipped, ``--dry-run`` writing nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
import json
from pathlib import Path
import time

import pytest

from programmatic_iam.rotation import DELIVERY_ALLOWANCE
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import AccessKey, iam_resource_matches, user_with_policy
from tests.support.helpers import base_environment, run_module, write_config
from tests.support.rotation import FLEET
from tests.test_rotation_prs import READ_ONLY, READ_STORES

USER = "production-streammanager"


def rotate(aws: AwsEmulator, cwd: Path, *args: str) -> tuple[int, str, str]:
    completed = run_module(
        "programmatic_iam", "keys", "rotate", *args, cwd=cwd, **aws.environment(base=base_environment())
    )
    return completed.returncode, completed.stdout, completed.stderr


def single(settings: str) -> str:
    return f"# The media server's key.\n[access_key]\n{settings}\nmax_age_days = 90  # our policy\n"


def keys(aws: AwsEmulator, count: int, user: str = USER) -> list[AccessKey]:
    iam = aws.client("iam")
    iam.create_user(UserName=user)
    made = [iam.create_access_key(UserName=user)["AccessKey"] for _ in range(count)]
    return [AccessKey(k["AccessKeyId"], k["SecretAccessKey"]) for k in made]


def use(aws: AwsEmulator, key: AccessKey) -> None:
    """A call signed with ``key``, which IAM records as its last use (service and region)."""
    key.client(aws, "sts").get_caller_identity()


def test_create_writes_the_next_generation_when_the_previous_rotation_is_finished(
    aws: AwsEmulator, tmp_path: Path
) -> None:
    config = write_config(tmp_path, single("generation = 1"))
    keys(aws, 1)
    code, stdout, stderr = rotate(aws, tmp_path, "--environment", "production", "--dry-run")
    assert (code, stderr) == (0, "")
    assert "environment 'production': step 1 of 3: create the new key beside the old one" in stdout
    assert '-generation = 1\n+generation = 2\n+previous = "active"\n' in stdout
    assert stdout.endswith("--dry-run: nothing written\n")
    assert config.read_text(encoding="utf-8") == single("generation = 1")

    code, stdout, stderr = rotate(aws, tmp_path, "--environment", "production")
    assert (code, stderr) == (0, "")
    assert config.read_text(encoding="utf-8") == single('generation = 2\nprevious = "active"')


@pytest.mark.parametrize(
    ("count", "refusal"),
    [
        (2, "IAM holds 2 keys for the user, not 1: finish the previous rotation (or apply it) first"),
        (0, "its user is not in IAM: deploy the stack first"),
    ],
)
def test_rejects_create_while_iam_does_not_show_one_key(
    aws: AwsEmulator, tmp_path: Path, count: int, refusal: str
) -> None:
    config = write_config(tmp_path, single("generation = 1"))
    if count:
        keys(aws, count)
    code, _, stderr = rotate(aws, tmp_path, "--environment", "production")
    assert code == 1
    assert f"step 1 of 3: create the new key beside the old one refused:\n  {refusal}\n" in stderr
    assert config.read_text(encoding="utf-8") == single("generation = 1")

    code, _, stderr = rotate(aws, tmp_path, "--environment", "production", "--force")
    assert code == 0
    assert f"--force: skipped the evidence that {refusal}" in stderr
    assert config.read_text(encoding="utf-8") == single('generation = 2\nprevious = "active"')


def test_rejects_deactivate_while_the_old_key_is_used_after_the_new_one_was_delivered(
    aws: AwsEmulator, tmp_path: Path
) -> None:
    config = write_config(tmp_path, FLEET)
    old, new = keys(aws, 2)
    time.sleep(DELIVERY_ALLOWANCE.total_seconds() + 1)  # past the delivery: a consumer left behind
    use(aws, old)
    code, stdout, stderr = rotate(aws, tmp_path, "--identity", "streammanager", "--environment", "production")
    assert code == 1
    assert (
        "identity 'streammanager' in environment 'production': step 2 of 3: deactivate the old key refused:" in stderr
    )
    assert f"the old key {old.access_key_id} was used at {datetime.now(UTC):%Y-%m-%d}" in stderr
    assert f"(sts, us-east-1), after the new key {new.access_key_id} was delivered at" in stderr
    assert config.read_text(encoding="utf-8") == FLEET
    assert old.secret_access_key not in stdout + stderr


def test_deactivate_writes_the_step_and_its_day_when_the_old_key_is_unused_since(
    aws: AwsEmulator, tmp_path: Path
) -> None:
    config = write_config(tmp_path, FLEET)
    iam = aws.client("iam")
    iam.create_user(UserName=USER)
    made = iam.create_access_key(UserName=USER)["AccessKey"]
    use(aws, AccessKey(made["AccessKeyId"], made["SecretAccessKey"]))  # before the new key: the consumer switched
    iam.create_access_key(UserName=USER)
    code, stdout, stderr = rotate(aws, tmp_path, "--identity", "streammanager", "--environment", "production")
    assert (code, stderr) == (0, "")
    assert (
        "identity 'streammanager' in environment 'production': not checked: that the outputs hold the new key "
        '(delivery = "output"): they live in the Terraform state, which keys rotate does not read\n'
    ) in stdout
    today = datetime.now(UTC).date().isoformat()
    assert config.read_text(encoding="utf-8") == FLEET.replace(
        'previous = "active"   # while the media servers switch\n',
        f'previous = "inactive"   # while the media servers switch\ndeactivated_on = {today}\n',
    )


STORES = {
    "ssm": f"the parameter '/{USER}/access-key/access-key-id'",
    "secretsmanager": f"the secret '{USER}/access-key'",
}


def deliver(aws: AwsEmulator, delivery: str, key: AccessKey, *, first: bool) -> None:
    """Write ``key`` into the stack's store, as the apply does."""
    if delivery == "ssm":
        aws.client("ssm").put_parameter(
            Name=f"/{USER}/access-key/access-key-id", Value=key.access_key_id, Type="String", Overwrite=not first
        )
        return
    value = json.dumps({"access_key_id": key.access_key_id, "secret_access_key": key.secret_access_key})
    secrets = aws.client("secretsmanager")
    if first:
        secrets.create_secret(Name=f"{USER}/access-key", SecretString=value)
    else:
        secrets.put_secret_value(SecretId=f"{USER}/access-key", SecretString=value)


@pytest.mark.parametrize("delivery", ["ssm", "secretsmanager"])
def test_rejects_deactivate_while_the_store_does_not_deliver_the_new_key(
    aws: AwsEmulator, tmp_path: Path, delivery: str
) -> None:
    settings = single(f'delivery = "{delivery}"\ngeneration = 2\nprevious = "active"')
    config = write_config(tmp_path, settings)
    iam = aws.client("iam")
    iam.create_user(UserName=USER)
    made = iam.create_access_key(UserName=USER)["AccessKey"]
    old = AccessKey(made["AccessKeyId"], made["SecretAccessKey"])
    deliver(aws, delivery, old, first=True)
    time.sleep(1.1)  # IAM and the secret's change count in seconds: the new key is made a second after the store
    made = iam.create_access_key(UserName=USER)["AccessKey"]
    new = AccessKey(made["AccessKeyId"], made["SecretAccessKey"])
    selection = ("--environment", "production")

    code, stdout, stderr = rotate(aws, tmp_path, *selection)
    assert code == 1
    assert "environment 'production': step 2 of 3: deactivate the old key refused:\n" in stderr
    (refusal,) = [line.strip() for line in stderr.splitlines() if STORES[delivery] in line]
    assert old.access_key_id in refusal and new.access_key_id in refusal
    assert config.read_text(encoding="utf-8") == settings
    assert "not checked" not in stdout
    code, stdout, stderr = rotate(aws, tmp_path, *selection, "--force", "--dry-run")
    assert code == 0
    assert f"--force: skipped the evidence that {refusal}" in stderr
    assert all(key.secret_access_key not in stdout + stderr for key in (old, new))

    deliver(aws, delivery, new, first=False)
    # With exactly the permissions docs/key-rotation.md lists for the schedule's role, IAM's checks on. The
    # emulator checks actions, not resources: the documented resources are matched against the store's ARN here.
    if delivery == "ssm":
        arn = aws.client("ssm").get_parameter(Name=f"/{USER}/access-key/access-key-id")["Parameter"]["ARN"]
    else:
        arn = aws.client("secretsmanager").describe_secret(SecretId=f"{USER}/access-key")["ARN"]
    assert [pattern for pattern in READ_STORES["Resource"] if iam_resource_matches(pattern, arn)] != []
    allowed = {"Effect": "Allow", "Action": READ_ONLY, "Resource": "*"}
    stores = {**READ_STORES, "Resource": "*"}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [allowed, stores]})
    reader = user_with_policy(aws, "rotation-schedule", policy)
    aws.enforce_iam(after_calls=0)
    try:
        completed = run_module(
            "programmatic_iam",
            "keys",
            "rotate",
            *selection,
            cwd=tmp_path,
            **reader.environment(aws.environment(base=base_environment())),
        )
    finally:
        aws.enforce_iam(after_calls=None)
    code, stdout, stderr = completed.returncode, completed.stdout, completed.stderr
    assert (code, stderr) == (0, ""), stderr
    assert config.read_text(encoding="utf-8") != settings
    assert all(key.secret_access_key not in stdout for key in (old, new))


@pytest.mark.parametrize(
    ("deactivated_on", "status", "refusal"),
    [
        (date.today(), "Inactive", "less than the grace period of 7 day(s) (access_key.rotation_grace_days)"),
        (date.today() - timedelta(days=8), "Active", "is still Active: apply step 2 (deactivate) first"),
    ],
)
def test_rejects_delete_before_the_old_key_has_been_inactive_for_the_grace_period(
    aws: AwsEmulator, tmp_path: Path, deactivated_on: date, status: str, refusal: str
) -> None:
    settings = single(f'generation = 2\nprevious = "inactive"\ndeactivated_on = {deactivated_on.isoformat()}')
    config = write_config(tmp_path, settings)
    old, _ = keys(aws, 2)
    aws.client("iam").update_access_key(UserName=USER, AccessKeyId=old.access_key_id, Status=status)
    code, _, stderr = rotate(aws, tmp_path, "--environment", "production")
    assert code == 1 and refusal in stderr and "step 3 of 3: delete the old key refused" in stderr
    assert config.read_text(encoding="utf-8") == settings


def test_delete_ends_the_rotation_after_the_grace_period(aws: AwsEmulator, tmp_path: Path) -> None:
    since = (date.today() - timedelta(days=7)).isoformat()
    config = write_config(tmp_path, single(f'generation = 2\nprevious = "inactive"\ndeactivated_on = {since}'))
    old, _ = keys(aws, 2)
    aws.client("iam").update_access_key(UserName=USER, AccessKeyId=old.access_key_id, Status="Inactive")
    code, stdout, stderr = rotate(aws, tmp_path, "--environment", "production")
    assert (code, stderr) == (0, "")
    assert 'step 3 of 3: delete the old key (previous = "none", deactivated_on removed in access_key)' in stdout
    assert config.read_text(encoding="utf-8") == single('generation = 2\nprevious = "none"')


def test_rejects_a_step_asked_out_of_order(aws: AwsEmulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, FLEET)
    code, _, stderr = rotate(
        aws, tmp_path, "--identity", "streammanager", "--environment", "production", "--step", "delete"
    )
    assert code == 3
    assert (
        "identity 'streammanager' in environment 'production' is at step 2 of 3 (deactivate the old key: previous = "
        "'active'); delete is step 3, which needs previous = 'inactive'" in stderr
    )
    assert config.read_text(encoding="utf-8") == FLEET


def test_without_a_selection_only_the_due_keys_move(aws: AwsEmulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, FLEET)
    for user in ("staging-backup", "production-backup", "staging-streammanager"):
        keys(aws, 1, user)
    keys(aws, 2)  # production-streammanager, the old key unused since: step 2's evidence holds
    code, stdout, stderr = rotate(aws, tmp_path, "--dry-run")
    assert (code, stderr) == (0, "")
    assert "identity 'backup' in environment 'staging': nothing due (generation 1, previous = 'none')" in stdout
    assert "identity 'streammanager' in environment 'production': step 2 of 3: deactivate the old key" in stdout
    late = (date.today() + timedelta(days=91)).isoformat()
    code, stdout, stderr = rotate(aws, tmp_path, "--as-of", late)
    assert (code, stderr) == (0, "")
    text = config.read_text(encoding="utf-8")
    assert text.count("[identities.environment.staging.access_key]") == 2  # both identities' staging keys
    assert text.count("[identities.environment.production.access_key]") == 2
    assert f'previous = "inactive"   # while the media servers switch\ndeactivated_on = {late}\n' in text
    assert text.startswith(FLEET.split("[[identities]]")[0])
