"""The tags the tool writes on everything it makes, by which ``keys status`` finds it again in IAM."""

from __future__ import annotations

import re

TAG_PREFIX = "programmatic-iam:"
"""Reserved: the configuration may not write tag keys that start with it (compared ignoring case, as IAM does)."""
IDENTITY_TAG = f"{TAG_PREFIX}identity"
ENVIRONMENT_TAG = f"{TAG_PREFIX}environment"
OWNERSHIP_TAGS = (IDENTITY_TAG, ENVIRONMENT_TAG)

# AWS's tag value pattern; an identity's name may hold the one IAM name character it lacks (",").
_NOT_IN_A_TAG_VALUE = re.compile(r"[^\w .:/=+\-@]")


def ownership_tags(identity: str, environment: str) -> dict[str, str]:
    """The tags on every resource of ``identity``'s stack in ``environment``.

    They outlive the configuration: once an environment is removed from ``iam.toml``, its user (and its keys)
    is still found by them, and ``keys status`` reports it as an orphan instead of forgetting it.
    """
    return {
        IDENTITY_TAG: _NOT_IN_A_TAG_VALUE.sub("_", identity),
        ENVIRONMENT_TAG: _NOT_IN_A_TAG_VALUE.sub("_", environment),
    }


def is_reserved_tag_key(key: str) -> bool:
    """Whether ``key`` is one of the tool's own tags (or could be taken for one)."""
    return key.lower().startswith(TAG_PREFIX)
