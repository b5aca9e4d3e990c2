"""What every command gets: the environment, the working folder, the streams; and the shape of a command."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO


@dataclass(frozen=True, slots=True)
class Context:
    """The process around a command, passed in so that tests can run commands in-process."""

    environ: Mapping[str, str]
    cwd: Path
    stdout: TextIO
    stderr: TextIO


class Command(Protocol):
    """A command module: its name, one line of help, its arguments and what it does."""

    NAME: str
    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, arguments: argparse.Namespace, context: Context) -> int: ...
