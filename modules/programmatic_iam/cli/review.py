"""``review PLAN_JSON...``: the pull-request comment, Markdown on stdout, from ``terraform show -json`` plans."""

from __future__ import annotations

import argparse
import re

from ..analysis.comment import GITHUB_COMMENT_LIMIT, MARKER, SecretInCommentError, length, render_comment
from ..analysis.plan import read_plans
from ..analysis.recheck import StackRecheck, read_recheck
from ..analysis.review import review_stack
from ..errors import ConfigError, Problem, show
from ..plan_matrix import NAMES_BUDGET, NotPlanned, read_not_planned, render_not_planned
from .context import Context
from .problems import EXIT_FAILED, EXIT_OK, report_problems

NAME = "review"
HELP = "the pull-request comment (Markdown, on stdout) from one or more `terraform show -json` plans, one per stack"

SHORTEST_COMMENT = 2_000
"""Below this, not even a verdict and a few warnings fit."""
# Printable ASCII only, none of the characters that would end a Markdown link or an HTML attribute.
_URL = re.compile(r"https?://(?:(?![<>()\[\]`\"'])[\x21-\x7e])+")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``review [PLAN_JSON...] [--not-planned FILE] [--evidence FILE] [--details-url URL] [--max-characters N]``."""
    parser.add_argument("plans", nargs="*", metavar="PLAN_JSON", help="`terraform show -json PLANFILE` of each stack")
    parser.add_argument(
        "--not-planned",
        default="",
        metavar="FILE",
        help='the stacks the workflow did not plan, and why (JSON: [{"stack": ..., "reason": ...}]); listed in a section',
    )
    parser.add_argument(
        "--evidence",
        default="",
        metavar="FILE",
        help="the plans' removals on IAM's evidence, as `usage recheck --format json` judged them: each removed "
        "action shown with its evidence, and a removal used since named under the warnings",
    )
    parser.add_argument(
        "--details-url",
        default="",
        metavar="URL",
        help="where the full plans can be read (for example the CI run); named when the comment is cut",
    )
    parser.add_argument(
        "--max-characters",
        type=int,
        default=GITHUB_COMMENT_LIMIT,
        metavar="N",
        help=f"the longest comment to print (default {GITHUB_COMMENT_LIMIT:,}, GitHub's limit)",
    )


def run(arguments: argparse.Namespace, context: Context) -> int:
    """Print the comment (exit 0); every unreadable plan (exit 2); or, if it would show a secret, nothing (exit 1)."""
    problems = _argument_problems(arguments)
    not_planned: list[NotPlanned] = []
    if arguments.not_planned:
        not_planned, found = read_not_planned(context.cwd / arguments.not_planned, arguments.not_planned)
        problems += found
    read, found = read_plans(context.cwd, arguments.plans)
    problems += found
    plans = list(read.values())
    labels = {plan.label for plan in plans}
    rechecks: dict[str, StackRecheck] = {}
    if arguments.evidence:
        rechecks, found = read_recheck(context.cwd / arguments.evidence, arguments.evidence)
        problems += found
        problems += [
            Problem(
                arguments.evidence,
                show(stack),
                "is a stack no plan given is of",
                "pass the file `usage recheck --format json` wrote for these same plans",
            )
            for stack in rechecks
            if stack not in labels
        ]
    if problems:
        return report_problems(ConfigError(problems, subject="the plans"), context.stderr, wrote_nothing=False)
    # The section is bounded, and the plans' part is cut to fit beside it.
    section = render_not_planned(not_planned, min(NAMES_BUDGET, arguments.max_characters // 8))
    sensitive = frozenset().union(*(plan.sensitive_strings for plan in plans))
    try:
        if plans:
            comment = render_comment(
                [review_stack(plan, rechecks.get(plan.label)) for plan in plans],
                sensitive=sensitive,
                limit=arguments.max_characters - length(section),
                details_url=arguments.details_url,
            )
        else:
            comment = f"{MARKER}\n### ✅ Identity review: no stack planned\n"
    except SecretInCommentError as error:
        print(f"review: refused: {error}", file=context.stderr)
        return EXIT_FAILED
    context.stdout.write(comment + section)
    return EXIT_OK


def _argument_problems(arguments: argparse.Namespace) -> list[Problem]:
    problems = []
    if not arguments.plans and not arguments.not_planned:
        problems.append(
            Problem(
                "PLAN_JSON",
                "",
                "names no plan",
                "pass each stack's `terraform show -json` output, or --not-planned when no stack was planned",
            )
        )
    if arguments.details_url and not _URL.fullmatch(arguments.details_url):
        problems.append(
            Problem(
                "--details-url",
                repr(arguments.details_url),
                "is not an http(s) URL without spaces, quotes or brackets",
                "pass the address of the CI run, for example https://github.com/OWNER/REPO/actions/runs/ID",
            )
        )
    if arguments.max_characters < SHORTEST_COMMENT:
        problems.append(
            Problem(
                "--max-characters",
                str(arguments.max_characters),
                f"is too short for a review (at least {SHORTEST_COMMENT:,})",
                f"leave it out for GitHub's {GITHUB_COMMENT_LIMIT:,}, or pass a larger number",
            )
        )
    return problems
