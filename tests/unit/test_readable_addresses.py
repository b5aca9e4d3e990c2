"""Every resource the stacks make has a readable address, with a ``moved`` block from cdktf's hashed one.

The cdk layer no longer counts a construct's resources through the jsii kernel to check that each was named
(two round trips per stack); the snapshots, which ``tests/test_snapshots.py`` keeps byte-identical to what
every example synthesizes, are checked here instead.
"""

from __future__ import annotations

import json
from pathlib import Path
import re

import pytest

from tests.support.helpers import REPO

SNAPSHOTS = sorted(
    [
        *(REPO / "tests" / "snapshots").glob("identity/*/*.json"),
        *(REPO / "tests" / "snapshots").glob("bootstrap/*.json"),
    ]
)
HASHED = re.compile(r"(?P<readable>[A-Za-z0-9_-]+)_[0-9A-F]{8}")
"""cdktf's address: the construct ids below the stack, then 8 hexadecimal digits of their hash."""


@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=lambda path: "/".join(path.parts[-2:]))
def test_every_resource_has_a_readable_address_moved_from_its_hashed_one(snapshot: Path) -> None:
    stack = json.loads(snapshot.read_text(encoding="utf-8"))
    addresses = [f"{kind}.{name}" for kind, named in stack["resource"].items() for name in named]
    moves = {move["to"]: move["from"] for move in stack["moved"]}
    assert sorted(moves) == sorted(addresses)
    for address, hashed in moves.items():
        kind, name = address.split(".")
        old_kind, old_name = hashed.split(".")
        found = HASHED.fullmatch(old_name)
        assert old_kind == kind and found and found["readable"].endswith(name) and not HASHED.fullmatch(name)


def test_the_snapshots_cover_every_example() -> None:
    examples = {path.stem for path in (REPO / "examples").glob("*.toml")}
    assert examples <= {path.parent.name for path in SNAPSHOTS}
