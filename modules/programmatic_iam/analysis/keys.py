"""How old each stack's access keys are, read from IAM: which are due for rotation, which are overdue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

DUE_WINDOW = timedelta(days=14)
"""A key this close to its maximum age is due: rotate it before it is overdue."""

Verdict = Literal["ok", "due", "overdue", "inactive"]


@dataclass(frozen=True, slots=True)
class KeyAge:
    """One access key of a stack's user, as IAM reports it (never its secret: IAM does not keep it)."""

    stack: str
    user: str
    key_id: str
    status: str
    created: datetime
    last_used: datetime | None
    last_service: str
    verdict: Verdict

    def age_days(self, now: datetime) -> int:
        return (now - self.created).days


def verdict(created: datetime, status: str, now: datetime, max_age_days: int) -> Verdict:
    """``overdue`` past the maximum age, ``due`` within :data:`DUE_WINDOW` of it; an inactive key never is."""
    if status != "Active":
        return "inactive"
    age = now - created
    if age > timedelta(days=max_age_days):
        return "overdue"
    if age > timedelta(days=max_age_days) - DUE_WINDOW:
        return "due"
    return "ok"


def user_keys(iam: Any, *, stack: str, user: str, now: datetime, max_age_days: int) -> list[KeyAge]:
    """The user's keys with their ages, from an IAM client; empty when the user does not exist (yet)."""
    try:
        listed = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    except iam.exceptions.NoSuchEntityException:
        return []
    keys = []
    for key in sorted(listed, key=lambda k: k["CreateDate"]):
        used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"]).get("AccessKeyLastUsed", {})
        keys.append(
            KeyAge(
                stack=stack,
                user=user,
                key_id=key["AccessKeyId"],
                status=key["Status"],
                created=key["CreateDate"],
                last_used=used.get("LastUsedDate"),
                last_service=str(used.get("ServiceName", "")),
                verdict=verdict(key["CreateDate"], key["Status"], now, max_age_days),
            )
        )
    return keys


def status_text(stacks: Sequence[tuple[str, str, int, Sequence[KeyAge] | None]], now: datetime) -> str:
    """Per stack, each key's age and verdict; then what to do about the overdue and due ones.

    ``None`` instead of a stack's keys: it manages none (an instance profile, or ``access_key.create = false``).
    """
    lines = []
    for stack, user, max_age, keys in stacks:
        if keys is None:
            lines.append(f"{stack}: no key managed here (kind = instance-profile, or access_key.create = false)")
            continue
        lines.append(f"{stack} (user {user}, keys may be {max_age} days old)")
        if not keys:
            lines.append("  no keys (not deployed yet?)")
        for key in keys:
            used = (
                f"last used {key.last_used:%Y-%m-%d} ({key.last_service})"
                if key.last_used and key.last_service not in ("", "N/A")
                else "never used"
            )
            lines.append(
                f"  {key.key_id}  {key.status:<8}  {key.age_days(now):>4} days old (created {key.created:%Y-%m-%d}), "
                f"{used}  {key.verdict}"
            )
    everything = [key for *_, keys in stacks for key in keys or ()]
    overdue = [key for key in everything if key.verdict == "overdue"]
    due = [key for key in everything if key.verdict == "due"]
    if overdue:
        lines.append(f"{len(overdue)} key(s) overdue: rotate now (docs/key-rotation.md).")
    if due:
        lines.append(f"{len(due)} key(s) due within {DUE_WINDOW.days} days: plan the rotation.")
    if not overdue and not due:
        lines.append("No key is due.")
    return "\n".join(lines) + "\n"
