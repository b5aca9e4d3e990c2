"""Plans shaped as `terraform show -json` writes them for this tool's stacks, built without Terraform, and the
readings the review must give them (the same table checks the real plans in tests/test_review_snapshots.py).

Each shape copies what Terraform 1.11 with the AWS provider printed for the same change on the emulator: the
key resources a rotation setting makes (``cdk/identity.py``: odd generations in ``access_key``, even ones in
``access_key_2``), the key output's value before and its reference after, imports, moves and outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import json
from pathlib import Path
from typing import Any

USER = "production-streammanager"
POLICY = f"{USER}-programmatic-access"
ACCOUNT = "123456789012"
KEY_IDS = {"access_key": "AKIAEXAMPLEKEY000001", "access_key_2": "AKIAEXAMPLEKEY000002"}

Settings = tuple[int, str]
"""``(access_key.generation, access_key.previous)``."""

ROTATION_READINGS: dict[tuple[Settings, Settings], tuple[str, str | None]] = {
    # From a finished rotation: only raising the generation by one (with the old key kept) is step 1.
    ((2, "none"), (3, "active")): ("rotates a key", "Access key rotation, step 1 of 3: new key created"),
    ((2, "none"), (3, "inactive")): (
        "rotates a key",
        "Access key rotation, steps 1 and 2 at once: new key created, old key deactivated",
    ),
    ((2, "none"), (3, "none")): (
        "replaces a key",
        "Access key replaced with no overlap: old key deleted, new key created",
    ),
    ((2, "none"), (1, "none")): (
        "replaces a key",
        "Access key replaced with no overlap: old key deleted, new key created",
    ),
    ((2, "none"), (2, "active")): ("adds a key", "Access key created beside the current one: not a rotation step"),
    ((2, "none"), (2, "inactive")): ("adds a key", "Access key created beside the current one: not a rotation step"),
    ((2, "none"), (4, "none")): ("unchanged", None),
    # After step 1: step 2, or its shortcuts and mistakes.
    ((2, "active"), (2, "inactive")): ("rotates a key", "Access key rotation, step 2 of 3: old key deactivated"),
    ((2, "active"), (2, "none")): ("rotates a key", "Access key deleted while still active"),
    ((2, "active"), (3, "active")): ("replaces a key", "Outputs switched back to the previous key: no new key created"),
    ((2, "active"), (3, "inactive")): (
        "replaces a key",
        "Outputs switched back to the previous key: no new key created",
    ),
    ((2, "active"), (3, "none")): ("replaces a key", "Outputs switched back to the previous key: no new key created"),
    ((2, "active"), (1, "none")): ("replaces a key", "Outputs switched back to the previous key: no new key created"),
    ((2, "active"), (4, "active")): ("unchanged", None),
    # After step 2: step 3, the undo, or mistakes.
    ((2, "inactive"), (2, "none")): ("rotates a key", "Access key rotation, step 3 of 3: old key deleted"),
    ((2, "inactive"), (2, "active")): ("rotates a key", "Access key rotation, step 2 undone: old key active again"),
    ((2, "inactive"), (3, "active")): (
        "replaces a key",
        "Outputs switched back to the previous key: no new key created",
    ),
    ((2, "inactive"), (3, "inactive")): (
        "replaces a key",
        "Outputs switched back to the previous key: no new key created",
    ),
    ((2, "inactive"), (3, "none")): ("replaces a key", "Outputs switched back to the previous key: no new key created"),
    ((2, "inactive"), (2, "inactive")): ("unchanged", None),
}
"""Every change of ``[access_key] generation, previous`` between two settings `check` accepts, up to what the
plan can tell apart (only a generation's parity picks its key resource), and the review's verdict and warning.

Raising or lowering the generation by one gives the same plan (the same two resources swap roles), and so does
any change by an even number with the same ``previous`` (none: nothing changes)."""


def key_resources(settings: Settings) -> tuple[str, dict[str, str]]:
    """The current key's construct id, and every key's construct id with its status, for these settings."""
    generation, previous = settings
    current = "access_key" if generation % 2 else "access_key_2"
    other = "access_key_2" if generation % 2 else "access_key"
    keys = {current: "Active"}
    if previous != "none":
        keys[other] = "Active" if previous == "active" else "Inactive"
    return current, keys


def rotation_plan(before: Settings, after: Settings) -> dict[str, Any]:
    """The plan of a stack deployed with ``before`` whose configuration now says ``after``."""
    current_before, keys_before = key_resources(before)
    current_after, keys_after = key_resources(after)
    changes = [change("aws_iam_user.user", "aws_iam_user", ["no-op"], _user(), _user())]
    for name in sorted(keys_before.keys() | keys_after.keys()):
        old = _key(name, keys_before[name]) if name in keys_before else None
        new = _key(name, keys_after[name], known=name in keys_before) if name in keys_after else None
        actions = ["create"] if old is None else ["delete"] if new is None else ["update"] if old != new else ["no-op"]
        changes.append(change(f"aws_iam_access_key.{name}", "aws_iam_access_key", actions, old, new))
    known = current_after in keys_before
    outputs = {
        "access_key_id": output(KEY_IDS[current_before], KEY_IDS[current_after] if known else None, unknown=not known),
        "secret_access_key": output(
            f"secret-of-{current_before}",
            f"secret-of-{current_after}" if known else None,
            unknown=not known,
            sensitive=True,
        ),
    }
    return plan(changes, outputs=outputs, references={"access_key_id": f"aws_iam_access_key.{current_after}.id"})


def _user() -> dict[str, Any]:
    return {"name": USER, "path": "/", "force_destroy": False, "permissions_boundary": None, "tags": None}


def _key(name: str, status: str, *, known: bool = True) -> dict[str, Any]:
    key = {"user": USER, "status": status, "pgp_key": None}
    return {**key, "id": KEY_IDS[name], "secret": "secret-of-" + name} if known else key


def change(
    address: str,
    kind: str,
    actions: Sequence[str],
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    **more: Any,
) -> dict[str, Any]:
    """One ``resource_changes`` entry; ``more`` adds top-level fields (``previous_address``) or, under
    ``change``, fields of the change itself (``importing``)."""
    sensitive = {"secret": True} if kind == "aws_iam_access_key" else {}
    return {
        "address": address,
        "mode": "managed",
        "type": kind,
        "name": address.split(".")[-1],
        "change": {
            "actions": list(actions),
            "before": before,
            "after": after,
            "after_unknown": {"id": True, "secret": True}
            if kind == "aws_iam_access_key" and actions == ["create"]
            else {},
            "before_sensitive": sensitive if before is not None else False,
            "after_sensitive": sensitive if after is not None else False,
            **more.pop("change", {}),
        },
        **more,
    }


def output(before: Any, after: Any, *, unknown: bool = False, sensitive: bool = False) -> dict[str, Any]:
    """One ``output_changes`` entry, its action from its values as Terraform gives it."""
    if before is None and (after is not None or unknown):
        actions = ["create"]
    elif after is None and not unknown:
        actions = ["delete"]
    else:
        actions = ["no-op"] if before == after and not unknown else ["update"]
    return {
        "actions": actions,
        "before": before,
        "after": after,
        "after_unknown": unknown,
        "before_sensitive": sensitive,
        "after_sensitive": sensitive,
    }


def plan(
    changes: list[dict[str, Any]],
    *,
    outputs: Mapping[str, Any] | None = None,
    references: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A plan of ``changes``; ``references`` maps an output to the attribute its expression reads."""
    configured = {
        name: {"expression": {"references": [target, target.rpartition(".")[0]]}}
        for name, target in (references or {}).items()
    }
    return {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "planned_values": {"root_module": {}},
        "resource_changes": changes,
        "output_changes": dict(outputs or {}),
        "configuration": {"root_module": {"outputs": configured}},
        "complete": True,
        "errored": False,
    }


def policy_document(*statements: Mapping[str, Any]) -> str:
    """A policy document's JSON, as the ``policy`` attribute holds it."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def policy_change(actions: Sequence[str], before: str | None, after: str | None, **more: Any) -> dict[str, Any]:
    """The stack's policy resource with these documents."""
    values = {"name": POLICY, "path": "/", "description": None}
    return change(
        "aws_iam_policy.policy",
        "aws_iam_policy",
        actions,
        {**values, "policy": before, "arn": f"arn:aws:iam::{ACCOUNT}:policy/{POLICY}"} if before is not None else None,
        {**values, "policy": after} if after is not None else None,
        **more,
    )


def write(folder: Path, data: Mapping[str, Any], name: str = "plan.json") -> Path:
    """``data`` as a plan file in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
