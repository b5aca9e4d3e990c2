"""Synthesized JSON of the default and of every example against committed golden files.

Regenerate on purpose with ``UPDATE_SNAPSHOTS=1 make test`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from programmatic_iam.blueprint import build_blueprint
from programmatic_iam.config import load_config_file
from tests.support.helpers import EXAMPLES, REPO, blueprint_of, synth_blueprint, without_metadata

SNAPSHOTS = REPO / "tests" / "snapshots" / "identity"
CASES = ["default", *sorted(p.stem for p in EXAMPLES.glob("*.toml"))]


def synthesized(case: str, directory: Path) -> dict[str, Any]:
    if case == "default":
        blueprint = blueprint_of(None, directory)
    else:
        blueprint = build_blueprint(load_config_file(EXAMPLES / f"{case}.toml", shown_as=f"examples/{case}.toml"))
    return {stack: without_metadata(tree) for stack, tree in synth_blueprint(blueprint, directory / "out").items()}


@pytest.mark.engine
@pytest.mark.parametrize("case", CASES)
def test_snapshot(tmp_path: Path, case: str) -> None:
    stacks = synthesized(case, tmp_path)
    folder = SNAPSHOTS / case
    if os.environ.get("UPDATE_SNAPSHOTS"):
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.json"):
            old.unlink()
        for stack, tree in stacks.items():
            (folder / f"{stack}.json").write_text(json.dumps(tree, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    golden = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}
    assert golden, f"no snapshot for {case}; create it with UPDATE_SNAPSHOTS=1"
    assert stacks == golden


def test_every_example_has_a_snapshot_and_no_snapshot_is_orphaned() -> None:
    assert sorted(p.name for p in SNAPSHOTS.iterdir() if p.is_dir()) == sorted(CASES)
