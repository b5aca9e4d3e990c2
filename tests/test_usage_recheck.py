"""``usage recheck`` against the emulator's IAM last-accessed reports, and ``review --evidence`` of what it printed:
a plan that removes actions of ``policy.remove_actions`` from the built-in default's user, judged again on IAM's
evidence of now; a use since, a young user and evidence that cannot be read each refuse."""

from __future__ import annotations

from datetime import UTC, datetime
import json
from pathlib import Path
import subprocess
import sys
from typing import Any

import pytest

from programmatic_iam.blueprint import build_blueprint
from programmatic_iam.config import load_fleet
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import error_code
from tests.support.helpers import REPO, base_environment, run_command, run_module, write_config
from tests.support.review_plans import change, plan, policy_change, write
from tests.test_usage_report import USER, deploy_user

TODAY = datetime.now(UTC).date().isoformat()
REMOVED = ("ec2:RunInstances", "ec2:TerminateInstances")
CONFIG = f"[policy]\nremove_actions = {json.dumps(list(REMOVED))}\n"
OLD_USER = {"user": USER, "date": "2025-01-01T00:00:00+00:00"}


def policy_json(folder: Path) -> str:
    """The default stack's policy document, as the configuration in ``folder`` makes it."""
    (stack,) = build_blueprint(load_fleet({}, folder)).stacks
    (policy,) = stack.identity.policies
    return policy.document.to_json()


def plan_of_the_removals(folder: Path) -> Path:
    """The plan that takes the guide's policy (as deployed) to the one ``iam.toml`` in ``folder`` makes."""
    scratch = folder / "before"
    scratch.mkdir()
    user = {"name": USER, "path": "/", "force_destroy": False, "permissions_boundary": None, "tags": None}
    changes = [
        change("aws_iam_user.user", "aws_iam_user", ["no-op"], user, user),
        policy_change(["update"], policy_json(scratch), policy_json(folder)),
    ]
    return write(folder / "plans" / USER, plan(changes))


def recheck(aws: AwsEmulator, folder: Path, **environment: str) -> tuple[int, Any, str]:
    """``usage recheck --format json`` of the plans in ``folder``: exit status, what it printed, standard error."""
    settings = {**aws.environment(base=base_environment()), **environment}
    plans = sorted(str(path.relative_to(folder)) for path in folder.glob("plans/*/plan.json"))
    completed = run_module(
        "programmatic_iam",
        "usage",
        "recheck",
        "--format",
        "json",
        *plans,
        cwd=folder,
        **settings,
    )
    (folder / "recheck.json").write_text(completed.stdout)
    printed = json.loads(completed.stdout) if completed.stdout else None
    return completed.returncode, printed, completed.stderr


def reviewed(folder: Path) -> str:
    completed = run_module(
        "programmatic_iam", "review", f"plans/{USER}/plan.json", "--evidence", "recheck.json", cwd=folder
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def deployed(aws: AwsEmulator, folder: Path) -> dict[str, str]:
    """The guide's user deployed (before the removals), then the file that removes two actions written; a key."""
    credentials = deploy_user(aws, folder)
    write_config(folder, CONFIG)
    plan_of_the_removals(folder)
    return credentials


def test_each_removal_is_judged_again_and_a_use_since_refuses(aws: AwsEmulator, tmp_path: Path) -> None:
    credentials = deployed(aws, tmp_path)
    aws.last_accessed(created=OLD_USER)
    aws.client("ec2", **credentials).describe_instances()  # granted, not removed: not re-checked

    code, printed, err = recheck(aws, tmp_path)
    assert code == 0, err
    (stack,) = printed["stacks"]
    assert (stack["stack"], stack["evidence_taken"], stack["window_days"], stack["refused"]) == (USER, TODAY, 90, None)
    assert [(r["action"], r["class"]) for r in stack["removals"]] == [(a, "never-used") for a in REMOVED]
    comment = reviewed(tmp_path)
    assert "| \u2796 | `ec2:TerminateInstances` | Write | never used in the 400 days IAM's record covers |" in comment
    assert f"evidence of `{TODAY}`, a window of 90 days" in comment

    # An attempt IAM refuses (here by a Deny beside the grant, as a permissions boundary would) still counts:
    # IAM records every authenticated attempt, and the action is still granted.
    deny = {"Effect": "Deny", "Action": "ec2:TerminateInstances", "Resource": "*"}
    document = json.dumps({"Version": "2012-10-17", "Statement": [deny]})
    aws.client("iam").put_user_policy(UserName=USER, PolicyName="deny", PolicyDocument=document)
    aws.enforce_iam(after_calls=0)
    try:
        ec2 = aws.client("ec2", region="eu-west-1", **credentials)
        assert error_code(lambda: ec2.terminate_instances(InstanceIds=["i-0123456789abcdef0"])) == "AccessDenied"
    finally:
        aws.enforce_iam(after_calls=None)
    code, printed, err = recheck(aws, tmp_path)
    assert code == 1
    assert f"{USER}: refused: used in the 90 days before IAM's evidence of {TODAY}: ec2:TerminateInstances (used" in err
    (stack,) = printed["stacks"]
    used = {r["action"]: r for r in stack["removals"]}["ec2:TerminateInstances"]
    assert (used["class"], used["last_used"], used["region"]) == ("used", TODAY, "eu-west-1")
    comment = reviewed(tmp_path)
    assert "A removal on IAM's evidence is in use" in comment and f"used `{TODAY}`" in comment
    assert (
        f"| \u2796 | `ec2:TerminateInstances` | Write | \u26d4 used `{TODAY}` in `eu-west-1`: the apply refuses |"
        in comment
    )
    # the text for people says the same
    completed = run_module(
        "programmatic_iam",
        "usage",
        "recheck",
        f"plans/{USER}/plan.json",
        cwd=tmp_path,
        **aws.environment(base=base_environment()),
    )
    assert completed.returncode == 1 and f"ec2:TerminateInstances  USED {TODAY} eu-west-1" in completed.stdout


def test_a_user_younger_than_the_window_refuses(aws: AwsEmulator, tmp_path: Path) -> None:
    deployed(aws, tmp_path)
    code, printed, err = recheck(aws, tmp_path)
    assert code == 1 and f"{USER}: refused: the user was created on {TODAY}, less than 90 days before" in err
    assert printed["stacks"][0]["refused"].startswith("the user was created on")
    assert "Removals IAM's evidence cannot support" in reviewed(tmp_path)


def test_evidence_iam_refuses_refuses_and_the_review_says_so(aws: AwsEmulator, tmp_path: Path) -> None:
    deployed(aws, tmp_path)
    aws.last_accessed(created=OLD_USER)
    iam = aws.client("iam")
    iam.create_user(UserName="deployer")
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["iam:GetUser", "sts:GetCallerIdentity"], "Resource": "*"}],
    }
    iam.put_user_policy(UserName="deployer", PolicyName="read", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName="deployer")["AccessKey"]
    aws.enforce_iam(after_calls=0)
    try:
        code, printed, err = recheck(
            aws, tmp_path, AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"]
        )
    finally:
        aws.enforce_iam(after_calls=None)
    assert code == 1 and "need iam:GenerateServiceLastAccessedDetails" in err
    (stack,) = printed["stacks"]
    assert stack["refused"].startswith("no evidence: IAM refused GenerateServiceLastAccessedDetails")
    assert (stack["evidence_taken"], stack["removals"]) == (None, [])
    comment = reviewed(tmp_path)
    assert "Removals IAM's evidence cannot support" in comment and "iam:GenerateServiceLastAccessedDetails" in comment


def without_aws(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m programmatic_iam ARGS`` with no AWS credentials anywhere (a call to AWS fails at once)."""
    environment = {name: value for name, value in base_environment().items() if not name.startswith("AWS_")}
    environment |= {
        "PYTHONPATH": str(REPO / "modules"),
        "AWS_SHARED_CREDENTIALS_FILE": str(folder / "no-credentials"),
        "AWS_CONFIG_FILE": str(folder / "no-config"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    completed = run_command([sys.executable, "-m", "programmatic_iam", *args], folder, environment)
    (folder / "recheck.json").write_text(completed.stdout)
    return completed


@pytest.mark.parametrize(
    "config", ["# nothing removed on evidence\n", '[policy]\nremove_actions = ["ec2:DescribeRegions"]\n']
)
def test_a_plan_without_a_removal_on_evidence_reads_nothing(tmp_path: Path, config: str) -> None:
    # The plan removes ec2:RunInstances and ec2:TerminateInstances by hand (they are not in policy.remove_actions).
    write_config(tmp_path, CONFIG)
    plan = str(plan_of_the_removals(tmp_path).relative_to(tmp_path))
    write_config(tmp_path, config)
    completed = without_aws(tmp_path, "usage", "recheck", "--format", "json", plan)
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, '{\n  "stacks": []\n}\n', "")
    completed = without_aws(tmp_path, "usage", "recheck", plan)
    assert completed.stdout == (
        "usage recheck: none of the 1 plan removes an action of policy.remove_actions: nothing to re-check\n"
    )


def test_evidence_that_cannot_be_read_refuses_every_stack_it_concerns(tmp_path: Path) -> None:
    write_config(tmp_path, CONFIG)
    plan = str(plan_of_the_removals(tmp_path).relative_to(tmp_path))
    completed = without_aws(tmp_path, "usage", "recheck", "--format", "json", plan)
    assert completed.returncode == 1
    assert (
        f"usage recheck: {USER}: refused: no evidence: cannot read IAM (Unable to locate credentials)"
        in completed.stderr
    )
    assert json.loads(completed.stdout)["stacks"][0]["refused"].startswith("no evidence: cannot read IAM")
    assert "Removals IAM's evidence cannot support" in reviewed(tmp_path)


def test_a_plan_of_a_stack_the_configuration_lacks_is_refused(tmp_path: Path) -> None:
    write_config(tmp_path, CONFIG)
    plan = str(plan_of_the_removals(tmp_path).relative_to(tmp_path))
    write_config(tmp_path, '[naming]\nname = "other"\n')
    completed = without_aws(tmp_path, "usage", "recheck", plan)
    assert completed.returncode == 2 and completed.stdout == ""
    said = f"{plan}: is a plan of stack '{USER}', which the configuration does not have"
    assert said in completed.stderr
