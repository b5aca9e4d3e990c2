"""``check``: every problem and warning of the configuration, without cdktf and without writing anything."""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from .context import Context
from .inputs import load_blueprint
from .problems import EXIT_OK, report_notices, report_problems

NAME = "check"
HELP = "check the configuration and print every problem and warning; writes nothing and starts no cdktf"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``check [--quiet]``."""
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="print the problems only: no warnings and no list of stacks (for a step before `cdktf synth`, "
        "which prints the warnings itself)",
    )


def run(arguments: argparse.Namespace, context: Context) -> int:
    """Print the problems (exit 2) or the stacks a synth would write (exit 0), warnings either way (after the
    problems), unless ``--quiet``."""
    try:
        blueprint = load_blueprint(context.environ, context.cwd)
    except ConfigError as error:
        return report_problems(error, context.stderr, wrote_nothing=False, warnings=not arguments.quiet)
    if arguments.quiet:
        return EXIT_OK
    report_notices(blueprint.notices, context.stderr)
    count = len(blueprint.stacks)
    print(f"{count} stack{'s' if count != 1 else ''}, no problems:", file=context.stdout)
    for stack in blueprint.stacks:
        print(f"  {stack.stack_id} ({stack.environment}, {stack.region})", file=context.stdout)
    return EXIT_OK
