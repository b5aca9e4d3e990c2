"""The repository as an installable library: its declared dependencies, and its wheel in a fresh virtualenv."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import packages_distributions, requires
import json
from pathlib import Path
import shutil
import subprocess
import sys
import tomllib
from typing import Any
import zipfile

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
import pytest

from programmatic_iam.analysis.comment import MARKER
from programmatic_iam.cdk.engine import ENGINE_VARIABLE
from tests.support.engines import in_run_engine, module_in_run_engine
from tests.support.helpers import REPO, base_environment, policy_documents, resources, run_command, write_config
from tests.support.terraform import unavailable

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PIPFILE = tomllib.loads((REPO / "Pipfile").read_text(encoding="utf-8"))
PACKAGE = REPO / "modules" / "programmatic_iam"
TEMPLATES = REPO / "templates"

PINNED_NOT_IMPORTED = {"python-dateutil"}
"""Pipfile packages that the shipped code does not import: pinned only to steer pipenv's resolver (see the Pipfile)."""
COMES_WITH = {
    "botocore": "boto3",
    "constructs": "cdktf",
    # jinja2 hands templates its text as MarkupSafe's Markup, which the sandbox must measure too.
    "markupsafe": "jinja2",
    "pydantic-core": "pydantic",
}
"""Distributions the shipped code imports without declaring them, by the declared one that requires them."""

CONFIG = '[naming]\nname = "sm"\n\n[policy]\ntemplate = "stream-manager-2.0-hardened"\n'
# `terraform show -json` of a plan with nothing to do: enough for `review` to render its template.
EMPTY_PLAN = {"format_version": "1.2", "planned_values": {}, "resource_changes": []}


def _imported_top_level_modules(package: Path) -> set[str]:
    """The top-level modules that a package's code imports, other than itself and the standard library."""
    names: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"programmatic_iam", "__future__"}


def _runtime_requirements() -> dict[str, Requirement]:
    requirements = (Requirement(text) for text in PYPROJECT["project"]["dependencies"])
    return {canonicalize_name(requirement.name): requirement for requirement in requirements}


def _pipfile_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for name, pin in PIPFILE["packages"].items():
        pins[canonicalize_name(name)] = pin["version"] if isinstance(pin, dict) else pin
    return pins


def test_every_runtime_dependency_is_a_range_holding_the_pipfile_pin() -> None:
    requirements, pins = _runtime_requirements(), _pipfile_pins()
    problems = []
    for name, requirement in sorted(requirements.items()):
        if name not in pins:
            problems.append(f"pyproject.toml: {requirement} is not in the Pipfile's [packages]; pin it there")
        elif not pins[name].startswith("=="):
            problems.append(f"Pipfile: {name} = {pins[name]!r} is not an exact pin; pin it with ==")
        elif Version(pins[name].removeprefix("==")) not in requirement.specifier:
            problems.append(f"Pipfile: {name} {pins[name]} is outside pyproject.toml's range {requirement}")
        if not requirement.specifier or all(spec.operator != "<" for spec in requirement.specifier):
            problems.append(f"pyproject.toml: {requirement} has no upper bound; bound it below the next major")
    for name in sorted(set(pins) - set(requirements) - PINNED_NOT_IMPORTED):
        problems.append(f"Pipfile: {name} is pinned but not a dependency in pyproject.toml; add its range there")
    assert not problems, "\n".join(problems)


def test_the_dependencies_are_what_the_shipped_code_imports() -> None:
    # In CDK Terrain's environment, cdktf's names load CDK Terrain's modules: its distributions stand in.
    providers = packages_distributions()
    imported = {
        canonicalize_name(distribution)
        for module in map(module_in_run_engine, _imported_top_level_modules(PACKAGE))
        for distribution in providers.get(module, [f"<no installed distribution provides {module}>"])
    }
    declared = {in_run_engine(name) for name in _runtime_requirements()}
    assert imported - declared == set(COMES_WITH), "declare these in pyproject.toml (a range) and the Pipfile (a pin)"
    assert declared <= imported, "the shipped code does not import these: drop them from pyproject.toml"
    assert not imported & PINNED_NOT_IMPORTED
    for distribution, parent in COMES_WITH.items():
        assert distribution in {canonicalize_name(Requirement(r).name) for r in requires(in_run_engine(parent)) or []}


def test_every_package_folder_is_listed_for_the_wheel() -> None:
    found = sorted(
        ".".join(("programmatic_iam", *init.parent.relative_to(PACKAGE).parts)) for init in PACKAGE.rglob("__init__.py")
    )
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert setuptools["packages"] == [*found, "programmatic_iam.templates"], (
        "list the package folders of modules/programmatic_iam under [tool.setuptools] in pyproject.toml"
    )
    assert setuptools["package-dir"]["programmatic_iam.templates"] == "templates"


# ---------------------------------------------------------------------------------------------------------------
# The wheel, built from the files git would commit, installed with its dependencies into a fresh virtualenv
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    """A virtualenv holding the wheel and its dependencies, and the environment to run it in."""

    venv: Path
    env: dict[str, str]

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def script(self) -> Path:
        return self.venv / "bin" / "programmatic-iam"

    def run(self, *command: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
        """Run ``command`` in ``cwd``; fails the test if ``cwd`` is inside the repository."""
        assert not cwd.resolve().is_relative_to(REPO), f"{cwd} is inside the repository"
        return run_command([str(part) for part in command], cwd, {**self.env, **env})


def _checked(result: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"{what} failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    )
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built by pip (with build isolation) from a copy of the files git would commit.

    A copy, because setuptools builds in the source tree: it would leave ``build/`` and an ``.egg-info``
    inside ``modules/``, which is on the tests' import path.
    """
    if shutil.which("git") is None:
        unavailable("git is needed to list the repository's files for the wheel")
    work = tmp_path_factory.mktemp("wheel")
    listed = _checked(
        run_command(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], REPO, base_environment()),
        "git ls-files",
    )
    source = work / "source"
    for name in filter(None, listed.stdout.split("\0")):
        if (REPO / name).is_file():  # --cached also lists tracked files deleted from the working tree
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    dist = work / "dist"
    built = run_command(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(source)],
        work,
        base_environment(),
    )
    _checked(built, "pip wheel (it needs the package index for setuptools; deselect with -m 'not wheel' offline)")
    (path,) = dist.glob("programmatic_iam-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """A fresh virtualenv with the wheel installed by pip with its dependencies, as a user would; removed after."""
    if shutil.which("node") is None:
        unavailable("Node.js is needed by the jsii runtime of cdktf; install it")
    venv = tmp_path_factory.mktemp("venv")
    env = {
        key: value
        for key, value in base_environment().items()
        # The wheel brings its own engine (cdktf, its dependency) and knows nothing of the run's environment.
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", ENGINE_VARIABLE, "PIPENV_PIPFILE")
    }
    env |= {"CHECKPOINT_DISABLE": "1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    created = run_command([sys.executable, "-m", "venv", str(venv)], venv.parent, env)
    if created.returncode != 0:
        unavailable(f"python -m venv failed (is the venv module installed?): {created.stderr.strip()}")
    # --no-compile: byte-compiling the provider bindings' thousands of modules triples the time, and tests nothing.
    install = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile", str(wheel)]
    try:
        _checked(run_command(install, venv.parent, env), "pip install of the wheel with its dependencies")
        yield Installed(venv=venv, env=env)
    finally:
        shutil.rmtree(venv)  # about 450 MB, which pytest would otherwise keep for its last three sessions


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """An empty working folder outside the repository, holding an ``iam.toml`` with the hardened template."""
    assert not tmp_path.resolve().is_relative_to(REPO)
    write_config(tmp_path, CONFIG)
    return tmp_path


@pytest.mark.wheel
def test_the_wheel_ships_the_package_and_its_templates_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (dist_info,) = {name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA")}
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()

    modules = {
        f"programmatic_iam/{path.relative_to(PACKAGE).as_posix()}"
        for pattern in ("*.py", "*.js")
        for path in PACKAGE.rglob(pattern)
        if "__pycache__" not in path.parts
    }
    assert "programmatic_iam/cdk/lazy_provider_aws.js" in modules
    templates = {
        f"programmatic_iam/templates/{path.relative_to(TEMPLATES).as_posix()}"
        for path in TEMPLATES.rglob("*")
        if path.is_file()
    }
    assert {"policies", "review"} <= {name.split("/")[2] for name in templates}
    assert modules | templates <= names
    assert {name.split("/")[0] for name in names} == {"programmatic_iam", dist_info}
    assert not {name for name in names if name.endswith((".pyc", ".egg-info")) or "/tests/" in name}
    assert "programmatic-iam = programmatic_iam.cli:console" in entry_points
    declared = {
        Requirement(line.partition(":")[2]) for line in metadata.splitlines() if line.startswith("Requires-Dist:")
    }
    assert declared == set(_runtime_requirements().values())


@pytest.mark.engine("cdktf")  # the wheel's own: it depends on cdktf
@pytest.mark.wheel
def test_the_installed_package_and_every_import_come_from_the_virtualenv(installed: Installed, outside: Path) -> None:
    kinds = sorted(folder.name for folder in TEMPLATES.iterdir() if folder.is_dir())
    probe = (
        "import json, sys, cdktf, programmatic_iam, programmatic_iam.resources as r; "
        "print(json.dumps([programmatic_iam.__file__, cdktf.__file__, "
        "*(str(r.templates_dir(kind)) for kind in sys.argv[1:])]))"
    )
    paths = json.loads(
        _checked(installed.run(installed.python, "-c", probe, *kinds, cwd=outside), "the import probe").stdout
    )
    for path in paths:
        assert Path(path).resolve().is_relative_to(installed.venv.resolve()), f"{path} is not from the virtualenv"
    for kind, shipped in zip(kinds, paths[2:], strict=True):
        assert _files(Path(shipped)) == _files(TEMPLATES / kind)

    # Every module the shipped code imports (also inside functions, as `keys` imports boto3) is installed.
    site = Path(paths[0]).parent
    imported = sorted(_imported_top_level_modules(site))
    assert {"boto3", "cdktf", "cloudsplaining", "jinja2", "policy_sentry", "pydantic"} <= set(imported)
    check = f"import importlib.util as u; print([m for m in {imported!r} if u.find_spec(m) is None])"
    assert (
        _checked(installed.run(installed.python, "-c", check, cwd=outside), "the import check").stdout.strip() == "[]"
    )


@pytest.mark.engine("cdktf")
@pytest.mark.wheel
def test_the_library_example_synthesizes_from_the_wheel(installed: Installed, outside: Path) -> None:
    example = shutil.copy(REPO / "docs" / "examples" / "own_stack.py", outside / "own_stack.py")
    write_config(outside, '[naming]\nname = "sm"\n')
    # Run as a user runs it: `python own_stack.py`.
    _checked(installed.run(installed.python, example, cwd=outside), "docs/examples/own_stack.py")

    stack = _stack(outside / "cdktf.out" / "stacks" / "media-platform")
    assert [user["name"] for user in resources(stack, "aws_iam_user")] == ["production-sm"]
    assert len(resources(stack, "aws_iam_policy")) == len(resources(stack, "aws_iam_access_key")) == 1
    assert stack["output"]["stream_manager_secret"]["sensitive"] is True


@pytest.mark.engine("cdktf")
@pytest.mark.wheel
def test_the_console_script_checks_and_synthesizes_with_a_shipped_template(installed: Installed, outside: Path) -> None:
    checked = _checked(installed.run(installed.script, "check", cwd=outside), "programmatic-iam check")
    assert checked.stdout == "1 stack, no problems:\n  production-sm (production, us-east-1)\n"
    module = installed.run(installed.python, "-m", "programmatic_iam", "check", cwd=outside)
    assert (module.returncode, module.stdout, module.stderr) == (0, checked.stdout, checked.stderr)

    _checked(installed.run(installed.script, "synth", cwd=outside), "programmatic-iam synth")
    stack = _stack(outside / "cdktf.out" / "stacks" / "production-sm")
    statements = [statement for document in policy_documents(stack) for statement in document["Statement"]]
    assert statements and all("Condition" in statement for statement in statements), "not the hardened template"


@pytest.mark.wheel
def test_the_console_script_lists_the_shipped_templates_and_renders_the_review(
    installed: Installed, outside: Path
) -> None:
    write_config(outside, '[policy]\ntemplate = "stream-manager-2.0-hardend"\n', name="typo.toml")
    typo = installed.run(installed.script, "check", cwd=outside, IAM_CONFIG="typo.toml")
    assert typo.returncode == 2
    assert "did you mean 'stream-manager-2.0-hardened'?" in typo.stderr
    assert "use one of stream-manager-2.0, stream-manager-2.0-hardened, or a path" in typo.stderr

    (outside / "plan.json").write_text(json.dumps(EMPTY_PLAN), encoding="utf-8")
    review = _checked(installed.run(installed.script, "review", "plan.json", cwd=outside), "programmatic-iam review")
    assert review.stdout.startswith(f"{MARKER}\n### ✅ Identity review: no changes\n")


def _stack(folder: Path) -> dict[str, Any]:
    stack: dict[str, Any] = json.loads((folder / "cdk.tf.json").read_text(encoding="utf-8"))
    return stack


def _files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}
