"""Shared test helpers: configs in temporary folders, synthesis in-process and through main.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from io import StringIO
import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from typing import Any

from programmatic_iam.blueprint import build_blueprint
from programmatic_iam.cli import main as cli_main
from programmatic_iam.cli.synth import synthesize
from programmatic_iam.config import load_config, parse_config
from programmatic_iam.policy.catalogue import load_catalogue
from programmatic_iam.spec import Blueprint

from .engines import REPO as REPO  # re-exported: the tests import it from here
from .engines import RUN_ENGINE, cdk_cli

EXAMPLES = REPO / "examples"

TWO_ENVIRONMENTS = """
[[environments]]
name = "staging"
region = "eu-west-1"
account_id = "111111111111"
{staging}
[[environments]]
name = "production"
region = "us-east-1"
account_id = "222222222222"
{production}
"""
"""Staging and production in two accounts, each with room (``{staging}``, ``{production}``) for its own tables."""
ENVIRONMENTS_IN_ONE_REGION = """\
[[environments]]
name = "staging"
region = "us-east-1"

[[environments]]
name = "production"
region = "us-east-1"
"""
"""Staging and production in one account and region: the fleets of the rotation and key tests."""

# Real read-only actions of five services: a document of about 12,500 characters, which IAM's limit of
# 6,144 splits into three managed policies.
SPLIT_POLICY_PATTERNS = (
    "cloudwatch:Describe*",
    "cloudwatch:Get*",
    "cloudwatch:List*",
    "ec2:Describe*",
    "iam:Get*",
    "iam:List*",
    "logs:Describe*",
    "logs:Get*",
    "s3:Get*",
    "s3:List*",
)


def write_config(directory: Path, text: str, name: str = "iam.toml") -> Path:
    """Write a TOML config (dedented) and return its path."""
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def blueprint_of(text: str | None, directory: Path) -> Blueprint:
    """The blueprint of a config given as TOML text (``None``: the built-in default)."""
    if text is None:
        return build_blueprint(parse_config({}, origin="<built-in default>", base_dir=directory))
    write_config(directory, text)
    return build_blueprint(load_config({}, cwd=directory))


def synth_blueprint(blueprint: Blueprint, outdir: Path) -> dict[str, dict[str, Any]]:
    """Synthesize in this process; return each stack's cdk.tf.json by stack id."""
    synthesize(blueprint, outdir)
    return {
        path.parent.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((outdir / "stacks").glob("*/cdk.tf.json"))
    }


def synth(text: str | None, directory: Path) -> dict[str, dict[str, Any]]:
    """Synthesize a config given as TOML text into ``directory / "cdktf.out"``."""
    return synth_blueprint(blueprint_of(text, directory), directory / "cdktf.out")


# Synthesizes each case (argv: output folder, then "name=config path" or "default") in one process.
_SYNTH_CASES = """
import sys
from pathlib import Path
from programmatic_iam.blueprint import build_blueprint
from programmatic_iam.cli.synth import synthesize
from programmatic_iam.config import load_config_file, parse_config
out = Path(sys.argv[1])
for case in sys.argv[2:]:
    name, _, path = case.partition("=")
    config = load_config_file(Path(path)) if path else parse_config({}, origin="<built-in default>", base_dir=out)
    synthesize(build_blueprint(config), out / name)
"""


def synth_cases_arguments(out: Path, cases: Sequence[str]) -> list[str]:
    """Python's arguments that synthesize each case (``default``, or an example's name) into ``out/<case>``, all
    in one process: one engine start for them all."""
    named = [case if case == "default" else f"{case}={EXAMPLES / f'{case}.toml'}" for case in cases]
    return ["-c", _SYNTH_CASES, str(out), *named]


def base_environment() -> dict[str, str]:
    """This process's environment without the variables that would choose another config or output folder."""
    return {k: v for k, v in os.environ.items() if k not in ("IAM_CONFIG", "CDKTF_OUTDIR")}


def run_command(
    command: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``cwd`` and return the result, failed or not, with its output captured."""
    return subprocess.run(
        list(command), cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )


def run_app(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run main.py as cdktf would, in ``cwd``, with extra environment variables."""
    return run_command([sys.executable, str(REPO / "main.py")], cwd, {**base_environment(), **env})


def run_module(module: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m <module> <args>`` of the library in ``cwd``, as the Makefile does."""
    environment = {**base_environment(), "PYTHONPATH": str(REPO / "modules"), **env}
    return run_command([sys.executable, "-m", module, *args], cwd, environment)


def cdktf_cli(*args: str) -> list[str]:
    """The command line of this run's engine's pinned CLI (``cdktf`` or ``cdktn``); fails the test if it is missing."""
    return cdk_cli(RUN_ENGINE, *args)


def resources(stack: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The resources of one type in a synthesized stack, in logical-id order."""
    return [stack["resource"][kind][key] for key in sorted(stack.get("resource", {}).get(kind, {}))]


def policy_documents(stack: dict[str, Any]) -> list[dict[str, Any]]:
    """The managed policy documents of a stack, parsed (after undoing Terraform's ``$${`` escapes)."""
    return [
        json.loads(policy["policy"].replace("$${", "${").replace("%%{", "%{"))
        for policy in resources(stack, "aws_iam_policy")
    ]


def granted_actions(document: dict[str, Any]) -> set[str]:
    """The actions a document allows; every statement must allow on ``*`` and nothing else."""
    statements = document["Statement"]
    statements = statements if isinstance(statements, list) else [statements]
    actions: set[str] = set()
    for statement in statements:
        assert (statement["Effect"], statement["Resource"]) == ("Allow", "*")
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource"}
        granted = statement["Action"]
        actions.update([granted] if isinstance(granted, str) else granted)
    return actions


def split_policy_actions() -> list[str]:
    """The catalogue's actions matching :data:`SPLIT_POLICY_PATTERNS`, sorted: a policy too large for one."""
    catalogue = load_catalogue()
    return sorted({action for pattern in SPLIT_POLICY_PATTERNS for action in catalogue.matching(pattern)})


def split_policy_config(attach_policies_to: str) -> str:
    """A config granting :func:`split_policy_actions` (listed one by one), attached to the user or a group."""
    actions = json.dumps(split_policy_actions())
    return f'[policy]\nactions = {actions}\n\n[user]\nattach_policies_to = "{attach_policies_to}"\n'


def without_metadata(value: Any) -> Any:
    """Drop cdktf's ``//`` metadata (paths, versions) so snapshots change only when the resources do."""
    if isinstance(value, dict):
        return {k: without_metadata(v) for k, v in value.items() if k != "//"}
    if isinstance(value, list):
        return [without_metadata(v) for v in value]
    return value


def port_is_closed(port: int) -> bool:
    """Whether nothing listens on ``port`` of the loopback address any more."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@contextmanager
def session_process(module: str, *, cwd: Path, temp: Path, timeout: float = 300) -> Iterator[subprocess.Popen[str]]:
    """``python -m module`` in a session of its own (so that a Ctrl-C can reach it all), temporary files in ``temp``.

    Its output (stderr included) is a text pipe. Killed after ``timeout`` seconds, so that a hanging command
    fails the test instead of hanging it.
    """
    temp.mkdir()
    environment = {**base_environment(), "PYTHONPATH": str(REPO / "modules"), "TMPDIR": str(temp)}
    process = subprocess.Popen(
        [sys.executable, "-m", module],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    watchdog = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
    watchdog.start()
    try:
        yield process
    finally:
        watchdog.cancel()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_cli(cwd: Path, *args: str) -> tuple[int, str, str]:
    """``python -m programmatic_iam ARGS`` in this process, in ``cwd``: (exit code, stdout, stderr)."""
    stdout, stderr = StringIO(), StringIO()
    code = cli_main(list(args), environ={}, cwd=cwd, stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def cdk_modules_loaded(cwd: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run one command in a fresh interpreter; its result, and the cdktf, jsii and constructs modules it loaded."""
    probe = (
        "import json, sys; from programmatic_iam.cli import main; "
        f"code = main({list(args)!r}); "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('cdktf', 'jsii', 'constructs')); "
        "print(json.dumps(loaded), file=sys.stderr); sys.exit(code)"
    )
    result = run_command(
        [sys.executable, "-c", probe], cwd, {**base_environment(), "PYTHONPATH": str(REPO / "modules")}
    )
    loaded: list[str] = json.loads(result.stderr.strip().splitlines()[-1])
    return result, loaded
