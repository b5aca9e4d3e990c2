"""The app's entry point: load, check, then synthesize into the output folder, or report and write nothing."""

from __future__ import annotations

from collections.abc import Mapping
import os
from pathlib import Path
import sys
from typing import TextIO

from .blueprint import Blueprint, load_blueprint
from .errors import ConfigError
from .staging import synthesize_via_staging

OUTDIR_VARIABLE = "CDKTF_OUTDIR"
DEFAULT_OUTDIR = "cdktf.out"
# The cdktf CLI captures the app's output and, on failure, prints it again in its own summary. It shows
# stdout as it was written and prefixes every stderr chunk with a timestamped "[ERROR] default -".
CDKTF_CLI_VARIABLE = "CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS"
EXIT_CONFIG_ERROR = 2
EXIT_OUTPUT_ERROR = 1


def main(environ: Mapping[str, str] | None = None, stderr: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Synthesize the configured stacks. Returns the process exit code."""
    environ = os.environ if environ is None else environ
    under_cli = run_by_cdktf_cli(environ)
    # Under the cdktf CLI, stdout reads as the user would read the app's own stderr (see CDKTF_CLI_VARIABLE).
    report = (stdout or sys.stdout) if under_cli else (stderr or sys.stderr)
    try:
        blueprint = load_blueprint(environ)
    except ConfigError as error:
        print(error.render(), file=report)
        return EXIT_CONFIG_ERROR
    for notice in blueprint.notices:
        print(f"warning: {notice.render()}", file=report)
    outdir = Path(environ.get(OUTDIR_VARIABLE) or DEFAULT_OUTDIR)
    try:
        synthesize(blueprint, outdir, keep_removed_stacks=under_cli)
    except OSError as error:
        print(
            f"{outdir}: cannot write the output ({error}); check the folder's permissions and free space", file=report
        )
        return EXIT_OUTPUT_ERROR
    return 0


def synthesize(blueprint: Blueprint, outdir: Path, *, keep_removed_stacks: bool = False) -> None:
    """Synthesize every stack into ``outdir`` through a staging folder (see :func:`synthesize_via_staging`)."""
    from .cdk import build_app  # cdktf and Node start only once the config is known to be good

    synthesize_via_staging(
        lambda staging: build_app(blueprint, staging), outdir, keep_removed_stacks=keep_removed_stacks
    )


def run_by_cdktf_cli(environ: Mapping[str, str]) -> bool:
    """Whether the cdktf CLI (or CDK Terrain's) runs the app: it sets this variable for every app it runs."""
    return CDKTF_CLI_VARIABLE in environ
