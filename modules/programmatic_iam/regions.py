"""Region names checked against the regions the installed botocore knows: a warning, never an error.

A malformed name is already an error (the configuration's ``Region`` type). A well-formed name botocore
does not list may be a region newer than the installed botocore, so it only warns, with the closest
known names as suggestions.
"""

from __future__ import annotations

import difflib
from functools import cache

import botocore
import botocore.loaders


@cache
def known_regions() -> frozenset[str]:
    """Every region of every partition in botocore's endpoint data (``us-east-1``, ``cn-north-1``...)."""
    endpoints = botocore.loaders.Loader().load_data("endpoints")
    return frozenset(region for partition in endpoints["partitions"] for region in partition["regions"])


def unknown_region_message(region: str) -> str | None:
    """Why ``region`` deserves a second look, or ``None`` when botocore knows it."""
    known = known_regions()
    if region in known:
        return None
    close = difflib.get_close_matches(region, sorted(known), n=2, cutoff=0.75)
    suggestion = f"did you mean {' or '.join(repr(name) for name in close)}? " if close else ""
    return (
        f"{region!r} is not a region the installed botocore ({botocore.__version__}) knows; {suggestion}"
        "if it is a region newer than that, ignore this warning"
    )
