"""``keys status``: every key the project made, in AWS: whose, which, how old; exit 1 when one is overdue."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
import dataclasses
from datetime import UTC, datetime
import json
from typing import Any

from ..analysis.keys import (
    KeyReader,
    Survey,
    UserInIam,
    WatchedStack,
    fleet_status_text,
    status_json,
    status_text,
    survey,
)
from ..errors import ConfigError, Problem, printable
from ..ownership import ENVIRONMENT_TAG, IDENTITY_TAG, ownership_tags
from ..spec import AssumedRole, StackSpec
from . import rotate
from .context import Context
from .inputs import add_selection_arguments, load_configured, selected_stacks
from .problems import EXIT_FAILED, EXIT_OK, report_problems

NAME = "keys"
HELP = (
    "the access keys in AWS: `keys status` says whose each is, how old, and exits 1 when one is overdue; "
    "`keys rotate` writes the next rotation step into iam.toml"
)

# What IAM answers when the credentials may not list the account's users or read their tags.
_DENIED = "AccessDenied"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``keys status [--as-of YYYY-MM-DD] [--format text|json] [--identity I] [--environment E]``, and ``keys rotate``
    (cli/rotate.py)."""
    actions = parser.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    status = actions.add_parser(
        "status",
        help="every key the project made (those of removed environments too): role, age, last use, whether it is due",
    )
    status.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        help="judge the ages on this day instead of today (which keys will be overdue by then)",
    )
    status.add_argument("--format", choices=("text", "json"), default="text", help="text for people, json for tools")
    add_selection_arguments(status, "the survey (and the orphans whose tags name them)")
    rotate.add_arguments(actions)


def run(arguments: argparse.Namespace, context: Context) -> int:
    """Print every key; exit 1 if one is overdue (or IAM cannot be read), 2 for bad input, 0 otherwise."""
    if arguments.keys_action == "rotate":
        return rotate.run(arguments, context)
    try:
        fleet, blueprint = load_configured(context.environ, context.cwd)
        stacks = selected_stacks(fleet, blueprint, arguments.identity, arguments.environment)
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
        # A session of its own: the credentials of this run's environment, not those a default session cached.
        result = _survey(boto3.session.Session(), stacks, now, fleet.config.access_key.max_age_days)
        result = _selected_orphans(result, arguments.identity, arguments.environment)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        print(f"keys status: cannot read the keys from IAM ({error}); check the AWS credentials", file=context.stderr)
        return EXIT_FAILED
    if arguments.format == "json":
        context.stdout.write(json.dumps(status_json(result), indent=2) + "\n")
        for account, why in result.accounts_not_searched:
            print(
                f"warning: account {account} not searched for keys of removed environments: {why}", file=context.stderr
            )
    elif fleet.explicit:
        context.stdout.write("".join(printable(line) + "\n" for line in fleet_status_text(result).splitlines()))
    else:
        context.stdout.write(status_text(result))
    return EXIT_FAILED if result.with_verdict("overdue") else EXIT_OK


def _selected_orphans(result: Survey, identity: str | None, environment: str | None) -> Survey:
    """``result`` with only the orphans whose ownership tags name the identity and environment selected (if any)."""
    if identity is None and environment is None:
        return result
    tags = ownership_tags(identity or "", environment or "")
    kept = tuple(
        record
        for record in result.orphans
        if (identity is None or record.identity == tags[IDENTITY_TAG])
        and (environment is None or record.environment == tags[ENVIRONMENT_TAG])
    )
    return dataclasses.replace(result, orphans=kept)


def _survey(boto3: Any, stacks: Sequence[StackSpec], now: datetime, orphan_max_age: int) -> Survey:
    """Read every configured stack's user, then every account they reach for users the configuration no longer has."""
    import botocore.exceptions

    readers = readers_of(boto3, stacks)
    accounts: dict[str, KeyReader] = {}
    for stack in stacks:
        accounts.setdefault(readers[stack.assume_role].account, readers[stack.assume_role])
    watched_stacks = [WatchedStack.of(stack) for stack in stacks]
    users = read_users(readers, [(stack, watched.user) for stack, watched in zip(stacks, watched_stacks, strict=True)])
    configured = [
        (watched, readers[stack.assume_role].account, user)
        for stack, watched, user in zip(stacks, watched_stacks, users, strict=True)
    ]
    orphans: list[UserInIam] = []
    searched: list[str] = []
    not_searched: list[tuple[str, str]] = []
    for account, reader in accounts.items():
        known = {watched.user for watched, where, _ in configured if where == account and watched.user}
        try:
            found = list(reader.tagged_users(known))
        except botocore.exceptions.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code != _DENIED:
                raise
            not_searched.append((account, f"{code}: the credentials need iam:ListUsers and iam:ListUserTags"))
            continue
        orphans += found
        searched.append(account)
    return survey(
        now,
        configured,
        orphans,
        orphan_max_age_days=orphan_max_age,
        accounts_searched=searched,
        accounts_not_searched=not_searched,
    )


IAM_READERS = 8
"""How many users are read at once. IAM's read APIs are throttled per account; eight at a time stays well within
its rate, and the clients' standard retries (:func:`iam_client`) absorb the throttling that remains."""


def readers_of(boto3: Any, stacks: Sequence[StackSpec]) -> dict[AssumedRole | None, KeyReader]:
    """One reader per account (or role) the ``stacks`` reach, made one after the other (a boto3 session, which
    makes the clients, is not safe to share between threads; the clients it makes are)."""
    readers: dict[AssumedRole | None, KeyReader] = {}
    for stack in stacks:
        if stack.assume_role not in readers:
            readers[stack.assume_role] = reader_of(boto3, stack)
    return readers


def read_users(
    readers: Mapping[AssumedRole | None, KeyReader], wanted: Sequence[tuple[StackSpec, str | None]]
) -> list[UserInIam | None]:
    """Each stack's user ``name`` with its keys (``None``: no user name, or no such user), in ``wanted``'s order,
    read :data:`IAM_READERS` at a time: a fleet of hundreds of users answers in seconds, not minutes. The first
    error IAM answers is raised, as a read one after the other would."""

    def read(stack_and_name: tuple[StackSpec, str | None]) -> UserInIam | None:
        stack, name = stack_and_name
        return readers[stack.assume_role].user(name) if name else None

    with ThreadPoolExecutor(max_workers=IAM_READERS) as pool:
        return list(pool.map(read, wanted))


def reader_of(boto3: Any, stack: StackSpec) -> KeyReader:
    """IAM in the stack's account, and that account's id."""
    role = stack.assume_role
    account = (
        role.role_arn.split(":")[4]
        if role
        else str(boto3.client("sts", region_name=stack.region).get_caller_identity()["Account"])
    )
    return KeyReader(iam_client(boto3, stack), account)


def iam_client(boto3: Any, stack: StackSpec) -> Any:
    """IAM in the stack's account: through the role its provider assumes, if it assumes one, as Terraform does."""
    from botocore.config import Config

    # IAM throttles a burst of reads (keys rotate reads a fleet's users several at a time): retry with backoff.
    # One client serves every reader thread of its account (boto3's clients are thread-safe), so its pool needs a
    # connection per reader, and its retry quota is shared as the account's throttling is.
    retries = Config(retries={"mode": "standard", "max_attempts": 10}, max_pool_connections=IAM_READERS)
    return client_in_account(boto3, stack, "iam", retries)


def client_in_account(boto3: Any, stack: StackSpec, service: str, config: Any = None) -> Any:
    """A ``service`` client in the stack's account and region: through the role its provider assumes, if it
    assumes one, as Terraform does."""
    role = stack.assume_role
    if role is None:
        return boto3.client(service, region_name=stack.region, config=config)
    arguments = {"RoleArn": role.role_arn, "RoleSessionName": role.session_name}
    if role.external_id:
        arguments["ExternalId"] = role.external_id
    credentials = boto3.client("sts", region_name=stack.region).assume_role(**arguments)["Credentials"]
    return boto3.client(
        service,
        region_name=stack.region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=config,
    )
