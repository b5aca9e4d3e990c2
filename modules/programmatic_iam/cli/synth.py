"""``synth``: what ``main.py`` does for ``cdktf synth``: check, then synthesize every stack, or write nothing."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError
from ..spec import Blueprint
from .context import Context
from .inputs import load_blueprint
from .output import synthesize_via_staging
from .problems import EXIT_OK, report_notices, report_problems, report_unwritable

NAME = "synth"
HELP = "synthesize one stack per environment into $CDKTF_OUTDIR (default cdktf.out), or write nothing"

OUTDIR_VARIABLE = "CDKTF_OUTDIR"
DEFAULT_OUTDIR = "cdktf.out"
# The cdktf CLI captures the app's output and, on failure, prints it again in its own summary. It shows
# stdout as it was written and prefixes every stderr chunk with a timestamped "[ERROR] default -".
CDKTF_CLI_VARIABLE = "CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No arguments: the configuration and $CDKTF_OUTDIR say everything."""


def run(arguments: argparse.Namespace, context: Context) -> int:
    """Load and check the configuration, then synthesize; problems and warnings are printed, never raised."""
    under_cli = run_by_cdktf_cli(context.environ)
    # Under the cdktf CLI, stdout reads as the user would read the app's own stderr (see CDKTF_CLI_VARIABLE).
    report = context.stdout if under_cli else context.stderr
    try:
        blueprint = load_blueprint(context.environ, context.cwd)
    except ConfigError as error:
        return report_problems(error, report)
    report_notices(blueprint.notices, report)
    outdir = Path(context.environ.get(OUTDIR_VARIABLE) or DEFAULT_OUTDIR)
    try:
        synthesize(blueprint, context.cwd / outdir, keep_removed_stacks=under_cli)
    except OSError as error:
        return report_unwritable(outdir, error, report)
    return EXIT_OK


def synthesize(blueprint: Blueprint, outdir: Path, *, keep_removed_stacks: bool = False) -> None:
    """Synthesize every stack into ``outdir`` through a staging folder (see :func:`synthesize_via_staging`)."""
    from ..cdk import build_app  # cdktf and Node start only once the config is known to be good

    synthesize_via_staging(
        lambda staging: build_app(blueprint, staging), outdir, keep_removed_stacks=keep_removed_stacks
    )


def run_by_cdktf_cli(environ: Mapping[str, str]) -> bool:
    """Whether the cdktf CLI (or CDK Terrain's) runs the app: it sets this variable for every app it runs."""
    return CDKTF_CLI_VARIABLE in environ
