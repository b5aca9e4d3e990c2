"""``keys rotate``: write the next step of each selected rotation into ``iam.toml``, after checking the evidence in IAM.

Plan (``rotation.plan_rotation``), evidence (IAM's keys, judged by ``rotation.evidence_problems``), write
(``config.editing``, checked with the real loader before anything is written); docs/key-rotation.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
import tomllib
from typing import Any, TextIO

from ..config import Fleet, StackConfig, parse_fleet
from ..config.editing import EditRefusedError, edit_table
from ..errors import ConfigError, Problem, printable
from ..files import MAX_CONFIG_BYTES, RefusedError, read_text
from ..rotation import (
    STEPS,
    RotationPlan,
    RotationRefusedError,
    Step,
    StoreReading,
    evidence_problems,
    is_due,
    plan_rotation,
    unchecked_delivery,
    unplanned_changes,
)
from ..spec import AccessKey, StackSpec
from .config_file import config_path, refuse_unplanned, show_and_write
from .context import Context
from .inputs import add_selection_arguments, load_configured
from .problems import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_WRONG_STEP, report_problems


def add_arguments(actions: Any) -> None:
    """``keys rotate [--identity I] [--environment E] [--step S] [--dry-run] [--force] [--as-of YYYY-MM-DD]``."""
    rotate = actions.add_parser(
        "rotate",
        help="write the next step of each rotation into iam.toml (all due keys without --identity/--environment), "
        "after checking the evidence in IAM",
    )
    add_selection_arguments(rotate, "the rotation (without either: every key that is due)")
    rotate.add_argument("--dry-run", action="store_true", help="print the change, write nothing")
    rotate.add_argument(
        "--step", choices=STEPS, help="refuse unless this is the step each selected stack is at (exit 3 otherwise)"
    )
    rotate.add_argument(
        "--force", action="store_true", help="take the step even when IAM's evidence does not allow it (says what)"
    )
    rotate.add_argument(
        "--as-of", metavar="YYYY-MM-DD", help="judge ages and the grace period on this day instead of today"
    )


def run(arguments: argparse.Namespace, context: Context) -> int:
    """Write each selected (or due) stack's next step; exit 0 when done (or nothing is due), 1 when IAM's evidence
    refuses a step or IAM cannot be read, 2 for bad input, 3 for a step asked out of order."""
    out, err = context.stdout, context.stderr
    try:
        path, shown = config_path(context.environ, context.cwd, "a rotation step", "keys rotate")
        fleet, blueprint = load_configured(context.environ, context.cwd)
        chosen = fleet.select(arguments.identity, arguments.environment)
        now = _now(arguments.as_of)
    except ConfigError as error:
        return report_problems(error, err, wrote_nothing=True)
    selected = arguments.identity is not None or arguments.environment is not None
    specs = {(spec.identity_name, spec.environment): spec for spec in blueprint.stacks}
    try:
        text = read_text(path, limit=MAX_CONFIG_BYTES)
    except RefusedError as unreadable:
        return report_problems(ConfigError([unreadable.problem(shown, "the file")]), err, wrote_nothing=True)

    plans: list[RotationPlan] = []
    wrong_step = False
    for stack in chosen:
        try:
            plans.append(plan_rotation(fleet, stack, now.date(), arguments.step))
        except RotationRefusedError as why:
            if why.out_of_order:
                wrong_step = True
                print(f"keys rotate: {printable(str(why))}", file=err)
            elif selected:
                print(f"{printable(str(why))}: skipped", file=out)
    if wrong_step:
        print("keys rotate: nothing written", file=err)
        return EXIT_WRONG_STEP
    if selected and not plans:
        print("keys rotate: no key to rotate in the stacks chosen; nothing written", file=err)
        return EXIT_BAD_INPUT

    # boto3 is imported here, as keys status does: no other command needs it.
    import boto3
    import botocore.exceptions

    planned = [specs[(p.stack.identity, p.stack.environment.name)] for p in plans]
    try:
        session = boto3.session.Session()  # this run's credentials, not those a default session cached
        keys = keys_in_iam(session, planned)
        stores = store_readings(session, [p.step for p in plans], planned)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        print(
            f"keys rotate: cannot read the keys from IAM or their stores ({error}); check the AWS credentials",
            file=err,
        )
        return EXIT_FAILED

    taken: list[RotationPlan] = []
    refused = False
    for plan, spec, found, store in zip(plans, planned, keys, stores, strict=True):
        if not selected and not is_due(plan.stack, found, now, store):
            print(printable(f"{plan.stack.label}: nothing due ({_state(plan.stack)})"), file=out)
            continue
        notice = unchecked_delivery(plan.step, _delivery(spec))
        if notice is not None:
            print(printable(f"{plan.stack.label}: {notice}"), file=out)
        problems = evidence_problems(plan.step, found, plan.stack, now, store)
        if problems and not arguments.force:
            refused = True
            print(printable(f"keys rotate: {plan.stack.label}: {plan.title} refused:"), file=err)
            for problem in problems:
                print(printable(f"  {problem}"), file=err)
            continue
        for problem in problems:
            print(printable(f"keys rotate: {plan.stack.label}: --force: skipped the evidence that {problem}"), file=err)
        taken.append(plan)
    if refused:
        print("keys rotate: nothing written (--force takes a step anyway, and says what it skipped)", file=err)
        return EXIT_FAILED
    if not taken:
        print("keys rotate: no rotation is due; nothing written", file=out)
        return EXIT_OK
    return _write(taken, fleet, text, path, shown, dry_run=arguments.dry_run, out=out, err=err)


def _write(
    plans: Sequence[RotationPlan],
    fleet: Fleet,
    text: str,
    path: Path,
    shown: str,
    *,
    dry_run: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    """Edit ``text`` for each plan, check the result with the real loader (every plan's settings, nothing else
    changed), print the diff, and write it unless ``dry_run``. Checked once for all the plans: each re-load
    resolves the whole fleet."""
    edited = text
    try:
        parsed = tomllib.loads(text)
        for plan in plans:
            edited = edit_table(edited, plan.table, plan.writes, plan.removes, parsed=parsed)
        after = parse_fleet(tomllib.loads(edited), origin=fleet.origin, base_dir=path.parent.resolve())
    except (EditRefusedError, tomllib.TOMLDecodeError, ConfigError) as error:
        print(printable(f"keys rotate: cannot write the steps into {shown} ({error}); nothing written"), file=err)
        return EXIT_FAILED
    if refuse_unplanned(unplanned_changes(fleet, after, plans), "keys rotate", shown, "the plan", err):
        return EXIT_FAILED
    for plan in plans:
        print(printable(f"{plan.stack.label}: {plan.title} ({_writes(plan)} in {plan.where})"), file=out)
    return show_and_write(
        text,
        edited,
        path,
        shown,
        write=not dry_run,
        unwritten="--dry-run: nothing written",
        command="keys rotate",
        doc="docs/key-rotation.md",
        out=out,
        err=err,
    )


def _now(as_of: str | None) -> datetime:
    if not as_of:
        return datetime.now(UTC)
    try:
        return datetime.strptime(as_of, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        problem = Problem("--as-of", repr(as_of), "is not a date", "write it as YYYY-MM-DD")
        raise ConfigError([problem], subject="the command line") from None


def keys_in_iam(boto3: Any, specs: Sequence[StackSpec]) -> list[Any]:
    """Each stack's user's keys in IAM, oldest first (``None``: no such user), read as ``keys status`` reads them:
    one reader per account (or role), several users at a time (``keys.read_users``)."""
    from .keys import read_users, readers_of

    users = read_users(readers_of(boto3, specs), [(spec, spec.identity.principal.name) for spec in specs])
    return [None if user is None else user.keys for user in users]


def _delivery(spec: StackSpec) -> str:
    credentials = spec.identity.credentials
    return credentials.delivery if isinstance(credentials, AccessKey) else ""


def store_readings(boto3: Any, steps: Sequence[Step], specs: Sequence[StackSpec]) -> list[StoreReading | None]:
    """For each stack at the deactivate step whose key goes to a store, what the store shows of the key it holds
    (``None`` for the others): the SSM parameter ``access-key-id`` (the key id, never the secret's parameter), or
    the secret's last change (``DescribeSecret``: its value, which holds the secret key, is never read).
    docs/key-rotation.md says why."""
    from .keys import client_in_account

    clients: dict[tuple[object, str, str], Any] = {}
    readings: list[StoreReading | None] = []
    for step, spec in zip(steps, specs, strict=True):
        credentials = spec.identity.credentials
        delivery = _delivery(spec)
        if step != "deactivate" or not isinstance(credentials, AccessKey) or delivery not in ("ssm", "secretsmanager"):
            readings.append(None)
            continue
        account = (spec.assume_role, spec.region, delivery)
        if account not in clients:
            clients[account] = client_in_account(boto3, spec, delivery)
        client = clients[account]
        if delivery == "ssm":
            name = f"{credentials.parameter_path}/access-key-id"
            try:
                key_id: str | None = str(client.get_parameter(Name=name)["Parameter"]["Value"])
            except client.exceptions.ParameterNotFound:
                key_id = None
            readings.append(StoreReading("ssm", repr(name), key_id=key_id))
            continue
        try:
            described = client.describe_secret(SecretId=credentials.secret_name)
            changed = described.get("LastChangedDate") or described.get("CreatedDate")
        except client.exceptions.ResourceNotFoundException:
            changed = None
        readings.append(
            StoreReading(
                "secretsmanager",
                repr(credentials.secret_name),
                changed=None if changed is None else changed.astimezone(UTC),
            )
        )
    return readings


def _writes(plan: RotationPlan) -> str:
    parts = [
        f"{name} = {value.isoformat() if hasattr(value, 'isoformat') else repr(value)}" for name, value in plan.writes
    ]
    parts += [f"{name} removed" for name in plan.removes]
    return ", ".join(parts).replace("'", '"')


def _state(stack: StackConfig) -> str:
    key = stack.access_key
    return f"generation {key.generation}, previous = {key.previous!r}"


__all__ = ["Step", "add_arguments", "run"]
