"""``export-module DIR``: one environment's identity as a plain Terraform module for HCL roots; no cdktf."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
import re

from ..errors import ConfigError, Problem, did_you_mean, show
from ..files import (
    MAX_POLICY_BYTES,
    Judge,
    RefusedError,
    Verdict,
    check_replaceable,
    is_real_folder,
    is_regular_file,
    read_head,
    read_text,
    replace_folder,
    write_files,
)
from ..module_export import GENERATED_MARK, POLICIES_FOLDER, export_module
from ..spec import Blueprint, StackSpec
from .context import Context
from .inputs import load_configured
from .problems import EXIT_OK, report_notices, report_problems, report_unwritable

NAME = "export-module"
HELP = (
    "write one environment's identity as a plain Terraform module (no backend, no provider configuration) "
    "for an HCL root to call with module { source = DIR } (docs/terraform-workflows.md)"
)
WRITTEN_FILES = frozenset({"versions.tf", "variables.tf", "main.tf", "outputs.tf", "README.md"})
TERRAFORM_WORKING_FILES = (".terraform", ".terraform.lock.hcl")
"""What ``terraform init`` in the module's folder leaves: kept across exports."""
WRITTEN_BY = "an export"
# How main.tf names each policy document it reads: `file(join("/", [path.module, "policies/NAME.json"]))`.
_POLICY_FILE_NAMED = re.compile(rf'"{POLICIES_FOLDER}/([\w+=,.@-]+\.json)"')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``export-module DIR [--identity NAME] [--environment NAME]``."""
    parser.add_argument("directory", metavar="DIR", help="the module's folder: new, empty, or an earlier export")
    parser.add_argument("--identity", metavar="NAME", help="the identity to export; needed with several [[identities]]")
    parser.add_argument(
        "--environment", metavar="NAME", help="whose names and documents the defaults take; needed with several"
    )


def run(arguments: argparse.Namespace, context: Context) -> int:
    """Write the module (exit 0); every problem and exit status 2, writing nothing; 1 if DIR cannot be written."""
    directory = context.cwd / arguments.directory
    try:
        check_replaceable(directory, exported_by(directory), written_by=WRITTEN_BY)
    except RefusedError as refused:
        unusable: ConfigError | None = _refusal(refused, arguments.directory)
    else:
        unusable = None
    try:
        fleet, blueprint = load_configured(context.environ, context.cwd)
        stack = _selected(blueprint, fleet.identities, arguments.identity, arguments.environment)
    except ConfigError as error:
        return report_problems(error, context.stderr, then=unusable)
    if unusable is not None:
        return report_problems(unusable, context.stderr, notices=blueprint.notices)
    module = export_module(stack, fleet.origin)
    report_notices([*blueprint.notices, *module.notices], context.stderr)
    try:
        _write(module.files, directory)
    except RefusedError as refused:  # something was put into the folder while the module was written
        return report_problems(_refusal(refused, arguments.directory), context.stderr)
    except OSError as error:
        return report_unwritable(directory, error, context.stderr)
    whose = f"identity {stack.identity_name!r} in " if fleet.explicit else ""
    print(
        f"wrote the module of {whose}environment {stack.environment!r} to {arguments.directory} "
        f"({len(module.files)} files); call it from a root module with "
        f'module "{stack.identity.principal.name}" {{ source = "<path to {arguments.directory}>" }}',
        file=context.stdout,
    )
    return EXIT_OK


def _selected(
    blueprint: Blueprint, identities: Sequence[str], identity: str | None, environment: str | None
) -> StackSpec:
    """The one stack that ``--identity`` and ``--environment`` name (either may be left out when it has one choice)."""
    if (identity is None and len(identities) > 1) or (identity is not None and identity not in identities):
        given, why = (
            (
                "(not given)",
                f"the configuration has {len(identities)} identities ({', '.join(identities)}) and a module holds one",
            )
            if identity is None
            else (identity, f"is not an identity of the configuration{did_you_mean(identity, identities)}")
        )
        raise ConfigError(
            [Problem("--identity", given, why, f"add --identity with one of {', '.join(identities)}")],
            subject="the command line",
            notices=blueprint.notices,
        )
    stacks = [stack for stack in blueprint.stacks if identity in (None, stack.identity_name)]
    names = [stack.environment for stack in stacks]
    if environment is None:
        if len(stacks) == 1:
            return stacks[0]
        raise ConfigError(
            [
                Problem(
                    "--environment",
                    "(not given)",
                    f"the configuration has {len(names)} environments ({', '.join(names)}) and a module takes its "
                    "defaults from one",
                    f"add --environment with one of {', '.join(names)}; the module's variables set the others' names",
                )
            ],
            subject="the command line",
            notices=blueprint.notices,
        )
    for stack in stacks:
        if stack.environment == environment:
            return stack
    of = "a configured environment" if identity is None else f"an environment of identity {identity!r}"
    raise ConfigError(
        [Problem("--environment", environment, f"is not {of}", f"use one of {', '.join(names)}")],
        subject="the command line",
        notices=blueprint.notices,
    )


def _refusal(refused: RefusedError, shown: str) -> ConfigError:
    return ConfigError([refused.problem("DIR", show(shown))], subject="the output folder")


def exported_by(directory: Path) -> Judge:
    """Whether an entry of ``directory`` is an earlier export's: its files (each opening with
    :data:`~programmatic_iam.module_export.GENERATED_MARK`), the policy documents its ``main.tf`` reads, and
    Terraform's working files (which stay)."""
    main = directory / "main.tf"
    try:
        text = read_text(main, limit=MAX_POLICY_BYTES) if is_regular_file(main) else ""
    except RefusedError:
        text = ""
    ours = GENERATED_MARK in text.partition("\n")[0]
    documents = frozenset(_POLICY_FILE_NAMED.findall(text)) if ours else frozenset()

    def judge(relative: PurePosixPath, path: Path) -> Verdict:
        parts = relative.parts
        if len(parts) == 1 and parts[0] in TERRAFORM_WORKING_FILES:
            return "ours"  # carried over, never removed
        if parts == (POLICIES_FOLDER,):
            return "folder" if is_real_folder(path) else "foreign"
        if len(parts) == 2 and parts[0] == POLICIES_FOLDER:
            return "ours" if parts[1] in documents and is_regular_file(path) else "foreign"
        if len(parts) == 1 and parts[0] in WRITTEN_FILES and is_regular_file(path):
            return "ours" if GENERATED_MARK in read_head(path).partition("\n")[0] else "foreign"
        return "foreign"

    return judge


def _write(files: Mapping[str, str], directory: Path) -> None:
    """Write ``files`` into a folder beside ``directory``, then swap it in: a failure leaves ``directory`` as it was.

    Terraform's working files (from a ``terraform init`` in the folder) move into the new folder.
    """

    def keep_working_files(old: Path, new: Path) -> None:
        for name in TERRAFORM_WORKING_FILES:
            if (old / name).exists() or (old / name).is_symlink():
                (old / name).rename(new / name)

    replace_folder(
        directory,
        lambda staging: write_files(staging, files),
        judge=exported_by(directory),
        written_by=WRITTEN_BY,
        carry_over=keep_working_files,
    )
