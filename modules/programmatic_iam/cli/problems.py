"""The one place that prints problems and warnings and turns them into exit codes."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from ..errors import ConfigError, Notice, printable

EXIT_OK = 0
EXIT_FAILED = 1
"""The input was good, but the output could not be written."""
EXIT_BAD_INPUT = 2
"""A bad configuration or command line (argparse uses 2 as well)."""
EXIT_WRONG_STEP = 3
"""A step run out of order (the state bootstrap's ``--state local`` once its state is in the bucket)."""


def report_problems(
    error: ConfigError,
    stream: TextIO,
    *,
    wrote_nothing: bool = True,
    warnings: bool = True,
    then: ConfigError | None = None,
    notices: Iterable[Notice] = (),
) -> int:
    """Print every problem of ``error`` and of ``then`` (a second subject, such as the output folder), then
    every warning, theirs and ``notices`` (a step that passed), unless ``warnings`` is false: all of them in
    one run, errors first. Return :data:`EXIT_BAD_INPUT`."""
    errors = [error] if then is None else [error, then]
    for each in errors:
        print(each.render("nothing was written" if wrote_nothing else "", warnings=False), file=stream)
    if warnings:
        report_notices([*(notice for each in errors for notice in each.notices), *notices], stream)
    return EXIT_BAD_INPUT


def report_engine_error(error: ImportError, stream: TextIO) -> int:
    """Say which engine could not be loaded, and how to name or install it; return :data:`EXIT_BAD_INPUT`."""
    print(f"error: {printable(str(error))}; nothing was written", file=stream)
    return EXIT_BAD_INPUT


def report_notices(notices: Iterable[Notice], stream: TextIO) -> None:
    """Print each warning on a line of its own, once."""
    for notice in dict.fromkeys(notices):
        print(notice.warning(), file=stream)


def report_unwritable(outdir: Path, error: OSError, stream: TextIO) -> int:
    """Say that ``outdir`` could not be written, and why; return :data:`EXIT_FAILED`."""
    message = f"{outdir}: cannot write the output ({error}); check the folder's permissions and free space"
    print(printable(message), file=stream)
    return EXIT_FAILED
