"""The rotation schedule's script on the emulator and a local repository (a bare one as ``origin``): one branch and
pull request per due stack, holding exactly ``keys rotate``'s change to ``iam.toml``; a second run updates instead
of duplicating; nothing pushed when nothing is due. Only the call to GitHub is replaced, by a recorder."""

from __future__ import annotations

from datetime import date, timedelta
import difflib
from io import StringIO
import json
import os
from pathlib import Path
import sys

import pytest

from programmatic_iam.rotation_prs import COMMIT_BODY, main
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import AccessKey, user_with_policy
from tests.support.helpers import REPO, run_command, synth
from tests.support.rotation import (
    ADMINISTRATOR,
    FLEET,
    RecordedPullRequests,
    as_a_schedule_job,
    at,
    branches,
    git,
    merge,
    repository,
)
from tests.support.terraform import Terraform

STREAMMANAGER = "rotation/streammanager/production"


@pytest.fixture
def job_environment(aws: AwsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator's credentials and a committer in the process's environment, as the workflow's job has them."""
    as_a_schedule_job(aws, monkeypatch, "rotation")


@pytest.fixture
def clone(tmp_path: Path, job_environment: None) -> Path:
    """:func:`repository` of :data:`FLEET`."""
    return repository(tmp_path, FLEET)


def keys(aws: AwsEmulator, user: str, count: int) -> list[AccessKey]:
    """``count`` keys of ``user``, as the stack's apply made them."""
    iam = aws.client("iam")
    iam.create_user(UserName=user)
    made = [iam.create_access_key(UserName=user)["AccessKey"] for _ in range(count)]
    return [AccessKey(k["AccessKeyId"], k["SecretAccessKey"]) for k in made]


def deploy(aws: AwsEmulator) -> None:
    """Each stack's user and keys: one key each, two for production's streammanager, whose old key has not been
    used since the new one was made (its step 2's evidence holds)."""
    for user in ("staging-backup", "production-backup", "staging-streammanager"):
        keys(aws, user, 1)
    keys(aws, "production-streammanager", 2)


def run(clone: Path, pull_requests: RecordedPullRequests, *args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    code = main(list(args), cwd=clone, environ=dict(os.environ), stdout=out, stderr=err, pull_requests=pull_requests)
    return code, out.getvalue(), err.getvalue()


def changed_files(repo: Path, commit: str) -> list[str]:
    return git(repo, "diff", "--name-only", f"{commit}^", commit).split()


def test_a_due_step_becomes_one_branch_and_pull_request_with_only_the_rotation_change(
    aws: AwsEmulator, clone: Path
) -> None:
    deploy(aws)
    recorded = RecordedPullRequests()
    code, out, err = run(clone, recorded)
    assert (code, err) == (0, "")
    listed = branches(clone)
    assert sorted(listed) == ["main", STREAMMANAGER]  # only the stack whose step's evidence holds
    commit = listed[STREAMMANAGER]
    today = date.today().isoformat()
    assert at(clone, commit) == FLEET.replace(
        'previous = "active"   # while the media servers switch\n',
        f'previous = "inactive"   # while the media servers switch\ndeactivated_on = {today}\n',
    )
    assert changed_files(clone, commit) == ["iam.toml"]
    assert git(clone, "rev-parse", f"{commit}^").strip() == listed["main"]
    title = "Rotate the access key of identity 'streammanager' in environment 'production': step 2 of 3: deactivate the old key"
    assert git(clone, "log", "-1", "--format=%B", commit) == f"{title}\n\n{COMMIT_BODY}\n\n"
    (call,) = recorded.calls
    assert (call["branch"], call["base"], call["title"]) == (STREAMMANAGER, "main", title)
    assert f"+deactivated_on = {today}" in call["body"]
    assert f"{STREAMMANAGER}: pushed; pull request #1 opened" in out


def test_a_second_run_updates_the_branch_and_pull_request_instead_of_adding_more(aws: AwsEmulator, clone: Path) -> None:
    deploy(aws)
    recorded = RecordedPullRequests()
    assert run(clone, recorded)[0] == 0
    first = branches(clone)[STREAMMANAGER]

    code, out, _ = run(clone, recorded)  # nothing changed: the branch already holds the change
    assert code == 0
    assert branches(clone)[STREAMMANAGER] == first
    assert f"{STREAMMANAGER}: already on the branch; pull request #1 updated" in out

    seed = clone.parent / "seed"  # someone merges another change into main
    (seed / "README.md").write_text("The identities, documented.\n", encoding="utf-8")
    git(seed, "commit", "--quiet", "-am", "Docs")
    git(seed, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    code, out, _ = run(clone, recorded)
    assert code == 0
    listed = branches(clone)
    assert sorted(listed) == ["main", STREAMMANAGER]
    rebuilt = listed[STREAMMANAGER]
    assert git(clone, "rev-parse", f"{rebuilt}^").strip() == listed["main"]  # one commit on the new main
    assert changed_files(clone, rebuilt) == ["iam.toml"]
    assert at(clone, rebuilt, "README.md") == "The identities, documented.\n"
    assert f"{STREAMMANAGER}: pushed; pull request #1 updated" in out
    assert [call["branch"] for call in recorded.calls] == [STREAMMANAGER] * 3
    assert recorded.opened == {STREAMMANAGER: 1}


def test_nothing_is_pushed_when_nothing_is_due(aws: AwsEmulator, clone: Path) -> None:
    for user in ("staging-backup", "production-backup", "staging-streammanager"):
        keys(aws, user, 1)
    keys(aws, "production-streammanager", 1)  # step 1 merged but not applied yet: step 2 is not due
    recorded = RecordedPullRequests()
    code, out, err = run(clone, recorded)
    assert (code, err) == (0, "")
    # The rotation in progress that cannot move on is said, with why: a run after another never hides it.
    assert out == (
        "Waiting: identity 'streammanager' in environment 'production', step 2 of 3: deactivate the old key: IAM "
        "holds 1 key(s) for the user, not 2: apply the previous step first\n"
        "No rotation is due: nothing pushed.\n"
    )
    assert sorted(branches(clone)) == ["main"]
    assert recorded.calls == []


def test_a_run_reads_the_credentials_of_its_own_environment_not_those_an_earlier_default_session_cached(
    aws: AwsEmulator, clone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    for user in ("staging-backup", "production-backup", "staging-streammanager", "production-streammanager"):
        keys(aws, user, 1)
    # A program (or a test before this one) that made a client with other credentials: boto3's default session
    # keeps them for every later boto3.client(), whatever the environment says by then.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    boto3.setup_default_session(aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="stale")
    reader = user_with_policy(aws, "rotation-schedule", ADMINISTRATOR)
    for name, value in reader.environment({}).items():
        monkeypatch.setenv(name, value)
    aws.enforce_iam(after_calls=0)  # only now does a stale key fail, as on AWS
    try:
        code, out, err = run(clone, RecordedPullRequests())
    finally:
        aws.enforce_iam(after_calls=None)
    assert (code, err) == (0, ""), err  # IAM was read with the environment's credentials
    assert out.endswith("No rotation is due: nothing pushed.\n"), out


def test_every_overdue_key_gets_its_own_branch_and_a_refused_step_does_not_stop_the_others(
    aws: AwsEmulator, clone: Path
) -> None:
    deploy(aws)
    keys(aws, "staging-backup-extra", 0)  # unrelated user: not a stack
    aws.client("iam").create_access_key(UserName="staging-backup")  # a hand-made second key: step 1 is refused
    late = (date.today() + timedelta(days=91)).isoformat()
    recorded = RecordedPullRequests()
    code, _, err = run(clone, recorded, "--as-of", late)
    assert code == 1
    assert "identity 'backup' in environment 'staging': keys rotate refused (1):" in err
    assert "IAM holds 2 keys for the user, not 1" in err
    listed = branches(clone)
    assert sorted(listed) == [
        "main",
        "rotation/backup/production",
        "rotation/streammanager/production",
        "rotation/streammanager/staging",
    ]
    main_lines = at(clone, listed["main"]).splitlines()
    for name in ("rotation/backup/production", "rotation/streammanager/staging"):
        environment = name.rsplit("/", 1)[1]
        diff = list(difflib.ndiff(main_lines, at(clone, listed[name]).splitlines()))
        # The stack's own table, added at the end of its identity's entry; every other line as it was.
        assert [line for line in diff if line[:1] in "-?"] == []
        added = [line[2:] for line in diff if line.startswith("+ ")]
        header = f"[identities.environment.{environment}.access_key]"
        assert sorted(added) == sorted(["", header, "generation = 2", 'previous = "active"'])
        assert changed_files(clone, listed[name]) == ["iam.toml"]
    assert sorted(call["branch"] for call in recorded.calls) == sorted(set(listed) - {"main"})


def test_list_shards_names_the_shards_with_a_due_rotation_and_pushes_nothing(aws: AwsEmulator, clone: Path) -> None:
    from programmatic_iam.plan_matrix import shard_of

    deploy(aws)
    recorded = RecordedPullRequests()
    code, out, err = run(clone, recorded, "--list-shards", "--shards", "7")
    assert (code, err) == (0, "")
    assert out == f"[{shard_of('production-streammanager', 7)}]\n"
    assert sorted(branches(clone)) == ["main"] and recorded.calls == []
    other = (shard_of("production-streammanager", 7) + 1) % 7
    code, out, _ = run(clone, recorded, "--shards", "7", "--shard", str(other))
    assert (code, out) == (0, "No rotation is due: nothing pushed.\n")


def test_a_name_git_would_refuse_in_a_branch_is_escaped(
    aws: AwsEmulator, tmp_path: Path, job_environment: None
) -> None:
    config = '[[environments]]\nname = "production"\nregion = "us-east-1"\n\n[[identities]]\nname = "api.v2+x"\n'
    keys(aws, "production-api.v2+x", 1)
    clone = repository(tmp_path, config)
    recorded = RecordedPullRequests()
    late = (date.today() + timedelta(days=91)).isoformat()
    code, out, err = run(clone, recorded, "--as-of", late)
    assert (code, err) == (0, ""), out
    assert sorted(branches(clone)) == ["main", "rotation/api%2Ev2%2Bx/production"]
    assert [call["branch"] for call in recorded.calls] == ["rotation/api%2Ev2%2Bx/production"]
    assert "identity 'api.v2+x' in environment 'production'" in recorded.calls[0]["title"]


# The permissions docs/key-rotation.md gives the schedule's role: those of keys status, reading only, and the reads of
# the stores' key ids that the deactivate step's evidence needs (never a secret's value).
READ_ONLY = ["iam:ListAccessKeys", "iam:GetAccessKeyLastUsed", "iam:ListUsers", "iam:ListUserTags"]
READ_STORES = {
    "Effect": "Allow",
    "Action": ["ssm:GetParameter", "secretsmanager:DescribeSecret"],
    "Resource": [
        "arn:aws:ssm:*:*:parameter/*/access-key/access-key-id",
        "arn:aws:secretsmanager:*:*:secret:*/access-key-*",
    ],
}


def test_the_documented_read_only_permissions_are_enough(
    aws: AwsEmulator, clone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the docs run it (``python -m``), with a key allowed exactly the documented actions, IAM's checks on."""
    deploy(aws)
    statement = {"Effect": "Allow", "Action": READ_ONLY, "Resource": "*"}
    policy = {"Version": "2012-10-17", "Statement": [statement, READ_STORES]}
    reader = user_with_policy(aws, "rotation-schedule", json.dumps(policy))
    environment = {**reader.environment(dict(os.environ)), "PYTHONPATH": str(REPO / "modules")}
    aws.enforce_iam(after_calls=0)
    try:
        command = [sys.executable, "-m", "programmatic_iam.rotation_prs", "--list-shards", "--shards", "1"]
        listed = run_command(command, clone, environment, timeout=120)
    finally:
        aws.enforce_iam(after_calls=None)
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "[0]\n", "")
    assert reader.secret_access_key not in listed.stdout + listed.stderr


def test_rejects_a_configuration_that_does_not_load_naming_the_problem(aws: AwsEmulator, clone: Path) -> None:
    seed = clone.parent / "seed"
    (seed / "iam.toml").write_text(FLEET + "\n[access_key]\nmax_age_days = -1\n", encoding="utf-8")
    git(seed, "commit", "--quiet", "-am", "Broken")
    git(seed, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    recorded = RecordedPullRequests()
    code, out, err = run(clone, recorded)
    assert code == 2 and out == ""
    assert err.startswith("rotation_prs: the configuration on main does not load:\n")
    assert "max_age_days" in err and "Traceback" not in err
    assert sorted(branches(clone)) == ["main"] and recorded.calls == []


SINGLE = """\
# The media server's identity.
[access_key]
generation = 1
max_age_days = 90  # our policy
rotation_grace_days = 7
"""
SINGLE_BRANCH = "rotation/streammanager/production"


@pytest.mark.engine
def test_repeated_runs_and_applies_take_a_deployed_key_through_a_whole_rotation(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path, job_environment: None
) -> None:
    """A stack deployed with Terraform on the emulator; each run proposes the next step, its merge is applied, and
    no hand edit of iam.toml is needed from an overdue key to one fresh key."""
    aws.client("s3").create_bucket(Bucket="terraform-state")
    stack_dir = tmp_path / "cdktf.out" / "stacks" / "production-streammanager"

    def apply(config: str) -> list[str]:
        synth(config, tmp_path)
        emulated_terraform.init(stack_dir)
        emulated_terraform.apply(stack_dir)
        listed = aws.client("iam").list_access_keys(UserName="production-streammanager")["AccessKeyMetadata"]
        return sorted(key["Status"] for key in listed)

    assert apply(SINGLE) == ["Active"]
    (tmp_path / "repository").mkdir()
    clone = repository(tmp_path / "repository", SINGLE)
    recorded = RecordedPullRequests()
    today = date.today()
    steps = [
        (None, "nothing due"),
        ((today + timedelta(days=91)).isoformat(), 'generation = 2\nprevious = "active"'),
        (None, f'generation = 2\nprevious = "inactive"\ndeactivated_on = {today.isoformat()}'),
        ((today + timedelta(days=6)).isoformat(), "nothing due"),  # within the grace period
        ((today + timedelta(days=7)).isoformat(), 'generation = 2\nprevious = "none"'),
    ]
    statuses = []
    for as_of, settings in steps:
        code, out, err = run(clone, recorded, *(["--as-of", as_of] if as_of else []))
        assert (code, err) == (0, ""), out
        if settings == "nothing due":
            *waiting, last = out.splitlines()
            assert last == "No rotation is due: nothing pushed."
            assert len(waiting) == (1 if as_of else 0), out  # within the grace period: said, with why
            assert all("step 3 of 3" in line and "rotation_grace_days" in line for line in waiting), out
            continue
        merged = merge(clone, branches(clone)[SINGLE_BRANCH])
        assert merged == SINGLE.replace("generation = 1", settings)  # comments and layout kept
        statuses.append(apply(merged))
    assert statuses == [["Active", "Active"], ["Active", "Inactive"], ["Active"]]
    assert [call["title"].rsplit(": ", 1)[1] for call in recorded.calls] == [
        "create the new key beside the old one",
        "deactivate the old key",
        "delete the old key",
    ]
    assert run(clone, recorded) == (0, "No rotation is due: nothing pushed.\n", "")
