"""A local AWS API emulator (moto's server) on a free loopback port, and the environment that points at it.

Nothing about the emulator goes into synthesized JSON: Terraform, the cdktf CLI and boto3 are pointed
at it through environment variables only (``AWS_ENDPOINT_URL`` and fake credentials).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time
from typing import IO, Any
import urllib.error
import urllib.request

HOST = "127.0.0.1"
# moto accepts any credentials until told to enforce IAM; these only need to look like keys.
FAKE_ACCESS_KEY_ID = "AKIAEMULATOR00000000"
FAKE_SECRET_ACCESS_KEY = "emulator-secret-not-a-real-key"
EMULATED_ACCOUNT_ID = "123456789012"  # moto's default account
START_TIMEOUT_SECONDS = 60.0
# moto's server with its bucket-policy conditions gap patched (see that file); run isolated, it needs only moto.
MOTO_SERVER = Path(__file__).with_name("moto_server.py")


class EmulatorError(RuntimeError):
    """The emulator could not be started or did not answer."""


@dataclass(frozen=True)
class AwsEmulator:
    """A running moto server."""

    endpoint: str
    process: subprocess.Popen[bytes]

    def environment(self, region: str = "us-east-1", base: Mapping[str, str] | None = None) -> dict[str, str]:
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

    def client(self, service: str, region: str = "us-east-1", **credentials: str) -> Any:
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

        ``None`` turns the checks off again. The emulator checks actions, not resource ARNs or conditions.
        """
        self._post("/moto-api/reset-auth", b"inf" if after_calls is None else str(after_calls).encode())

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


def free_port() -> int:
    """A loopback TCP port nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_emulator(log: Path | None = None) -> Iterator[AwsEmulator]:
    """Start moto's server on a free loopback port; stop it (and its children) on exit.

    Bucket-policy statements with a condition are not enforced (see :mod:`.moto_server`).
    """
    port = free_port()
    output: IO[bytes] | int = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [sys.executable, "-I", str(MOTO_SERVER), "-H", HOST, "-p", str(port)],
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    emulator = AwsEmulator(endpoint=f"http://{HOST}:{port}", process=process)
    try:
        _wait_until_ready(emulator, log)
        yield emulator
    finally:
        _stop(process)
        if not isinstance(output, int):
            output.close()


def _wait_until_ready(emulator: AwsEmulator, log: Path | None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if emulator.process.poll() is not None:
            details = log.read_text(errors="replace") if log else "(no log)"
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
