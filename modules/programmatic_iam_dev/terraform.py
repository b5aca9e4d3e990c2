"""Run the real Terraform binary, offline if need be, against a filesystem mirror of the provider.

Terraform comes from ``$TERRAFORM`` or ``PATH``; the mirror (a folder holding
``registry.terraform.io/hashicorp/aws/...``) from ``$TF_PROVIDER_MIRROR`` or a shallow search of the
usual places. Used by the tests and the demo.

No ``TF_PLUGIN_CACHE_DIR``: Terraform links an unpacked mirror's provider into ``.terraform`` instead of
copying it, so ``init`` takes about 0.5 s with or without a cache (measured); the first ``init`` after
boot takes a few seconds more while the ~700 MB binary is read to check its hash.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
import json
import os
from pathlib import Path
import shutil
import subprocess
from typing import Any

TERRAFORM_VARIABLE = "TERRAFORM"
MIRROR_VARIABLE = "TF_PROVIDER_MIRROR"
PROVIDER = ("registry.terraform.io", "hashicorp", "aws")
MIRROR_SEARCH_DEPTH = 3  # levels below a search root at which a mirror's ``registry.terraform.io`` may sit
TIMEOUT_SECONDS = 600

# Variables of the developer's shell that would change what Terraform does here.
_DROPPED_VARIABLES = ("TF_DATA_DIR", "TF_WORKSPACE", "TF_PLUGIN_CACHE_DIR", "TF_LOG", "TF_LOG_PATH")
_DROPPED_PREFIXES = ("TF_CLI_ARGS", "TF_VAR_")


class TerraformError(RuntimeError):
    """A Terraform command failed; the message holds the command and its whole output."""


def find_terraform(environ: Mapping[str, str] | None = None) -> Path | None:
    """The Terraform binary: ``$TERRAFORM`` (a path or a name on PATH), else ``terraform`` on PATH."""
    environ = os.environ if environ is None else environ
    named = environ.get(TERRAFORM_VARIABLE) or "terraform"
    found = shutil.which(named, path=environ.get("PATH"))
    return Path(found) if found else None


def mirror_search_roots(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where provider mirrors usually live (Terraform's implied mirror folders, and ``/opt``)."""
    environ = os.environ if environ is None else environ
    home = Path(environ.get("HOME") or Path.home())
    data_home = Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    data_dirs = [Path(d) for d in (environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":") if d]
    return [
        home / ".terraform.d" / "plugins",
        data_home / "terraform" / "plugins",
        *(d / "terraform" / "plugins" for d in data_dirs),
        Path("/usr/local/share/terraform"),
        Path("/usr/share/terraform"),
        Path("/opt"),
    ]


def is_provider_mirror(path: Path) -> bool:
    """Whether ``path`` holds ``hashicorp/aws`` in the packed or unpacked filesystem-mirror layout."""
    provider = path.joinpath(*PROVIDER)
    if not provider.is_dir():
        return False
    packed = provider.glob("terraform-provider-aws_*.zip")
    unpacked = provider.glob("*/*/terraform-provider-aws_*")
    return any(True for _ in packed) or any(True for _ in unpacked)


def find_provider_mirror(environ: Mapping[str, str] | None = None) -> Path | None:
    """The mirror named by ``$TF_PROVIDER_MIRROR``, else the first found below the usual roots."""
    environ = os.environ if environ is None else environ
    named = environ.get(MIRROR_VARIABLE)
    if named:
        path = Path(named).expanduser().resolve()
        return path if is_provider_mirror(path) else None
    for root in mirror_search_roots(environ):
        for candidate in _folders(root, MIRROR_SEARCH_DEPTH):
            if candidate.name == PROVIDER[0] and is_provider_mirror(candidate.parent):
                return candidate.parent.resolve()
    return None


def _folders(root: Path, depth: int) -> Iterator[Path]:
    """``root`` and the folders below it, breadth first, at most ``depth`` levels down."""
    level = [root]
    for _ in range(depth + 1):
        following: list[Path] = []
        for folder in level:
            yield folder
            try:
                with os.scandir(folder) as entries:
                    following.extend(Path(e.path) for e in entries if _is_folder(e))
            except OSError:
                continue
        level = sorted(following)


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def cli_config_text(mirror: Path | None) -> str:
    """A Terraform CLI configuration: no checkpoint calls; providers only from ``mirror`` (if given)."""
    lines = ["disable_checkpoint = true"]
    if mirror is not None:
        lines += [
            "provider_installation {",
            "  filesystem_mirror {",
            f"    path    = {json.dumps(str(mirror))}",
            '    include = ["registry.terraform.io/*/*"]',
            "  }",
            "}",
        ]
    return "\n".join(lines) + "\n"


def terraform_environment(cli_config: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for Terraform subprocesses: our CLI config, no prompts, no network calls."""
    environ = os.environ if environ is None else environ
    environment = {
        key: value
        for key, value in environ.items()
        if key not in _DROPPED_VARIABLES and not key.startswith(_DROPPED_PREFIXES)
    }
    environment.update(
        TF_CLI_CONFIG_FILE=str(cli_config),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
    )
    return environment


@dataclass(frozen=True)
class Terraform:
    """A Terraform binary with the environment to run it in."""

    binary: Path
    env: dict[str, str]
    mirror: Path | None

    def attempt(self, args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        """Run ``terraform <args>`` in ``cwd`` and return the result, failed or not."""
        return subprocess.run(
            [str(self.binary), *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )

    def run(self, args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        """Run ``terraform <args>`` in ``cwd``; raise :class:`TerraformError` if it fails."""
        completed = self.attempt(args, cwd)
        if completed.returncode != 0:
            raise TerraformError(_failure(completed, cwd))
        return completed

    def init_and_validate(self, stack_dir: Path) -> dict[str, Any]:
        """``terraform init -backend=false`` then ``terraform validate -json``; the parsed result.

        Raises :class:`TerraformError` with the full output if either fails or the stack is invalid.
        """
        self.run(["init", "-backend=false", "-input=false", "-no-color"], stack_dir)
        completed = self.attempt(["validate", "-json", "-no-color"], stack_dir)
        try:
            result: dict[str, Any] = json.loads(completed.stdout)
        except json.JSONDecodeError:
            raise TerraformError(_failure(completed, stack_dir)) from None
        if completed.returncode != 0 or not result.get("valid"):
            raise TerraformError(f"{render_diagnostics(result)}\n{_failure(completed, stack_dir)}")
        return result

    def with_environment(self, environment: Mapping[str, str]) -> Terraform:
        """The same binary run with ``environment`` (e.g. one pointing at an AWS emulator) instead."""
        return replace(self, env=dict(environment))

    def init(self, directory: Path, *extra: str) -> None:
        """``terraform init`` with the configured backend (``extra``: e.g. ``-migrate-state``)."""
        self.run(["init", "-input=false", "-no-color", *extra], directory)

    def apply(self, directory: Path, *extra: str) -> None:
        """``terraform apply -auto-approve``."""
        self.run(["apply", "-auto-approve", "-input=false", "-no-color", *extra], directory)

    def destroy(self, directory: Path) -> None:
        """``terraform destroy -auto-approve``."""
        self.run(["destroy", "-auto-approve", "-input=false", "-no-color"], directory)

    def plan_has_changes(self, directory: Path) -> bool:
        """Whether ``terraform plan`` proposes any change (``-detailed-exitcode``: 0 none, 2 some)."""
        completed = self.attempt(
            ["plan", "-detailed-exitcode", "-input=false", "-no-color", "-lock-timeout=60s"], directory
        )
        if completed.returncode not in (0, 2):
            raise TerraformError(_failure(completed, directory))
        return completed.returncode == 2

    def plan_json(self, directory: Path) -> dict[str, Any]:
        """The plan as ``terraform show -json`` gives it (resource_changes, ...)."""
        self.run(["plan", "-input=false", "-no-color", "-out=review.tfplan"], directory)
        completed = self.run(["show", "-json", "-no-color", "review.tfplan"], directory)
        (directory / "review.tfplan").unlink()
        plan: dict[str, Any] = json.loads(completed.stdout)
        return plan

    def outputs(self, directory: Path) -> dict[str, Any]:
        """Every root output's value, from ``terraform output -json``."""
        completed = self.run(["output", "-json", "-no-color"], directory)
        return {name: output["value"] for name, output in json.loads(completed.stdout).items()}


def error_diagnostics(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The error diagnostics of a ``terraform validate -json`` result."""
    return [d for d in result.get("diagnostics", []) if d.get("severity") == "error"]


def render_diagnostics(result: Mapping[str, Any]) -> str:
    """One line per diagnostic: severity, summary, detail and where."""
    lines = []
    for diagnostic in result.get("diagnostics", []):
        where = diagnostic.get("range") or {}
        at = f" ({where.get('filename')}:{where.get('start', {}).get('line')})" if where else ""
        lines.append(f"{diagnostic.get('severity')}: {diagnostic.get('summary')}{at}: {diagnostic.get('detail', '')}")
    return "\n".join(lines)


def _failure(completed: subprocess.CompletedProcess[str], cwd: Path) -> str:
    return (
        f"`{' '.join(completed.args)}` in {cwd} exited with {completed.returncode}\n"
        f"--- stdout ---\n{completed.stdout}\n--- stderr ---\n{completed.stderr}"
    )
