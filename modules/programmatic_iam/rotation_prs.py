"""The rotation schedule's script: one pull request per identity and environment whose rotation is due.

``python -m programmatic_iam.rotation_prs [--base BRANCH] [--remote NAME] [--shards K --shard N] [--as-of DAY]
[--list-shards]``, run by ``.github/workflows/rotation.yml`` in a clone of the repository (docs/key-rotation.md).

For each stack whose rotation is due (as ``keys rotate`` without a selection judges it: a key past
``max_age_days``, or a rotation whose next step's evidence holds in IAM), on a fresh checkout of the base branch:
``keys rotate --identity I --environment E --step S``, a commit of the configuration file alone, a push to the
branch :func:`branch_name` derives from the stack, and a pull request opened or updated through ``gh``. The one
call to GitHub is :class:`PullRequests`, injected, so that everything else runs in tests against the emulator
and a local repository. A branch that already holds exactly this change on this base is not pushed again.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from io import StringIO
import json
import os
from pathlib import Path
import re
import subprocess
import sys
import tempfile
from typing import Protocol, TextIO

from .cli import main as cli_main
from .cli.inputs import load_configured
from .cli.problems import report_problems
from .config import CONFIG_FILE_VARIABLE, DEFAULT_CONFIG_FILE
from .errors import ConfigError, printable
from .plan_matrix import DEFAULT_SHARDS, MAX_SHARDS, shard_of
from .rotation import RotationRefusedError, Step, evidence_problems, is_due, plan_rotation

BRANCH_PREFIX = "rotation"
"""Every rotation branch is ``rotation/<identity>/<environment>``, both escaped by :func:`branch_part`."""
MAX_BRANCH_PART = 200
"""Bytes of one escaped part: a ref's component is a file name on the remote's disk (255 at most)."""
_KEPT = re.compile(r"[A-Za-z0-9_-]")
COMMIT_BODY = (
    "Written by `keys rotate` after checking its evidence in IAM (docs/key-rotation.md).\n"
    "The rotation schedule rewrites this branch."
)
_GIT_TIMEOUT = 300


@dataclass(frozen=True, slots=True)
class WaitingRotation:
    """A rotation in progress whose next step's evidence does not hold yet: said at every run, so that a rotation
    held up by a consumer still using its old key is seen, not silently skipped week after week."""

    label: str
    title: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DueRotation:
    """One stack whose rotation should move on: what ``keys rotate`` is asked for, and the pull request's names."""

    identity: str
    environment: str
    step: Step
    title: str
    """``step 2 of 3: deactivate the old key``."""
    label: str
    """``identity 'backup' in environment 'production'``, as the commands name a stack."""
    stack_id: str
    """The stack's folder name, which picks its shard (and the apply's concurrency group)."""

    @property
    def branch(self) -> str:
        """The branch the pull request comes from."""
        return branch_name(self.identity, self.environment)

    @property
    def summary(self) -> str:
        """The pull request's title and the commit's first line (names escaped, never a line break)."""
        return printable(f"Rotate the access key of {self.label}: {self.title}")


class PullRequests(Protocol):
    """The one call to GitHub: open a pull request from ``branch`` into ``base``, or update the open one."""

    def __call__(self, *, branch: str, base: str, title: str, body: str) -> str: ...


class RotationPrError(Exception):
    """Something this script cannot do for one stack (a refused step, an unexpected change, a git failure)."""


def branch_part(name: str) -> str:
    """``name`` as one component of a branch: letters, digits, ``_`` and ``-`` kept, every other character
    (its UTF-8 bytes) written ``%XX``, so that no two names share a branch and git accepts every result (no
    ``..``, ``@{``, leading dot, ``.lock``, space or control character can appear). Raises ``ValueError`` for an
    empty name or one too long for a ref."""
    if not name:
        raise ValueError("is empty")
    escaped = "".join(c if _KEPT.fullmatch(c) else "".join(f"%{b:02X}" for b in c.encode()) for c in name)
    if len(escaped) > MAX_BRANCH_PART:
        raise ValueError(f"is {len(escaped)} characters once escaped for a branch name, more than {MAX_BRANCH_PART}")
    return escaped


def branch_name(identity: str, environment: str) -> str:
    """``rotation/<identity>/<environment>``, each escaped by :func:`branch_part`."""
    return f"{BRANCH_PREFIX}/{branch_part(identity)}/{branch_part(environment)}"


# ---------------------------------------------------------------------------------------------------------------------
# Which rotations are due
# ---------------------------------------------------------------------------------------------------------------------


def due_rotations(
    environ: Mapping[str, str], cwd: Path, now: datetime, shards: int, shard: int | None = None
) -> tuple[list[DueRotation], list[WaitingRotation]]:
    """The stacks of the configuration in ``cwd`` whose rotation is due on ``now`` (only those of ``shard`` among
    ``shards`` when given), judged as ``keys rotate`` without a selection judges them, from IAM's keys read with
    the process's AWS credentials. Raises ``ConfigError`` for a bad configuration, boto's errors when IAM cannot
    be read."""
    import boto3

    from .cli.rotate import keys_in_iam, store_readings

    fleet, blueprint = load_configured(environ, cwd)
    specs = {(spec.identity_name, spec.environment): spec for spec in blueprint.stacks}
    candidates = []
    for stack in fleet.stacks:
        spec = specs[(stack.identity, stack.environment.name)]
        if shard is not None and shard_of(spec.stack_id, shards) != shard:
            continue
        try:
            candidates.append((plan_rotation(fleet, stack, now.date()), spec))
        except RotationRefusedError:  # no key to rotate (an instance profile, an adopted key)
            continue
    session = boto3.session.Session()  # this run's credentials, not those a default session cached
    keys = keys_in_iam(session, [spec for _, spec in candidates])
    stores = store_readings(session, [plan.step for plan, _ in candidates], [spec for _, spec in candidates])
    due: list[DueRotation] = []
    waiting: list[WaitingRotation] = []
    for (plan, spec), found, store in zip(candidates, keys, stores, strict=True):
        if is_due(plan.stack, found, now, store):
            stack = plan.stack
            due.append(
                DueRotation(stack.identity, stack.environment.name, plan.step, plan.title, stack.label, spec.stack_id)
            )
        elif plan.step != "create":
            reasons = evidence_problems(plan.step, found, plan.stack, now, store)
            waiting.append(WaitingRotation(plan.stack.label, plan.title, tuple(reasons)))
    return due, waiting


# ---------------------------------------------------------------------------------------------------------------------
# Git
# ---------------------------------------------------------------------------------------------------------------------


def git(repo: Path, *args: str, input_text: str | None = None) -> str:
    """``git args`` in ``repo``; its standard output. Raises :class:`RotationPrError` naming the command."""
    completed = subprocess.run(
        ["git", *args],
        cwd=repo,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=_GIT_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        raise RotationPrError(f"git {' '.join(args)} failed: {completed.stderr.strip()}")
    return completed.stdout


@contextmanager
def fresh_checkout(repo: Path, commit: str) -> Iterator[Path]:
    """A worktree of ``repo`` at ``commit`` (detached), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="rotation-") as scratch:
        tree = Path(scratch) / "checkout"
        git(repo, "worktree", "add", "--quiet", "--detach", str(tree), commit)
        try:
            yield tree
        finally:
            git(repo, "worktree", "remove", "--force", str(tree))


def fetch_base(repo: Path, remote: str, base: str) -> str:
    """The commit of ``remote``'s branch ``base``, fetched now."""
    git(repo, "fetch", "--quiet", remote, f"refs/heads/{base}")
    return git(repo, "rev-parse", "FETCH_HEAD^{commit}").strip()


def remote_branch(repo: Path, remote: str, branch: str) -> str | None:
    """The commit ``remote``'s ``branch`` is at (fetched), or ``None`` when it has no such branch."""
    listed = git(repo, "ls-remote", "--heads", remote, f"refs/heads/{branch}").split()
    if not listed:
        return None
    git(repo, "fetch", "--quiet", remote, f"refs/heads/{branch}")
    return listed[0]


# ---------------------------------------------------------------------------------------------------------------------
# One stack: rotate, commit, push, pull request
# ---------------------------------------------------------------------------------------------------------------------


def propose(
    repo: Path,
    due: DueRotation,
    *,
    remote: str,
    base: str,
    base_commit: str,
    environ: Mapping[str, str],
    as_of: str | None,
    pull_requests: PullRequests,
) -> str:
    """Take ``due``'s step on a fresh checkout of ``base_commit`` and propose it (:func:`propose_edit`)."""
    arguments = ["keys", "rotate", "--identity", due.identity, "--environment", due.environment, "--step", due.step]
    proposal = Proposal(
        due.branch, due.summary, COMMIT_BODY, lambda output, config: _pull_request_body(due, output, config)
    )
    return propose_edit(
        repo,
        [*arguments, *(["--as-of", as_of] if as_of else [])],
        proposal,
        remote=remote,
        base=base,
        base_commit=base_commit,
        environ=environ,
        pull_requests=pull_requests,
    )


@dataclass(frozen=True, slots=True)
class Proposal:
    """Where a scheduled change goes and how it is described."""

    branch: str
    title: str
    """The pull request's title and the commit's first line."""
    commit_body: str
    body: Callable[[str, str], str]
    """The pull request's text, from the command's output and the configuration file's name."""


def propose_edit(
    repo: Path,
    arguments: Sequence[str],
    proposal: Proposal,
    *,
    remote: str,
    base: str,
    base_commit: str,
    environ: Mapping[str, str],
    pull_requests: PullRequests,
    unchanged: Callable[[str], str] | None = None,
) -> str:
    """Run the command ``arguments`` on a fresh checkout of ``base_commit``, commit the configuration file alone, push
    it to the proposal's branch (unless the branch already holds exactly that change on that commit) and open or
    update its pull request. A command that changes nothing is an error, unless ``unchanged`` says what that means
    (from the command's output). Returns what happened, for the log. Raises :class:`RotationPrError`."""
    config = environ.get(CONFIG_FILE_VARIABLE) or DEFAULT_CONFIG_FILE
    command = " ".join(arguments[:2])
    with fresh_checkout(repo, base_commit) as tree:
        output, errors = StringIO(), StringIO()
        code = cli_main(list(arguments), environ=environ, cwd=tree, stdout=output, stderr=errors)
        if code != 0:
            raise RotationPrError(f"{command} refused ({code}): {errors.getvalue().strip()}")
        changed = changed_files(tree)
        if not changed and unchanged is not None:
            return unchanged(output.getvalue())
        if changed != [config]:
            raise RotationPrError(f"{command} changed {changed!r}, not only {config!r}; nothing pushed")
        message = f"{proposal.title}\n\n{proposal.commit_body}\n"
        what = commit_and_push(tree, config, message, remote=remote, branch=proposal.branch)
    body = proposal.body(output.getvalue(), config)
    return f"{what}; {pull_requests(branch=proposal.branch, base=base, title=proposal.title, body=body)}"


def changed_files(tree: Path) -> list[str]:
    """The files changed in the worktree ``tree``, each as ``git status`` names it; an untracked file, or one
    staged, deleted or renamed, is named with its status (``?? x``), so that only plain edits read as names."""
    entries = git(tree, "status", "--porcelain", "-z", "--untracked-files=all").split("\0")[:-1]
    return [entry[3:] if entry.startswith(" M ") else entry for entry in entries]


def commit_and_push(tree: Path, config: str, message: str, *, remote: str, branch: str) -> str:
    """Commit ``config`` alone in ``tree`` with ``message`` and push it to ``remote``'s ``branch``, unless the branch
    already holds exactly that change on the same parent; what happened, for the log."""
    git(tree, "add", "--", config)
    git(tree, "commit", "--quiet", "--file", "-", input_text=message)
    commit = git(tree, "rev-parse", "HEAD").strip()
    pushed = remote_branch(tree, remote, branch)
    if pushed is not None and _same_change(tree, pushed, commit):
        return "already on the branch"
    lease = f"--force-with-lease=refs/heads/{branch}:{pushed or ''}"
    git(tree, "push", "--quiet", lease, remote, f"{commit}:refs/heads/{branch}")
    return "pushed"


def _same_change(repo: Path, pushed: str, commit: str) -> bool:
    """Whether the branch's commit ``pushed`` is ``commit`` but for its date: the same parent and the same tree."""
    same_parent = git(repo, "rev-parse", f"{pushed}^") == git(repo, "rev-parse", f"{commit}^")
    return same_parent and git(repo, "rev-parse", f"{pushed}^{{tree}}") == git(repo, "rev-parse", f"{commit}^{{tree}}")


def _fence(text: str) -> str:
    """A Markdown code fence longer than any run of backticks in ``text``."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _pull_request_body(due: DueRotation, rotated: str, config: str) -> str:
    fence = _fence(rotated)
    return (
        f"{due.summary}.\n\n"
        f"`keys rotate` checked IAM's evidence for this step and wrote it into `{config}`; nothing else changed:\n\n"
        f"{fence}text\n{rotated}{fence}\n\n"
        "The review workflow plans and reviews it; merging applies it. The next step is proposed by a later run "
        "of the schedule, once its evidence holds (docs/key-rotation.md). The schedule rewrites this branch: "
        "do not push to it.\n"
    )


# ---------------------------------------------------------------------------------------------------------------------
# GitHub, through gh
# ---------------------------------------------------------------------------------------------------------------------


def github_pull_requests(*, branch: str, base: str, title: str, body: str) -> str:
    """Open a pull request from ``branch`` into ``base`` with ``gh``, or update the open one (``GH_TOKEN`` and
    ``GH_REPO`` from the environment)."""

    def gh(*args: str, body_text: str | None = None) -> str:
        try:
            completed = subprocess.run(
                ["gh", *args], input=body_text, capture_output=True, text=True, timeout=_GIT_TIMEOUT, check=False
            )
        except OSError as error:  # no gh on the PATH
            raise RotationPrError(f"cannot run gh ({error}): install the GitHub CLI") from None
        if completed.returncode != 0:
            raise RotationPrError(f"gh {args[0]} {args[1]} failed: {completed.stderr.strip()}")
        return completed.stdout.strip()

    found = gh("pr", "list", "--head", branch, "--base", base, "--state", "open", "--json", "number")
    numbers = [str(entry["number"]) for entry in json.loads(found or "[]")]
    if numbers:
        gh("pr", "edit", numbers[0], "--title", title, "--body-file", "-", body_text=body)
        return f"pull request #{numbers[0]} updated"
    return "pull request opened: " + gh(
        "pr", "create", "--head", branch, "--base", base, "--title", title, "--body-file", "-", body_text=body
    )


# ---------------------------------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------------------------------


def schedule_parser(module: str, doc: str) -> argparse.ArgumentParser:
    """The command line every schedule's script starts from: ``--base`` and ``--remote``."""
    parser = argparse.ArgumentParser(prog=f"python -m programmatic_iam.{module}", description=doc.split("\n")[0])
    parser.add_argument("--base", default="main", help="the branch the pull requests go into (main)")
    parser.add_argument("--remote", default="origin", help="the remote to fetch the base from and push to (origin)")
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = schedule_parser("rotation_prs", __doc__)
    parser.add_argument("--shards", type=int, default=DEFAULT_SHARDS, help="as the review workflow shards stacks")
    parser.add_argument("--shard", type=int, help="only the stacks of this shard (0 to --shards - 1)")
    parser.add_argument("--as-of", metavar="YYYY-MM-DD", help="judge ages and the grace period on this day")
    parser.add_argument(
        "--list-shards", action="store_true", help="print the shards with a due rotation as a JSON list, push nothing"
    )
    return parser


def main(
    argv: Sequence[str],
    *,
    cwd: Path,
    environ: Mapping[str, str],
    stdout: TextIO,
    stderr: TextIO,
    pull_requests: PullRequests = github_pull_requests,
) -> int:
    """Propose every due rotation (of ``--shard``); 0 when each was proposed (or none was due), 1 when one could
    not be (the others still are), 2 for bad input."""
    try:
        arguments = _parser().parse_args(list(argv))
    except SystemExit as leaving:
        return int(leaving.code or 0)
    if not 1 <= arguments.shards <= MAX_SHARDS or not 0 <= (arguments.shard or 0) < arguments.shards:
        print(f"rotation_prs: --shard must be from 0 to --shards - 1, --shards from 1 to {MAX_SHARDS}", file=stderr)
        return 2
    try:
        now = (
            datetime.strptime(arguments.as_of, "%Y-%m-%d").replace(tzinfo=UTC) if arguments.as_of else datetime.now(UTC)
        )
    except ValueError:
        print(f"rotation_prs: --as-of {arguments.as_of!r} is not a date: write it as YYYY-MM-DD", file=stderr)
        return 2
    import botocore.exceptions

    try:
        base_commit = fetch_base(cwd, arguments.remote, arguments.base)
        with fresh_checkout(cwd, base_commit) as tree:
            due, waiting = due_rotations(environ, tree, now, arguments.shards, arguments.shard)
    except ConfigError as error:
        print(printable(f"rotation_prs: the configuration on {arguments.base} does not load:"), file=stderr)
        return report_problems(error, stderr)
    except (RotationPrError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        print(printable(f"rotation_prs: {error}"), file=stderr)
        return 1
    if arguments.list_shards:
        print(json.dumps(sorted({shard_of(d.stack_id, arguments.shards) for d in due})), file=stdout)
        return 0
    for held in waiting:
        print(printable(f"Waiting: {held.label}, {held.title}: {'; '.join(held.reasons)}"), file=stdout)
    if not due:
        print("No rotation is due: nothing pushed.", file=stdout)
        return 0
    failed = False
    for rotation in due:
        try:
            branch = rotation.branch
        except ValueError as bad_name:
            failed = True
            print(printable(f"rotation_prs: {rotation.label}: a name {bad_name}: no branch for it"), file=stderr)
            continue
        try:
            what = propose(
                cwd,
                rotation,
                remote=arguments.remote,
                base=arguments.base,
                base_commit=base_commit,
                environ=environ,
                as_of=arguments.as_of,
                pull_requests=pull_requests,
            )
        except RotationPrError as error:
            failed = True
            for line in f"rotation_prs: {rotation.label}: {error}".splitlines():
                print(printable(line), file=stderr)
        else:
            print(printable(f"{rotation.label}: {rotation.title}: {branch}: {what}"), file=stdout)
    return 1 if failed else 0


__all__ = [
    "DueRotation",
    "Proposal",
    "PullRequests",
    "RotationPrError",
    "branch_name",
    "branch_part",
    "WaitingRotation",
    "due_rotations",
    "github_pull_requests",
    "main",
    "propose",
    "propose_edit",
]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], cwd=Path.cwd(), environ=os.environ, stdout=sys.stdout, stderr=sys.stderr))
