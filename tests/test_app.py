"""The app as cdktf runs it: main.py in a working folder, its exit code, output and what it writes."""

from __future__ import annotations

from collections.abc import Callable
import hashlib
import json
from pathlib import Path
import re
import subprocess

import pytest

from programmatic_iam.cli.output import synthesize_via_staging
from tests.support.engines import OTHER_ENGINES, RUN_ENGINE
from tests.support.helpers import (
    REPO,
    base_environment,
    blueprint_of,
    cdktf_cli,
    policy_documents,
    resources,
    run_app,
    run_command,
    synth,
    write_config,
)

STACK = Path("stacks") / "production-streammanager" / "cdk.tf.json"
ENVIRONMENT = '[[environments]]\nname = "{}"\nregion = "us-east-1"\n'
SEED = json.loads((REPO / "tests" / "fixtures" / "seed-console-policy.json").read_text(encoding="utf-8"))


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.mark.engine
def test_the_default_reproduces_the_guide(tmp_path: Path) -> None:
    result = run_app(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Node 20 is end-of-life" not in result.stdout + result.stderr
    stack = json.loads((tmp_path / "cdktf.out" / STACK).read_text(encoding="utf-8"))

    (user,) = resources(stack, "aws_iam_user")
    assert user["name"] == "production-streammanager"
    assert "aws_iam_user_login_profile" not in stack["resource"]
    (document,) = policy_documents(stack)
    (statement,) = document["Statement"]
    assert sorted(statement["Action"]) == sorted(SEED["Statement"][0]["Action"])
    assert (statement["Effect"], statement["Resource"], document["Version"]) == ("Allow", "*", "2012-10-17")
    (policy,) = resources(stack, "aws_iam_policy")
    assert policy["name"] == "production-streammanager-programmatic-access"
    (attachment,) = resources(stack, "aws_iam_user_policy_attachment")
    assert attachment["policy_arn"].endswith(".arn}") and attachment["user"].endswith(".name}")
    assert len(resources(stack, "aws_iam_access_key")) == 1

    outputs = stack["output"]
    assert set(outputs) == {"user_name", "user_arn", "policy_arns", "access_key_id", "secret_access_key"}
    assert outputs["secret_access_key"]["sensitive"] is True
    assert not any(outputs[name].get("sensitive") for name in outputs if name != "secret_access_key")

    terraform = stack["terraform"]
    assert terraform["backend"]["s3"] == {
        "bucket": "terraform-state",
        "key": "production-streammanager/terraform.tfstate",
        "region": "us-east-1",
        "encrypt": True,
        "use_lockfile": True,
    }
    assert terraform["required_providers"]["aws"] == {"source": "hashicorp/aws", "version": ">= 5.100.0, < 7.0.0"}


@pytest.mark.engine
def test_a_bad_config_reports_every_problem_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "cdktf.out").mkdir()
    (tmp_path / "cdktf.out" / "manifest.json").write_text("{}")
    before = tree_digest(tmp_path / "cdktf.out")
    write_config(
        tmp_path,
        """
        [naming]
        nmae = "x"
        user = "{{ envirnment }}"
        [policy]
        actions = ["ec2:DescribeInstancess", "s3:*"]
        """,
    )
    result = run_app(tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("4 problems in the configuration; nothing was written:")
    for expected in (
        "did you mean 'name'?",
        "did you mean 'environment'?",
        "did you mean 'ec2:DescribeInstances'?",
        "'s3:*' is a wildcard",
    ):
        assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert tree_digest(tmp_path / "cdktf.out") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cdktf.out", "iam.toml"]


@pytest.mark.parametrize("named", ["cdk", *(engine.name for engine in OTHER_ENGINES)])
def test_an_unknown_or_uninstalled_engine_is_a_plain_error_and_nothing_is_written(tmp_path: Path, named: str) -> None:
    result = run_app(tmp_path, PROGRAMMATIC_IAM_ENGINE=named)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (message,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert message.startswith(f"error: $PROGRAMMATIC_IAM_ENGINE is {named!r}")
    assert message.endswith("(docs/engines.md); nothing was written")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.engine
def test_cdktf_outdir_is_honoured_and_output_is_byte_identical(tmp_path: Path) -> None:
    first = run_app(tmp_path, CDKTF_OUTDIR="first")
    second = run_app(tmp_path, CDKTF_OUTDIR=str(tmp_path / "second"))
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert not (tmp_path / "cdktf.out").exists()
    assert (tmp_path / "first" / STACK).read_bytes() == (tmp_path / "second" / STACK).read_bytes()
    assert tree_digest(tmp_path / "first") == tree_digest(tmp_path / "second")


@pytest.mark.engine
def test_stacks_of_removed_environments_do_not_linger(tmp_path: Path) -> None:
    two = '[[environments]]\nname = "a"\nregion = "us-east-1"\n[[environments]]\nname = "b"\nregion = "us-east-1"\n'
    assert sorted(synth(two, tmp_path)) == ["a-streammanager", "b-streammanager"]
    assert sorted(synth('[[environments]]\nname = "a"\nregion = "us-east-1"\n', tmp_path)) == ["a-streammanager"]
    assert sorted(p.name for p in (tmp_path / "cdktf.out" / "stacks").iterdir()) == ["a-streammanager"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.engine
def test_resynthesis_keeps_terraforms_working_files_and_drops_everything_else(tmp_path: Path) -> None:
    config = '[[environments]]\nname = "a"\nregion = "us-east-1"\n[[environments]]\nname = "b"\nregion = "us-east-1"\n'
    synth(config, tmp_path)
    stack = tmp_path / "cdktf.out" / "stacks" / "a-streammanager"
    working = [".terraform", ".terraform.lock.hcl", "terraform.tfstate", "terraform.tfstate.backup"]
    (stack / ".terraform").mkdir()
    (stack / ".terraform" / "terraform.tfstate").write_text('{"backend": {"type": "s3"}}')
    for name in working[1:]:
        (stack / name).write_text(name)
    (stack / "cdk.tf").write_text("# left by an earlier `cdktf synth --hcl`")
    synth(config.replace('"b"', '"c"'), tmp_path)
    assert sorted(p.name for p in stack.parent.iterdir()) == ["a-streammanager", "c-streammanager"]
    assert sorted(p.name for p in stack.iterdir()) == sorted([*working, "cdk.tf.json"])
    assert (stack / ".terraform" / "terraform.tfstate").read_text() == '{"backend": {"type": "s3"}}'
    assert all((stack / name).read_text() == name for name in working[1:])


@pytest.mark.engine
def test_a_synthesis_that_fails_half_way_leaves_the_previous_output_as_it_was(tmp_path: Path) -> None:
    import jsii

    from programmatic_iam.cdk import build_app
    from programmatic_iam.cdk.bindings import App, IValidation

    @jsii.implements(IValidation)
    class FailsValidation:
        """A real cdktf validation that fails, so that synthesis stops after writing the stacks before it."""

        def validate(self) -> list[str]:
            return ["broken on purpose"]

    two = '[[environments]]\nname = "a"\nregion = "us-east-1"\n[[environments]]\nname = "b"\nregion = "us-east-1"\n'
    outdir = tmp_path / "cdktf.out"
    synth(two, tmp_path)
    (outdir / "stacks" / "a-streammanager" / ".terraform").mkdir()
    before = tree_digest(outdir)
    renamed = blueprint_of('[naming]\nname = "renamed"\n' + two, tmp_path)
    staged: list[Path] = []

    def build_then_break_the_second_stack(staging: str) -> App:
        app = build_app(renamed, staging)
        app.node.find_child("b-renamed").node.add_validation(FailsValidation())
        staged.append(Path(staging))
        return app

    with pytest.raises(RuntimeError, match="broken on purpose"):
        synthesize_via_staging(build_then_break_the_second_stack, outdir)
    assert tree_digest(outdir) == before
    assert staged and staged[0].parent == tmp_path and staged[0] != outdir
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cdktf.out", "iam.toml"]


def everything_in(folder: Path) -> tuple[list[tuple[str, bool]], str]:
    """Every path in ``folder`` (and whether it is a link), and the digest of its files."""
    return sorted((str(p.relative_to(folder)), p.is_symlink()) for p in folder.rglob("*")), tree_digest(folder)


def a_repository(folder: Path) -> None:
    (folder / ".git").mkdir(parents=True)
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "docs").mkdir()
    (folder / "docs" / "index.md").write_text("# docs\n")
    (folder / "iam.toml").write_text('[naming]\nname = "mine"\n')


def a_link_to_a_repository(folder: Path) -> None:
    a_repository(folder.with_name("real"))
    folder.symlink_to(folder.with_name("real"))


@pytest.mark.parametrize(
    ("make", "why"),
    [
        pytest.param(
            a_repository, "'repo' holds '.git/', 'docs/', 'iam.toml', which a synthesis did not write", id="repo"
        ),
        pytest.param(a_link_to_a_repository, "'repo' is a symbolic link (to", id="link"),
        pytest.param(lambda p: p.write_text("mine\n"), "'repo' is a file, not a folder", id="file"),
    ],
)
def test_rejects_an_output_folder_that_is_not_an_earlier_synthesis_and_leaves_it(
    tmp_path: Path, make: Callable[[Path], None], why: str
) -> None:
    make(tmp_path / "repo")
    before = everything_in(tmp_path)
    result = run_app(tmp_path, CDKTF_OUTDIR="repo")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("1 problem in the output folder; nothing was written:\n  - $CDKTF_OUTDIR: ")
    assert why in result.stderr
    assert "Traceback" not in result.stderr
    assert everything_in(tmp_path) == before


@pytest.mark.engine
def test_unlisted_actions_are_accepted_with_a_warning(tmp_path: Path) -> None:
    write_config(tmp_path, '[policy]\nactions = ["ec2:LaunchRocket"]\nallow_unlisted_actions = ["ec2:LaunchRocket"]\n')
    result = run_app(tmp_path, CDKTF_OUTDIR="out")
    assert result.returncode == 0, result.stderr
    assert "warning: iam.toml: policy.actions[0]: 'ec2:LaunchRocket' is not in the IAM catalogue" in result.stderr


def cdktf_cli_synth(config: Path, outdir: Path) -> subprocess.CompletedProcess[str]:
    """``cdktf synth --output outdir`` through the pinned CLI, with ``config`` as $IAM_CONFIG."""
    environment = {**base_environment(), "CHECKPOINT_DISABLE": "1", "IAM_CONFIG": str(config), "CI": "1"}
    return run_command(cdktf_cli("synth", "--output", str(outdir)), REPO, environment)


@pytest.mark.engine
def test_cdktf_cli_synth_follows_environments_as_they_are_added_renamed_and_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    steps = [
        ('[naming]\nname = "cli"\n', ["production-cli"]),
        ('[naming]\nname = "cli"\nnamespace = "acme"\n', ["acme-production-cli"]),
        ('[naming]\nname = "cli"\n' + ENVIRONMENT.format("a") + ENVIRONMENT.format("b"), ["a-cli", "b-cli"]),
        ('[naming]\nname = "cli"\n' + ENVIRONMENT.format("b") + ENVIRONMENT.format("c"), ["b-cli", "c-cli"]),
    ]
    for index, (text, expected) in enumerate(steps):
        config = write_config(tmp_path, text)
        result = cdktf_cli_synth(config, out)
        assert result.returncode == 0, f"step {index}: {result.stdout}{result.stderr}"
        assert "Node 20 is end-of-life" not in result.stdout + result.stderr
        assert sorted(p.name for p in (out / "stacks").iterdir()) == expected, f"step {index}"
        assert all((out / "stacks" / name / "cdk.tf.json").is_file() for name in expected)
        if index == 2:  # what `terraform init` leaves in b's folder must survive the next synth
            (out / "stacks" / "b-cli" / ".terraform").mkdir()
            (out / "stacks" / "b-cli" / ".terraform.lock.hcl").write_text("# lock\n")
    assert sorted(p.name for p in (out / "stacks" / "b-cli").iterdir()) == [
        ".terraform",
        ".terraform.lock.hcl",
        "cdk.tf.json",
    ]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cdktf_cli_synth_refuses_an_output_folder_that_is_not_an_earlier_synthesis(tmp_path: Path) -> None:
    a_repository(tmp_path / "repo")
    before = tree_digest(tmp_path / "repo")
    result = cdktf_cli_synth(write_config(tmp_path, '[naming]\nname = "cli"\n'), tmp_path / "repo")
    assert result.returncode == 1  # the cdktf CLI's own status for any failed app
    assert re.search(
        r"^1 problem in the output folder; nothing was written:\n  - \$CDKTF_OUTDIR: ", result.stdout, re.M
    )
    assert "holds '.git/', 'docs/', 'iam.toml', which a synthesis did not write" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert tree_digest(tmp_path / "repo") == before


@pytest.mark.engine
def test_cdktf_cli_synth_shows_problems_once_unprefixed_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cdktf_cli_synth(write_config(tmp_path, '[naming]\nname = "cli"\n'), out).returncode == 0
    before = tree_digest(out)
    result = cdktf_cli_synth(write_config(tmp_path, '[naming]\nnamespace = "Acme Corp"\n'), out)
    assert result.returncode == 1  # the cdktf CLI's own status for any failed app (docs/deploying.md)
    report = "1 problem in the configuration; nothing was written:\n  - "
    # The CLI echoes the app's output live and again, indented, in its closing summary: the app writes to
    # stdout so that the live copy is the plain report, without the "[ERROR] default -" prefix of stderr.
    assert result.stdout.count(report) == 1
    assert re.search(f"^{re.escape(report)}", result.stdout, re.MULTILINE), result.stdout
    assert not re.search(r"\[ERROR\] default - \S*1 problem", result.stdout + result.stderr)
    assert "naming.namespace: 'Acme Corp' has characters IAM does not allow" in result.stdout
    # Each CLI words the app's exit status its own way in its summary (docs/engines.md).
    exit_status = {"cdktf": "non-zero exit code 2", "cdktn": "pipenv run python main.py  exited with code 2"}
    assert f"Error:         {exit_status[RUN_ENGINE.name]}" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert tree_digest(out) == before


def test_an_unwritable_output_folder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from io import StringIO

    from programmatic_iam.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("")
    stderr = StringIO()
    assert main(["synth"], environ={"CDKTF_OUTDIR": "a-file/out"}, stderr=stderr) == 1
    # After the default policy's warning (tests/test_report.py), the reason on a line of its own.
    assert "\na-file/out: cannot write the output" in stderr.getvalue()
