"""``python -m programmatic_iam COMMAND``: one entry point, one module per command, one way to report problems.

Each command module has ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(arguments, context) -> int``;
a new command is a new module listed in :data:`COMMANDS`. The library below never speaks of flags, exit
codes or files written: that is this package's business.
"""

from __future__ import annotations

import argparse
import atexit
from collections.abc import Mapping, Sequence
import contextlib
import os
from pathlib import Path
import sys
from typing import NoReturn, TextIO

from . import bootstrap, check, deployer_policy, export_module, keys, report, review, synth, usage
from .context import Command, Context

COMMANDS: tuple[Command, ...] = (synth, check, report, review, export_module, keys, usage, bootstrap, deployer_policy)
PROG = "programmatic-iam"


def build_parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per module in :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="A least-privilege, programmatic-only AWS identity as cdktf stacks. Every command reads "
        "iam.toml, or the file $IAM_CONFIG names, or the built-in default; exit status 2 means bad input.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        subparser = commands.add_parser(command.NAME, help=command.HELP, description=command.HELP)
        command.add_arguments(subparser)
        subparser.set_defaults(run=command.run)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run one command. Returns the process exit code (argparse exits with 2 on a bad command line)."""
    arguments = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    context = Context(
        environ=os.environ if environ is None else environ,
        cwd=Path.cwd() if cwd is None else cwd,
        stdout=sys.stdout if stdout is None else stdout,
        stderr=sys.stderr if stderr is None else stderr,
    )
    code: int = arguments.run(arguments, context)
    return code


def exit_process(code: int) -> NoReturn:
    """End the process with ``code`` once what must run at exit has run (the jsii kernel's stop, flushes).

    The interpreter's own teardown is skipped: it frees the IAM catalogue's and the jsii runtime's objects
    one by one, which takes longer than a synth's constructs (0.3-0.7 s; docs/performance.md). Only for
    a process that ends here: the entry points, never :func:`main`, which tests call in-process.
    """
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can reach it
            stream.flush()
    os._exit(code)


EXIT_BROKEN_PIPE = 128 + 13
"""As a process killed by SIGPIPE ends: what a shell reports for any tool whose reader went away."""


def run_process() -> NoReturn:
    """Run the command line and end the process. When the output's reader goes away (``... | head``), the command
    ends quietly as any Unix tool does, instead of with a traceback."""
    try:
        code = main()
    except BrokenPipeError:
        code = EXIT_BROKEN_PIPE
    exit_process(code)


def console() -> NoReturn:
    """The ``programmatic-iam`` console script."""
    run_process()
