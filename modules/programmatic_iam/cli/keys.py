"""``keys status``: how old each stack's access keys are in AWS; exit 1 when one is overdue (for a scheduled job)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from ..analysis.keys import KeyAge, status_text, user_keys
from ..errors import ConfigError, Problem
from ..spec import StackSpec
from .context import Context
from .inputs import load_blueprint
from .problems import EXIT_FAILED, EXIT_OK, report_problems

NAME = "keys"
HELP = "the access keys in AWS: `keys status` says how old each is and exits 1 when one is overdue"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``keys status [--as-of YYYY-MM-DD]``."""
    actions = parser.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    status = actions.add_parser("status", help="each key's age, last use and whether it is due for rotation")
    status.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        help="judge the ages on this day instead of today (which keys will be overdue by then)",
    )


def run(arguments: argparse.Namespace, context: Context) -> int:
    """Print every stack's keys; exit 1 if one is overdue, 2 for bad input, 0 otherwise."""
    try:
        blueprint = load_blueprint(context.environ, context.cwd)
    except ConfigError as error:
        return report_problems(error, context.stderr, wrote_nothing=False)
    now = datetime.now(UTC)
    if arguments.as_of:
        try:
            now = datetime.strptime(arguments.as_of, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            problem = Problem("--as-of", repr(arguments.as_of), "is not a date", "write it as YYYY-MM-DD")
            return report_problems(ConfigError([problem], subject="the command line"), context.stderr)
    # boto3 is imported here: no other command needs it, and it costs a quarter of a second.
    import boto3
    import botocore.exceptions

    try:
        stacks: list[tuple[str, str, int, list[KeyAge] | None]] = []
        for stack in blueprint.stacks:
            key = stack.identity.credentials
            if not key.create:  # an instance profile, or an adopted user whose key is not managed yet
                stacks.append((stack.stack_id, stack.identity.principal.name, key.max_age_days, None))
                continue
            found = user_keys(
                _iam_client(boto3, stack),
                stack=stack.stack_id,
                user=stack.identity.principal.name,
                now=now,
                max_age_days=key.max_age_days,
            )
            stacks.append((stack.stack_id, stack.identity.principal.name, key.max_age_days, found))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        print(f"keys status: cannot read the keys from IAM ({error}); check the AWS credentials", file=context.stderr)
        return EXIT_FAILED
    context.stdout.write(status_text(stacks, now))
    return EXIT_FAILED if any(key.verdict == "overdue" for *_, keys in stacks for key in keys or ()) else EXIT_OK


def _iam_client(boto3: Any, stack: StackSpec) -> Any:
    """IAM in the stack's account: through the role its provider assumes, if it assumes one, as Terraform does."""
    role = stack.assume_role
    if role is None:
        return boto3.client("iam", region_name=stack.region)
    arguments = {"RoleArn": role.role_arn, "RoleSessionName": role.session_name}
    if role.external_id:
        arguments["ExternalId"] = role.external_id
    credentials = boto3.client("sts", region_name=stack.region).assume_role(**arguments)["Credentials"]
    return boto3.client(
        "iam",
        region_name=stack.region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
