"""`python -m programmatic_iam deployer-policy`: the policy on stdout, or every problem and exit status 2."""

from __future__ import annotations

import io
import json
from pathlib import Path

from programmatic_iam.analysis.deployer import deployer_policy
from programmatic_iam.cli import main
from tests.support.helpers import blueprint_of, run_module, write_config


def run(tmp_path: Path, *argv: str, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(
        ["deployer-policy", *argv],
        environ=environ if environ is not None else {},
        cwd=tmp_path,
        stdout=stdout,
        stderr=stderr,
    )
    return code, stdout.getvalue(), stderr.getvalue()


def test_prints_the_policy_of_the_configuration_in_the_working_folder(tmp_path: Path) -> None:
    write_config(tmp_path, '[naming]\nname = "app"\n')
    code, stdout, stderr = run(tmp_path)
    assert (code, stderr) == (0, "")
    (tmp_path / "again").mkdir()
    expected = deployer_policy(blueprint_of('[naming]\nname = "app"\n', tmp_path / "again")).document.to_json_value()
    assert json.loads(stdout) == expected


def test_iam_config_names_the_file_and_environment_narrows_it(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        '[[environments]]\nname = "dev"\nregion = "eu-west-1"\n[[environments]]\nname = "prod"\nregion = "us-east-1"\n',
        name="platform.toml",
    )
    code, stdout, _ = run(tmp_path, "--environment", "dev", environ={"IAM_CONFIG": str(config)})
    users = {s["Sid"]: s for s in json.loads(stdout)["Statement"]}["Users"]
    assert (code, users["Resource"]) == (0, "arn:aws:iam::*:user/dev-streammanager")


def test_rejects_a_bad_configuration_with_every_problem_and_prints_no_policy(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[naming]\nnmae = "x"\n[backend]\nkms_key_id = "alias/state"\n', name="bad.toml")
    code, stdout, stderr = run(tmp_path, environ={"IAM_CONFIG": str(config)})
    assert (code, stdout) == (2, "")
    assert "naming.nmae: this key is not a configuration key; did you mean 'name'?" in stderr


def test_rejects_a_kms_alias_and_an_unknown_environment_together(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[backend]\nkms_key_id = "alias/state"\n', name="kms.toml")
    argv = ("--environment", "production", "--environment", "prod")
    code, stdout, stderr = run(tmp_path, *argv, environ={"IAM_CONFIG": str(config)})
    assert (code, stdout) == (2, "")
    assert stderr.startswith("2 problems in the configuration")
    assert "--environment: 'prod' is not a configured environment" in stderr and "is not a KMS key ARN" in stderr


def test_runs_as_a_module_without_a_traceback(tmp_path: Path) -> None:
    good = run_module("programmatic_iam", "deployer-policy", cwd=tmp_path)
    assert (good.returncode, good.stderr) == (0, "")
    assert json.loads(good.stdout)["Version"] == "2012-10-17"
    (tmp_path / "iam.toml").write_text('[policy]\nactions = ["ec2:DescribeInstancess"]\n', encoding="utf-8")
    bad = run_module("programmatic_iam", "deployer-policy", cwd=tmp_path)
    assert (bad.returncode, bad.stdout) == (2, "")
    assert "did you mean 'ec2:DescribeInstances'?" in bad.stderr and "Traceback" not in bad.stderr
