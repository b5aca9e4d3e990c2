"""``deployer-policy --usage``: the read-only policy ``usage report`` and ``usage tighten`` need. The independent
evaluator decides what it allows (the emulator does not match resource ARNs outside S3), and the emulator, its
checks on, shows that its actions are all the command calls."""

from __future__ import annotations

import json
from pathlib import Path

from programmatic_iam.cli import main
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import user_with_policy
from tests.support.helpers import base_environment, run_module, write_config
from tests.support.iam_evaluator import Request, decide

FLEET = """\
[[environments]]
name = "staging"
region = "us-east-1"
account_id = "123456789012"

[[environments]]
name = "production"
region = "us-east-1"
account_id = "123456789012"

[[identities]]
name = "streammanager"
"""


def printed(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    import io

    out, err = io.StringIO(), io.StringIO()
    code = main(["deployer-policy", "--usage", *args], environ={}, cwd=tmp_path, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def user(environment: str) -> str:
    return f"arn:aws:iam::123456789012:user/{environment}-streammanager"


READS = [
    Request("iam:GetUser", user("production")),
    Request("iam:GenerateServiceLastAccessedDetails", user("staging")),
    Request("iam:GetServiceLastAccessedDetails", "*"),
]
"""What ``usage`` reads of each stack's user (two of them here), and its report jobs."""


def test_it_allows_the_reads_of_each_stacks_user_and_nothing_else(tmp_path: Path) -> None:
    write_config(tmp_path, FLEET)
    code, out, err = printed(tmp_path)
    assert code == 0, err
    policy = json.loads(out)
    requests = [
        *READS,
        # another user, and anything that writes: denied
        Request("iam:GenerateServiceLastAccessedDetails", "arn:aws:iam::123456789012:user/admin"),
        Request("iam:GetUser", "arn:aws:iam::123456789012:user/admin"),
        Request("iam:DeleteUser", user("production")),
        Request("iam:CreateAccessKey", user("production")),
    ]
    assert decide({"usage": policy}, requests) == ["Allowed"] * 3 + ["ImplicitlyDenied"] * 4
    # one environment: the other's user is not read
    code, out, _ = printed(tmp_path, "--environment", "staging")
    assert decide({"usage": json.loads(out)}, [Request("iam:GetUser", user("production"))]) == ["ImplicitlyDenied"]


def test_an_unknown_environment_is_refused(tmp_path: Path) -> None:
    write_config(tmp_path, FLEET)
    code, _, err = printed(tmp_path, "--environment", "prod")
    assert code == 2 and "--environment: 'prod' is not an environment of the configuration (staging, production)" in err


def test_its_actions_are_all_usage_report_calls(aws: AwsEmulator, tmp_path: Path) -> None:
    # The emulator matches only Resource "*" outside S3: the same actions on "*" stand for the scoped statements.
    code, out, _ = printed(tmp_path)
    assert code == 0
    policy = json.loads(out)
    for statement in policy["Statement"]:
        statement["Resource"] = "*"
    iam = aws.client("iam")
    iam.create_user(UserName="production-streammanager")
    reader = user_with_policy(aws, "reader", json.dumps(policy))
    aws.enforce_iam(after_calls=0)
    completed = run_module(
        "programmatic_iam",
        "usage",
        "report",
        cwd=tmp_path,
        **reader.environment(aws.environment(base=base_environment())),
    )
    assert completed.returncode == 0, completed.stderr


def test_the_docs_show_the_policy_it_prints_for_the_built_in_default(tmp_path: Path) -> None:
    page = (Path(__file__).parents[1] / "docs" / "tightening.md").read_text(encoding="utf-8")
    shown = page.split("deployer-policy --usage\n```\n\n```json\n", 1)[1].split("\n```", 1)[0]
    code, out, _ = printed(tmp_path)
    assert code == 0 and json.loads(shown) == json.loads(out)


def test_the_deployer_policy_allows_the_rechecks_reads_of_each_stacks_user_and_no_other(tmp_path: Path) -> None:
    """The workflow's review and apply run ``usage recheck`` with the deployer's role (docs/tightening.md)."""
    import io

    write_config(tmp_path, FLEET)
    out, err = io.StringIO(), io.StringIO()
    assert main(["deployer-policy"], environ={}, cwd=tmp_path, stdout=out, stderr=err) == 0, err.getvalue()
    requests = [
        *READS,
        Request("iam:GenerateServiceLastAccessedDetails", "arn:aws:iam::123456789012:user/admin"),
        Request("iam:GenerateServiceLastAccessedDetails", "arn:aws:iam::123456789012:role/admin"),
    ]
    decisions = decide({"deployer": json.loads(out.getvalue())}, requests)
    assert decisions == ["Allowed"] * 3 + ["ImplicitlyDenied"] * 2
