"""The configuration file the commands that write into it (``keys rotate``, ``usage tighten``) find, check and
write back: the same file, the same refusals, the same diff."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from ..config import CONFIG_FILE_VARIABLE, DEFAULT_CONFIG_FILE
from ..config.editing import unified_diff
from ..errors import ConfigError, Problem, printable
from ..files import MAX_CONFIG_BYTES, RefusedError, replace_file_text
from .problems import EXIT_FAILED, EXIT_OK


def config_path(environ: Mapping[str, str], cwd: Path, what: str, command: str) -> tuple[Path, str]:
    """The configuration file the commands read, to write back to; a problem when there is none (the built-in
    default has no file to write ``what`` into)."""
    named = environ.get(CONFIG_FILE_VARIABLE, "")
    path, shown = (cwd / named, named) if named else (cwd / DEFAULT_CONFIG_FILE, DEFAULT_CONFIG_FILE)
    if not named and not path.exists() and not path.is_symlink():
        raise ConfigError(
            [
                Problem(
                    DEFAULT_CONFIG_FILE,
                    "",
                    f"does not exist: the built-in default has no file to write {what} into",
                    f"create {DEFAULT_CONFIG_FILE} (an empty file is the built-in default) and run {command} again",
                )
            ]
        )
    return path, shown


def refuse_unplanned(mismatches: Sequence[str], command: str, shown: str, planned: str, err: TextIO) -> bool:
    """Say, when there are ``mismatches``, that the edit of the file would not resolve to what was ``planned``;
    whether it did."""
    if mismatches:
        print(f"{command}: the edit of {printable(shown)} would not resolve to {planned}; nothing written:", file=err)
        for mismatch in mismatches:
            print(printable(f"  {mismatch}"), file=err)
    return bool(mismatches)


def show_and_write(
    text: str,
    edited: str,
    path: Path,
    shown: str,
    *,
    write: bool,
    unwritten: str,
    command: str,
    doc: str,
    out: TextIO,
    err: TextIO,
) -> int:
    """Print the change of the file from ``text`` to ``edited`` as a diff; write it when ``write`` (else say
    ``unwritten``), with the file's mode kept and never half-written."""
    out.write("".join(printable(line) + "\n" for line in unified_diff(text, edited, shown).splitlines()))
    if not write:
        print(unwritten, file=out)
        return EXIT_OK
    try:
        replace_file_text(path, edited, limit=MAX_CONFIG_BYTES)
    except (RefusedError, OSError) as error:
        print(printable(f"{command}: cannot write {shown} ({error}); nothing written"), file=err)
        return EXIT_FAILED
    print(f"Wrote {printable(shown)}: review it, open a pull request, apply after the merge ({doc}).", file=out)
    return EXIT_OK
