"""``usage report``: each granted action of each stack's policy, judged on IAM's last-accessed evidence for its user
(analysis/usage.py; docs/tightening.md). Reads IAM as ``keys status`` does."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
import json
from pathlib import Path
import time
from typing import Any, TextIO

from ..analysis.usage import Catalogued, Evidence, StackUsage, judge, usage_json, usage_markdown, usage_text
from ..config import Fleet
from ..errors import ConfigError, Problem, printable
from ..files import RefusedError, is_regular_file, kind_of, replace_file_text, write_files
from ..policy.catalogue import load_catalogue
from ..spec import StackSpec
from ..spec.identity import UserPrincipal
from .context import Context
from .inputs import add_selection_arguments, load_configured, selected_stacks
from .keys import IAM_READERS, iam_client
from .problems import EXIT_FAILED, EXIT_OK, report_problems

NAME = "usage"
HELP = (
    "what each identity has used of what its policy grants, on IAM's own evidence: `usage report` judges every "
    "granted action by IAM's last-accessed report for the stack's user; `usage tighten` removes what no "
    "environment of an identity used, as a change of iam.toml; `usage recheck` reads the evidence again for the "
    "plans that make those removals"
)
DEFAULT_JOB_TIMEOUT_SECONDS = 300
POLL_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)
"""Between two reads of a job still in progress: quick at first (a job often ends in a second), then every 5 s."""
EVIDENCE_LIMIT = 64 * 1024 * 1024
MAX_PAGES = 100
"""IAM answers 100 services a page, and AWS has about 450 services: more pages than this is not a report."""
# The IAM action each call needs, named when IAM refuses it.
_PERMISSIONS = {
    "GetUser": "iam:GetUser",
    "GenerateServiceLastAccessedDetails": "iam:GenerateServiceLastAccessedDetails",
    "GetServiceLastAccessedDetails": "iam:GetServiceLastAccessedDetails",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="usage_action", required=True, metavar="ACTION")
    report = actions.add_parser(
        "report", help="each granted action's class on IAM's action-level last-accessed report (dates as YYYY-MM-DD)"
    )
    add_selection_arguments(report, "the report")
    _unused_for_argument(report, "the window: an action not used in these days before the evidence is unused")
    report.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    report.add_argument("--save-evidence", metavar="FILE", help="also write IAM's reports as read, as JSON")
    _job_timeout_argument(report)
    tighten = actions.add_parser(
        "tighten",
        help="the actions no environment of an identity used in the window: printed as the change of iam.toml "
        "(policy.remove_actions), written with --write",
    )
    tighten.add_argument(
        "--identity", metavar="I", help="only this identity (all its environments are judged together)"
    )
    _unused_for_argument(tighten, "the window")
    tighten.add_argument("--write", action="store_true", help="write the change into iam.toml (comments kept)")
    _job_timeout_argument(tighten)
    recheck = actions.add_parser(
        "recheck",
        help="before review and apply: IAM's evidence read again for each plan that removes an action of "
        "policy.remove_actions; exit 1 if one was used since",
    )
    recheck.add_argument("plans", nargs="+", metavar="PLAN_JSON", help="`terraform show -json PLANFILE` of each stack")
    recheck.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="json: what `review --evidence` reads, to show each removal with its evidence",
    )
    _job_timeout_argument(recheck)


def _unused_for_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--unused-for",
        metavar="DAYS",
        type=_bounded_whole_number,
        help=f"{what} (default: each identity's policy.unused_for_days, 90 unless set)",
    )


def _job_timeout_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--job-timeout",
        metavar="SECONDS",
        type=_bounded_whole_number,
        default=DEFAULT_JOB_TIMEOUT_SECONDS,
        help=f"how long to wait for each of IAM's report jobs (default {DEFAULT_JOB_TIMEOUT_SECONDS})",
    )


def _bounded_whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 3650:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 3650")
    return value


@dataclass(frozen=True, slots=True)
class Refusal:
    """A stack whose evidence could not be read, and why (the permission IAM wants, or what the job did)."""

    stack: StackSpec
    why: str


def run(arguments: argparse.Namespace, context: Context) -> int:
    """Print each stack's actions by class; exit 1 if a stack's evidence could not be read, 2 for bad input."""
    if arguments.usage_action == "tighten":
        from . import tighten

        return tighten.run(arguments, context)
    if arguments.usage_action == "recheck":
        from . import recheck

        return recheck.run(arguments, context)
    try:
        fleet, blueprint = load_configured(context.environ, context.cwd)
        chosen = selected_stacks(fleet, blueprint, arguments.identity, arguments.environment)
    except ConfigError as error:
        return report_problems(error, context.stderr, wrote_nothing=False)
    stacks = with_users(chosen, "usage report", context.stderr)
    import boto3
    import botocore.exceptions

    window = window_of(fleet, arguments.unused_for)
    try:
        read_all = read_all_evidence(boto3.session.Session(), stacks, arguments.job_timeout)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        print(f"usage report: cannot read IAM ({error}); check the AWS credentials", file=context.stderr)
        return EXIT_FAILED
    usages = judged(stacks, read_all, window)
    refusals = [refusal for refusal in read_all if isinstance(refusal, Refusal)]
    if arguments.save_evidence:
        try:
            save_evidence(Path(context.cwd, arguments.save_evidence), usages)
        except (RefusedError, OSError) as error:
            why = error.why if isinstance(error, RefusedError) else str(error)
            fix = error.fix if isinstance(error, RefusedError) else "name a file in a folder you can write"
            problem = Problem("--save-evidence", repr(arguments.save_evidence), why, fix)
            return report_problems(ConfigError([problem], subject="the command line"), context.stderr)
    render = {"json": lambda u: json.dumps(usage_json(u), indent=2) + "\n", "markdown": usage_markdown}
    context.stdout.write(render.get(arguments.format, usage_text)(usages))
    for refusal in refusals:
        print(printable(f"usage report: {refusal.stack.stack_id}: nothing judged: {refusal.why}"), file=context.stderr)
    return EXIT_FAILED if refusals else EXIT_OK


def window_of(fleet: Fleet, override: int | None) -> Callable[[StackSpec], int]:
    """Each stack's window: ``override`` (``--unused-for``), else its ``policy.unused_for_days``."""
    configs = fleet.by_stack()
    return lambda stack: override or configs[stack.identity_name, stack.environment].policy.unused_for_days


def judged(
    stacks: Sequence[StackSpec],
    read_all: Sequence[Evidence | Refusal],
    window: Callable[[StackSpec], int],
    *,
    actions: Callable[[StackSpec], Sequence[str]] | None = None,
) -> list[StackUsage]:
    """Each stack whose evidence was read, its granted actions (or those ``actions`` names) judged with its
    ``window``."""
    actions = actions or granted_actions
    catalogue = load_catalogue()
    catalogued = Catalogued(catalogue.matching, catalogue.is_authorization_check)
    return [
        StackUsage(
            stack.stack_id,
            stack.identity_name,
            stack.environment,
            window(stack),
            evidence,
            judge(actions(stack), evidence, window(stack), catalogued),
        )
        for stack, evidence in zip(stacks, read_all, strict=True)
        if isinstance(evidence, Evidence)
    ]


def with_users(stacks: Sequence[StackSpec], command: str, stderr: TextIO) -> list[StackSpec]:
    """The stacks whose principal is a user, the only ones whose use is read; each other one named on ``stderr``
    (an instance profile's role: not an error, and no reason to hold the others back)."""
    for stack in stacks:
        if not isinstance(stack.identity.principal, UserPrincipal):
            note = f"{command}: {stack.stack_id}: not read: an instance profile; only users' use is read"
            print(printable(note), file=stderr)
    return [stack for stack in stacks if isinstance(stack.identity.principal, UserPrincipal)]


def read_all_evidence(session: Any, stacks: Sequence[StackSpec], timeout_seconds: int) -> list[Evidence | Refusal]:
    """Each stack's evidence (or why there is none), :data:`IAM_READERS` stacks at a time, in ``stacks``' order;
    every stack's principal is a user (:func:`with_users`)."""
    # Clients are made one after the other (a session is not safe to share between threads), read in parallel.
    clients = {stack.stack_id: iam_client(session, stack) for stack in stacks}

    def read(stack: StackSpec) -> Evidence | Refusal:
        return read_evidence(clients[stack.stack_id], stack, stack.identity.principal.name, timeout_seconds)

    with ThreadPoolExecutor(max_workers=IAM_READERS) as pool:
        return list(pool.map(read, stacks))


def granted_actions(stack: StackSpec) -> list[str]:
    """Every action an ``Allow`` statement of the stack's policies names, as written there (wildcards kept)."""
    return [
        action
        for policy in stack.identity.policies
        for statement in policy.document.statements
        if statement.effect == "Allow" and not statement.negated_actions
        for action in statement.actions
    ]


def read_evidence(iam: Any, stack: StackSpec, user: str, timeout_seconds: int) -> Evidence | Refusal:
    """IAM's action-level last-accessed report for ``user``: the job made, waited for, every page read."""
    import botocore.exceptions

    try:
        found = iam.get_user(UserName=user)["User"]
        job = iam.generate_service_last_accessed_details(Arn=found["Arn"], Granularity="ACTION_LEVEL")["JobId"]
        deadline = time.monotonic() + timeout_seconds
        for pause in _pauses():
            answer = iam.get_service_last_accessed_details(JobId=job)
            if answer["JobStatus"] != "IN_PROGRESS":
                break
            if time.monotonic() + pause > deadline:
                return Refusal(
                    stack, f"IAM's report job {job} did not finish in {timeout_seconds} s: run it again later"
                )
            time.sleep(pause)
        if answer["JobStatus"] != "COMPLETED":
            error = answer.get("Error") or {}
            return Refusal(stack, f"IAM's report job failed ({error.get('Code', '')}: {error.get('Message', '')})")
        services = list(answer["ServicesLastAccessed"])
        for _ in range(MAX_PAGES):
            if not answer.get("IsTruncated"):
                break
            answer = iam.get_service_last_accessed_details(JobId=job, Marker=answer["Marker"])
            services += answer["ServicesLastAccessed"]
        else:
            return Refusal(stack, f"IAM's report job {job} had more than {MAX_PAGES} pages: not judged")
    except botocore.exceptions.ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        operation = str(getattr(error, "operation_name", ""))
        if code == "NoSuchEntity" and operation == "GetUser":
            return Refusal(stack, f"IAM has no user {user}: deploy the stack first")
        if code in ("AccessDenied", "AccessDeniedException"):
            return Refusal(
                stack, f"IAM refused {operation}: the credentials need {_PERMISSIONS.get(operation, operation)}"
            )
        return Refusal(stack, f"IAM answered {code} to {operation}")
    return Evidence(found["Arn"], found["CreateDate"], answer["JobCompletionDate"], tuple(services))


def _pauses() -> Any:
    yield from POLL_SECONDS
    while True:
        yield POLL_SECONDS[-1]


def save_evidence(path: Path, usages: Sequence[StackUsage]) -> None:
    """IAM's reports as read, per stack, as JSON at ``path`` (a new file, or a regular file it replaces)."""
    text = json.dumps(
        {
            "saved": datetime.now(UTC).isoformat(timespec="seconds"),
            "stacks": [
                {
                    "stack": usage.stack,
                    "identity": usage.identity,
                    "environment": usage.environment,
                    "user": usage.evidence.entity,
                    "user_created": usage.evidence.created.isoformat(),
                    "taken": usage.evidence.taken.isoformat(),
                    "services": list(usage.evidence.services),
                }
                for usage in usages
            ],
        },
        indent=2,
        default=lambda value: value.isoformat() if isinstance(value, datetime) else str(value),
    )
    if len(text.encode("utf-8")) > EVIDENCE_LIMIT:
        raise RefusedError(f"would be over {EVIDENCE_LIMIT} bytes", "report fewer stacks at once", reason="too-large")
    kind = kind_of(path)
    if kind == "missing":
        write_files(path.parent, {path.name: text})
    elif is_regular_file(path):  # not through a link: replace_file_text refuses one
        replace_file_text(path, text, limit=EVIDENCE_LIMIT)
    else:
        raise RefusedError(
            f"is {kind or 'a symbolic link'}, not a file to write", "name a regular file", reason="not-a-file"
        )
