"""A local AWS API emulator (moto's server) on a free loopback port, and the environment that points at it.

Nothing about the emulator goes into synthesized JSON: Terraform, the cdktf CLI and boto3 are pointed
at it through environment variables only (``AWS_ENDPOINT_URL`` and fake credentials).

Run as ``python -m programmatic_iam_dev.emulator`` (``make emulator``), it keeps the emulator running in the
foreground for trying one's own configuration by hand (docs/local-emulator.md): it prints the ``export`` lines
another shell needs, and stops the emulator and removes its working folder on Ctrl-C.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
import json
import os
from pathlib import Path
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from types import FrameType
from typing import Any, TextIO
import urllib.error
import urllib.request

from .moto_last_accessed import CONTROL_PATH as LAST_ACCESSED_CONTROL
from .terraform import MIRROR_VARIABLE, cli_config_text, find_provider_mirror

HOST = "127.0.0.1"
# moto accepts any credentials until told to enforce IAM; these only need to look like keys.
FAKE_ACCESS_KEY_ID = "AKIAEMULATOR00000000"
FAKE_SECRET_ACCESS_KEY = "emulator-secret-not-a-real-key"
EMULATED_ACCOUNT_ID = "123456789012"  # moto's default account
EMULATED_REGION = "us-east-1"
START_TIMEOUT_SECONDS = 60.0
# moto's server with its gaps patched (see that file); run isolated, it needs only moto.
MOTO_SERVER = Path(__file__).with_name("moto_server.py")


class EmulatorError(RuntimeError):
    """The emulator could not be started or did not answer."""


@dataclass(frozen=True)
class AwsEmulator:
    """A running moto server."""

    endpoint: str
    process: subprocess.Popen[bytes]

    def environment(self, region: str = EMULATED_REGION, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) pointed at the emulator, with fake credentials.

        ``TF_CLI_ARGS_init`` makes the S3 backend address buckets by path, which the emulator needs.
        """
        environment = {
            key: value
            for key, value in (os.environ if base is None else base).items()
            if not key.startswith(("AWS_", "TF_CLI_ARGS"))
        }
        environment.update(
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_ACCESS_KEY_ID=FAKE_ACCESS_KEY_ID,
            AWS_SECRET_ACCESS_KEY=FAKE_SECRET_ACCESS_KEY,
            AWS_REGION=region,
            AWS_DEFAULT_REGION=region,
            AWS_EC2_METADATA_DISABLED="true",
            TF_CLI_ARGS_init="-backend-config=use_path_style=true",
        )
        return environment

    def client(self, service: str, region: str = EMULATED_REGION, **credentials: str) -> Any:
        """A boto3 client for ``service`` at the emulator (fake credentials unless others are given)."""
        import boto3

        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id=credentials.get("aws_access_key_id", FAKE_ACCESS_KEY_ID),
            aws_secret_access_key=credentials.get("aws_secret_access_key", FAKE_SECRET_ACCESS_KEY),
        )

    def reset(self) -> None:
        """Forget every resource (and stop enforcing IAM)."""
        self._post("/moto-api/reset", b"")
        self.enforce_iam(after_calls=None)

    def enforce_iam(self, after_calls: int | None) -> None:
        """Make the emulator check every call against IAM policies, after ``after_calls`` free calls.

        ``None`` turns the checks off again. The emulator checks the key (known, active) and the actions, not
        resource ARNs or conditions (docs/local-emulator.md).
        """
        self._post("/moto-api/reset-auth", b"inf" if after_calls is None else str(after_calls).encode())

    def last_accessed(self, **settings: Any) -> None:
        """Change what the emulator's IAM last-accessed reports are made from, as months of use would have:
        ``clock`` (an ISO time with its zone, or None), ``created`` ({"user", "date"}), ``jobs`` ("COMPLETED",
        "IN_PROGRESS" or "FAILED"), ``throttle`` ({operation: calls}). See :mod:`.moto_last_accessed`."""
        self._post(LAST_ACCESSED_CONTROL, json.dumps(settings).encode())

    def _post(self, path: str, body: bytes) -> None:
        # text/plain: with the default form encoding the server would not see the body
        request = urllib.request.Request(
            self.endpoint + path, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


def for_local_state(environment: Mapping[str, str]) -> dict[str, str]:
    """``environment`` without the S3-backend arguments it gives ``terraform init``.

    The local backend refuses them ("not expected for the selected backend type"), so a stack whose state
    is a local file (the state bootstrap's first apply) must be initialised without them.
    """
    return {key: value for key, value in environment.items() if key != "TF_CLI_ARGS_init"}


@contextmanager
def running_emulator(log: Path | None = None, port: int | None = None) -> Iterator[AwsEmulator]:
    """Start moto's server on ``port`` of the loopback interface (default: one the system picks as it binds);
    stop it (and its children) on exit.

    Without ``port`` the server binds port 0 and the port is read from what it prints: a port found free
    beforehand could be taken by another emulator starting at the same moment (tests run one per worker),
    and this one would then answer for that one.

    Bucket-policy statements with a condition are not enforced, a request signed with an inactive key is
    refused as AWS refuses it, and an SDK's retry of a call that succeeded gets that call's answer (see
    :mod:`.moto_server`).
    """
    with tempfile.TemporaryDirectory(prefix="moto-") as scratch:
        log = log or Path(scratch) / "moto.log"
        output = open(log, "wb")  # noqa: SIM115 (closed below)
        process = subprocess.Popen(
            [sys.executable, "-I", str(MOTO_SERVER), "-H", HOST, "-p", str(port or 0)],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            bound = port or _bound_port(process, log)
            emulator = AwsEmulator(endpoint=f"http://{HOST}:{bound}", process=process)
            _wait_until_ready(emulator, log)
            yield emulator
        finally:
            _stop(process)
            output.close()


_RUNNING_ON = re.compile(rf"Running on http://{re.escape(HOST)}:([0-9]+)")


def _bound_port(process: subprocess.Popen[bytes], log: Path) -> int:
    """The port moto's server says it is running on, once it has bound it."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        found = _RUNNING_ON.search(log.read_text(errors="replace"))
        if found:
            return int(found.group(1))
        if process.poll() is not None:
            raise EmulatorError(f"moto's server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)
    raise EmulatorError(f"moto's server did not say which port it bound within {START_TIMEOUT_SECONDS:.0f} s")


def _wait_until_ready(emulator: AwsEmulator, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if emulator.process.poll() is not None:
            details = log.read_text(errors="replace")
            raise EmulatorError(f"moto's server exited with {emulator.process.returncode}:\n{details}")
        try:
            with urllib.request.urlopen(emulator.endpoint + "/moto-api/", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise EmulatorError(f"moto's server did not answer at {emulator.endpoint} within {START_TIMEOUT_SECONDS:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


# ---------------------------------------------------------------------------------------------------------------------
# ``python -m programmatic_iam_dev.emulator``: the emulator in the foreground, for trying a configuration by hand
# ---------------------------------------------------------------------------------------------------------------------

# Variables of the second shell that would make the AWS SDKs use another identity than the fake keys.
UNSET_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")
ENV_FILE = "env.sh"
WALKTHROUGH = "docs/local-emulator.md"


def shell_environment(emulator: AwsEmulator, cli_config: Path) -> dict[str, str]:
    """What a shell needs to aim Terraform, the cdktf CLI, the AWS CLI and boto3 at ``emulator``.

    The emulator's :meth:`AwsEmulator.environment`, Terraform's CLI configuration ``cli_config`` (which
    takes the providers from the mirror, if there is one) and no cdktf telemetry.
    """
    return {
        **emulator.environment(base={}),
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "CHECKPOINT_DISABLE": "1",
    }


def shell_lines(environment: Mapping[str, str]) -> list[str]:
    """``unset`` and ``export`` lines (POSIX shell) that set ``environment``."""
    return [
        f"unset {' '.join(UNSET_VARIABLES)}",
        *(f"export {name}={shlex.quote(value)}" for name, value in sorted(environment.items())),
    ]


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the emulator until Ctrl-C (or SIGTERM). Returns the exit code: 0 when stopped, 1 when it failed."""
    args = _parser().parse_args(argv)
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    mirror = find_provider_mirror()
    try:
        with (
            interrupt_on_stop_signals(),
            tempfile.TemporaryDirectory(prefix="programmatic-iam-emulator-") as folder,
        ):
            work = Path(folder)
            cli_config = work / "terraform.tfrc"
            cli_config.write_text(cli_config_text(mirror), encoding="utf-8")
            with running_emulator(work / "moto.log", port=args.port) as emulator:
                lines = shell_lines(shell_environment(emulator, cli_config))
                (work / ENV_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
                print(_started(emulator, mirror, work, lines), file=stdout, flush=True)
                emulator.process.wait()
                raise EmulatorError(f"moto's server stopped by itself (exit status {emulator.process.returncode})")
    except KeyboardInterrupt:
        print("\nStopped the AWS emulator; everything it held is gone.", file=stdout, flush=True)
        return 0
    except EmulatorError as error:
        print(f"The AWS emulator failed: {error}", file=stderr)
        return 1


def _started(emulator: AwsEmulator, mirror: Path | None, work: Path, lines: Sequence[str]) -> str:
    providers = (
        f"Terraform takes hashicorp/aws from the provider mirror {mirror}."
        if mirror
        else f"No provider mirror found: Terraform will download hashicorp/aws from the registry "
        f"(set ${MIRROR_VARIABLE} to the folder holding registry.terraform.io/ if it cannot)."
    )
    notes = []
    if Path("cdktf.out.bootstrap").is_dir():
        notes = [
            "",
            "Note: cdktf.out.bootstrap/ exists here. If an earlier emulator session left it, remove it before",
            "`make bootstrap` (the emulator starts empty); if it holds a real account's bootstrap, try the",
            "emulator in another clone.",
        ]
    return "\n".join(
        [
            "programmatic-iam emulator: a local AWS API (moto) for trying your configuration; no AWS account is used.",
            f"Started the AWS emulator (moto) at {emulator.endpoint}: account {EMULATED_ACCOUNT_ID}, "
            f"region {EMULATED_REGION}.",
            providers,
            "",
            f"In a second shell, at the repository root, run these lines (or: . {work / ENV_FILE}):",
            "",
            *lines,
            "",
            f"Then follow {WALKTHROUGH}: make bootstrap, npx cdktf deploy --skip-provider-lock '*', ...",
            "Everything lives in this process's memory. Press Ctrl-C to stop the emulator and forget it all.",
            *notes,
        ]
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m programmatic_iam_dev.emulator",
        description="Run a local AWS API emulator (moto) until Ctrl-C and print the environment that points at it.",
    )
    parser.add_argument("--port", type=int, default=0, help=f"the port on {HOST} to listen on (default: a free one)")
    return parser


@contextmanager
def interrupt_on_stop_signals() -> Iterator[None]:
    """Make SIGINT and SIGTERM raise :class:`KeyboardInterrupt`, so that both clean up like Ctrl-C does.

    Python's default SIGTERM skips every ``finally``, and a process started in the background by a
    non-interactive shell inherits an ignored SIGINT, which Python then leaves ignored.
    """

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {number: signal.signal(number, interrupt) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


if __name__ == "__main__":
    sys.exit(main())
