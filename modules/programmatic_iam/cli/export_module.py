"""``export-module DIR``: one environment's identity as a plain Terraform module for HCL roots; no cdktf."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
import shutil
import tempfile

from ..errors import ConfigError, Problem
from ..module_export import GENERATED_MARK, POLICIES_FOLDER, export_module
from ..spec import Blueprint, StackSpec
from .context import Context
from .inputs import load_configured
from .output import swap_in
from .problems import EXIT_OK, report_notices, report_problems, report_unwritable

NAME = "export-module"
HELP = (
    "write one environment's identity as a plain Terraform module (no backend, no provider configuration) "
    "for an HCL root to call with module { source = DIR } (docs/terraform-workflows.md)"
)
WRITTEN_FILES = frozenset({"versions.tf", "variables.tf", "main.tf", "outputs.tf", "README.md"})
TERRAFORM_WORKING_FILES = (".terraform", ".terraform.lock.hcl")
"""What ``terraform init`` in the module's folder leaves: kept across exports."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``export-module DIR [--environment NAME]``."""
    parser.add_argument("directory", metavar="DIR", help="the module's folder: new, empty, or an earlier export")
    parser.add_argument(
        "--environment", metavar="NAME", help="whose names and documents the defaults take; needed with several"
    )


def run(arguments: argparse.Namespace, context: Context) -> int:
    """Write the module (exit 0); every problem and exit status 2, writing nothing; 1 if DIR cannot be written."""
    directory = context.cwd / arguments.directory
    try:
        config, blueprint = load_configured(context.environ, context.cwd)
        stack = _selected(blueprint, arguments.environment)
        _check_directory(directory, arguments.directory)
    except ConfigError as error:
        return report_problems(error, context.stderr)
    module = export_module(stack, config.origin)
    report_notices([*blueprint.notices, *module.notices], context.stderr)
    try:
        _write(module.files, directory)
    except OSError as error:
        return report_unwritable(directory, error, context.stderr)
    print(
        f"wrote the module of environment {stack.environment!r} to {arguments.directory} "
        f"({len(module.files)} files); call it from a root module with "
        f'module "{stack.identity.principal.name}" {{ source = "<path to {arguments.directory}>" }}',
        file=context.stdout,
    )
    return EXIT_OK


def _selected(blueprint: Blueprint, environment: str | None) -> StackSpec:
    names = [stack.environment for stack in blueprint.stacks]
    if environment is None:
        if len(blueprint.stacks) == 1:
            return blueprint.stacks[0]
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
        )
    for stack in blueprint.stacks:
        if stack.environment == environment:
            return stack
    raise ConfigError(
        [Problem("--environment", environment, "is not a configured environment", f"use one of {', '.join(names)}")],
        subject="the command line",
    )


def _check_directory(directory: Path, shown: str) -> None:
    """``directory`` must be new, empty, or hold only what an earlier export wrote: nothing else is lost."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise ConfigError(
            [Problem(shown, "(a file)", "is a file, not a folder", "give a new or empty folder for the module")],
            subject="the output folder",
        )
    foreign = sorted(str(path.relative_to(directory)) for path in _entries(directory) if not _exported(path, directory))
    if foreign:
        listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ConfigError(
            [
                Problem(
                    shown,
                    listed,
                    "holds files an export did not write; exporting would replace the folder and lose them",
                    "choose a new or empty folder, or move those files out",
                )
            ],
            subject="the output folder",
        )


def _entries(directory: Path) -> list[Path]:
    """Every file and folder in ``directory`` but the policies folder and Terraform's working files."""
    return [
        path
        for path in directory.rglob("*")
        if path.relative_to(directory).parts[0] not in TERRAFORM_WORKING_FILES
        and not (path.is_dir() and path.relative_to(directory) == Path(POLICIES_FOLDER))
    ]


def _exported(path: Path, directory: Path) -> bool:
    """What an earlier export wrote: its files (each opening with the mark) and its policy documents."""
    relative = path.relative_to(directory)
    if path.is_symlink() or not path.is_file():
        return False
    if relative.parent == Path(POLICIES_FOLDER):
        return path.suffix == ".json"
    if str(relative) not in WRITTEN_FILES:
        return False
    with path.open(encoding="utf-8", errors="replace") as opened:
        return GENERATED_MARK in opened.readline()


def _write(files: Mapping[str, str], directory: Path) -> None:
    """Write ``files`` into a folder beside ``directory``, then swap it in: a failure leaves ``directory`` as it was.

    Terraform's working files (from a ``terraform init`` in the folder) move into the new folder.
    """
    directory = directory.absolute()
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        for relative, text in files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        for name in TERRAFORM_WORKING_FILES:
            if (directory / name).exists():
                (directory / name).rename(staging / name)
        swap_in(staging, directory, keep_removed_stacks=False)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
