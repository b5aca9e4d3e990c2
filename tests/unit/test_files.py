"""Every file the tool reads or writes: regular files only, a size cap, inside the folder given, nothing lost."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import StringIO
import os
from pathlib import Path, PurePosixPath
import signal
import socket

import pytest

from programmatic_iam.cli import main
from programmatic_iam.cli.export_module import exported_by
from programmatic_iam.cli.inputs import load_blueprint
from programmatic_iam.cli.output import synthesized
from programmatic_iam.config.model import Policy
from programmatic_iam.errors import ConfigError
from programmatic_iam.files import (
    MAX_CONFIG_BYTES,
    MAX_PLAN_BYTES,
    MAX_POLICY_BYTES,
    UTF16_WHY,
    RefusedError,
    check_replaceable,
    read_text,
    replace_folder,
    size_in_words,
    write_files,
)
from programmatic_iam.module_export import GENERATED_MARK

ACTIONS = '["ec2:DescribeInstances"]'


@contextmanager
def no_hang(seconds: float = 10) -> Iterator[None]:
    """Fail instead of hanging: a read that waits for a FIFO's writer is interrupted after ``seconds``."""

    def interrupt(signum: int, frame: object) -> None:
        raise TimeoutError(f"still waiting after {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def make_socket(path: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()


# ---------------------------------------------------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "why"),
    [
        pytest.param(os.mkfifo, "is a named pipe (FIFO), not a regular file", id="fifo"),
        pytest.param(os.mkdir, "is a folder, not a regular file", id="folder"),
        pytest.param(make_socket, "is a socket, not a regular file", id="socket"),
        pytest.param(lambda p: p.symlink_to("/dev/zero"), "is a character device, not a regular file", id="dev-zero"),
        pytest.param(lambda p: p.symlink_to(p.with_name("gone")), "is a broken symbolic link", id="broken-link"),
        pytest.param(lambda p: None, "does not exist", id="missing"),
        pytest.param(
            lambda p: p.write_bytes(b"x" * (MAX_POLICY_BYTES + 1)), "bytes or more, over the limit of 1 MiB", id="large"
        ),
        pytest.param(lambda p: p.write_bytes(b"\xc3\x28"), "cannot be read ('utf-8' codec can't decode", id="binary"),
        pytest.param(lambda p: p.write_bytes(ACTIONS.encode("utf-16")), UTF16_WHY, id="utf-16-with-a-mark"),
        pytest.param(lambda p: p.write_bytes(ACTIONS.encode("utf-16-le")), UTF16_WHY, id="utf-16-le"),
        pytest.param(lambda p: p.write_bytes(ACTIONS.encode("utf-16-be")), UTF16_WHY, id="utf-16-be"),
    ],
)
def test_rejects_what_is_not_a_small_regular_text_file(tmp_path: Path, make: Callable[[Path], None], why: str) -> None:
    make(tmp_path / "p.json")
    with no_hang(), pytest.raises(RefusedError) as caught:
        read_text(tmp_path / "p.json", limit=MAX_POLICY_BYTES)
    assert why in caught.value.why


@pytest.mark.parametrize(
    "named",
    [
        pytest.param("/etc/hostname", id="absolute"),
        pytest.param("../outside.json", id="dot-dot"),
        pytest.param("sub/../../outside.json", id="dot-dot-through-a-folder"),
        pytest.param("link.json", id="link-out"),
    ],
)
def test_rejects_a_path_leading_out_of_its_folder(tmp_path: Path, named: str) -> None:
    folder = tmp_path / "conf"
    (folder / "sub").mkdir(parents=True)
    (tmp_path / "outside.json").write_text(ACTIONS, encoding="utf-8")
    (folder / "link.json").symlink_to(tmp_path / "outside.json")
    with pytest.raises(RefusedError) as caught:
        read_text(folder / named, limit=MAX_POLICY_BYTES, inside=folder)
    assert caught.value.reason == "outside"
    assert caught.value.why.startswith(f"leads outside {folder}")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param("p.json", ACTIONS.encode(), id="plain"),
        pytest.param("p.json", b"\xef\xbb\xbf" + ACTIONS.encode(), id="byte-order-mark"),
        pytest.param("sub/p.json", ACTIONS.encode(), id="below"),
        pytest.param("p.json", ACTIONS.encode().ljust(MAX_POLICY_BYTES), id="at-the-limit"),
    ],
)
def test_reads_a_regular_file_in_its_folder(tmp_path: Path, name: str, content: bytes) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / name).write_bytes(content)
    (tmp_path / "link.json").symlink_to(tmp_path / name)  # a link inside the folder is followed
    for read in (name, "link.json"):
        assert read_text(tmp_path / read, limit=MAX_POLICY_BYTES, inside=tmp_path).strip() == ACTIONS


def test_the_limits_are_documented() -> None:
    assert f"at most {size_in_words(MAX_POLICY_BYTES)}" in (Policy.model_fields["file"].description or "")
    reference = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert f"at most {size_in_words(MAX_CONFIG_BYTES)}" in reference
    reviewing = (Path(__file__).parents[2] / "docs" / "pull-requests.md").read_text(encoding="utf-8")
    assert f"at most {size_in_words(MAX_PLAN_BYTES)}" in reviewing


# ---------------------------------------------------------------------------------------------------------------------
# The files the commands read
# ---------------------------------------------------------------------------------------------------------------------


def problems_of(tmp_path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with no_hang(), pytest.raises(ConfigError) as caught:
        load_blueprint(environ or {}, tmp_path)
    return [problem.render() for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("file", "make", "expected"),
    [
        pytest.param("/dev/zero", None, "iam.toml: policy.file: '/dev/zero' leads outside", id="dev-zero"),
        pytest.param("p.json", os.mkfifo, "iam.toml: policy.file: 'p.json' is a named pipe (FIFO)", id="fifo"),
        pytest.param(
            "p.json",
            lambda p: p.symlink_to("/dev/zero"),
            "iam.toml: policy.file: 'p.json' leads outside",
            id="link-to-dev-zero",
        ),
        pytest.param("../p.json", None, "iam.toml: policy.file: '../p.json' leads outside", id="dot-dot"),
        pytest.param(
            "p.json",
            lambda p: p.write_text(" " * MAX_POLICY_BYTES + ACTIONS, encoding="utf-8"),
            "iam.toml: policy.file: 'p.json' is 1,048,601 bytes or more, over the limit of 1 MiB",
            id="large",
        ),
    ],
)
def test_rejects_a_policy_file_that_is_not_a_small_file_beside_the_configuration(
    tmp_path: Path, file: str, make: Callable[[Path], None] | None, expected: str
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (tmp_path / "p.json").write_text(ACTIONS, encoding="utf-8")
    if make is not None:
        make(folder / file)
    (folder / "iam.toml").write_text(f'[policy]\nfile = "{file}"\n', encoding="utf-8")
    problems = problems_of(folder)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_rejects_a_policy_template_outside_the_configurations_folder(tmp_path: Path) -> None:
    (tmp_path / "t.json.j2").write_text("{{ [] | tojson }}", encoding="utf-8")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "iam.toml").write_text('[policy]\ntemplate = "../t.json.j2"\n', encoding="utf-8")
    (problem,) = problems_of(tmp_path / "conf")
    assert problem.startswith("iam.toml: policy.template: '../t.json.j2' leads outside"), problem


def test_rejects_an_oversized_partial_naming_it(tmp_path: Path) -> None:
    (tmp_path / "big.j2").write_text(" " * (MAX_POLICY_BYTES + 1), encoding="utf-8")
    (tmp_path / "t.json.j2").write_text('{% include "big.j2" %}', encoding="utf-8")
    (tmp_path / "iam.toml").write_text('[policy]\ntemplate = "t.json.j2"\n', encoding="utf-8")
    (problem,) = problems_of(tmp_path)
    assert "big.j2 is 1,048,577 bytes or more, over the limit of 1 MiB" in problem, problem


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        pytest.param(os.mkfifo, "a named pipe (FIFO)", id="fifo"),
        pytest.param(lambda p: p.symlink_to("/dev/zero"), "a character device", id="device"),
    ],
)
def test_rejects_an_iam_config_that_is_not_a_regular_file(
    tmp_path: Path, make: Callable[[Path], None], kind: str
) -> None:
    make(tmp_path / "conf.toml")
    (problem,) = problems_of(tmp_path, {"IAM_CONFIG": "conf.toml"})
    assert problem.startswith(f"$IAM_CONFIG: 'conf.toml' is {kind}, not a file"), problem


def test_rejects_an_oversized_configuration_file(tmp_path: Path) -> None:
    (tmp_path / "iam.toml").write_text("#" * MAX_CONFIG_BYTES + "\n", encoding="utf-8")
    (problem,) = problems_of(tmp_path)
    assert problem.startswith("iam.toml: the file is 4,194,305 bytes or more, over the limit of 4 MiB"), problem


@pytest.mark.parametrize(
    ("make", "why"),
    [
        pytest.param(os.mkfifo, "plan.json: is a named pipe (FIFO), not a regular file", id="fifo"),
        pytest.param(lambda p: p.symlink_to("/dev/zero"), "plan.json: is a character device", id="device"),
        pytest.param(
            lambda p: p.write_bytes(b" " * (MAX_PLAN_BYTES + 1)),
            "plan.json: is 16,777,217 bytes or more, over the limit of 16 MiB",
            id="large",
        ),
        # What Windows PowerShell's `terraform show -json PLANFILE > plan.json` writes.
        pytest.param(
            lambda p: p.write_bytes('{"format_version": "1.2"}'.encode("utf-16")),
            "plan.json: is UTF-16 text (what Windows PowerShell's `>` writes), not UTF-8\n    fix: write the JSON as "
            "UTF-8: in PowerShell, `terraform show -json PLANFILE | Out-File -Encoding utf8 plan.json`",
            id="utf-16",
        ),
        pytest.param(
            lambda p: p.write_bytes('{"format_version": "1.2"}'.encode("utf-16-le")),
            "plan.json: is UTF-16 text",
            id="utf-16-without-a-mark",
        ),
        # What that fix writes in Windows PowerShell: UTF-8 with a byte-order mark, read as JSON (here a state).
        pytest.param(
            lambda p: p.write_bytes('\ufeff{"format_version": "1.2", "values": {}}'.encode()),
            "plan.json: is a state (`terraform show -json` without a plan file), not a plan",
            id="utf-8-with-a-mark",
        ),
    ],
)
def test_review_rejects_a_plan_that_is_not_a_small_regular_file(
    tmp_path: Path, make: Callable[[Path], None], why: str
) -> None:
    make(tmp_path / "plan.json")
    stdout, stderr = StringIO(), StringIO()
    with no_hang():
        code = main(["review", "plan.json"], environ={}, cwd=tmp_path, stdout=stdout, stderr=stderr)
    assert (code, stdout.getvalue()) == (2, "")
    assert why in stderr.getvalue()


# ---------------------------------------------------------------------------------------------------------------------
# The writer: what an output folder may hold
# ---------------------------------------------------------------------------------------------------------------------


def earlier_synthesis(outdir: Path) -> Path:
    """What cdktf leaves, with Terraform's and the cdktf CLI's files in a stack folder."""
    stack = outdir / "stacks" / "production-streammanager"
    (stack / ".terraform" / "providers").mkdir(parents=True)
    for name in ("cdk.tf.json", ".terraform.lock.hcl", "terraform.tfstate", "plan", "tfplan", "plan.json"):
        (stack / name).write_text("{}", encoding="utf-8")
    (outdir / "stacks" / "b-hcl").mkdir()
    (outdir / "stacks" / "b-hcl" / "cdk.tf").write_text("", encoding="utf-8")  # cdktf synth --hcl
    (outdir / "stacks" / "c-initialised" / ".terraform").mkdir(parents=True)  # its cdk.tf.json deleted by hand
    (outdir / "manifest.json").write_text("{}", encoding="utf-8")
    return outdir


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda p: None, id="missing"),
        pytest.param(os.mkdir, id="empty"),
        pytest.param(earlier_synthesis, id="earlier-synthesis"),
    ],
)
def test_accepts_an_output_folder_a_synthesis_may_replace(tmp_path: Path, make: Callable[[Path], None]) -> None:
    make(tmp_path / "out")
    check_replaceable(tmp_path / "out", synthesized, written_by="a synthesis")


def _repository(outdir: Path) -> None:
    for name in (".git", "docs"):
        (outdir / name).mkdir(parents=True)
    (outdir / "iam.toml").write_text("", encoding="utf-8")


def _beside(name: str) -> Callable[[Path], None]:
    def make(outdir: Path) -> None:
        earlier_synthesis(outdir)
        (outdir / name).parent.mkdir(parents=True, exist_ok=True)
        (outdir / name).write_text("mine", encoding="utf-8")

    return make


def _replaced_by_link(name: str) -> Callable[[Path], None]:
    def make(outdir: Path) -> None:
        earlier_synthesis(outdir)
        (outdir.parent / "elsewhere").mkdir()
        target = outdir / name
        os.rename(target, outdir.parent / "elsewhere" / target.name)
        target.symlink_to(outdir.parent / "elsewhere" / target.name)

    return make


@pytest.mark.parametrize(
    ("make", "why"),
    [
        pytest.param(_repository, "holds '.git/', 'docs/', 'iam.toml', which a synthesis did not write", id="repo"),
        pytest.param(_beside("notes.txt"), "holds 'notes.txt', which", id="a-file-beside"),
        pytest.param(_beside("stacks/notes.txt"), "holds 'stacks/notes.txt', which", id="a-file-in-stacks"),
        pytest.param(_beside("stacks/mine/x.tf"), "holds 'stacks/mine/', which", id="a-folder-without-cdk-tf-json"),
        pytest.param(_replaced_by_link("stacks"), "holds 'stacks', which", id="stacks-a-link"),
        pytest.param(_replaced_by_link("stacks/b-hcl"), "holds 'stacks/b-hcl', which", id="stack-a-link"),
        pytest.param(_replaced_by_link("manifest.json"), "holds 'manifest.json', which", id="manifest-a-link"),
        pytest.param(lambda p: p.write_text(""), "is a file, not a folder", id="a-file"),
        pytest.param(os.mkfifo, "is a named pipe (FIFO), not a folder", id="a-fifo"),
        pytest.param(lambda p: p.symlink_to(earlier_synthesis(p.with_name("real"))), "is a symbolic link", id="a-link"),
    ],
)
def test_rejects_an_output_folder_holding_what_no_synthesis_wrote(
    tmp_path: Path, make: Callable[[Path], None], why: str
) -> None:
    make(tmp_path / "out")
    with pytest.raises(RefusedError) as caught:
        check_replaceable(tmp_path / "out", synthesized, written_by="a synthesis")
    assert why in caught.value.why


def earlier_export(directory: Path) -> Path:
    (directory / "policies").mkdir(parents=True)
    (directory / "main.tf").write_text(
        f'# {GENERATED_MARK}.\ndocument = file(join("/", [path.module, "policies/p.json"]))\n', encoding="utf-8"
    )
    (directory / "README.md").write_text(f"<!-- {GENERATED_MARK} -->\n", encoding="utf-8")
    (directory / "policies" / "p.json").write_text("{}", encoding="utf-8")
    (directory / ".terraform").mkdir()
    return directory


@pytest.mark.parametrize(
    ("make", "foreign"),
    [
        pytest.param(lambda p: None, [], id="earlier-export"),
        pytest.param(lambda p: (p / "policies" / "mine.json").write_text("{}"), ["policies/mine.json"], id="mine"),
        pytest.param(
            lambda p: (p / "main.tf").write_text('"policies/mine.json"'), ["main.tf", "policies/p.json"], id="main"
        ),
        pytest.param(lambda p: (p / "notes.txt").write_text(""), ["notes.txt"], id="notes"),
        pytest.param(
            lambda p: (p / "policies" / "p.json").unlink() or (p / "policies" / "p.json").symlink_to(p / "README.md"),
            ["policies/p.json"],
            id="a-link-in-policies",
        ),
    ],
)
def test_an_export_may_replace_only_what_an_export_wrote(
    tmp_path: Path, make: Callable[[Path], None], foreign: list[str]
) -> None:
    directory = earlier_export(tmp_path / "module")
    make(directory)
    judge = exported_by(directory)
    found = [
        str(path.relative_to(directory))
        for path in sorted(directory.rglob("*"))
        if judge(PurePosixPath(path.relative_to(directory)), path) == "foreign"
    ]
    assert found == foreign


def test_a_folder_filled_with_foreign_files_meanwhile_is_not_replaced(tmp_path: Path) -> None:
    outdir = earlier_synthesis(tmp_path / "out")

    def fill_while_someone_writes_there(staging: Path) -> None:
        write_files(staging, {"manifest.json": "{}"})
        (outdir / "mine.txt").write_text("mine", encoding="utf-8")

    with pytest.raises(RefusedError, match=r"'mine\.txt'"):
        replace_folder(outdir, fill_while_someone_writes_there, judge=synthesized, written_by="a synthesis")
    assert (outdir / "mine.txt").read_text(encoding="utf-8") == "mine"
    assert (outdir / "stacks" / "production-streammanager" / "cdk.tf.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("relative", ["../escape.txt", "/tmp/escape.txt", "a/../../escape.txt", ""])
def test_rejects_writing_outside_the_folder(tmp_path: Path, relative: str) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(RefusedError, match="is not a path inside the output folder"):
        write_files(tmp_path / "out", {relative: "x"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
