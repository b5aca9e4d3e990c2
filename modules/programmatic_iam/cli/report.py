"""``report``: the least-privilege report of every stack, for a terminal or as JSON; no cdktf."""

from __future__ import annotations

import argparse
import json

from ..analysis.report import fleet_report_json, identity_lines, report_json, report_text, stack_report
from ..errors import ConfigError, printable
from ..policy.catalogue import load_catalogue
from .context import Context
from .inputs import add_selection_arguments, load_configured, selected_stacks
from .problems import EXIT_FAILED, EXIT_OK, report_problems

NAME = "report"
HELP = "what each stack's policies allow by access level, how they could be scoped, and their risky findings"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``report [--format text|json] [--strict] [--identity I] [--environment E]``."""
    parser.add_argument("--format", choices=("text", "json"), default="text", help="text for people, json for tools")
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when any stack has a high-severity finding"
    )
    add_selection_arguments(parser, "the report (and what --strict judges)")


def run(arguments: argparse.Namespace, context: Context) -> int:
    """Print the report (exit 0; 1 with ``--strict`` and a high-severity finding; 2 for a bad configuration).

    A file with [[identities]] gets a report that opens with one line per identity, and JSON keyed by identity
    and environment; a file without keeps the report of one identity's stacks."""
    try:
        fleet, blueprint = load_configured(context.environ, context.cwd)
        stacks = selected_stacks(fleet, blueprint, arguments.identity, arguments.environment)
    except ConfigError as error:
        return report_problems(error, context.stderr, wrote_nothing=False)
    catalogue = load_catalogue()
    reports = [stack_report(stack, catalogue) for stack in stacks]
    if arguments.format == "json":
        shaped = fleet_report_json(reports, catalogue) if fleet.explicit else report_json(reports, catalogue)
        context.stdout.write(json.dumps(shaped, indent=2) + "\n")
    else:
        if fleet.explicit:
            count = len({report.identity for report in reports})
            opening = [
                f"{count} identit{'ies' if count != 1 else 'y'}:",
                *(f"  {line}" for line in identity_lines(reports)),
            ]
            context.stdout.write("".join(printable(line) + "\n" for line in opening) + "\n")
        context.stdout.write(report_text(reports, catalogue))
    high = [(report.stack, finding.title) for report in reports for finding in report.high]
    if arguments.strict and high:
        print(
            f"report --strict: {len(high)} high-severity finding(s): "
            + "; ".join(f"{stack}: {title}" for stack, title in high),
            file=context.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK
