"""``python -m programmatic_iam COMMAND``: the commands, their help, and ``check`` without cdktf."""

from __future__ import annotations

import io
import json
from pathlib import Path
import re
import sys

import pytest

from programmatic_iam.cli import COMMANDS, main
from tests.support.helpers import run_command, run_module, write_config

COMMAND_NAMES = ["synth", "check", "report", "review", "export-module", "keys", "usage", "bootstrap", "deployer-policy"]


def run(tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(list(argv), environ={}, cwd=tmp_path, stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run_module("programmatic_iam", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [c.NAME for c in COMMANDS] == COMMAND_NAMES
    listed = re.findall(r"^    ([a-z-]+)", result.stdout, re.MULTILINE)
    assert listed == COMMAND_NAMES, result.stdout


@pytest.mark.parametrize(
    "command",
    [["synth"], ["check"], ["bootstrap", "synth"], ["deployer-policy"], ["usage", "report"], ["usage", "tighten"]],
)
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"], environ={}, cwd=tmp_path, stdout=io.StringIO(), stderr=io.StringIO())
    assert exited.value.code == 0


def test_rejects_an_unknown_command_with_status_2(tmp_path: Path) -> None:
    result = run_module("programmatic_iam", "sytnh", cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid choice: 'sytnh'" in result.stderr


def test_check_lists_the_stacks_of_a_good_configuration(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        '[[environments]]\nname = "a"\nregion = "us-east-1"\n[[environments]]\nname = "b"\nregion = "eu-west-1"\n',
    )
    code, stdout, stderr = run(tmp_path, "check")
    assert (code, stdout) == (
        0,
        "2 stacks, no problems:\n  a-streammanager (a, us-east-1)\n  b-streammanager (b, eu-west-1)\n",
    )
    # The guide's policy has a privilege-escalation path: one warning, however many environments share it.
    assert stderr.count("warning: ") == 1
    assert stderr.startswith(
        "warning: iam.toml: policy: grants privilege escalation (ModifyEC2InstanceUserDataThenRestart)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iam.toml"]


def test_check_prints_warnings(tmp_path: Path) -> None:
    write_config(tmp_path, '[policy]\nactions = ["ec2:LaunchRocket"]\nallow_unlisted_actions = ["ec2:LaunchRocket"]\n')
    code, _, stderr = run(tmp_path, "check")
    assert code == 0
    assert stderr.startswith("warning: iam.toml: policy.actions[0]: 'ec2:LaunchRocket' is not in the IAM catalogue")


def test_quiet_check_prints_only_problems(tmp_path: Path) -> None:
    write_config(tmp_path, '[policy]\nactions = ["ec2:LaunchRocket"]\nallow_unlisted_actions = ["ec2:LaunchRocket"]\n')
    assert run(tmp_path, "check", "--quiet") == (0, "", "")
    write_config(tmp_path, '[naming]\nnmae = "x"\n')
    code, stdout, stderr = run(tmp_path, "check", "--quiet")
    assert (code, stdout) == (2, "")
    assert stderr.startswith("1 problem in the configuration:\n  - iam.toml: naming.nmae: this key is not")


# An entry dropped for its bad name (1), a region botocore does not know (2), a template that does not render,
# and an action accepted only because the file allows it: two problems from two stages, two warnings.
EVERYTHING_AT_ONCE = """
[naming]
user = "{{ nme }}"
[policy]
actions = ["ec2:LaunchRocket"]
allow_unlisted_actions = ["ec2:LaunchRocket"]
[[environments]]
name = "a"
region = "us-east-1"
[[environments]]
name = "bad name"
region = "us-east-1"
[[environments]]
name = "c"
region = "eu-wset-1"
"""


def test_check_prints_every_problem_then_every_warning(tmp_path: Path) -> None:
    write_config(tmp_path, EVERYTHING_AT_ONCE)
    code, stdout, stderr = run(tmp_path, "check")
    assert (code, stdout) == (2, "")
    lines = stderr.splitlines()
    problems = [line for line in lines if line.startswith("  - ")]
    assert lines[0] == "3 problems in the configuration:"
    assert [line.split(": ")[1] for line in problems] == [
        "environments[1].name",
        "naming.user (environment 'a')",
        "naming.user (environment 'c')",
    ]
    warnings = [line for line in lines if line.startswith("warning: ")]
    assert [line.split(": ")[2] for line in warnings] == ["environments[2].region", "policy.actions[0]"]
    assert "'eu-wset-1' is not a region the installed botocore" in warnings[0]
    assert lines[-len(warnings) :] == warnings  # after every problem
    assert run(tmp_path, "check", "--quiet")[2] == "\n".join(lines[: -len(warnings)]) + "\n"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        # The file's own problem: the rest of the run goes on from what was valid.
        ('[naming]\nnmae = "x"\n', "naming.nmae"),
        # A problem only the later checks find, in a file the loader accepted.
        ('[naming]\nuser = "{{ nme }}"\n', "naming.user (environment 'production')"),
    ],
)
def test_a_warning_is_printed_beside_a_problem_of_either_stage(tmp_path: Path, text: str, where: str) -> None:
    write_config(
        tmp_path, text + '[policy]\nactions = ["ec2:LaunchRocket"]\nallow_unlisted_actions = ["ec2:LaunchRocket"]\n'
    )
    code, _, stderr = run(tmp_path, "check")
    assert code == 2
    assert f"  - iam.toml: {where}: " in stderr
    assert stderr.splitlines()[-1].startswith("warning: iam.toml: policy.actions[0]: 'ec2:LaunchRocket' is not in")


@pytest.mark.parametrize("environment", [[], ["--environment", "nope"]])
def test_export_module_prints_the_warnings_beside_a_bad_environment(tmp_path: Path, environment: list[str]) -> None:
    write_config(
        tmp_path,
        '[policy]\nactions = ["ec2:LaunchRocket"]\nallow_unlisted_actions = ["ec2:LaunchRocket"]\n'
        '[[environments]]\nname = "a"\nregion = "us-east-1"\n[[environments]]\nname = "b"\nregion = "eu-wset-1"\n',
    )
    code, _, stderr = run(tmp_path, "export-module", "module", *environment)
    assert code == 2
    assert stderr.startswith("1 problem in the command line; nothing was written:\n  - --environment")
    assert [line.split(": ")[2] for line in stderr.splitlines() if line.startswith("warning: ")] == [
        "environments[1].region",
        "policy.actions[0]",
    ]
    assert not (tmp_path / "module").exists()


def test_check_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    (tmp_path / "iam.toml").write_bytes(b'\xef\xbb\xbf[naming]\nname = "bom"\n')
    assert run(tmp_path, "check")[:2] == (0, "1 stack, no problems:\n  production-bom (production, us-east-1)\n")


def test_check_rejects_a_bad_configuration_without_loading_cdktf(tmp_path: Path) -> None:
    write_config(tmp_path, '[naming]\nnamespace = "Acme Corp"\n[policy]\nactions = ["ec2:DescribeInstancess"]\n')
    probe = (
        "import sys; from programmatic_iam.cli import main; code = main(['check']); "
        "print(sorted(m for m in ('cdktf', 'jsii', 'constructs') if m in sys.modules), file=sys.stderr); "
        "sys.exit(code)"
    )
    environment = {"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "modules"), "PATH": ""}
    result = run_command([sys.executable, "-c", probe], tmp_path, environment)
    assert result.returncode == 2
    assert result.stderr.startswith("2 problems in the configuration:\n  - iam.toml: naming.namespace:")
    assert "did you mean 'ec2:DescribeInstances'?" in result.stderr
    assert result.stderr.rstrip().endswith("[]"), result.stderr
    assert result.stdout == ""


def test_deployer_policy_is_json_on_stdout(tmp_path: Path) -> None:
    code, stdout, stderr = run(tmp_path, "deployer-policy")
    assert (code, stderr) == (0, "")
    assert json.loads(stdout)["Version"] == "2012-10-17"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/run/1",
        "https://example.com/run 1",
        "https://example.com/run/1\x1b[2J",
        "https://example.com/run/1\x00",
        "https://example.com/run/\u202e1",
        'https://example.com/run/1"onmouseover="x',
        "https://example.com/run/1)[link](https://elsewhere",
    ],
)
def test_rejects_a_details_url_that_could_break_out_of_its_link(tmp_path: Path, url: str) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text("{}", encoding="utf-8")
    code, stdout, stderr = run(tmp_path, "review", "--details-url", url, str(plan))
    assert code == 2, stderr
    assert stdout == ""
    assert "--details-url" in stderr and "is not an http(s) URL" in stderr
    assert "\x1b" not in stderr and "\x00" not in stderr and "\u202e" not in stderr


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path) -> None:
    """``... | head``: the command ends as a Unix tool ends on SIGPIPE, without a traceback."""
    import os
    import subprocess

    from tests.support.helpers import REPO, base_environment

    environment = {**base_environment(), "PYTHONPATH": str(REPO / "modules")}
    process = subprocess.Popen(
        [sys.executable, "-m", "programmatic_iam", "deployer-policy"],
        cwd=tmp_path,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    os.close(process.stdout.fileno())  # the reader goes away before the command writes
    error = process.stderr.read().decode()
    assert (process.wait(timeout=60), error) == (128 + 13, "")
