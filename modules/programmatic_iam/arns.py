"""ARN parts that depend on where a resource lives."""

from __future__ import annotations

# Partitions by region prefix; the rest of the world is "aws".
_PARTITIONS = (
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-isob-", "aws-iso-b"),
    ("us-iso-", "aws-iso"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-isof-", "aws-iso-f"),
)


def partition_of(region: str) -> str:
    """The ARN partition of ``region`` (``aws``, ``aws-cn``, ``aws-us-gov``, ...)."""
    return next((partition for prefix, partition in _PARTITIONS if region.startswith(prefix)), "aws")
