"""``python -m programmatic_iam_dev.review_example DOC``: the review comment shown in ``DOC``, made for real.

Deploys two environments on the AWS emulator with real Terraform, then plans the pull request that
``docs/pull-requests.md`` walks through (launch templates added, image export removed, staging's key
replaced), runs ``review`` on the plans and writes the comment between the example markers in ``DOC``.
Output is deterministic (names and the emulator's fixed account only), so a test can regenerate and compare.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import io
import json
from pathlib import Path
import sys
import tempfile

from programmatic_iam.cli import main as cli

from .emulator import AwsEmulator, running_emulator
from .terraform import Terraform, cli_config_text, find_provider_mirror, find_terraform, terraform_environment

START = "<!-- review-example:start -->"
END = "<!-- review-example:end -->"
DETAILS_URL = "https://github.com/acme/stream-identity/actions/runs/1234567890"

BEFORE = """\
[[environments]]
name = "staging"
region = "us-east-1"

[[environments]]
name = "production"
region = "us-east-1"
"""
"""The configuration on the main branch: the guide's policy in two environments."""

ADDED = ("ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate")
REMOVED = ("ec2:ExportImage", "ec2:DescribeExportImageTasks")
REPLACED_KEY_STACK = "staging-streammanager"


def after_config(seed_actions: Sequence[str]) -> str:
    """The pull request's configuration: the same environments, the actions changed."""
    actions = [action for action in seed_actions if action not in REMOVED] + list(ADDED)
    listed = "".join(f'    "{action}",\n' for action in actions)
    return f"[policy]\nactions = [\n{listed}]\n\n{BEFORE}"


def make_comment(work: Path, terraform: Terraform, aws: AwsEmulator) -> str:
    """Deploy :data:`BEFORE`, plan the pull request, and return the review comment."""
    aws.client("s3").create_bucket(Bucket="terraform-state")
    _synth(work, BEFORE)
    stacks = sorted((work / "cdktf.out" / "stacks").iterdir())
    for stack in stacks:
        terraform.init(stack)
        terraform.apply(stack)
    seed_actions = _actions(stacks[0] / "cdk.tf.json")
    _synth(work, after_config(seed_actions))
    plans = []
    for stack in sorted((work / "cdktf.out" / "stacks").iterdir()):
        extra = [f"-replace={_key_address(stack)}"] if stack.name == REPLACED_KEY_STACK else []
        terraform.run(["plan", "-input=false", "-no-color", "-out=plan.tfplan", *extra], stack)
        shown = terraform.run(["show", "-json", "-no-color", "plan.tfplan"], stack).stdout
        (stack / "plan.json").write_text(shown, encoding="utf-8")
        plans.append(str(stack.relative_to(work) / "plan.json"))
    stdout, stderr = io.StringIO(), io.StringIO()
    code = cli(["review", *plans, "--details-url", DETAILS_URL], environ={}, cwd=work, stdout=stdout, stderr=stderr)
    if code != 0:
        raise RuntimeError(f"review failed ({code}): {stderr.getvalue()}")
    return stdout.getvalue()


def embed(document: str, comment: str) -> str:
    """``document`` with ``comment`` between :data:`START` and :data:`END`."""
    head, start, rest = document.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"the document has no {START} ... {END} section")
    return f"{head}{START}\n\n{comment.strip()}\n\n{END}{tail}"


def regenerate(document: Path) -> str:
    """The new text of ``document``, its example comment made afresh."""
    binary = find_terraform()
    if binary is None:
        raise RuntimeError("the terraform binary was not found (set $TERRAFORM or put it on PATH)")
    with tempfile.TemporaryDirectory(prefix="programmatic-iam-review-example-") as folder:
        work = Path(folder)
        cli_config = work / "terraform.tfrc"
        cli_config.write_text(cli_config_text(find_provider_mirror()), encoding="utf-8")
        with running_emulator(work / "moto.log") as aws:
            environment = aws.environment(base=terraform_environment(cli_config))
            terraform = Terraform(binary=binary, env=environment, mirror=None)
            comment = make_comment(work, terraform, aws)
    return embed(document.read_text(encoding="utf-8"), comment)


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the example in the document named on the command line."""
    parser = argparse.ArgumentParser(prog="python -m programmatic_iam_dev.review_example", description=__doc__)
    parser.add_argument("document", type=Path, help="the Markdown file holding the example markers")
    arguments = parser.parse_args(argv)
    arguments.document.write_text(regenerate(arguments.document), encoding="utf-8")
    print(f"wrote the review example into {arguments.document}")
    return 0


def _synth(work: Path, config: str) -> None:
    (work / "iam.toml").write_text(config, encoding="utf-8")
    stderr = io.StringIO()
    if cli(["synth"], environ={}, cwd=work, stdout=io.StringIO(), stderr=stderr) != 0:
        raise RuntimeError(f"synth failed: {stderr.getvalue()}")


def _actions(stack_config: Path) -> list[str]:
    stack = json.loads(stack_config.read_text(encoding="utf-8"))
    (policy,) = stack["resource"]["aws_iam_policy"].values()
    return [action for statement in json.loads(policy["policy"])["Statement"] for action in statement["Action"]]


def _key_address(stack: Path) -> str:
    resources = json.loads((stack / "cdk.tf.json").read_text(encoding="utf-8"))["resource"]
    (name,) = resources["aws_iam_access_key"]
    return f"aws_iam_access_key.{name}"


if __name__ == "__main__":
    sys.exit(main())
