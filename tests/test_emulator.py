"""``python -m programmatic_iam_dev.emulator`` (``make emulator``), driven the way docs/local-emulator.md tells a newcomer.

The command runs as a subprocess; only the lines it prints point the second "shell" (the environment of the
commands below) at the emulator. The state bucket is made as ``make bootstrap`` makes it, the built-in default
is deployed with real Terraform, everything is taken down again along the documented path, and a Ctrl-C
(SIGINT) must stop the emulator and leave no process or file behind.
"""

from __future__ import annotations

from collections.abc import Sequence
import os
from pathlib import Path
import re
import shlex
import shutil
import signal
import subprocess
import sys
from typing import Any

import boto3
import pytest

from programmatic_iam.cli.problems import EXIT_WRONG_STEP
from programmatic_iam.spec.state_bucket import LOCAL_STATE_FILE, STATE_KEY
from tests.support.helpers import REPO, base_environment, port_is_closed, run_command, session_process
from tests.support.terraform import Terraform

pytestmark = [pytest.mark.terraform, pytest.mark.engine]

TIMEOUT_SECONDS = 300
ENDPOINT = re.compile(r"AWS emulator \(moto\) at http://127\.0\.0\.1:(\d+)")
STACK = "production-streammanager"
BUCKET = "terraform-state"  # the default backend.bucket, which the documented commands name
BOOTSTRAP_STACK = Path("cdktf.out.bootstrap") / "stacks" / "terraform-state"


def read_until_ready(process: subprocess.Popen[str]) -> str:
    """What the command printed up to and including its "Then follow ..." line."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Then follow"):
            return "".join(lines)
    pytest.fail("the emulator command ended before it was ready:\n" + "".join(lines))


def second_shell(printed: str) -> dict[str, str]:
    """A shell's environment after running the ``unset`` and ``export`` lines in ``printed``."""
    environment = base_environment()
    for line in printed.splitlines():
        words = shlex.split(line) if line.startswith(("unset ", "export ")) else []
        if words and words[0] == "unset":
            for name in words[1:]:
                environment.pop(name, None)
        elif words:
            name, _, value = words[1].partition("=")
            environment[name] = value
    return environment


def run(command: Sequence[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    completed = run_command(command, cwd, env)
    assert completed.returncode == 0, f"{command}:\n{completed.stdout}\n{completed.stderr}"
    return completed


def bootstrap(*args: str) -> list[str]:
    """``python -m programmatic_iam bootstrap ...`` as the Makefile runs it (PYTHONPATH is in the environment)."""
    return [sys.executable, "-m", "programmatic_iam", "bootstrap", *args]


def documented_bucket_emptying() -> str:
    """The shell commands docs/state-backend.md gives for emptying the versioned state bucket."""
    text = (REPO / "docs" / "state-backend.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```sh\n(.*?)```", text, re.DOTALL) if "list-object-versions" in b]
    return str(block)


def client(service: str, env: dict[str, str]) -> Any:
    """A boto3 client configured, like the AWS CLI, only by the shell's environment."""
    return boto3.client(
        service,
        region_name=env["AWS_REGION"],
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def empty_bucket(env: dict[str, str], work: Path) -> None:
    """Delete every version and delete marker: with the documented AWS CLI commands if the CLI is here."""
    if shutil.which("aws", path=env.get("PATH")):
        run(["bash", "-euo", "pipefail", "-c", documented_bucket_emptying()], work, env)
        return
    s3 = client("s3", env)  # the same, with boto3
    listing = s3.list_object_versions(Bucket=BUCKET)
    for version in [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]:
        s3.delete_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"])


def moto_processes(port: int) -> list[str]:
    """Command lines of the running moto servers on ``port`` (Linux: from /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(word.endswith("moto_server.py") for word in words) and str(port) in words:
            found.append(" ".join(words))
    return found


def test_the_emulator_command_deploys_a_configuration_and_stops_on_ctrl_c(terraform: Terraform, tmp_path: Path) -> None:
    work = tmp_path / "checkout"
    work.mkdir()
    tf = str(terraform.binary)
    with session_process("programmatic_iam_dev.emulator", cwd=work, temp=tmp_path / "tmp") as emulator:
        printed = read_until_ready(emulator)
        port = ENDPOINT.search(printed)
        assert port, printed
        env = {**second_shell(printed), "PYTHONPATH": str(REPO / "modules")}
        assert env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port.group(1)}"
        assert Path(env["TF_CLI_CONFIG_FILE"]).is_file()
        local = {k: v for k, v in env.items() if k != "TF_CLI_ARGS_init"}  # `env -u TF_CLI_ARGS_init`
        chdir = f"-chdir={BOOTSTRAP_STACK}"

        # make bootstrap
        run(bootstrap("synth", "--state", "local"), work, env)
        run([tf, chdir, "init", "-input=false"], work, local)
        run([tf, chdir, "apply", "-auto-approve", "-input=false"], work, env)
        run(bootstrap("synth", "--state", "s3"), work, env)
        run([tf, chdir, "init", "-input=false", "-migrate-state", "-force-copy"], work, env)
        run([tf, chdir, "plan", "-input=false", "-detailed-exitcode"], work, env)
        (work / BOOTSTRAP_STACK / LOCAL_STATE_FILE).unlink()
        s3 = client("s3", env)
        assert s3.head_object(Bucket=BUCKET, Key=STATE_KEY)["ContentLength"] > 0

        # make bootstrap, again: stopped before Terraform, pointing at make bootstrap-apply
        again = run_command(bootstrap("synth", "--state", "local"), work, env)
        assert again.returncode == EXIT_WRONG_STEP, again.stderr
        assert "make bootstrap-apply" in again.stderr
        assert "python -m programmatic_iam bootstrap synth --state local --take-down" in again.stderr

        # the identity, deployed
        run([sys.executable, str(REPO / "main.py")], work, env)
        stack_chdir = f"-chdir=cdktf.out/stacks/{STACK}"
        run([tf, stack_chdir, "init", "-input=false"], work, env)
        run([tf, stack_chdir, "apply", "-auto-approve", "-input=false"], work, env)
        iam = client("iam", env)
        assert [user["UserName"] for user in iam.list_users()["Users"]] == [STACK]
        assert len(iam.list_access_keys(UserName=STACK)["AccessKeyMetadata"]) == 1
        assert s3.head_object(Bucket=BUCKET, Key=f"{STACK}/terraform.tfstate")["ContentLength"] > 0

        # taking it all down
        run([tf, stack_chdir, "destroy", "-auto-approve", "-input=false"], work, env)
        taking_down = run(bootstrap("synth", "--state", "local", "--take-down"), work, env)
        assert "Create the bucket" not in taking_down.stdout
        assert "empty the bucket, then destroy it" in taking_down.stdout
        run([tf, chdir, "init", "-input=false", "-migrate-state", "-force-copy"], work, local)
        empty_bucket(env, work)
        run([tf, chdir, "destroy", "-auto-approve", "-input=false"], work, env)
        assert iam.list_users()["Users"] == []
        assert s3.list_buckets()["Buckets"] == []

        os.killpg(emulator.pid, signal.SIGINT)  # what Ctrl-C in its terminal does
        output = printed + emulator.communicate(timeout=60)[0]
    assert emulator.returncode == 0, output
    assert "Stopped the AWS emulator" in output
    assert port_is_closed(int(port.group(1))), "the emulator is still listening"
    assert moto_processes(int(port.group(1))) == [], "a moto server is still running"
    assert list((tmp_path / "tmp").iterdir()) == [], "temporary files left behind"
