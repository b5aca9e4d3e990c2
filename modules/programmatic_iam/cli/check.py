"""``check``: every problem and warning of the configuration, without cdktf and without writing anything; and, with
``--explain``, each stack's effective settings with the key each came from."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
import json
from typing import Any, TextIO

from ..blueprint import build_blueprint
from ..config import Fleet, Setting, StackConfig, explain, load_fleet
from ..config.fleet import DEFAULT, NOT_FOR_INSTANCE_PROFILES
from ..errors import ConfigError, printable, table_name
from ..policy.sources import DEFAULT_TEMPLATE
from ..spec import Blueprint
from .context import Context
from .inputs import with_blueprint_problems
from .problems import EXIT_OK, report_notices, report_problems

NAME = "check"
HELP = "check the configuration and print every problem and warning; writes nothing and starts no cdktf"
# Past this, a setting's comment is not aligned with the others' (one long policy.actions would push them all).
_ALIGN_MAX = 56
_POLICY_SOURCES = ("policy.actions", "policy.file", "policy.template")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``check [--quiet] [--explain] [--identity I] [--environment E]``."""
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="print the problems only: no warnings and no list of stacks (for a step before `cdktf synth`, "
        "which prints the warnings itself)",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print each stack's effective settings, each with the key it was written at or (default), as "
        "`git config --show-origin` does",
    )
    parser.add_argument("--identity", metavar="I", help="only the stacks of this identity (listed or explained)")
    parser.add_argument("--environment", metavar="E", help="only the stacks in this environment (listed or explained)")


def run(arguments: argparse.Namespace, context: Context) -> int:
    """Print the problems (exit 2) or the stacks a synth would write (exit 0), warnings either way (after the
    problems), unless ``--quiet``. ``--explain`` prints the selected stacks' settings first, whenever the file
    resolved into its stacks (a problem of names or policy does not hide them); the whole configuration is
    checked whatever is selected."""
    try:
        fleet = load_fleet(context.environ, context.cwd)
    except ConfigError as error:
        everything = with_blueprint_problems(error)
        return report_problems(everything, context.stderr, wrote_nothing=False, warnings=not arguments.quiet)
    try:
        selected = fleet.select(arguments.identity, arguments.environment)
    except ConfigError as error:
        return report_problems(error, context.stderr, wrote_nothing=False)
    blueprint: Blueprint | None = None
    failed: ConfigError | None = None
    try:
        blueprint = build_blueprint(fleet)
    except ConfigError as error:
        failed = error
    if arguments.explain:
        _print_explanations(selected, blueprint, context.stdout)
    if failed is not None or blueprint is None:
        assert failed is not None
        return report_problems(failed, context.stderr, wrote_nothing=False, warnings=not arguments.quiet)
    if arguments.quiet:
        return EXIT_OK
    report_notices(blueprint.notices, context.stderr)
    if not arguments.explain:
        _print_stacks(fleet, blueprint, selected, context.stdout)
    return EXIT_OK


def _print_stacks(fleet: Fleet, blueprint: Blueprint, selected: Sequence[StackConfig], stream: TextIO) -> None:
    """``N stacks, no problems:`` and one line per stack; grouped under each identity's name in a fleet."""
    chosen = {(stack.identity, stack.environment.name) for stack in selected}
    stacks = [stack for stack in blueprint.stacks if (stack.identity_name, stack.environment) in chosen]
    count = len(stacks)
    of = ""
    if fleet.explicit:
        identities = len({stack.identity_name for stack in stacks})
        of = f" of {identities} identit{'ies' if identities != 1 else 'y'}"
    print(f"{count} stack{'s' if count != 1 else ''}{of}, no problems:", file=stream)
    shown = ""
    for stack in stacks:
        indent = "  "
        if fleet.explicit:
            if stack.identity_name != shown:
                print(f"  {stack.identity_name}", file=stream)
                shown = stack.identity_name
            indent = "    "
        print(f"{indent}{stack.stack_id} ({stack.environment}, {stack.region})", file=stream)


def _print_explanations(selected: Sequence[StackConfig], blueprint: Blueprint | None, stream: TextIO) -> None:
    """Each selected stack: a line naming it, then ``key = value  # where it was written``, one per setting."""
    ids: Mapping[tuple[str, str], str] = (
        {} if blueprint is None else {(s.identity_name, s.environment): s.stack_id for s in blueprint.stacks}
    )
    for position, stack in enumerate(selected):
        environment = stack.environment
        stack_id = ids.get((stack.identity, environment.name))
        where = f"{stack.environment_key(environment)}, {environment.region}"
        if environment.guarded_account_id:
            where += f", account {environment.guarded_account_id}"
        head = f"{stack.label} ({where})"
        print(("\n" if position else "") + printable(f"{stack_id}: {head}" if stack_id else head), file=stream)
        settings = list(explain(stack))
        if not any(setting.key in _POLICY_SOURCES for setting in settings):  # none set: the default template
            first = next(i for i, setting in enumerate(settings) if setting.key.startswith("policy."))
            settings.insert(first, Setting("policy.template", DEFAULT_TEMPLATE, None))
        lines = [(f"{setting.key} = {_toml(setting.value)}", setting.written_at or DEFAULT) for setting in settings]
        width = max((len(text) for text, _ in lines if len(text) <= _ALIGN_MAX), default=0)
        for text, written in lines:
            print(printable(f"  {text.ljust(width)}  # {written}"), file=stream)
        if stack.kind == "instance-profile":
            unused = ", ".join(f"{key}.*" if key == "access_key" else key for key in NOT_FOR_INSTANCE_PROFILES)
            print(f"  # not used by an instance profile, which has no user and no key: {unused}", file=stream)


def _toml(value: Any) -> str:
    """A value as TOML writes it: ``"text"``, ``true``, ``2``, ``["a", "b"]``, ``{ key = "value" }``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{table_name(str(k))} = {_toml(v)}" for k, v in value.items()) + " }" if value else "{}"
        )
    return json.dumps(str(value), ensure_ascii=False)
