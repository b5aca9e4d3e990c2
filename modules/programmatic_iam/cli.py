"""The app's entry point: load, check, then synthesize into the output folder, or report and write nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
import os
from pathlib import Path
import shutil
import sys
import tempfile
from typing import Protocol, TextIO

from .blueprint import Blueprint, load_blueprint
from .errors import ConfigError

OUTDIR_VARIABLE = "CDKTF_OUTDIR"
DEFAULT_OUTDIR = "cdktf.out"
EXIT_CONFIG_ERROR = 2
EXIT_OUTPUT_ERROR = 1


def main(environ: Mapping[str, str] | None = None, stderr: TextIO | None = None) -> int:
    """Synthesize the configured stacks. Returns the process exit code."""
    environ = os.environ if environ is None else environ
    stderr = sys.stderr if stderr is None else stderr
    try:
        blueprint = load_blueprint(environ)
    except ConfigError as error:
        print(error.render(), file=stderr)
        return EXIT_CONFIG_ERROR
    for notice in blueprint.notices:
        print(f"warning: {notice.render()}", file=stderr)
    outdir = Path(environ.get(OUTDIR_VARIABLE) or DEFAULT_OUTDIR)
    try:
        synthesize(blueprint, outdir)
    except OSError as error:
        print(
            f"{outdir}: cannot write the output ({error}); check the folder's permissions and free space", file=stderr
        )
        return EXIT_OUTPUT_ERROR
    return 0


def synthesize(blueprint: Blueprint, outdir: Path) -> None:
    """Synthesize into a fresh folder beside ``outdir``, then swap it in.

    Stacks of environments that were removed from the config do not linger, and a synthesis that
    fails half-way leaves the previous output as it was.
    """
    from .cdk import build_app  # cdktf and Node start only once the config is known to be good

    synthesize_via_staging(lambda staging: build_app(blueprint, staging), outdir, _swap_in)


class _App(Protocol):
    def synth(self) -> None: ...


def synthesize_via_staging(build: Callable[[str], _App], outdir: Path, place: Callable[[Path, Path], None]) -> None:
    """Synthesize the app ``build`` makes into a temporary folder beside ``outdir``, then ``place`` it there."""
    outdir = outdir.absolute()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    try:
        build(str(staging)).synth()
        place(staging, outdir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap_in(staging: Path, outdir: Path) -> None:
    retired = staging.with_name(staging.name + ".old")
    if outdir.exists():
        outdir.rename(retired)
    staging.rename(outdir)
    shutil.rmtree(retired, ignore_errors=True)
