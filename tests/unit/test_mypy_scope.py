"""mypy reads only the AWS provider modules the code imports (pyproject.toml): a module imported but not listed
would be skipped, its classes typed ``Any`` and every mistake in their use unseen."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
import tomllib

from programmatic_iam.cdk.engine import AWS_MODULE, ENGINES
from tests.support.helpers import REPO

PROVIDER_PACKAGES = tuple(engine.aws for engine in ENGINES.values())


def mypy_overrides() -> list[dict[str, object]]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    overrides: list[dict[str, object]] = pyproject["tool"]["mypy"]["overrides"]
    return overrides


def modules_with(setting: str, value: str) -> set[str]:
    found: set[str] = set()
    for override in mypy_overrides():
        if override.get(setting) == value:
            modules = override["module"]
            found.update(modules if isinstance(modules, list) else [str(modules)])
    return found


def checked_sources() -> Iterator[Path]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    for entry in pyproject["tool"]["mypy"]["files"]:
        path = REPO / entry
        yield from [path] if path.is_file() else sorted(path.rglob("*.py"))


def imported_provider_modules(source: str) -> set[str]:
    """The provider submodules ``source`` imports (``from cdktf_cdktf_provider_aws.iam_user import IamUser``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.partition(".")[0] in PROVIDER_PACKAGES and "." in name}


def test_every_provider_module_the_code_imports_is_read_with_its_types_under_both_engines() -> None:
    imported = {
        module.partition(".")[2]
        for path in checked_sources()
        for module in imported_provider_modules(path.read_text(encoding="utf-8"))
    }
    assert imported, "no provider module imported: the scan is broken"
    assert "iam_user" in imported
    assert modules_with("follow_imports", "normal") == {
        f"{package}.{module}" for package in PROVIDER_PACKAGES for module in imported
    }, "list each provider module the code imports, for both engines, in pyproject.toml's follow_imports = normal"


def test_the_rest_of_each_provider_package_is_skipped() -> None:
    assert AWS_MODULE in PROVIDER_PACKAGES
    assert modules_with("follow_imports", "skip") == {
        name for package in PROVIDER_PACKAGES for name in (package, f"{package}.*")
    }
