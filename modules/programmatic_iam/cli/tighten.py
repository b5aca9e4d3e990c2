"""``usage tighten``: the actions no environment of an identity used in the window, as a change of ``iam.toml``
(``policy.remove_actions``), printed, and written with ``--write`` the way ``keys rotate`` writes
(docs/tightening.md)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
import tomllib
from typing import TextIO

from ..analysis.usage import Tightening, tighten, tightening_comment, tightening_text
from ..blueprint import build_blueprint
from ..config import Fleet, parse_fleet
from ..config.editing import EditRefusedError, set_list
from ..errors import ConfigError, printable
from ..files import MAX_CONFIG_BYTES, RefusedError, read_text
from ..spec import Blueprint, StackSpec
from .config_file import config_path, refuse_unplanned, show_and_write
from .context import Context
from .inputs import load_configured, selected_stacks
from .problems import EXIT_FAILED, EXIT_OK, report_problems
from .usage import Refusal, granted_actions, judged, read_all_evidence, window_of, with_users

REMOVE_KEY = "remove_actions"
COMMENT_PREFIX = "usage tighten:"


@dataclass(frozen=True, slots=True)
class Change:
    """One identity's removals, and the table of the file they go in."""

    tightening: Tightening
    table: tuple[str | int, ...]
    actions: tuple[str, ...]
    """The whole ``policy.remove_actions`` to write: those already there and the new ones."""


def run(arguments: argparse.Namespace, context: Context) -> int:
    """Print each identity's removals and the change of the file; write it with ``--write``. Exit 0 when done (or
    nothing to remove), 1 when IAM's evidence could not be read (nothing written), 2 for bad input."""
    out, err = context.stdout, context.stderr
    try:
        path, shown = config_path(context.environ, context.cwd, "the removals", "usage tighten")
        fleet, blueprint = load_configured(context.environ, context.cwd)
        chosen = selected_stacks(fleet, blueprint, arguments.identity, None)
        text = read_text(path, limit=MAX_CONFIG_BYTES)
    except ConfigError as error:
        return report_problems(error, err, wrote_nothing=True)
    except RefusedError as unreadable:
        return report_problems(ConfigError([unreadable.problem(shown, "the file")]), err, wrote_nothing=True)
    import boto3
    import botocore.exceptions

    stacks = with_users(chosen, "usage tighten", err)
    configs = fleet.by_stack()
    window = window_of(fleet, arguments.unused_for)
    try:
        read_all = read_all_evidence(boto3.session.Session(), stacks, arguments.job_timeout)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        print(f"usage tighten: cannot read IAM ({error}); check the AWS credentials; nothing written", file=err)
        return EXIT_FAILED
    refusals = [evidence for evidence in read_all if isinstance(evidence, Refusal)]
    if refusals:
        for refusal in refusals:
            print(printable(f"usage tighten: {refusal.stack.stack_id}: no evidence: {refusal.why}"), file=err)
        print(
            "usage tighten: an environment without evidence could be the one that uses an action; nothing written",
            file=err,
        )
        return EXIT_FAILED
    usages = judged(stacks, read_all, window)
    changes = []
    for identity in dict.fromkeys(stack.identity_name for stack in stacks):
        own = [stack for stack in stacks if stack.identity_name == identity]
        refused = unshared_policy(own) or unshared_window(own, window)
        identity_usages = [usage for usage in usages if usage.identity == identity]
        tightening = tighten(identity, identity_usages, window(own[0]))
        if refused:
            tightening = Tightening(identity, tightening.environments, tightening.window_days, None, refused=refused)
        out.write(tightening_text(tightening))
        if tightening.removals:
            config = configs[identity, own[0].environment]
            index = config._identity_index
            table: tuple[str | int, ...] = ("identities", index, "policy") if index is not None else ("policy",)
            removed = (*config.policy.remove_actions, *(removal.action for removal in tightening.removals))
            changes.append(Change(tightening, table, tuple(sorted(dict.fromkeys(removed), key=str.lower))))
    if not changes:
        print(f"usage tighten: nothing to remove; {printable(shown)} unchanged", file=out)
        return EXIT_OK
    return _write(changes, fleet, blueprint, text, path, shown, write=arguments.write, out=out, err=err)


def unshared_policy(stacks: Sequence[StackSpec]) -> str:
    """Why the stacks of one identity cannot be tightened together: their policies differ (an environment has one of
    its own), so one exclusion would not serve them all. Empty when they share one."""
    documents = {tuple(granted_actions(stack)) for stack in stacks}
    if len(documents) > 1:
        return "its environments' policies differ (an environment has a policy of its own): tighten each by hand"
    return ""


def unshared_window(stacks: Sequence[StackSpec], window: Callable[[StackSpec], int]) -> str:
    """Why the stacks of one identity cannot be judged with one window: their files set different ones."""
    windows = {window(stack) for stack in stacks}
    return f"its environments set different policy.unused_for_days ({sorted(windows)})" if len(windows) > 1 else ""


def _write(
    changes: Sequence[Change],
    fleet: Fleet,
    blueprint: Blueprint,
    text: str,
    path: Path,
    shown: str,
    *,
    write: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    """Edit ``text`` for each change, check that the result resolves to exactly the removals (and nothing else),
    print the diff, and write it with ``write``."""
    edited = text
    try:
        for change in changes:
            edited = set_list(
                edited,
                change.table,
                REMOVE_KEY,
                change.actions,
                tightening_comment(change.tightening),
                comment_prefix=COMMENT_PREFIX,
            )
        after = parse_fleet(tomllib.loads(edited), origin=fleet.origin, base_dir=path.parent.resolve())
        mismatches = unplanned(fleet, blueprint, after, changes)
    except (EditRefusedError, tomllib.TOMLDecodeError, ConfigError) as error:
        print(printable(f"usage tighten: cannot write the removals into {shown} ({error}); nothing written"), file=err)
        return EXIT_FAILED
    if refuse_unplanned(mismatches, "usage tighten", shown, "the removals", err):
        return EXIT_FAILED
    return show_and_write(
        text,
        edited,
        path,
        shown,
        write=write,
        unwritten="usage tighten: nothing written (--write writes it)",
        command="usage tighten",
        doc="docs/tightening.md",
        out=out,
        err=err,
    )


def unplanned(before: Fleet, before_blueprint: Blueprint, after: Fleet, changes: Sequence[Change]) -> list[str]:
    """How the edited file differs from the removals: each stack of a tightened identity must grant exactly what it
    granted less the removals, every other stack exactly what it granted, and nothing else may change."""
    removed = {
        change.tightening.identity: {removal.action.lower() for removal in change.tightening.removals}
        for change in changes
    }
    old_stacks, new_stacks = before_blueprint.stacks, build_blueprint(after).stacks
    if [(s.identity_name, s.environment) for s in old_stacks] != [(s.identity_name, s.environment) for s in new_stacks]:
        return ["the stacks of the file changed"]
    mismatches = []
    for old, new in zip(old_stacks, new_stacks, strict=True):
        gone = removed.get(old.identity_name, set())
        expected = [action for action in granted_actions(old) if action.lower() not in gone]
        if granted_actions(new) != expected:
            mismatches.append(f"{new.stack_id}: the policy does not lose exactly the removals")
    for old_config, new_config in zip(before.stacks, after.stacks, strict=True):
        old_settings, new_settings = old_config.model_dump(), new_config.model_dump()
        for settings in (old_settings, new_settings):
            settings["policy"].pop(REMOVE_KEY, None)
        if old_settings != new_settings:
            mismatches.append(f"{new_config.label}: settings other than policy.remove_actions changed")
    return mismatches
