"""The tightening schedule's script: one pull request per identity whose policy IAM's evidence lets shrink.

``python -m programmatic_iam.tightening_prs [--base BRANCH] [--remote NAME]``, run by
``.github/workflows/tightening.yml`` in a clone of the repository (docs/tightening.md).

For each identity of the configuration on the base branch, on a fresh checkout of it: ``usage tighten --write
--identity I`` (every environment of the identity judged together), a commit of the configuration file alone, a
push to ``tightening/<identity>`` and a pull request opened or updated, as the rotation schedule does
(``rotation_prs``, whose git and GitHub calls this reuses). An identity with nothing to remove gets no pull request;
one whose evidence cannot be read is reported, and the others go on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import os
from pathlib import Path
import sys
from typing import TextIO

from .cli.inputs import load_configured
from .cli.problems import report_problems
from .errors import ConfigError, printable
from .rotation_prs import (
    Proposal,
    PullRequests,
    RotationPrError,
    branch_part,
    fetch_base,
    fresh_checkout,
    github_pull_requests,
    propose_edit,
    schedule_parser,
)
from .rotation_prs import _fence as fence

BRANCH_PREFIX = "tightening"
COMMIT_BODY = (
    "Written by `usage tighten` from IAM's last-accessed reports of every environment of the identity "
    "(docs/tightening.md).\nThe tightening schedule rewrites this branch."
)


def branch_name(identity: str) -> str:
    """``tightening/<identity>``, escaped as the rotation's branches are."""
    return f"{BRANCH_PREFIX}/{branch_part(identity)}"


def title(identity: str) -> str:
    return printable(f"Remove the actions the identity {identity!r} has not used")


def propose(
    repo: Path,
    identity: str,
    *,
    remote: str,
    base: str,
    base_commit: str,
    environ: Mapping[str, str],
    pull_requests: PullRequests,
) -> str:
    """``usage tighten --write --identity identity`` on a fresh checkout of ``base_commit``, proposed as the rotation
    schedule proposes a step (:func:`~.rotation_prs.propose_edit`); an identity with nothing to remove gets nothing.
    Raises :class:`RotationPrError`."""
    proposal = Proposal(
        branch_name(identity),
        title(identity),
        COMMIT_BODY,
        lambda output, config: _pull_request_body(identity, output, config),
    )
    return propose_edit(
        repo,
        ["usage", "tighten", "--write", "--identity", identity],
        proposal,
        remote=remote,
        base=base,
        base_commit=base_commit,
        environ=environ,
        pull_requests=pull_requests,
        unchanged=lambda output: "nothing to remove: " + " ".join(output.split("\n")[0].split()),
    )


def _pull_request_body(identity: str, tightened: str, config: str) -> str:
    marks = fence(tightened)
    return (
        f"{title(identity)}.\n\n"
        f"`usage tighten` read IAM's last-accessed reports of every environment of the identity and wrote the "
        f"actions none of them used into `{config}` (`policy.remove_actions`); nothing else changed:\n\n"
        f"{marks}text\n{tightened}{marks}\n\n"
        "The review workflow plans it and reads IAM's evidence again: its comment shows each removed action with "
        "that evidence, and an action used since stops the apply. Merging applies it. To keep an action, delete it "
        "from the list before merging (docs/tightening.md). The schedule rewrites this branch: do not push to it.\n"
    )


def main(
    argv: Sequence[str],
    *,
    cwd: Path,
    environ: Mapping[str, str],
    stdout: TextIO,
    stderr: TextIO,
    pull_requests: PullRequests = github_pull_requests,
) -> int:
    """Propose every identity's removals; 0 when each identity was handled, 1 when one could not be (the others
    still are), 2 for bad input."""
    try:
        arguments = schedule_parser("tightening_prs", __doc__ or "").parse_args(list(argv))
    except SystemExit as leaving:
        return int(leaving.code or 0)
    try:
        base_commit = fetch_base(cwd, arguments.remote, arguments.base)
        with fresh_checkout(cwd, base_commit) as tree:
            fleet, _ = load_configured(environ, tree)
    except ConfigError as error:
        print(printable(f"tightening_prs: the configuration on {arguments.base} does not load:"), file=stderr)
        return report_problems(error, stderr)
    except RotationPrError as error:
        print(printable(f"tightening_prs: {error}"), file=stderr)
        return 1
    failed = False
    for identity in fleet.identities:
        try:
            what = propose(
                cwd,
                identity,
                remote=arguments.remote,
                base=arguments.base,
                base_commit=base_commit,
                environ=environ,
                pull_requests=pull_requests,
            )
        except (RotationPrError, ValueError) as error:
            failed = True
            for line in f"tightening_prs: {identity}: {error}".splitlines():
                print(printable(line), file=stderr)
        else:
            print(printable(f"{identity}: {what}"), file=stdout)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], cwd=Path.cwd(), environ=os.environ, stdout=sys.stdout, stderr=sys.stderr))
