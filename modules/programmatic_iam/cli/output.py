"""Synthesize into a fresh folder beside the output folder, then swap it in, keeping Terraform's working files."""

from __future__ import annotations

from collections.abc import Callable
import os
from pathlib import Path, PurePosixPath
from typing import Protocol

from ..errors import ConfigError
from ..files import RefusedError, Verdict, check_replaceable, is_real_folder, is_regular_file, replace_folder

STACKS_FOLDER = "stacks"
MANIFEST = "manifest.json"
SYNTHESIZED_FILES = ("cdk.tf.json", "cdk.tf")
"""What cdktf writes in a stack folder (``cdk.tf`` with ``cdktf synth --hcl``): what makes it one."""
# What Terraform itself keeps in a stack folder: the initialised backend and providers, the dependency
# lock file, and a local backend's state (the state bootstrap's, before it moves into the bucket).
TERRAFORM_WORKING_FILES = (
    ".terraform",
    ".terraform.lock.hcl",
    ".terraform.tfstate.lock.info",
    "terraform.tfstate",
    "terraform.tfstate.backup",
)
WRITTEN_BY = "a synthesis"


class SynthesizingApp(Protocol):
    """What :func:`synthesize_via_staging` needs of an app: cdktf's ``App.synth``."""

    def synth(self) -> None: ...


def synthesized(relative: PurePosixPath, path: Path) -> Verdict:
    """Whether an entry of the output folder is an earlier synthesis's: cdktf's ``manifest.json`` and
    ``stacks/``, in which each folder holds a ``cdk.tf.json`` (or ``cdk.tf``), or at least what
    ``terraform init`` left there (:data:`TERRAFORM_WORKING_FILES`).

    A stack folder is Terraform's working directory, so all it holds is the synthesis's: Terraform's
    working files are carried over, plans and other files left there are dropped (docs/deploying.md).
    """
    parts = relative.parts
    if parts == (MANIFEST,):
        return "ours" if is_regular_file(path) else "foreign"
    if parts == (STACKS_FOLDER,):
        return "folder" if is_real_folder(path) else "foreign"
    if len(parts) == 2 and parts[0] == STACKS_FOLDER and is_real_folder(path):
        synthesized_there = any(is_regular_file(path / name) for name in SYNTHESIZED_FILES)
        initialised_there = any(os.path.lexists(path / name) for name in TERRAFORM_WORKING_FILES)
        return "ours" if synthesized_there or initialised_there else "foreign"
    return "foreign"


def output_folder_problems(outdir: Path, *, where: str, given: str) -> ConfigError | None:
    """Why ``outdir`` cannot take a synthesis, as the problem at ``where`` (``$CDKTF_OUTDIR``, ``--output``)
    about ``given`` (its value); ``None`` when it is missing, empty or an earlier synthesis."""
    try:
        check_replaceable(outdir, synthesized, written_by=WRITTEN_BY)
    except RefusedError as refused:
        return output_refusal(refused, where=where, given=given)
    return None


def output_refusal(refused: RefusedError, *, where: str, given: str) -> ConfigError:
    """``refused`` as the one problem of the output folder."""
    return ConfigError([refused.problem(where, given)], subject="the output folder")


def synthesize_via_staging(
    build: Callable[[str], SynthesizingApp], outdir: Path, *, keep_removed_stacks: bool = False
) -> None:
    """Synthesize the app ``build`` makes into a temporary folder beside ``outdir``, then swap it in.

    ``outdir`` must be missing, empty or an earlier synthesis (see :func:`synthesized`); anything else
    raises :class:`~programmatic_iam.files.RefusedError` and nothing is written. Until the synthesis has
    succeeded, ``outdir`` is not touched: a failure leaves it as it was, and no half-written stack is ever
    seen there. Once swapped in, each stack folder gets back Terraform's working files from its previous
    version (see :data:`TERRAFORM_WORKING_FILES`), so ``terraform init`` need not run again and a local
    state is never lost. Folders of stacks the app no longer makes are dropped, unless
    ``keep_removed_stacks``: the cdktf CLI lists the stack folders before it runs the app and removes the
    stale ones itself afterwards, failing if one is already gone.
    """
    replace_folder(
        outdir,
        lambda staging: build(str(staging)).synth(),
        judge=synthesized,
        written_by=WRITTEN_BY,
        carry_over=lambda old, new: _carry_over(
            old / STACKS_FOLDER, new / STACKS_FOLDER, keep_removed_stacks=keep_removed_stacks
        ),
    )


def _carry_over(old_stacks: Path, new_stacks: Path, *, keep_removed_stacks: bool) -> None:
    if not is_real_folder(old_stacks):
        return
    for old in sorted(p for p in old_stacks.iterdir() if is_real_folder(p)):
        new = new_stacks / old.name
        if is_real_folder(new):
            for name in TERRAFORM_WORKING_FILES:
                kept = old / name
                if kept.exists() or kept.is_symlink():
                    kept.rename(new / name)
        elif keep_removed_stacks:
            new_stacks.mkdir(exist_ok=True)
            old.rename(new)
