"""``python -m programmatic_iam_dev.engine_stubs DIR``: type stubs that give cdktf's names the installed engine's types.

The cdk layer imports cdktf's module names, which :mod:`programmatic_iam.cdk.engine` points at another
engine's modules at run time. mypy does not run that code, so in CDK Terrain's environment it would find
no ``cdktf`` at all and check nothing. With ``MYPYPATH=DIR`` it checks the cdk layer against the engine
it really runs on: each stub re-exports the real module (``from cdktn_provider_aws.iam_user import *``).
The modules are those that ``bindings.py`` and ``docs/examples/own_stack.py`` import. Under cdktf itself
there is nothing to alias, and DIR is left empty.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterable, Sequence
from pathlib import Path
import shutil

from programmatic_iam.cdk.engine import AWS_MODULE, CORE_MODULE, Engine

REPO = Path(__file__).resolve().parents[2]
IMPORTERS = (REPO / "modules" / "programmatic_iam" / "cdk" / "bindings.py", REPO / "docs" / "examples" / "own_stack.py")


def imported_modules(sources: Iterable[str]) -> set[str]:
    """The cdktf module names (``cdktf``, ``cdktf_cdktf_provider_aws.<submodule>``) that ``sources`` import from."""
    names: set[str] = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
    return {name for name in names if name.partition(".")[0] in (CORE_MODULE, AWS_MODULE)}


def stubs(engine: Engine, modules: Iterable[str]) -> dict[str, str]:
    """Each stub file's relative path and text: one re-export per module, and each package's ``__init__.pyi``."""
    real_names = {CORE_MODULE: engine.core, AWS_MODULE: engine.aws}
    files: dict[str, str] = {}
    for module in sorted(modules):
        top, _, rest = module.partition(".")
        real = real_names[top] + ("." + rest if rest else "")
        path = module.replace(".", "/") + ("/__init__.pyi" if not rest else ".pyi")
        files[path] = f"from {real} import *\n"
        if rest:
            files.setdefault(f"{top}/__init__.pyi", "")
    return files


def write_stubs(directory: Path, engine: Engine) -> list[str]:
    """Replace ``directory`` with the stubs ``engine`` needs; return their paths."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    if engine.core == CORE_MODULE:
        return []
    files = stubs(engine, imported_modules(path.read_text(encoding="utf-8") for path in IMPORTERS))
    for relative, text in files.items():
        (directory / relative).parent.mkdir(parents=True, exist_ok=True)
        (directory / relative).write_text(text, encoding="utf-8")
    return sorted(files)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m programmatic_iam_dev.engine_stubs", description=__doc__)
    parser.add_argument("directory", type=Path, help="the folder to (re)write; give it to mypy as MYPYPATH")
    arguments = parser.parse_args(argv)
    from programmatic_iam.cdk.bindings import ENGINE  # loads the engine, as the cdk layer would: only when run

    written = write_stubs(arguments.directory, ENGINE)
    print(f"{arguments.directory}: {len(written)} stubs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
