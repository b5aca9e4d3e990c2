"""Region names checked against the regions the installed botocore knows: a warning, never an error.

A malformed name is already an error (the configuration's ``Region`` type). A well-formed name botocore
does not list may be a region newer than the installed botocore, so it only warns, with the closest
known names as suggestions.
"""

from __future__ import annotations

import difflib
from functools import cache
import importlib.metadata
import importlib.util
import json
from pathlib import Path


@cache
def known_regions() -> frozenset[str]:
    """Every region of every partition botocore knows (``us-east-1``, ``cn-north-1``...).

    Read from botocore's ``data/partitions.json`` (7 KB) without importing botocore: its loader would parse
    the 1.2 MB ``endpoints.json``, which costs ``check`` a third of a second for the same list.
    """
    spec = importlib.util.find_spec("botocore")
    if spec is None or spec.origin is None:
        return frozenset()
    partitions = json.loads((Path(spec.origin).parent / "data" / "partitions.json").read_text(encoding="utf-8"))
    return frozenset(region for partition in partitions["partitions"] for region in partition["regions"])


def unknown_region_message(region: str) -> str | None:
    """Why ``region`` deserves a second look, or ``None`` when botocore knows it."""
    known = known_regions()
    if not known or region in known:  # without botocore's data there is nothing to compare with
        return None
    close = difflib.get_close_matches(region, sorted(known), n=2, cutoff=0.75)
    suggestion = f"did you mean {' or '.join(repr(name) for name in close)}? " if close else ""
    return (
        f"{region!r} is not a region the installed botocore ({importlib.metadata.version('botocore')}) knows; "
        f"{suggestion}"
        "if it is a region newer than that, ignore this warning"
    )
