"""`make setup` ends by warming jsii's package cache (programmatic_iam.warm_up), and the documented installs say so.

That the warm-up really makes the first synth fast is tests/test_fast_load.py's (it needs the engine).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support.helpers import REPO

WARM_UP = "python -m programmatic_iam.warm_up"


@pytest.mark.parametrize("engine", ["cdktf", "cdktn"])
def test_make_setup_ends_by_warming_the_jsii_cache(engine: str) -> None:
    make = shutil.which("make")
    assert make is not None, "make is not installed"
    # Every recipe printed, none run: -B takes every stamp as out of date.
    printed = subprocess.run(
        [make, "--dry-run", "--always-make", "--no-print-directory", "setup", f"ENGINE={engine}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    warm_ups = [index for index, line in enumerate(printed) if line.endswith(WARM_UP.removeprefix("python "))]
    assert len(warm_ups) == 1, printed
    # After both installs: only its stamp follows.
    home = "engines/cdktn/" if engine == "cdktn" else ""
    assert printed[warm_ups[0] + 1 :] == [f"touch {home}.venv/.jsii-warm-stamp"]


@pytest.mark.parametrize("page", ["README.md", "docs/library.md"])
def test_the_documented_install_says_the_warm_up(page: str) -> None:
    assert WARM_UP in (REPO / page).read_text(encoding="utf-8")
