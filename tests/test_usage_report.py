"""``usage report`` against the emulator's IAM last-accessed reports: the built-in default's user with the guide's
policy, a workload that used some of it (some of it half a year ago), and every refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import importlib
import json
from pathlib import Path
import time
import tomllib
from typing import Any

import pytest

from programmatic_iam.blueprint import build_blueprint
from programmatic_iam.config import load_fleet
from programmatic_iam.policy.catalogue import load_catalogue
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import deploy_stack_user
from tests.support.helpers import ENVIRONMENTS_IN_ONE_REGION, REPO, base_environment, run_module, write_config

USER = "production-streammanager"
TODAY = datetime.now(UTC).date().isoformat()


def usage(aws: AwsEmulator, cwd: Path, *args: str) -> tuple[int, str, str]:
    completed = run_module("programmatic_iam", "usage", *args, cwd=cwd, **aws.environment(base=base_environment()))
    return completed.returncode, completed.stdout, completed.stderr


def deploy_user(aws: AwsEmulator, cwd: Path, user: str = USER) -> dict[str, str]:
    """The stack's user with its policy attached, as Terraform makes them, and a key of it (its credentials)."""
    deploy_stack_user(aws, next(s for s in build_blueprint(load_fleet({}, cwd)).stacks if s.stack_id == user))
    key = aws.client("iam").create_access_key(UserName=user)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def workload(aws: AwsEmulator, credentials: dict[str, str]) -> None:
    """Stream Manager's calls: DescribeRegions half a year ago; DescribeInstances and DescribeImages today."""
    aws.last_accessed(clock=(datetime.now(UTC) - timedelta(days=180)).isoformat())
    aws.client("ec2", **credentials).describe_regions()
    aws.last_accessed(clock=None)
    ec2 = aws.client("ec2", region="eu-west-1", **credentials)
    ec2.describe_instances()
    ec2.describe_images(Owners=["self"])


def classes(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {action["action"]: action for action in report["stacks"][0]["actions"]}


def test_each_granted_action_gets_its_class_from_iams_evidence(aws: AwsEmulator, tmp_path: Path) -> None:
    workload(aws, deploy_user(aws, tmp_path))
    aws.last_accessed(created={"user": USER, "date": "2025-01-01T00:00:00+00:00"})
    code, out, err = usage(aws, tmp_path, "report", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    stack = report["stacks"][0]
    assert (stack["stack"], stack["environment"], stack["window_days"]) == (USER, "production", 90)
    assert stack["evidence_taken"] == TODAY and stack["younger_than_window"] is False
    actions = classes(report)
    assert len(actions) == 63  # every action of the guide's policy, once
    assert actions["ec2:DescribeInstances"] == {
        "action": "ec2:DescribeInstances",
        "class": "used",
        "last_used": TODAY,
        "region": "eu-west-1",
        "why": None,
    }
    assert actions["ec2:DescribeImages"]["class"] == "used"
    half_a_year_ago = (datetime.now(UTC) - timedelta(days=180)).date().isoformat()
    assert actions["ec2:DescribeRegions"]["class"] == "used-before-window"
    assert actions["ec2:DescribeRegions"]["last_used"] == half_a_year_ago
    assert actions["ec2:RunInstances"]["class"] == "never-used" and actions["ec2:RunInstances"]["last_used"] is None
    by_class = {action["class"] for action in actions.values()}
    assert by_class == {"used", "used-before-window", "never-used"}, by_class
    # the same, for people: the date of the action last used before the window, and the window
    code, text, _ = usage(aws, tmp_path, "report")
    assert code == 0 and "last used before the window" in text and half_a_year_ago in text
    assert "a window of 90 days" in text


def test_a_longer_window_takes_in_an_older_use(aws: AwsEmulator, tmp_path: Path) -> None:
    workload(aws, deploy_user(aws, tmp_path))
    code, out, err = usage(aws, tmp_path, "report", "--unused-for", "365", "--format", "json")
    assert code == 0, err
    assert classes(json.loads(out))["ec2:DescribeRegions"]["class"] == "used"


def test_the_window_is_the_files_unless_the_command_line_says_otherwise(aws: AwsEmulator, tmp_path: Path) -> None:
    write_config(tmp_path, "[policy]\nunused_for_days = 365\n")
    workload(aws, deploy_user(aws, tmp_path))
    code, out, err = usage(aws, tmp_path, "report", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["stacks"][0]["window_days"] == 365 and classes(report)["ec2:DescribeRegions"]["class"] == "used"
    code, out, _ = usage(aws, tmp_path, "report", "--format", "json", "--unused-for", "30")
    assert classes(json.loads(out))["ec2:DescribeRegions"]["class"] == "used-before-window"


def test_a_user_younger_than_the_window_is_said_to_be(aws: AwsEmulator, tmp_path: Path) -> None:
    deploy_user(aws, tmp_path)  # created now
    code, out, _ = usage(aws, tmp_path, "report", "--format", "json")
    assert code == 0 and json.loads(out)["stacks"][0]["younger_than_window"] is True
    code, text, _ = usage(aws, tmp_path, "report")
    assert "too young to judge what it has not used" in text


POLICY_WITH_CHECKS = """
[naming]
name = "streammanager"
[policy]
actions = ["ec2:Describe*", "ec2:RunInstances", "iam:PassRole", "ssm:GetParameter"]
allow_wildcards = true
"""


def test_wildcards_authorization_checks_and_services_without_action_data(aws: AwsEmulator, tmp_path: Path) -> None:
    write_config(tmp_path, POLICY_WITH_CHECKS)
    credentials = deploy_user(aws, tmp_path)
    aws.client("ec2", **credentials).describe_instances()
    code, out, err = usage(aws, tmp_path, "report", "--format", "json")
    assert code == 0, err
    actions = classes(json.loads(out))
    # a wildcard is used when an action it covers was
    assert actions["ec2:Describe*"]["class"] == "used" and "DescribeInstances" in actions["ec2:Describe*"]["why"]
    assert actions["iam:PassRole"]["class"] == "not-judged"
    assert actions["ssm:GetParameter"]["class"] == "no-action-data"
    assert "service level only" in actions["ssm:GetParameter"]["why"]
    assert actions["ec2:RunInstances"]["class"] == "never-used"


def test_the_markdown_escapes_what_iam_answered(aws: AwsEmulator, tmp_path: Path) -> None:
    workload(aws, deploy_user(aws, tmp_path))
    code, out, _ = usage(aws, tmp_path, "report", "--format", "markdown")
    assert code == 0
    assert "| `ec2:DescribeInstances` | used in the window | " in out and "| `eu-west-1` |" in out


def test_the_evidence_is_saved_as_read(aws: AwsEmulator, tmp_path: Path) -> None:
    workload(aws, deploy_user(aws, tmp_path))
    code, _, err = usage(aws, tmp_path, "report", "--save-evidence", "evidence.json")
    assert code == 0, err
    saved = json.loads((tmp_path / "evidence.json").read_text())
    ec2 = next(s for s in saved["stacks"][0]["services"] if s["ServiceNamespace"] == "ec2")
    used = {row["ActionName"]: row for row in ec2["TrackedActionsLastAccessed"]}
    assert used["DescribeInstances"]["LastAccessedRegion"] == "eu-west-1"
    # a link in its place is refused, and what it points at is left alone
    target = tmp_path / "target.json"
    target.write_text("kept")
    (tmp_path / "link.json").symlink_to(target)
    code, _, err = usage(aws, tmp_path, "report", "--save-evidence", "link.json")
    assert code == 2 and "--save-evidence: 'link.json'" in err and target.read_text() == "kept"


@pytest.mark.parametrize(
    ("denied", "permission"),
    [
        ("iam:GenerateServiceLastAccessedDetails", "iam:GenerateServiceLastAccessedDetails"),
        ("iam:GetServiceLastAccessedDetails", "iam:GetServiceLastAccessedDetails"),
        ("iam:GetUser", "iam:GetUser"),
    ],
)
def test_a_report_iam_refuses_names_the_permission_the_caller_lacks(
    aws: AwsEmulator, tmp_path: Path, denied: str, permission: str
) -> None:
    deploy_user(aws, tmp_path)
    iam = aws.client("iam")
    iam.create_user(UserName="reader")
    reads = ["iam:GetUser", "iam:GenerateServiceLastAccessedDetails", "iam:GetServiceLastAccessedDetails"]
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": [*reads, "sts:GetCallerIdentity"], "Resource": "*"},
            {"Effect": "Deny", "Action": denied, "Resource": "*"},
        ],
    }
    iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    aws.enforce_iam(after_calls=0)
    environment = aws.environment(base=base_environment())
    environment.update(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
    completed = run_module("programmatic_iam", "usage", "report", cwd=tmp_path, **environment)
    assert completed.returncode == 1
    assert f"{USER}: nothing judged: IAM refused" in completed.stderr and f"need {permission}" in completed.stderr


@pytest.mark.parametrize("outcome", ["FAILED", "IN_PROGRESS"])
def test_a_job_that_fails_or_does_not_finish_judges_nothing(aws: AwsEmulator, tmp_path: Path, outcome: str) -> None:
    deploy_user(aws, tmp_path)
    aws.last_accessed(jobs=outcome)
    code, out, err = usage(aws, tmp_path, "report", "--job-timeout", "1", "--format", "json")
    assert code == 1 and json.loads(out) == {"stacks": []}
    assert ("did not finish in 1 s" if outcome == "IN_PROGRESS" else "IAM's report job failed") in err


def test_a_stack_not_deployed_is_named(aws: AwsEmulator, tmp_path: Path) -> None:
    code, _, err = usage(aws, tmp_path, "report")
    assert code == 1 and f"IAM has no user {USER}: deploy the stack first" in err


def test_every_page_of_a_report_is_read(aws: AwsEmulator, tmp_path: Path) -> None:
    """A policy over more services than IAM answers in a page (100): the last service is judged too."""
    catalogue = load_catalogue()
    first_120 = [catalogue.service(prefix) for prefix in sorted(catalogue.prefixes)[:120]]
    actions = [f"{service.prefix}:{next(iter(service.actions.values()))}" for service in first_120 if service]
    write_config(tmp_path, f'[naming]\nname = "streammanager"\n[policy]\nactions = {json.dumps(actions)}\n')
    deploy_user(aws, tmp_path)
    code, out, err = usage(aws, tmp_path, "report", "--save-evidence", "evidence.json", "--format", "json")
    assert code == 0, err
    services = json.loads((tmp_path / "evidence.json").read_text())["stacks"][0]["services"]
    assert len(services) == 120 and services[-1]["ServiceNamespace"] == sorted(catalogue.prefixes)[119]
    # and judged: the emulator tracks that service at service level only
    assert "service level only" in classes(json.loads(out))[actions[-1]]["why"]


# ---------------------------------------------------------------------------------------------------------------------
# usage tighten
# ---------------------------------------------------------------------------------------------------------------------

TWO_ENVIRONMENTS = """\
# Stream Manager's identity, in two environments that share the guide's policy
[naming]
name = "streammanager"

[[environments]]
name = "staging"
region = "us-east-1"

[[environments]]
name = "production"  # where the customers are
region = "us-east-1"
"""
USED_IN_PRODUCTION, USED_IN_STAGING = "ec2:DescribeInstances", "ec2:DescribeImages"


def two_environments_in_use(aws: AwsEmulator, cwd: Path, *, created: str = "2025-01-01T00:00:00+00:00") -> None:
    """Both users deployed; production called DescribeInstances today and DescribeRegions half a year ago, staging
    DescribeImages today."""
    write_config(cwd, TWO_ENVIRONMENTS)
    production = deploy_user(aws, cwd, "production-streammanager")
    staging = deploy_user(aws, cwd, "staging-streammanager")
    workload(aws, production)
    aws.client("ec2", **staging).describe_images(Owners=["self"])
    for user in ("production-streammanager", "staging-streammanager"):
        aws.last_accessed(created={"user": user, "date": created})


def remove_actions_in(cwd: Path) -> list[str]:
    config = tomllib.loads((cwd / "iam.toml").read_text())
    return list(config["policy"]["remove_actions"])


def test_tighten_removes_what_no_environment_used_keeps_comments_and_a_second_run_changes_nothing(
    aws: AwsEmulator, tmp_path: Path
) -> None:
    two_environments_in_use(aws, tmp_path)
    before = (tmp_path / "iam.toml").read_text()
    code, out, err = usage(aws, tmp_path, "tighten")
    assert code == 0, err
    assert "nothing written (--write writes it)" in out and (tmp_path / "iam.toml").read_text() == before
    assert '+  "ec2:RunInstances",' in out  # the change, as a diff
    code, out, err = usage(aws, tmp_path, "tighten", "--write")
    assert code == 0, err
    text = (tmp_path / "iam.toml").read_text()
    assert text.startswith(before)  # every comment and line of the file kept; the table added at its end
    removed = remove_actions_in(tmp_path)
    assert USED_IN_PRODUCTION not in removed and USED_IN_STAGING not in removed  # each used in one environment only
    assert "ec2:DescribeRegions" in removed and "ec2:RunInstances" in removed and len(removed) == 61
    assert f"# usage tighten: not used in the 90 days before IAM's evidence of {TODAY} (staging, production)" in text
    assert "remove ec2:DescribeRegions" in out and "last used " in out
    # what the stacks now grant: the two actions in use
    for stack in build_blueprint(load_fleet({}, tmp_path)).stacks:
        assert sorted(a for p in stack.identity.policies for a in p.document.actions) == [
            USED_IN_STAGING,
            USED_IN_PRODUCTION,
        ]
    code, out, _ = usage(aws, tmp_path, "tighten", "--write")
    assert code == 0 and "nothing to remove; iam.toml unchanged" in out
    assert (tmp_path / "iam.toml").read_text() == text


def test_tighten_leaves_the_file_alone_for_a_young_identity(aws: AwsEmulator, tmp_path: Path) -> None:
    two_environments_in_use(aws, tmp_path, created=datetime.now(UTC).isoformat())
    before = (tmp_path / "iam.toml").read_text()
    code, out, _ = usage(aws, tmp_path, "tighten", "--write")
    assert code == 0 and "nothing removed: the user of staging-streammanager was created on" in out
    assert (tmp_path / "iam.toml").read_text() == before


@pytest.mark.parametrize("failure", ["refused", "FAILED", "IN_PROGRESS"])
def test_tighten_writes_nothing_without_every_environments_evidence(
    aws: AwsEmulator, tmp_path: Path, failure: str
) -> None:
    two_environments_in_use(aws, tmp_path)
    before = (tmp_path / "iam.toml").read_text()
    environment = aws.environment(base=base_environment())
    if failure == "refused":
        iam = aws.client("iam")
        iam.create_user(UserName="reader")
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["iam:GetUser", "iam:GetServiceLastAccessedDetails"], "Resource": "*"}
            ],
        }
        iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=json.dumps(document))
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        environment.update(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
        aws.enforce_iam(after_calls=0)
    else:
        aws.last_accessed(jobs=failure)
    completed = run_module(
        "programmatic_iam", "usage", "tighten", "--write", "--job-timeout", "1", cwd=tmp_path, **environment
    )
    assert completed.returncode == 1 and "nothing written" in completed.stderr
    if failure == "refused":
        assert "the credentials need iam:GenerateServiceLastAccessedDetails" in completed.stderr
    assert (tmp_path / "iam.toml").read_text() == before


def test_pass_role_is_never_removed_for_lack_of_use(aws: AwsEmulator, tmp_path: Path) -> None:
    write_config(
        tmp_path, '[naming]\nname = "streammanager"\n[policy]\nactions = ["ec2:RunInstances", "iam:PassRole"]\n'
    )
    deploy_user(aws, tmp_path)
    aws.last_accessed(created={"user": USER, "date": "2025-01-01T00:00:00+00:00"})
    code, out, err = usage(aws, tmp_path, "tighten", "--write")
    assert code == 0, err
    assert remove_actions_in(tmp_path) == ["ec2:RunInstances"]
    assert "keep   iam:PassRole  not judged by use" in out


def test_tighten_needs_a_file_to_write_into(aws: AwsEmulator, tmp_path: Path) -> None:
    code, _, err = usage(aws, tmp_path, "tighten")
    assert code == 2 and "the built-in default has no file to write the removals into" in err
    assert not (tmp_path / "iam.toml").exists()


FLEET = """\
[[environments]]
name = "production"
region = "us-east-1"

# the media servers' controller
[[identities]]
name = "streammanager"
policy.actions = ["ec2:DescribeInstances", "ec2:RunInstances"]

[[identities]]
name = "backup"  # new this week
policy.actions = ["ec2:CreateSnapshot"]
"""


def test_in_a_fleet_each_identity_is_judged_alone_and_written_in_its_own_entry(
    aws: AwsEmulator, tmp_path: Path
) -> None:
    write_config(tmp_path, FLEET)
    credentials = deploy_user(aws, tmp_path, "production-streammanager")
    deploy_user(aws, tmp_path, "production-backup")
    aws.client("ec2", **credentials).describe_instances()
    aws.last_accessed(created={"user": "production-streammanager", "date": "2025-01-01T00:00:00+00:00"})
    code, out, err = usage(aws, tmp_path, "tighten", "--write")
    assert code == 0, err
    assert "backup (production): nothing removed: the user of production-backup was created on" in out
    identities = tomllib.loads((tmp_path / "iam.toml").read_text())["identities"]
    assert identities[0]["policy"]["remove_actions"] == ["ec2:RunInstances"]
    assert "remove_actions" not in identities[1]["policy"]
    text = (tmp_path / "iam.toml").read_text()
    assert "# the media servers' controller\n" in text and 'name = "backup"  # new this week\n' in text
    # --identity picks one
    code, out, _ = usage(aws, tmp_path, "tighten", "--identity", "backup")
    assert code == 0 and "streammanager" not in out


def test_a_report_rides_out_iams_throttling(aws: AwsEmulator, tmp_path: Path) -> None:
    workload(aws, deploy_user(aws, tmp_path))
    aws.last_accessed(throttle={"GenerateServiceLastAccessedDetails": 2, "GetServiceLastAccessedDetails": 3})
    code, out, err = usage(aws, tmp_path, "report", "--format", "json")
    assert code == 0, err
    assert classes(json.loads(out))["ec2:DescribeInstances"]["class"] == "used"
    # every throttled answer was spent on the report's retries: the next call is answered at once
    job = aws.client("iam").generate_service_last_accessed_details(Arn=json.loads(out)["stacks"][0]["user"])
    assert job["ResponseMetadata"]["RetryAttempts"] == 0


def test_a_fleet_of_600_stacks_is_reported_in_one_run(
    aws: AwsEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bench's fleet (200 identities in 3 environments): every stack judged, eight read at a time."""
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    write_config(tmp_path, importlib.import_module("fleet_config").fleet_toml(200, 3))
    for stack in build_blueprint(load_fleet({}, tmp_path)).stacks:
        deploy_stack_user(aws, stack)
    started = time.monotonic()
    code, out, err = usage(aws, tmp_path, "report", "--format", "json")
    seconds = time.monotonic() - started
    assert code == 0, err
    stacks = json.loads(out)["stacks"]
    assert len(stacks) == 600 and all(stack["actions"] for stack in stacks)
    print(f"usage report of 600 stacks on the emulator: {seconds:.1f} s")  # shown with -s; the note has the figure


OVERRIDDEN = (
    ENVIRONMENTS_IN_ONE_REGION
    + """
[[identities]]
name = "streammanager"
policy.actions = ["ec2:DescribeInstances", "ec2:RunInstances", "ec2:DescribeImages"]

[identities.environment.staging.policy]
remove_actions = ["ec2:DescribeImages"]

[identities.environment.production.policy]
remove_actions = ["ec2:DescribeImages"]
"""
)


def test_a_write_that_would_not_take_effect_is_refused(aws: AwsEmulator, tmp_path: Path) -> None:
    """Each environment sets its own remove_actions, which the identity's own would not override: written there,
    the removals would do nothing. The check with the real loader refuses the edit; the file is left alone."""
    write_config(tmp_path, OVERRIDDEN)
    for environment in ("staging", "production"):
        credentials = deploy_user(aws, tmp_path, f"{environment}-streammanager")
        aws.client("ec2", **credentials).describe_instances()
        aws.last_accessed(created={"user": f"{environment}-streammanager", "date": "2025-01-01T00:00:00+00:00"})
    before = (tmp_path / "iam.toml").read_text()
    code, _, err = usage(aws, tmp_path, "tighten", "--write")
    assert code == 1 and "would not resolve to the removals; nothing written" in err
    assert "the policy does not lose exactly the removals" in err
    assert (tmp_path / "iam.toml").read_text() == before


WITH_AN_INSTANCE_PROFILE = (
    ENVIRONMENTS_IN_ONE_REGION
    + """
[[identities]]
name = "streammanager"
policy.actions = ["ec2:DescribeInstances", "ec2:RunInstances"]

[[identities]]
name = "metrics"
kind = "instance-profile"
policy.actions = ["cloudwatch:PutMetricData"]
"""
)


def test_an_instance_profile_is_named_and_holds_back_neither_the_report_nor_the_tightening(
    aws: AwsEmulator, tmp_path: Path
) -> None:
    write_config(tmp_path, WITH_AN_INSTANCE_PROFILE)
    for environment in ("staging", "production"):
        credentials = deploy_user(aws, tmp_path, f"{environment}-streammanager")
        aws.client("ec2", **credentials).describe_instances()
        aws.last_accessed(created={"user": f"{environment}-streammanager", "date": "2025-01-01T00:00:00+00:00"})
    code, out, err = usage(aws, tmp_path, "report", "--format", "json")
    assert code == 0, err
    assert [stack["stack"] for stack in json.loads(out)["stacks"]] == [
        "staging-streammanager",
        "production-streammanager",
    ]
    assert "usage report: production-metrics: not read: an instance profile; only users' use is read" in err
    code, _, err = usage(aws, tmp_path, "tighten", "--write")
    assert code == 0, err
    identities = tomllib.loads((tmp_path / "iam.toml").read_text())["identities"]
    assert identities[0]["policy"]["remove_actions"] == ["ec2:RunInstances"]
