"""The rotation schedule over a deployed fleet, on the emulator with its permission checks on (an inactive key refused,
every signed call recorded as its key's last use): repeated runs of the schedule's script, each proposed change merged
into ``main`` of a local repository and the changed stack alone applied, take one identity's production key through a
whole rotation while a consumer re-reading its Secrets Manager secret calls EC2 throughout, and no call of it fails.
Only the call to GitHub is replaced, by a recorder (tests/test_rotation_prs.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from io import StringIO
import os
from pathlib import Path
import time

import boto3
import pytest

from programmatic_iam.rotation import DELIVERY_ALLOWANCE
from programmatic_iam.rotation_prs import main
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import AccessKey, user_with_policy
from tests.support.helpers import ENVIRONMENTS_IN_ONE_REGION, synth
from tests.support.rotation import (
    ADMINISTRATOR,
    RecordedPullRequests,
    at,
    branches,
    consuming,
    git,
    merge,
    repository,
    store_reader,
)
from tests.support.terraform import Terraform

FLEET = (
    """\
# Two identities in two environments, each key delivered through a store.
"""
    + ENVIRONMENTS_IN_ONE_REGION
    + """
[[identities]]
name = "streammanager"
policy.actions = ["ec2:DescribeInstances"]
access_key.delivery = "secretsmanager"   # the media servers read it

# Production's key is rotated monthly: the others' keys are young for the whole test.
[identities.environment.production.access_key]
max_age_days = 30

[[identities]]
name = "backup"
policy.actions = ["s3:PutObject"]
access_key.delivery = "ssm"
"""
)
ROTATED = "production-streammanager"
BRANCH = "rotation/streammanager/production"
USERS = ["production-backup", ROTATED, "staging-backup", "staging-streammanager"]
STEPS = ["create the new key beside the old one", "deactivate the old key", "delete the old key"]


def run(clone: Path, recorded: RecordedPullRequests, *args: str) -> tuple[int, str, str]:
    """The schedule's script as the workflow runs it, in the job's environment."""
    out, err = StringIO(), StringIO()
    code = main(list(args), cwd=clone, environ=dict(os.environ), stdout=out, stderr=err, pull_requests=recorded)
    return code, out.getvalue(), err.getvalue()


def keys_by_user(aws: AwsEmulator, reader: AccessKey) -> dict[str, list[tuple[str, str]]]:
    """Each user's keys, oldest first, as (id, status), read with ``reader``."""
    iam = reader.client(aws, "iam")
    found = {}
    for user in USERS:
        listed = sorted(iam.list_access_keys(UserName=user)["AccessKeyMetadata"], key=lambda key: key["CreateDate"])
        found[user] = [(key["AccessKeyId"], key["Status"]) for key in listed]
    return found


@pytest.mark.engine
def test_the_schedule_takes_one_key_of_a_deployed_fleet_through_a_rotation_without_a_failed_call(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.client("s3").create_bucket(Bucket="terraform-state")
    deployer = user_with_policy(aws, "deployer", ADMINISTRATOR)  # Terraform, the schedule and the store's reader
    terraform = emulated_terraform.with_environment(deployer.environment(emulated_terraform.env))
    for name in [name for name in os.environ if name.startswith(("AWS_", "GIT_"))] + ["IAM_CONFIG"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in deployer.environment(aws.environment(base={})).items():  # the workflow job's environment
        monkeypatch.setenv(name, value)
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "rotation schedule")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "rotation@example.com")
    (tmp_path / "repository").mkdir()
    clone = repository(tmp_path / "repository", FLEET)
    deployment = tmp_path / "deployment"  # what the merge's apply job checks out
    deployment.mkdir()

    def stack_dir(stack_id: str) -> Path:
        return deployment / "cdktf.out" / "stacks" / stack_id

    aws.enforce_iam(after_calls=0)
    try:
        deployed = synth(FLEET, deployment)
        assert sorted(deployed) == USERS
        for stack_id in deployed:
            terraform.init(stack_dir(stack_id))
            terraform.apply(stack_dir(stack_id))
        before = keys_by_user(aws, deployer)
        assert all(len(keys) == 1 for keys in before.values())
        ((first, _),) = before[ROTATED]
        read_store = store_reader("secretsmanager", terraform.outputs(stack_dir(ROTATED)), aws, deployer)
        assert read_store(boto3.session.Session()).access_key_id == first

        today = date.today()
        runs = [  # (--as-of, whether a step is due): the schedule runs more often than there is something to do
            (None, False),
            ((today + timedelta(days=31)).isoformat(), True),  # past production's 30 days, not the others' 90
            (None, True),  # the consumer switched: the old key unused since the new one's delivery
            ((today + timedelta(days=6)).isoformat(), False),  # within the 7 days' grace
            ((today + timedelta(days=7)).isoformat(), True),
            ((today + timedelta(days=7)).isoformat(), False),  # the rotation is over
        ]
        settings = [
            'max_age_days = 30\ngeneration = 2\nprevious = "active"\n',
            f'max_age_days = 30\ngeneration = 2\nprevious = "inactive"\ndeactivated_on = {today.isoformat()}\n',
            'max_age_days = 30\ngeneration = 2\nprevious = "none"\n',
        ]
        recorded = RecordedPullRequests()
        iam = deployer.client(aws, "iam")
        statuses: list[list[tuple[str, str]]] = []
        with consuming(read_store, aws, re_reads=True) as consumer:
            for as_of, due in runs:
                main_before = branches(clone)["main"]
                code, out, err = run(clone, recorded, *(["--as-of", as_of] if as_of else []))
                assert (code, err) == (0, ""), f"{out}{err}\nconsumer: {consumer.failures}"
                if not due:
                    *waiting, last = out.splitlines()
                    assert last == "No rotation is due: nothing pushed."
                    # A rotation in progress that cannot move on is said, with why, at every run: here the old
                    # key's grace period after the deactivate step (two steps taken).
                    in_grace = len(statuses) == 2
                    assert len(waiting) == (1 if in_grace else 0), out
                    if in_grace:
                        assert waiting[0].startswith(
                            "Waiting: identity 'streammanager' in environment 'production', step 3 of 3: "
                        ), out
                        assert "rotation_grace_days" in waiting[0], out
                    continue
                assert f"{BRANCH}: pushed; pull request #1 " in out, out
                listed = branches(clone)
                assert sorted(listed) == ["main", BRANCH]  # proposed for the due stack alone
                assert [call["branch"] for call in recorded.calls] == [BRANCH] * len(statuses) + [BRANCH]
                assert git(clone, "rev-parse", f"{listed[BRANCH]}^").strip() == main_before
                assert git(clone, "diff", "--name-only", main_before, listed[BRANCH]).split() == ["iam.toml"]
                merged = merge(clone, listed[BRANCH])
                # Only the rotation keys, in the stack's own table; every other byte as it was.
                assert merged == FLEET.replace("max_age_days = 30\n", settings[len(statuses)])

                # The apply job: synthesize the merged file, apply the one stack whose configuration changed.
                synthesized = synth(merged, deployment)
                assert [stack_id for stack_id in synthesized if synthesized[stack_id] != deployed[stack_id]] == [
                    ROTATED
                ]
                deployed = synthesized
                terraform.apply(stack_dir(ROTATED))
                now = keys_by_user(aws, deployer)
                statuses.append(now[ROTATED])
                if len(statuses) == 1:
                    # Weekly runs leave days between the new key's delivery and the next run; wait out the delivery
                    # allowance at least, so that the old key's use by a consumer still on it blocks the next step.
                    created = max(k["CreateDate"] for k in iam.list_access_keys(UserName=ROTATED)["AccessKeyMetadata"])
                    while datetime.now(UTC) < created + DELIVERY_ALLOWANCE + timedelta(seconds=1):
                        time.sleep(0.5)
                assert {user: now[user] for user in USERS if user != ROTATED} == {
                    user: before[user] for user in USERS if user != ROTATED
                }
            assert consumer.failures == []
            (new, _) = now[ROTATED][-1]
            assert consumer.keys_used == [first, new]
    finally:
        aws.enforce_iam(after_calls=None)

    assert new != first
    assert statuses == [  # oldest first
        [(first, "Active"), (new, "Active")],
        [(first, "Inactive"), (new, "Active")],
        [(new, "Active")],
    ]
    assert [call["title"].rsplit(": ", 1)[1] for call in recorded.calls] == STEPS
    # No hand edit: every change of main since the fleet is one of the schedule's commits, merged as proposed.
    final = branches(clone)["main"]
    assert at(clone, final) == FLEET.replace("max_age_days = 30\n", settings[-1])
    subjects = git(clone, "log", "--format=%s", final).splitlines()
    assert [subject.rsplit(": ", 1)[1] for subject in subjects[:-1]] == STEPS[::-1]
    assert subjects[-1] == "The fleet"
