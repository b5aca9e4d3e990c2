"""docs/fleet.md shows what the commands really print: each ``$ ...`` command of a console block is run and its
output compared with the block, and the move to [[identities]] it documents keeps every effective setting."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
import re
import shlex
import subprocess
import textwrap

from _pytest.mark import ParameterSet
import pytest

from programmatic_iam.cli import main as cli_main
from tests.support.helpers import EXAMPLES, REPO

FLEET_DOC = REPO / "docs" / "fleet.md"
PROMPT = "$ "
_BLOCK = re.compile(r"^ *```(\w+)\n(.*?)^ *```", re.DOTALL | re.MULTILINE)


def blocks(language: str) -> list[str]:
    """The doc's code blocks in ``language``, dedented (a block inside a list item is indented)."""
    text = FLEET_DOC.read_text(encoding="utf-8")
    return [textwrap.dedent(body) for found, body in _BLOCK.findall(text) if found == language]


def toml_block(heading: str) -> str:
    """The TOML block whose first line is ``# <heading>``."""
    (block,) = [block for block in blocks("toml") if block.startswith(f"# {heading}\n")]
    return block


def run(command: str, cwd: Path) -> str:
    """A documented ``[IAM_CONFIG=...] python -m programmatic_iam ... [| grep -E 'PATTERN']``, run in-process; what
    it prints (standard output, or standard error when it fails), filtered as grep would."""
    invocation, _, pipe = command.partition(" | ")
    words = shlex.split(invocation)
    environ = {}
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        environ[name] = value
    assert words[:3] == ["python", "-m", "programmatic_iam"], command
    stdout, stderr = StringIO(), StringIO()
    code = cli_main(words[3:], environ=environ, cwd=cwd, stdout=stdout, stderr=stderr)
    printed = stdout.getvalue() if code == 0 else stderr.getvalue()
    if pipe:
        grep = shlex.split(pipe)
        assert grep[:2] == ["grep", "-E"], command
        printed = "".join(line for line in printed.splitlines(keepends=True) if re.search(grep[2], line))
    return printed


def console_blocks() -> list[ParameterSet]:
    """Each console block's command and the output shown for it, named by the command's arguments."""
    found: list[ParameterSet] = []
    for block in blocks("console"):
        command, _, shown = block.partition("\n")
        assert command.startswith(PROMPT), block
        arguments = command.partition(" programmatic_iam ")[2]
        found.append(pytest.param(command.removeprefix(PROMPT), shown, id=arguments))
    return found


@pytest.mark.parametrize(("command", "shown"), console_blocks())
def test_each_command_prints_what_the_doc_shows(tmp_path: Path, command: str, shown: str) -> None:
    if "IAM_CONFIG=examples/fleet.toml" in command:
        cwd = REPO
    else:  # the doc's file with mistakes, as the folder's iam.toml
        cwd = tmp_path
        (tmp_path / "iam.toml").write_text(toml_block("iam.toml, with two mistakes"), encoding="utf-8")
    assert run(command, cwd) == shown


def test_the_documented_move_to_identities_keeps_every_setting_and_the_shown_diff_is_real(tmp_path: Path) -> None:
    recorded = {}
    for moment, heading in (
        ("before", "iam.toml, before: one identity"),
        ("after", "iam.toml, after: the same identity in [[identities]]"),
    ):
        (tmp_path / "iam.toml").write_text(toml_block(heading), encoding="utf-8")
        explained = run("python -m programmatic_iam check --explain", tmp_path)
        recorded[moment] = re.sub(r" +#.*", "", explained)  # as `sed 's/  *#.*//'` leaves it
        (tmp_path / f"{moment}.txt").write_text(recorded[moment], encoding="utf-8")
    assert len(recorded["before"].splitlines()) > 40  # every setting of both stacks
    diff = subprocess.run(
        ["diff", "before.txt", "after.txt"], cwd=tmp_path, capture_output=True, text=True, check=False
    ).stdout
    (shown,) = [block for block in blocks("text") if block.startswith("1c1\n")]
    assert diff == shown


def test_the_example_the_doc_quotes_is_the_one_in_examples() -> None:
    example = (EXAMPLES / "fleet.toml").read_text(encoding="utf-8")
    rotation = '[identities.environment.production.access_key]\ngeneration = 2\nprevious = "active"\n'
    assert rotation in example and rotation in FLEET_DOC.read_text(encoding="utf-8")
