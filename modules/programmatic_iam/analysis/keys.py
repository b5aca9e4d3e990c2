"""Every access key the project made, read from IAM: whose it is, which it is, how old, and whether it is due.

Three pieces, each testable alone: :class:`KeyReader` turns IAM's answers into plain data (``UserInIam``);
:func:`survey` judges that data against what the configuration expects (``WatchedStack``), without any AWS;
:func:`status_text` and :func:`status_json` show the result. Never a secret: IAM does not keep one to give.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ..ownership import ENVIRONMENT_TAG, IDENTITY_TAG, OWNERSHIP_TAGS, TAG_PREFIX
from ..spec import StackSpec, UserPrincipal

DUE_WINDOW = timedelta(days=14)
"""A key this close to its maximum age is due: rotate it before it is overdue."""
JSON_VERSION = 1
"""The version of :func:`status_json`'s shape: raised only when a field changes meaning or goes away."""

Verdict = Literal["ok", "due", "overdue", "inactive"]
Role = Literal["current", "previous", "hand-made", "orphan"]
"""What a key is to the configuration (docs/key-rotation.md: how each is told apart)."""


# ---------------------------------------------------------------------------------------------------------------------
# Evidence: what IAM says
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyInIam:
    """One access key as IAM lists it."""

    key_id: str
    status: str
    created: datetime
    last_used: datetime | None = None
    last_service: str = ""
    """The service of the last use; ``""`` when the key was never used."""
    last_region: str = ""
    """The region of the last use; ``""`` when the key was never used (or IAM does not say)."""


@dataclass(frozen=True, slots=True)
class UserInIam:
    """A user, the account it is in, its keys (oldest first) and, for one found by its tags, those tags."""

    name: str
    account: str
    keys: tuple[KeyInIam, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()


class KeyReader:
    """IAM's answers about users and their keys in one account, from an IAM client (boto3's, or one like it)."""

    def __init__(self, iam: Any, account: str) -> None:
        self._iam = iam
        self.account = account

    def user(self, name: str) -> UserInIam | None:
        """The user ``name`` with its keys; ``None`` when there is no such user (not deployed yet)."""
        keys = self._keys(name)
        return None if keys is None else UserInIam(name, self.account, keys)

    def tagged_users(self, known: Collection[str]) -> Iterator[UserInIam]:
        """Every user of the account that carries one of the tool's ownership tags, but those named in ``known``.

        IAM's ListUsers does not return tags, so each user's are asked for (ListUserTags): one call per user.
        """
        for page in self._iam.get_paginator("list_users").paginate():
            for listed in page["Users"]:
                name = listed["UserName"]
                if name in known:
                    continue
                try:
                    tags = tuple((t["Key"], t["Value"]) for t in self._iam.list_user_tags(UserName=name)["Tags"])
                except self._iam.exceptions.NoSuchEntityException:  # deleted since it was listed
                    continue
                if not any(key in OWNERSHIP_TAGS for key, _ in tags):
                    continue
                keys = self._keys(name)
                if keys is not None:
                    yield UserInIam(name, self.account, keys, tuple(t for t in tags if t[0].startswith(TAG_PREFIX)))

    def _keys(self, user: str) -> tuple[KeyInIam, ...] | None:
        try:
            listed = self._iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        except self._iam.exceptions.NoSuchEntityException:
            return None
        keys = []
        for key in sorted(listed, key=lambda k: (k["CreateDate"], k["AccessKeyId"])):
            used = self._iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"]).get("AccessKeyLastUsed", {})
            service = str(used.get("ServiceName", ""))
            keys.append(
                KeyInIam(
                    key_id=key["AccessKeyId"],
                    status=key["Status"],
                    created=key["CreateDate"],
                    last_used=used.get("LastUsedDate"),
                    # IAM says "N/A" for a key never used.
                    last_service="" if service == "N/A" else service,
                    last_region="" if str(used.get("Region", "N/A")) == "N/A" else str(used["Region"]),
                )
            )
        return tuple(keys)


# ---------------------------------------------------------------------------------------------------------------------
# Judgement: what each key is to the configuration, and whether it is due
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchedStack:
    """What the configuration expects of one stack's keys."""

    stack: str
    identity: str
    environment: str
    user: str | None
    """``None``: an instance profile, which has no user and no key."""
    manages_key: bool
    """``False``: the configuration makes no key (``access_key.create = false``): the user's keys are hand-made."""
    previous: Literal["none", "active", "inactive"]
    max_age_days: int

    @classmethod
    def of(cls, stack: StackSpec) -> WatchedStack:
        """The stack's expectations, as its specification sets them."""
        key = stack.identity.credentials
        principal = stack.identity.principal
        return cls(
            stack=stack.stack_id,
            identity=dict(stack.default_tags).get(IDENTITY_TAG, ""),
            environment=stack.environment,
            user=principal.name if isinstance(principal, UserPrincipal) else None,
            manages_key=key.create and isinstance(principal, UserPrincipal),
            previous=key.previous,
            max_age_days=key.max_age_days,
        )


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One key, judged: the record ``keys status`` prints (a line of text, or an object in the JSON)."""

    stack: str
    identity: str | None
    environment: str | None
    account: str
    user: str
    key: KeyInIam
    role: Role
    max_age_days: int
    verdict: Verdict

    def age_days(self, now: datetime) -> int:
        return (now - self.key.created).days


@dataclass(frozen=True, slots=True)
class StackStatus:
    """A configured stack: the account it was looked for in, whether its user exists, its keys."""

    watched: WatchedStack
    account: str | None
    user_found: bool
    keys: tuple[KeyRecord, ...]


@dataclass(frozen=True, slots=True)
class Survey:
    """Every key found, on the day they were judged; the accounts searched for orphans, and those that could not be."""

    now: datetime
    stacks: tuple[StackStatus, ...]
    orphans: tuple[KeyRecord, ...]
    accounts_searched: tuple[str, ...] = ()
    accounts_not_searched: tuple[tuple[str, str], ...] = ()
    """(account, why) for each account whose users could not be listed."""

    @property
    def keys(self) -> tuple[KeyRecord, ...]:
        return (*(key for status in self.stacks for key in status.keys), *self.orphans)

    def with_verdict(self, verdict: Verdict) -> tuple[KeyRecord, ...]:
        return tuple(key for key in self.keys if key.verdict == verdict)


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


def key_roles(count: int, *, manages_key: bool, previous: str) -> list[Role]:
    """The role of each of a configured user's ``count`` keys, oldest first.

    IAM does not say who made a key, so the order tells: Terraform makes the current generation's key
    last, so the newest is ``current`` and, while the configuration keeps a previous key, the one before
    it is ``previous``. Any other key is ``hand-made``, as is every key of a user whose key the
    configuration does not manage.
    """
    roles: list[Role] = ["hand-made"] * count
    if manages_key and count:
        roles[-1] = "current"
        if previous != "none" and count >= 2:
            roles[-2] = "previous"
    return roles


def survey(
    now: datetime,
    configured: Sequence[tuple[WatchedStack, str | None, UserInIam | None]],
    orphans: Sequence[UserInIam] = (),
    *,
    orphan_max_age_days: int,
    accounts_searched: Sequence[str] = (),
    accounts_not_searched: Sequence[tuple[str, str]] = (),
) -> Survey:
    """Judge every key: each configured stack's (with the account it is in and its user, if found), then the
    orphans' (users found by their tags whose stack the configuration no longer has), judged by
    ``orphan_max_age_days``."""
    stacks = []
    for watched, account, user in configured:
        keys = user.keys if user else ()
        roles = key_roles(len(keys), manages_key=watched.manages_key, previous=watched.previous)
        records = tuple(
            KeyRecord(
                stack=watched.stack,
                identity=watched.identity or None,
                environment=watched.environment,
                account=user.account if user else account or "",
                user=user.name if user else "",
                key=key,
                role=role,
                max_age_days=watched.max_age_days,
                verdict=verdict(key.created, key.status, now, watched.max_age_days),
            )
            for key, role in zip(keys, roles, strict=True)
        )
        stacks.append(StackStatus(watched, account, user is not None, records))
    orphaned = []
    for user in sorted(orphans, key=lambda u: (u.account, u.name)):
        tags = dict(user.tags)
        orphaned += [
            KeyRecord(
                stack=user.name,  # a stack's id is its user's name
                identity=tags.get(IDENTITY_TAG),
                environment=tags.get(ENVIRONMENT_TAG),
                account=user.account,
                user=user.name,
                key=key,
                role="orphan",
                max_age_days=orphan_max_age_days,
                verdict=verdict(key.created, key.status, now, orphan_max_age_days),
            )
            for key in user.keys
        ]
    return Survey(now, tuple(stacks), tuple(orphaned), tuple(accounts_searched), tuple(accounts_not_searched))


# ---------------------------------------------------------------------------------------------------------------------
# Showing it
# ---------------------------------------------------------------------------------------------------------------------


def _timestamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record_json(record: KeyRecord, now: datetime) -> dict[str, Any]:
    """One key as a JSON object (docs/key-rotation.md lists the fields)."""
    return {
        "stack": record.stack,
        "identity": record.identity,
        "environment": record.environment,
        "account": record.account or None,
        "user": record.user,
        "access_key_id": record.key.key_id,
        "status": record.key.status,
        "role": record.role,
        "created": _timestamp(record.key.created),
        "age_days": record.age_days(now),
        "last_used": _timestamp(record.key.last_used),
        "last_used_service": record.key.last_service or None,
        "max_age_days": record.max_age_days,
        "verdict": record.verdict,
    }


def status_json(result: Survey) -> dict[str, Any]:
    """The survey for tools: one flat list of keys (the fleet's and the orphans'), each stack, and totals."""
    keys = result.keys
    return {
        "version": JSON_VERSION,
        "as_of": _timestamp(result.now),
        "due_within_days": DUE_WINDOW.days,
        "keys": [record_json(key, result.now) for key in keys],
        "stacks": [
            {
                "stack": status.watched.stack,
                "identity": status.watched.identity or None,
                "environment": status.watched.environment,
                "account": status.account,
                "user": status.watched.user,
                "manages_key": status.watched.manages_key,
                "max_age_days": status.watched.max_age_days,
                "user_found": status.user_found,
                "keys": len(status.keys),
            }
            for status in result.stacks
        ],
        "accounts_searched": list(result.accounts_searched),
        "accounts_not_searched": [{"account": account, "why": why} for account, why in result.accounts_not_searched],
        "summary": {
            "keys": len(keys),
            "overdue": len(result.with_verdict("overdue")),
            "due": len(result.with_verdict("due")),
            "orphans": len(result.orphans),
            "hand_made": sum(1 for key in keys if key.role == "hand-made"),
        },
    }


def status_text(result: Survey) -> str:
    """Per stack, each key's role, age and verdict; then the orphans; then what to do about the keys that need it."""
    lines = []
    for status in result.stacks:
        watched = status.watched
        if watched.user is None:
            lines.append(f"{watched.stack}: no key (kind = instance-profile)")
            continue
        where = f" in {status.account}" if status.account else ""
        made = "" if watched.manages_key else ", no managed key (access_key.create = false)"
        lines.append(f"{watched.stack} (user {watched.user}{where}{made}, keys may be {watched.max_age_days} days old)")
        if not status.user_found:
            lines.append("  no such user (not deployed yet?)")
        elif not status.keys:
            lines.append("  no keys")
        lines += [_key_line(record, result.now) for record in status.keys]
    if result.orphans:
        lines.append(f"Not in the configuration any more (found by their {TAG_PREFIX} tags):")
        user = None
        for record in result.orphans:  # grouped by user already
            if (record.account, record.user) != user:
                user = (record.account, record.user)
                lines.append(
                    f"{record.user} (user {record.user} in {record.account}, identity {record.identity or '?'}, "
                    f"environment {record.environment or '?'}, keys may be {record.max_age_days} days old)"
                )
            lines.append(_key_line(record, result.now))
    return "\n".join(lines + _footer(result)) + "\n"


def fleet_status_text(result: Survey) -> str:
    """The survey of a fleet as one table, a row per key (or per stack without one), each with its identity and
    environment: the configured stacks' in the fleet's order, then the orphans'; then what :func:`status_text` ends
    with. Every cell is the caller's to escape as a whole (names come from the configuration and from IAM's tags)."""
    rows: list[tuple[str, ...]] = [
        ("IDENTITY", "ENVIRONMENT", "USER", "ACCOUNT", "KEY", "STATUS", "ROLE", "AGE", "LAST USED", "VERDICT")
    ]
    for status in result.stacks:
        watched = status.watched
        where = (watched.identity or "?", watched.environment, watched.user or "-", status.account or "-")
        if watched.user is None:
            rows.append((*where, "-", "-", "-", "-", "-", "no key (kind = instance-profile)"))
        elif not status.user_found:
            rows.append((*where, "-", "-", "-", "-", "-", "no such user (not deployed yet?)"))
        elif not status.keys:
            rows.append((*where, "-", "-", "-", "-", "-", "no keys"))
        rows += [_key_row(record, result.now) for record in status.keys]
    rows += [_key_row(record, result.now) for record in result.orphans]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1] for row in rows
    ]
    return "\n".join(lines + _footer(result)) + "\n"


def _key_row(record: KeyRecord, now: datetime) -> tuple[str, ...]:
    key = record.key
    used = "never" if key.last_used is None else f"{key.last_used:%Y-%m-%d} ({key.last_service or '?'})"
    return (
        record.identity or "?",
        record.environment or "?",
        record.user,
        record.account or "-",
        key.key_id,
        key.status,
        record.role,
        f"{record.age_days(now)} days",
        used,
        record.verdict,
    )


def _footer(result: Survey) -> list[str]:
    """The accounts not searched, and what to do about the keys that need it."""
    lines = []
    for account, why in result.accounts_not_searched:
        lines.append(f"Account {account}: not searched for keys of removed environments ({why}).")
    overdue, due = result.with_verdict("overdue"), result.with_verdict("due")
    live_orphans = [record for record in result.orphans if record.key.status == "Active"]
    if live_orphans:
        lines.append(
            f"{len(live_orphans)} active key(s) of stacks no longer configured: destroy those stacks, "
            "or delete the keys (docs/key-rotation.md)."
        )
    if overdue:
        lines.append(f"{len(overdue)} key(s) overdue: rotate now (docs/key-rotation.md).")
    if due:
        lines.append(f"{len(due)} key(s) due within {DUE_WINDOW.days} days: plan the rotation.")
    if not overdue and not due:
        lines.append("No key is due.")
    return lines


def _key_line(record: KeyRecord, now: datetime) -> str:
    key = record.key
    used = "never used" if key.last_used is None else f"last used {key.last_used:%Y-%m-%d} ({key.last_service or '?'})"
    return (
        f"  {key.key_id}  {key.status:<8}  {record.role:<9}  {record.age_days(now):>4} days old "
        f"(created {key.created:%Y-%m-%d}), {used}  {record.verdict}"
    )
