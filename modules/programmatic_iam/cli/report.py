"""``report``: the least-privilege report of every stack, for a terminal or as JSON; no cdktf."""

from __future__ import annotations

import argparse
import json

from ..analysis.report import report_json, report_text, stack_report
from ..errors import ConfigError
from ..policy.catalogue import load_catalogue
from .context import Context
from .inputs import load_blueprint
from .problems import EXIT_FAILED, EXIT_OK, report_problems

NAME = "report"
HELP = "what each stack's policies allow by access level, how they could be scoped, and their risky findings"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``report [--format text|json] [--strict]``."""
    parser.add_argument("--format", choices=("text", "json"), default="text", help="text for people, json for tools")
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when any stack has a high-severity finding"
    )


def run(arguments: argparse.Namespace, context: Context) -> int:
    """Print the report (exit 0; 1 with ``--strict`` and a high-severity finding; 2 for a bad configuration)."""
    try:
        blueprint = load_blueprint(context.environ, context.cwd)
    except ConfigError as error:
        return report_problems(error, context.stderr, wrote_nothing=False)
    catalogue = load_catalogue()
    reports = [stack_report(stack, catalogue) for stack in blueprint.stacks]
    if arguments.format == "json":
        context.stdout.write(json.dumps(report_json(reports, catalogue), indent=2) + "\n")
    else:
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
