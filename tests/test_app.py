"""The app as cdktf runs it: main.py in a working folder, its exit code, output and what it writes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.helpers import REPO, cdktf_cli, policy_documents, resources, run_app, run_command, synth, write_config

STACK = Path("stacks") / "production-streammanager" / "cdk.tf.json"
SEED = json.loads((REPO / "tests" / "fixtures" / "seed-console-policy.json").read_text(encoding="utf-8"))


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


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


def test_a_bad_config_reports_every_problem_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "cdktf.out").mkdir()
    (tmp_path / "cdktf.out" / "previous.json").write_text("{}")
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


def test_cdktf_outdir_is_honoured_and_output_is_byte_identical(tmp_path: Path) -> None:
    first = run_app(tmp_path, CDKTF_OUTDIR="first")
    second = run_app(tmp_path, CDKTF_OUTDIR=str(tmp_path / "second"))
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert not (tmp_path / "cdktf.out").exists()
    assert (tmp_path / "first" / STACK).read_bytes() == (tmp_path / "second" / STACK).read_bytes()
    assert tree_digest(tmp_path / "first") == tree_digest(tmp_path / "second")


def test_stacks_of_removed_environments_do_not_linger(tmp_path: Path) -> None:
    two = '[[environments]]\nname = "a"\nregion = "us-east-1"\n[[environments]]\nname = "b"\nregion = "us-east-1"\n'
    assert sorted(synth(two, tmp_path)) == ["a-streammanager", "b-streammanager"]
    assert sorted(synth('[[environments]]\nname = "a"\nregion = "us-east-1"\n', tmp_path)) == ["a-streammanager"]
    assert sorted(p.name for p in (tmp_path / "cdktf.out" / "stacks").iterdir()) == ["a-streammanager"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_unlisted_actions_are_accepted_with_a_warning(tmp_path: Path) -> None:
    write_config(tmp_path, '[policy]\nactions = ["ec2:LaunchRocket"]\nallow_unlisted_actions = ["ec2:LaunchRocket"]\n')
    result = run_app(tmp_path, CDKTF_OUTDIR="out")
    assert result.returncode == 0, result.stderr
    assert "warning: iam.toml: policy.actions[0]: 'ec2:LaunchRocket' is not in the IAM catalogue" in result.stderr


def test_cdktf_cli_synth_runs_the_app_through_pipenv(tmp_path: Path) -> None:
    command = cdktf_cli("synth", "--output", str(tmp_path / "out"))
    config = write_config(tmp_path, '[naming]\nname = "cli"\n')
    environment = {**os.environ, "CHECKPOINT_DISABLE": "1", "IAM_CONFIG": str(config), "CI": "1"}
    result = run_command(command, REPO, environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "out" / "stacks" / "production-cli" / "cdk.tf.json").is_file()
    assert "Node 20 is end-of-life" not in result.stdout + result.stderr


def test_an_unwritable_output_folder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from io import StringIO

    from programmatic_iam.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("")
    stderr = StringIO()
    assert main({"CDKTF_OUTDIR": "a-file/out"}, stderr=stderr) == 1
    assert stderr.getvalue().startswith("a-file/out: cannot write the output")
