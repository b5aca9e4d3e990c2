"""Synthesize into a fresh folder beside the output folder, then swap it in, keeping Terraform's working files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
import shutil
import tempfile
from typing import Protocol

STACKS_FOLDER = "stacks"
# What Terraform itself keeps in a stack folder: the initialised backend and providers, the dependency
# lock file, and a local backend's state (the state bootstrap's, before it moves into the bucket).
TERRAFORM_WORKING_FILES = (
    ".terraform",
    ".terraform.lock.hcl",
    ".terraform.tfstate.lock.info",
    "terraform.tfstate",
    "terraform.tfstate.backup",
)


class SynthesizingApp(Protocol):
    """What :func:`synthesize_via_staging` needs of an app: cdktf's ``App.synth``."""

    def synth(self) -> None: ...


def synthesize_via_staging(
    build: Callable[[str], SynthesizingApp], outdir: Path, *, keep_removed_stacks: bool = False
) -> None:
    """Synthesize the app ``build`` makes into a temporary folder beside ``outdir``, then swap it in.

    Until the synthesis has succeeded, ``outdir`` is not touched: a failure leaves it as it was, and no
    half-written stack is ever seen there. Once swapped in, each stack folder gets back Terraform's working
    files from its previous version (see :data:`TERRAFORM_WORKING_FILES`), so ``terraform init`` need not
    run again and a local state is never lost. Folders of stacks the app no longer makes are dropped, unless
    ``keep_removed_stacks``: the cdktf CLI lists the stack folders before it runs the app and removes the
    stale ones itself afterwards, failing if one is already gone.
    """
    outdir = outdir.absolute()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    try:
        build(str(staging)).synth()
        swap_in(staging, outdir, keep_removed_stacks=keep_removed_stacks)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def swap_in(staging: Path, outdir: Path, *, keep_removed_stacks: bool) -> None:
    """Make ``staging`` the new ``outdir``, carrying over what :func:`synthesize_via_staging` promises."""
    retired = staging.with_name(staging.name + ".old")
    if outdir.exists():
        outdir.rename(retired)
    staging.rename(outdir)
    if not retired.exists():
        return
    _carry_over(retired / STACKS_FOLDER, outdir / STACKS_FOLDER, keep_removed_stacks=keep_removed_stacks)
    # Only once everything worth keeping has moved: a failure above leaves it in the retired folder.
    shutil.rmtree(retired, ignore_errors=True)


def _carry_over(old_stacks: Path, new_stacks: Path, *, keep_removed_stacks: bool) -> None:
    if not old_stacks.is_dir():
        return
    for old in sorted(p for p in old_stacks.iterdir() if p.is_dir()):
        new = new_stacks / old.name
        if new.is_dir():
            for name in TERRAFORM_WORKING_FILES:
                kept = old / name
                if kept.exists() or kept.is_symlink():
                    kept.rename(new / name)
        elif keep_removed_stacks:
            new_stacks.mkdir(exist_ok=True)
            old.rename(new)
