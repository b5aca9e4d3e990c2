"""Reading the configuration at the edge: the file, its fleet, then the blueprint, their problems reported together."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from ..blueprint import build_blueprint
from ..config import Fleet, load_fleet
from ..errors import ConfigError
from ..spec import Blueprint, StackSpec


def load_blueprint(environ: Mapping[str, str], cwd: Path) -> Blueprint:
    """Load the configuration and resolve it, reporting problems from every step in one :class:`ConfigError`.

    When the file has problems, the blueprint is still resolved from what was valid, so that name and
    policy problems, and the warnings of every step, are reported in the same run.
    """
    return load_configured(environ, cwd)[1]


def load_configured(environ: Mapping[str, str], cwd: Path) -> tuple[Fleet, Blueprint]:
    """:func:`load_blueprint`, with the fleet it came from (its ``origin`` names the file; ``config`` is the
    file's top level, ``stacks`` each stack's effective configuration)."""
    try:
        fleet = load_fleet(environ, cwd)
    except ConfigError as error:
        raise with_blueprint_problems(error) from None
    return fleet, build_blueprint(fleet)


def with_blueprint_problems(error: ConfigError) -> ConfigError:
    """``error`` (of loading the fleet) with the problems and warnings of the blueprint of what resolved (its
    ``partial`` fleet), so that they are reported in the same run; ``error`` itself when nothing resolved."""
    if not isinstance(error.partial, Fleet):
        return error
    problems, notices = error.problems, error.notices
    try:
        notices += build_blueprint(error.partial).notices
    except ConfigError as more:
        problems += more.problems
        notices += more.notices
    return ConfigError(list(dict.fromkeys(problems)), error.partial, subject=error.subject, notices=notices)


def add_selection_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """``--identity I`` and ``--environment E``, which choose the stacks ``what`` (a command's output) covers."""
    parser.add_argument("--identity", metavar="I", help=f"only this identity's stacks in {what}")
    parser.add_argument("--environment", metavar="E", help=f"only the stacks in this environment in {what}")


def selected_stacks(
    fleet: Fleet, blueprint: Blueprint, identity: str | None, environment: str | None
) -> tuple[StackSpec, ...]:
    """The blueprint's stacks that ``--identity`` and ``--environment`` choose (``None``: any), in the fleet's order;
    a :class:`ConfigError` about the command line names a choice that matches no stack."""
    chosen = {(stack.identity, stack.environment.name) for stack in fleet.select(identity, environment)}
    return tuple(stack for stack in blueprint.stacks if (stack.identity_name, stack.environment) in chosen)
