"""The tightening schedule's script on the emulator and a local repository (a bare one as ``origin``): one branch and
pull request per identity whose evidence supports removals, holding exactly ``usage tighten``'s change to
``iam.toml``; a second run updates instead of duplicating; nothing for an identity with nothing to remove; an
identity whose evidence cannot be read is reported and the others go on. Only the call to GitHub is replaced."""

from __future__ import annotations

from io import StringIO
import os
from pathlib import Path
import tomllib

import pytest

from programmatic_iam.blueprint import build_blueprint
from programmatic_iam.config import load_fleet
from programmatic_iam.tightening_prs import COMMIT_BODY, main
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import deploy_stack_user, error_code
from tests.support.helpers import ENVIRONMENTS_IN_ONE_REGION
from tests.support.rotation import RecordedPullRequests, as_a_schedule_job, at, branches, git, repository

FLEET = (
    ENVIRONMENTS_IN_ONE_REGION
    + """
# the media servers' controller
[[identities]]
name = "streammanager"
policy.actions = ["ec2:DescribeInstances", "ec2:RunInstances", "ec2:DescribeImages"]

[[identities]]
name = "backup"
policy.actions = ["ec2:CreateSnapshot", "ec2:DeleteSnapshot"]
"""
)
BRANCH = "tightening/streammanager"


@pytest.fixture
def clone(tmp_path: Path, aws: AwsEmulator, monkeypatch: pytest.MonkeyPatch) -> Path:
    """:data:`FLEET` in a repository; the emulator's credentials and a committer in the environment, as the job has
    them; every stack's user deployed, a year old, with its policy."""
    as_a_schedule_job(aws, monkeypatch, "tightening")
    repo = repository(tmp_path, FLEET)
    for stack in build_blueprint(load_fleet({}, repo)).stacks:
        deploy_stack_user(aws, stack)
        aws.last_accessed(created={"user": stack.stack_id, "date": "2025-01-01T00:00:00+00:00"})
    return repo


def use(aws: AwsEmulator, user: str, call: str, **arguments: str) -> None:
    """``user`` calls EC2's ``call`` with a key of its own (authorized, whatever EC2 then answers)."""
    made = aws.client("iam").create_access_key(UserName=user)["AccessKey"]
    ec2 = aws.client("ec2", aws_access_key_id=made["AccessKeyId"], aws_secret_access_key=made["SecretAccessKey"])
    assert error_code(lambda: getattr(ec2, call)(**arguments)) != "AccessDenied"


def run(clone: Path, pull_requests: RecordedPullRequests) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    code = main([], cwd=clone, environ=dict(os.environ), stdout=out, stderr=err, pull_requests=pull_requests)
    return code, out.getvalue(), err.getvalue()


def test_each_identity_with_removals_gets_one_branch_and_pull_request_with_only_its_change(
    aws: AwsEmulator, clone: Path
) -> None:
    use(aws, "production-streammanager", "describe_instances")
    use(aws, "staging-streammanager", "describe_images")
    use(aws, "production-backup", "create_snapshot", VolumeId="vol-0123456789abcdef0")
    recorded = RecordedPullRequests()
    code, out, err = run(clone, recorded)
    assert code == 0, err
    assert set(branches(clone)) == {"main", BRANCH, "tightening/backup"}
    pushed = at(clone, branches(clone)[BRANCH])
    removed = tomllib.loads(pushed)["identities"][0]["policy"]["remove_actions"]
    assert removed == ["ec2:RunInstances"]  # used in neither environment; the other two each in one
    backup = tomllib.loads(at(clone, branches(clone)["tightening/backup"]))["identities"][1]["policy"]
    assert backup["remove_actions"] == ["ec2:DeleteSnapshot"]
    assert "# the media servers' controller\n" in pushed
    assert git(clone, "log", "-1", "--format=%B", branches(clone)[BRANCH]).strip().endswith(COMMIT_BODY)
    changed = git(clone, "diff", "--name-only", f"{branches(clone)[BRANCH]}^", branches(clone)[BRANCH]).split()
    assert changed == ["iam.toml"]
    assert [call["branch"] for call in recorded.calls] == [BRANCH, "tightening/backup"]
    assert "remove ec2:RunInstances" in recorded.calls[0]["body"] and recorded.calls[0]["base"] == "main"
    assert "streammanager: pushed; pull request #1 opened" in out

    # the next run, on the same evidence: the same change, nothing pushed again, the pull request updated
    code, out, _ = run(clone, recorded)
    assert code == 0 and "streammanager: already on the branch; pull request #1 updated" in out


def test_an_identity_with_nothing_to_remove_gets_no_branch(aws: AwsEmulator, clone: Path) -> None:
    for user, call in (
        ("production-streammanager", "describe_instances"),
        ("staging-streammanager", "describe_images"),
    ):
        use(aws, user, call)
    aws.last_accessed(created={"user": "production-backup", "date": "2026-12-01T00:00:00+00:00"})  # too young
    recorded = RecordedPullRequests()
    code, out, err = run(clone, recorded)
    assert code == 0, err
    assert "backup: nothing to remove: backup (staging, production): nothing removed: the user of" in out
    assert "tightening/backup" not in branches(clone)


def test_an_identity_whose_evidence_cannot_be_read_is_reported_and_the_others_go_on(
    aws: AwsEmulator, clone: Path
) -> None:
    iam = aws.client("iam")  # staging's backup user goes: its evidence cannot be read
    for attached in iam.list_attached_user_policies(UserName="staging-backup")["AttachedPolicies"]:
        iam.detach_user_policy(UserName="staging-backup", PolicyArn=attached["PolicyArn"])
    iam.delete_user(UserName="staging-backup")
    use(aws, "production-streammanager", "describe_instances")
    recorded = RecordedPullRequests()
    code, out, err = run(clone, recorded)
    assert code == 1
    assert "tightening_prs: backup: usage tighten refused (1)" in err and "IAM has no user staging-backup" in err
    assert "streammanager: pushed" in out and "tightening/backup" not in branches(clone)
