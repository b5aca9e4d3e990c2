"""``synth``: what ``main.py`` does for ``cdktf synth``: check, then synthesize every stack, or write nothing."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from contextlib import ExitStack
import importlib
from pathlib import Path
import sys
import threading

from ..errors import ConfigError, EngineError, show
from ..files import RefusedError
from ..spec import Blueprint
from ..templating import other_work_running
from .context import Context
from .inputs import load_blueprint
from .output import output_folder_problems, output_refusal, synthesize_via_staging
from .problems import EXIT_OK, report_engine_error, report_notices, report_problems, report_unwritable

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
    named = context.environ.get(OUTDIR_VARIABLE) or ""
    outdir = Path(named or DEFAULT_OUTDIR)
    where = f"${OUTDIR_VARIABLE}" if named else "the output folder"
    unusable = output_folder_problems(context.cwd / outdir, where=where, given=show(str(outdir)))
    if unusable is not None:  # reported after the configuration's problems, without starting the engine
        try:
            notices = load_blueprint(context.environ, context.cwd).notices
        except ConfigError as error:
            return report_problems(error, report, then=unusable)
        return report_problems(unusable, report, notices=notices)
    engine = EngineStart()
    try:
        blueprint = load_blueprint(context.environ, context.cwd)
    except ConfigError as error:
        engine.join()  # the kernel it started then stops in order, not killed halfway through its start
        return report_problems(error, report)
    report_notices(blueprint.notices, report)
    try:
        engine.wait()
    except EngineError as error:
        return report_engine_error(error, report)
    try:
        synthesize(blueprint, context.cwd / outdir, keep_removed_stacks=under_cli)
    except RefusedError as refused:  # something was put into the folder while the stacks were synthesized
        return report_problems(output_refusal(refused, where=where, given=show(str(outdir))), report)
    except OSError as error:
        return report_unwritable(outdir, error, report)
    return EXIT_OK


class EngineStart:
    """Imports the cdk layer in a thread: Node starts and loads cdktf and the provider while Python checks the
    configuration, which saves the check's time (about 0.2 s; docs/performance.md). Nothing is synthesized
    before the configuration has passed; a bad one only costs the started kernel, which stops with the process.
    """

    def __init__(self) -> None:
        self._error: BaseException | None = None
        # Entered here, before the thread exists, so that no render in between caps the address space under it.
        self._renders_uncapped = ExitStack()
        self._renders_uncapped.enter_context(other_work_running("the engine's start"))
        self._thread = threading.Thread(target=self._start, name="engine-start", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            importlib.import_module("..cdk", __package__)
        except BaseException as error:  # re-raised in the main thread by wait()
            self._error = error
        finally:
            self._renders_uncapped.close()

    def join(self) -> None:
        """Until the import has ended, however it ended."""
        self._thread.join()

    def wait(self) -> None:
        """Until the cdk layer is imported; raises what the import raised."""
        self.join()
        if self._error is not None:
            raise self._error


def synthesize(blueprint: Blueprint, outdir: Path, *, keep_removed_stacks: bool = False) -> None:
    """Synthesize every stack into ``outdir`` through a staging folder (see :func:`synthesize_via_staging`)."""
    from ..cdk import build_app
    from ..cdk.bindings import ENGINE
    from ..cdk.engine import leave_type_checks_to_the_kernel

    # Only in our own command: a program that imports the library keeps jsii's Python-side checks of its calls.
    leave_type_checks_to_the_kernel(ENGINE, sys.modules)

    synthesize_via_staging(
        lambda staging: build_app(blueprint, staging), outdir, keep_removed_stacks=keep_removed_stacks
    )


def run_by_cdktf_cli(environ: Mapping[str, str]) -> bool:
    """Whether the cdktf CLI (or CDK Terrain's) runs the app: it sets this variable for every app it runs."""
    return CDKTF_CLI_VARIABLE in environ
