"""The bindings' Python-side type checks are left to the jsii kernel (docs/performance.md): a wrong value is still
refused, by the kernel, before anything is synthesized."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys
from typing import Any

import pytest

from tests.support.helpers import REPO, base_environment

pytestmark = pytest.mark.engine


@pytest.mark.parametrize(
    "arguments",
    [{"name": 123}, {"name": "u", "tags": ["not", "a", "map"]}, {"name": "u", "force_destroy": "maybe"}],
    ids=["number-for-a-string", "list-for-a-map", "string-for-a-boolean"],
)
def test_rejects_a_binding_argument_of_the_wrong_type(tmp_path: Path, arguments: dict[str, Any]) -> None:
    from programmatic_iam.cdk.bindings import ENGINE, App, IamUser, TerraformStack
    from programmatic_iam.cdk.engine import leave_type_checks_to_the_kernel

    leave_type_checks_to_the_kernel(ENGINE, sys.modules)  # as our synth does
    stack = TerraformStack(App(outdir=str(tmp_path / "out")), "stack")
    with pytest.raises(RuntimeError, match=r"Unable to deserialize value as @\S+/provider-aws\.iamUser\.IamUserConfig"):
        IamUser(stack, "user", **arguments)


def test_a_program_that_imports_the_library_keeps_the_python_side_checks(tmp_path: Path) -> None:
    # A fresh process: only our synth command leaves the checks to the kernel, never the import of the library.
    program = (
        "from programmatic_iam.cdk.bindings import App, IamUser, TerraformStack\n"
        f"stack = TerraformStack(App(outdir={str(tmp_path / 'out')!r}), 'stack')\n"
        "try:\n"
        "    IamUser(stack, 'user', name=123)\n"
        "except TypeError as error:\n"
        "    print('TypeError:', error)\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", program],
        env={**base_environment(), "PYTHONPATH": str(REPO / "modules")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.startswith("TypeError:") and "name" in finished.stdout, finished.stdout
