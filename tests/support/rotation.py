"""Rotation tests' shared pieces: a local repository with a bare ``origin`` and a recorder in place of GitHub, for
the schedule's script (``programmatic_iam.rotation_prs``); and consumers calling EC2 with the key their store holds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import subprocess
import threading
import time
from typing import Any

import boto3
import pytest

from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import AccessKey, error_code
from tests.support.helpers import ENVIRONMENTS_IN_ONE_REGION


def as_a_schedule_job(aws: AwsEmulator, monkeypatch: pytest.MonkeyPatch, committer: str) -> None:
    """The process's environment as a schedule's job has it: the emulator's credentials, ``committer`` (``rotation``
    or ``tightening``) as git's author and committer, and nothing else of AWS's, git's or ``IAM_CONFIG``."""
    for name in [name for name in os.environ if name.startswith(("AWS_", "GIT_"))] + ["IAM_CONFIG"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in aws.environment(base={}).items():
        monkeypatch.setenv(name, value)
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", f"{committer} schedule")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", f"{committer}@example.com")


@dataclass
class RecordedPullRequests:
    """Stands in for GitHub: the calls the script makes, and one pull request per branch, as ``gh`` keeps them."""

    calls: list[dict[str, str]] = field(default_factory=list)
    opened: dict[str, int] = field(default_factory=dict)

    def __call__(self, *, branch: str, base: str, title: str, body: str) -> str:
        self.calls.append({"branch": branch, "base": base, "title": title, "body": body})
        if branch in self.opened:
            return f"pull request #{self.opened[branch]} updated"
        self.opened[branch] = len(self.opened) + 1
        return f"pull request #{self.opened[branch]} opened"


def git(repo: Path, *args: str) -> str:
    """``git args`` in ``repo``; its output (a failure raises)."""
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def repository(directory: Path, config: str) -> Path:
    """A clone of a bare ``origin`` whose ``main`` holds ``config`` as iam.toml and a README (``seed`` is another
    clone, to change ``main`` with)."""
    origin, seed = directory / "origin.git", directory / "seed"
    git(directory, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    git(directory, "clone", "--quiet", str(origin), str(seed))
    (seed / "iam.toml").write_text(config, encoding="utf-8")
    (seed / "README.md").write_text("The identities.\n", encoding="utf-8")
    git(seed, "add", "iam.toml", "README.md")
    git(seed, "commit", "--quiet", "-m", "The fleet")
    git(seed, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    git(directory, "clone", "--quiet", str(origin), str(directory / "clone"))
    return directory / "clone"


def branches(repo: Path) -> dict[str, str]:
    """The branches of ``origin`` (the clone's remote), by name, at their commits."""
    listed = git(repo, "ls-remote", "--heads", "origin").split()
    return {ref.removeprefix("refs/heads/"): commit for commit, ref in zip(listed[::2], listed[1::2], strict=True)}


def at(repo: Path, commit: str, path: str = "iam.toml") -> str:
    """``path`` as ``origin``'s ``commit`` holds it."""
    git(repo, "fetch", "--quiet", "origin", commit)
    return git(repo, "show", f"{commit}:{path}")


def merge(repo: Path, commit: str) -> str:
    """Merge the pull request (a fast-forward of ``main`` to its commit); the merged iam.toml."""
    git(repo, "push", "--quiet", "origin", f"{commit}:refs/heads/main")
    return at(repo, commit)


ADMINISTRATOR = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
# What AWS answers a key it does not take: unknown or inactive (EC2: AuthFailure), or a secret that does not go
# with the key id (read from two SSM parameters between their two writes).
AUTH_FAILURES = frozenset({"InvalidClientTokenId", "AuthFailure", "SignatureDoesNotMatch", "InvalidAccessKeyId"})


class Consumer(threading.Thread):
    """An application calling EC2 over and over with the key it reads from its store.

    ``re_reads``: it reads the store before each call, and again (a few times, a moment apart) when the call is
    refused for its key; otherwise it reads the store once, at the start, as a process that caches its key forever.
    A call counts as failed only when every attempt failed: that is what the application sees.
    """

    def __init__(self, read_store: Callable[[Any], AccessKey], endpoint: str, *, re_reads: bool) -> None:
        super().__init__(daemon=True)
        self._read_store = read_store
        self._endpoint = endpoint
        self._re_reads = re_reads
        self._stopped = threading.Event()
        self.calls = 0
        self.failures: list[str] = []
        self.keys_used: list[str] = []

    def run(self) -> None:
        session = boto3.session.Session()  # boto3's default session is not for threads
        key = self._read_store(session)
        ec2: dict[AccessKey, Any] = {}
        while not self._stopped.is_set():
            try:
                key = self._call(session, ec2, self._read_store(session) if self._re_reads else key)
            except Exception as error:  # any error is a failed call, never a silently dead thread
                self.failures.append(f"{datetime.now(UTC):%H:%M:%S.%f}: {error!r}")
            self.calls += 1
            time.sleep(0.02)

    def _call(self, session: Any, ec2: dict[AccessKey, Any], key: AccessKey) -> AccessKey:
        """One call as the application makes it; the key it holds afterwards."""
        for attempt in range(5):
            if key not in ec2:
                ec2[key] = session.client(
                    "ec2",
                    endpoint_url=self._endpoint,
                    region_name="us-east-1",
                    aws_access_key_id=key.access_key_id,
                    aws_secret_access_key=key.secret_access_key,
                )
            code = error_code(lambda: ec2[key].describe_instances())  # noqa: B023 (called at once)
            if code is None:
                if not self.keys_used or self.keys_used[-1] != key.access_key_id:
                    self.keys_used.append(key.access_key_id)
                break
            if code not in AUTH_FAILURES or not self._re_reads or attempt == 4:
                self.failures.append(f"{datetime.now(UTC):%H:%M:%S.%f} {key.access_key_id}: {code}")
                break
            time.sleep(0.2)
            key = self._read_store(session)
        return key

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=30)


@contextmanager
def consuming(read_store: Callable[[Any], AccessKey], aws: AwsEmulator, *, re_reads: bool) -> Iterator[Consumer]:
    consumer = Consumer(read_store, aws.endpoint, re_reads=re_reads)
    consumer.start()
    try:
        yield consumer
    finally:
        consumer.stop()


def store_reader(
    delivery: str, outputs: dict[str, Any], aws: AwsEmulator, reader: AccessKey
) -> Callable[[Any], AccessKey]:
    """How the application reads its key: the secret's JSON, or the two parameters in one call (``reader`` may)."""
    credentials = {"aws_access_key_id": reader.access_key_id, "aws_secret_access_key": reader.secret_access_key}

    def client(session: Any, service: str) -> Any:
        return session.client(service, endpoint_url=aws.endpoint, region_name="us-east-1", **credentials)

    if delivery == "secretsmanager":
        arn = outputs["secret_arn"]

        def from_secret(session: Any) -> AccessKey:
            value = json.loads(client(session, "secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
            return AccessKey(value["access_key_id"], value["secret_access_key"])

        return from_secret
    key_id_name, secret_name = outputs["parameter_names"]

    def from_parameters(session: Any) -> AccessKey:
        found = client(session, "ssm").get_parameters(Names=[key_id_name, secret_name], WithDecryption=True)
        values = {parameter["Name"]: parameter["Value"] for parameter in found["Parameters"]}
        return AccessKey(values[key_id_name], values[secret_name])

    return from_parameters


# The fleet the rotation tests share: production's key of "streammanager" is at step 2.
FLEET = (
    """\
# Two identities in two environments.
"""
    + ENVIRONMENTS_IN_ONE_REGION
    + """
[[identities]]
name = "backup"
policy.actions = ["s3:PutObject"]

[[identities]]
name = "streammanager"
policy.actions = ["ec2:DescribeInstances"]

# Production's key is being rotated.
[identities.environment.production.access_key]
generation = 2
previous = "active"   # while the media servers switch
"""
)
