"""``usage recheck PLAN_JSON...``: before a removal on IAM's evidence is reviewed or applied, IAM's evidence read
again for each stack whose plan makes one; exit 1 when a removal was used since (analysis/recheck.py,
docs/tightening.md)."""

from __future__ import annotations

import argparse
import json

from ..analysis.permissions import permission_change
from ..analysis.plan import read_plans
from ..analysis.recheck import recheck_json, recheck_refusal, removals_in_plan
from ..analysis.scope import expand
from ..analysis.usage import Evidence, StackUsage, day
from ..errors import ConfigError, Problem, printable, show
from ..policy.catalogue import load_catalogue
from .context import Context
from .inputs import load_configured
from .problems import EXIT_FAILED, EXIT_OK, report_problems
from .usage import Refusal, judged, read_all_evidence, window_of, with_users


def run(arguments: argparse.Namespace, context: Context) -> int:
    """Print each stack's removals judged on IAM's evidence of now; exit 0 when every one stands, 1 when one was used
    in the window or the evidence could not be read, 2 for bad input."""
    out, err = context.stdout, context.stderr
    try:
        fleet, blueprint = load_configured(context.environ, context.cwd)
    except ConfigError as error:
        return report_problems(error, err, wrote_nothing=False)
    read, problems = read_plans(context.cwd, arguments.plans)
    plans = list(read.items())
    catalogue = load_catalogue()
    configs = fleet.by_stack()
    stacks = {stack.stack_id: stack for stack in blueprint.stacks}
    problems += [
        Problem(given, "", f"is a plan of stack {show(plan.label)}, which the configuration does not have", _FIX)
        for given, plan in plans
        if plan.label not in stacks
    ]
    if problems:
        return report_problems(ConfigError(problems, subject="the plans"), err, wrote_nothing=False)
    removals: dict[str, list[str]] = {}
    for _, plan in plans:
        stack = stacks[plan.label]
        lost = permission_change(plan.changes, catalogue).lost
        remove_actions = configs[stack.identity_name, stack.environment].policy.remove_actions
        found = removals_in_plan(remove_actions, lost, lambda entry: expand(entry, catalogue))
        if found:
            removals[stack.stack_id] = found
    chosen = with_users([stack for stack in stacks.values() if stack.stack_id in removals], "usage recheck", err)
    usages: list[StackUsage] = []
    refused: dict[str, str] = {}
    if chosen:
        import boto3
        import botocore.exceptions

        try:
            read_all: list[Evidence | Refusal] = read_all_evidence(
                boto3.session.Session(), chosen, arguments.job_timeout
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            # Still every stack named, so that the review can say which removals were not re-checked.
            read_all = [Refusal(stack, f"cannot read IAM ({error}): check the AWS credentials") for stack in chosen]
        usages = judged(chosen, read_all, window_of(fleet, None), actions=lambda stack: removals[stack.stack_id])
        for evidence in read_all:
            if isinstance(evidence, Refusal):
                refused[evidence.stack.stack_id] = f"no evidence: {evidence.why}"
        refused |= {usage.stack: why for usage in usages if (why := recheck_refusal(usage))}
    if arguments.format == "json":
        out.write(json.dumps(recheck_json(usages, refused), indent=2) + "\n")
    else:
        out.write(_text(usages, refused, plans=len(plans)))
    for stack_id, why in refused.items():
        print(printable(f"usage recheck: {stack_id}: refused: {why}; do not apply its plan"), file=err)
    return EXIT_FAILED if refused else EXIT_OK


_FIX = "plan the stacks of this iam.toml, or run the command from the folder of the plans' iam.toml"


def _text(usages: list[StackUsage], refused: dict[str, str], *, plans: int) -> str:
    if not usages and not refused:
        return (
            f"usage recheck: none of the {plans} plan{'' if plans == 1 else 's'} removes an action of "
            "policy.remove_actions: nothing to re-check\n"
        )
    lines = []
    for usage in usages:
        heading = (
            f"{usage.stack}: {len(usage.actions)} removal{'' if len(usage.actions) == 1 else 's'} on IAM's evidence "
            f"of {day(usage.evidence.taken)}, a window of {usage.window_days} days"
        )
        lines.append(printable(heading))
        for use in usage.actions:
            if use.verdict == "used":
                detail = f"USED {day(use.last_used)} {use.region or ''}".rstrip()
            elif use.verdict == "used-before-window":
                detail = f"last used {day(use.last_used)}"
            elif use.verdict == "never-used":
                detail = "never used in IAM's tracking period"
            else:
                detail = f"not judged: {use.why}"
            lines.append(printable(f"  {use.action}  {detail}"))
        lines.append(f"  {'refused' if usage.stack in refused else 'every removal stands'}")
    for stack, why in refused.items():
        if not any(usage.stack == stack for usage in usages):
            lines.append(printable(f"{stack}: not re-checked: {why}"))
    return "\n".join(lines) + "\n"
