"""A pull-request review of planned changes: per stack what changes, its permissions, and what needs a human."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..policy.catalogue import load_catalogue
from .permissions import NEAR_LIMIT, PermissionChange, permission_change
from .plan import REDACTED, UNKNOWN, ResourceChange, StackPlan
from .risk import Finding, assess, new_findings

CHANGING = ("create", "update", "replace", "delete")

VERDICTS = (
    "destroys the identity",
    "creates the identity",
    "replaces a key",
    "rotates a key",
    "changes permissions",
    "changes other settings",
    "only moves addresses",
    "unchanged",
)
"""What a stack's plan does, most serious first; each stack is counted under the first that applies."""


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words of ours with values from the plan in their ``{}`` slots (shown as code, so never as Markdown).

    Plan text is only ever a name, never part of ``words``, and ``words`` is split on ``{}`` rather than
    used as a ``str.format`` pattern: a ``{`` in a resource type is a character like any other.
    """

    words: str
    names: tuple[str, ...] = ()

    def render(self, slot: Callable[[str], str] = str) -> str:
        """The words with each ``{}`` replaced by ``slot(name)`` (the comment's code filter, for one)."""
        first, *rest = self.words.split("{}")
        if len(rest) != len(self.names):
            raise ValueError(f"{self.words!r} has {len(rest)} slots for {len(self.names)} names")
        return first + "".join(slot(name) + piece for name, piece in zip(self.names, rest, strict=True))

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True, slots=True)
class Warning:
    """Something in a plan that needs a human: what, why, in which stack, about what."""

    title: str
    why: str
    stack: str
    subjects: tuple[str, ...] = ()
    """Names, addresses or actions it is about (shown as code)."""
    note: Phrase = Phrase("")
    severity: str = "high"
    link: str = ""


@dataclass(frozen=True, slots=True)
class Change:
    """One resource change, as a reviewer reads it."""

    action: str
    description: Phrase
    address: str
    detail: Phrase = Phrase("")


@dataclass(frozen=True, slots=True)
class StackReview:
    """Everything the comment says about one stack."""

    label: str
    verdict: str
    counts: Mapping[str, int]
    changes: tuple[Change, ...]
    permissions: PermissionChange
    warnings: tuple[Warning, ...]


def review_stack(plan: StackPlan) -> StackReview:
    """What one stack's plan does, and what in it needs a human."""
    catalogue = load_catalogue()
    permissions = permission_change(plan.changes, catalogue)
    added_findings = new_findings(assess(permissions.before_documents), assess(permissions.after_documents))
    changing = [change for change in plan.changes if change.action in CHANGING]
    counts = {action: sum(1 for change in changing if change.action == action) for action in CHANGING}
    names = _names(plan)
    describe = _describer(names, plan.references)
    rotation = _rotation_warnings(plan)
    return StackReview(
        label=plan.label,
        verdict="rotates a key" if rotation else _verdict(plan.changes, changing, permissions),
        counts=counts,
        changes=tuple(
            Change(c.action if c.action in CHANGING else "move", describe(c), c.address, _detail(c))
            for c in plan.changes
            if c.action in CHANGING or c.previous_address
        ),
        permissions=permissions,
        warnings=tuple(
            rotation + _warnings(plan, changing, permissions, added_findings, describe, rotating=bool(rotation))
        ),
    )


def verdict_line(stacks: Sequence[StackReview]) -> str:
    """``3 stacks: 1 changes permissions, 1 replaces a key, 1 unchanged``."""
    tally = {verdict: sum(1 for stack in stacks if stack.verdict == verdict) for verdict in VERDICTS}
    parts = [f"{count} {verdict}" for verdict, count in tally.items() if count]
    noun = "stack" if len(stacks) == 1 else "stacks"
    return f"{len(stacks)} {noun}: {', '.join(parts)}"


def _verdict(
    changes: Sequence[ResourceChange], changing: Sequence[ResourceChange], permissions: PermissionChange
) -> str:
    users = [change for change in changing if change.type == "aws_iam_user"]
    if any(change.action == "delete" for change in users):
        return "destroys the identity"
    if any(change.action == "create" for change in users):
        return "creates the identity"
    if any(
        change.type == "aws_iam_access_key" and change.action in ("replace", "delete", "create") for change in changing
    ):
        return "replaces a key"
    if permissions.changed or any("attachment" in change.type for change in changing):
        return "changes permissions"
    if changing:
        return "changes other settings"
    return "only moves addresses" if any(change.previous_address for change in changes) else "unchanged"


def _names(plan: StackPlan) -> dict[str, str]:
    """Address -> the resource's IAM name (``name``), where the plan knows it."""
    names = {}
    for change in plan.changes:
        name = change.value("name")
        if isinstance(name, str) and name not in (UNKNOWN, REDACTED):
            names[change.address] = name
    return names


def _describer(names: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> Callable[[ResourceChange], Phrase]:
    """A function naming a change for people: user `production-streammanager`, access key of user `...`."""

    def name_of(change: ResourceChange, attribute: str) -> str:
        known = _text(change.value(attribute))
        if known:
            return known.rpartition("/")[2] if attribute.endswith("_arn") else known
        # Not known until apply (a policy created in the same plan): name the resource it refers to.
        for reference in references.get(f"{change.address}.{attribute}", ()):
            if reference in names:
                return names[reference]
        return ""

    def describe(change: ResourceChange) -> Phrase:
        name = names.get(change.address, "")
        user = name_of(change, "user")
        if change.type == "aws_iam_user":
            return Phrase("user {}", (name,))
        if change.type == "aws_iam_policy":
            return Phrase("policy {}", (name,))
        if change.type == "aws_iam_access_key":
            return Phrase("access key of user {}", (user,)) if user else Phrase("access key")
        if change.type.endswith("_policy_attachment"):
            policy = name_of(change, "policy_arn") or UNKNOWN
            target = user or name_of(change, "group") or name_of(change, "role") or "its principal"
            return Phrase("attachment of policy {} to {}", (policy, target))
        if change.type in ("aws_iam_user_policy", "aws_iam_group_policy", "aws_iam_role_policy"):
            return Phrase("inline policy {}", (name,))
        readable = {
            "aws_iam_role": "role {}",
            "aws_iam_instance_profile": "instance profile {}",
            "aws_iam_group": "group {}",
            "aws_secretsmanager_secret": "secret {}",
            "aws_ssm_parameter": "parameter {}",
        }
        if change.type in readable and name:
            return Phrase(readable[change.type], (name,))
        return Phrase("{} {}", (change.type, name)) if name else Phrase("{}", (change.type,))

    return describe


def _text(value: Any) -> str:
    return value if isinstance(value, str) and value not in (UNKNOWN, REDACTED) else ""


_SHOWN_ATTRIBUTES = ("name", "path", "status", "description", "force_destroy", "permissions_boundary")


def _detail(change: ResourceChange) -> Phrase:
    """What changes in the resource (:func:`_change_detail`), and where it moved from if it moved."""
    detail = _change_detail(change)
    if not change.previous_address:
        return detail
    moved = "moved from {}"
    return Phrase(f"{detail.words}; {moved}" if detail.words else moved, (*detail.names, change.previous_address))


def _change_detail(change: ResourceChange) -> Phrase:
    """For an update: which attributes change (values only for plain settings); for a replace: why."""
    if change.action == "replace":
        paths = ", ".join(change.replace_paths)
        if change.reason == "replace_by_request":
            return Phrase("replaced on request (-replace)")
        if change.reason == "replace_because_tainted":
            return Phrase("replaced because it is tainted")
        return Phrase("{} cannot change in place", (paths,)) if paths else Phrase("cannot change in place")
    if change.action != "update":
        return Phrase("")
    words: list[str] = []
    values: list[str] = []
    if "policy" in change.after and change.before.get("policy") != change.after.get("policy"):
        words.append("document")
    for key in sorted(set(change.before) | set(change.after)):
        old, new = change.before.get(key), change.after.get(key)
        if old == new or key in ("policy", "tags_all", "id", "arn", "unique_id"):
            continue
        # Only our own attribute names are words; every other name, and every value, comes from the plan.
        if key in _SHOWN_ATTRIBUTES and isinstance(old, str | bool | None) and isinstance(new, str | bool | None):
            words.append(f"{key} {{}} → {{}}")
            values += [repr(old), repr(new)]
        else:
            words.append("{}")
            values.append(key)
    return Phrase(", ".join(words), tuple(values))


def _rotation_warnings(plan: StackPlan) -> list[Warning]:
    """Name the rotation step a plan performs (docs/key-rotation.md), from what happens to the user's two keys.

    A rotation is a plan in which one key changes while another key of the user stays: step 1 creates the
    new key, step 2 deactivates the old one, step 3 deletes it. Anything else is judged key by key.
    """
    keys = [change for change in plan.changes if change.type == "aws_iam_access_key"]
    staying = [key for key in keys if key.action in ("no-op", "update")]
    if len(keys) != 2 or not staying:
        return []
    moving = [key for key in keys if key.action not in ("no-op",)]
    if len(moving) != 1:
        return []
    (key,) = moving
    stack = plan.label
    if key.action == "create":
        return [
            Warning(
                "Access key rotation, step 1 of 3: new key created",
                "the old key stays active; the outputs and stores point at the new one once this is applied. "
                'Switch every consumer to it, then set access_key.previous = "inactive"',
                stack,
                severity="medium",
            )
        ]
    if key.action == "update" and key.before.get("status") == "Active" and key.after.get("status") == "Inactive":
        return [
            Warning(
                "Access key rotation, step 2 of 3: old key deactivated",
                'a consumer still using the old key fails from then on (set previous = "active" again to undo); '
                'when all is well, set previous = "none"',
                stack,
                severity="medium",
            )
        ]
    if key.action == "delete" and key.before.get("status") == "Inactive":
        return [
            Warning(
                "Access key rotation, step 3 of 3: old key deleted",
                "the deactivated key is deleted for good; the rotation is complete once this is applied",
                stack,
                severity="medium",
            )
        ]
    if key.action == "delete":
        return [
            Warning(
                "Access key deleted while still active",
                "the rotation skipped deactivating it (step 2): a consumer that still uses it fails at once, with "
                "no way back",
                stack,
            )
        ]
    return []


def _warnings(
    plan: StackPlan,
    changing: Sequence[ResourceChange],
    permissions: PermissionChange,
    added_findings: Sequence[Finding],
    describe: Callable[[ResourceChange], Phrase],
    *,
    rotating: bool,
) -> list[Warning]:
    """Everything but the rotation step; a key change that is one (``rotating``) is not warned of twice."""
    stack = plan.label
    warnings: list[Warning] = []
    for change in changing:
        described = describe(change)
        if change.type == "aws_iam_access_key" and not rotating:
            if change.action == "create":
                warnings.append(
                    Warning(
                        "Access key created",
                        "a new secret will exist once this is applied: deliver it to its consumers, and never paste it",
                        stack,
                    )
                )
            elif change.action == "replace":
                warnings.append(
                    Warning(
                        "Access key replaced",
                        "the old key stops working when this is applied; every consumer must switch to the new key",
                        stack,
                    )
                )
            elif change.action == "delete":
                warnings.append(
                    Warning(
                        "Access key destroyed", "every consumer of the key loses access when this is applied", stack
                    )
                )
        elif change.type == "aws_iam_user":
            old_name, new_name = change.before.get("name"), change.after.get("name")
            if change.action == "delete":
                warnings.append(Warning("User destroyed", "the identity and every key it holds are deleted", stack))
            elif change.action == "replace":
                warnings.append(
                    Warning("User replaced", "the user is deleted and created again, its keys with it", stack)
                )
            elif change.action == "update" and old_name != new_name:
                warnings.append(
                    Warning(
                        "User renamed",
                        "ARNs and policies that name the user by name stop matching it",
                        stack,
                        (str(old_name), str(new_name)),
                        Phrase("old name, then new name"),
                    )
                )
        elif change.type in ("aws_iam_policy",) and change.action == "replace":
            warnings.append(
                Warning(
                    "Policy replaced, not updated in place",
                    "between the old policy's deletion and the new one's attachment the identity lacks its permissions",
                    stack,
                    described.names,
                )
            )
        elif change.type.endswith("_policy_attachment") and change.action in ("delete", "replace"):
            warnings.append(
                Warning(
                    "Attachment removed" if change.action == "delete" else "Attachment replaced",
                    "the identity loses that policy's permissions"
                    + ("" if change.action == "delete" else " until the new attachment is made"),
                    stack,
                    described.names[:1],
                )
            )
    for finding in added_findings:
        warnings.append(
            Warning(
                f"Risky permission added: {finding.title}",
                finding.why,
                stack,
                finding.actions,
                severity=finding.severity,
                link=finding.link,
            )
        )
    managed = [p for p in permissions.policies if p.kind == "policy" and p.size is not None and p.action != "delete"]
    for policy in managed:
        if policy.size_share > 1:
            warnings.append(
                Warning(
                    "Policy over IAM's size limit",
                    "IAM refuses a managed policy over 6,144 characters: the apply will fail",
                    stack,
                    (policy.name,),
                    Phrase(f"{policy.size:,} characters"),
                )
            )
        # A split fills every part but the last to the brim by design: only a lone policy is "near" a split.
        elif policy.size_share >= NEAR_LIMIT and len(managed) == 1:
            warnings.append(
                Warning(
                    "Policy near IAM's size limit",
                    "a few more actions will split it into another policy",
                    stack,
                    (policy.name,),
                    Phrase(f"{policy.size:,} of 6,144 characters"),
                    severity="medium",
                )
            )
    backend = plan.backend
    if backend is not None and (not backend.encrypted or not backend.locked):
        missing = [what for what, ok in (("encryption", backend.encrypted), ("locking", backend.locked)) if not ok]
        warnings.append(
            Warning(
                f"State without {' or '.join(missing)}",
                "the state holds the access key's secret; keep it encrypted, and locked against two applies at once",
                stack,
                note=Phrase("{} backend", (backend.kind,)),
            )
        )
    if plan.drifted:
        warnings.append(
            Warning(
                "Changed outside Terraform",
                "someone changed these since the last apply; this plan puts them back",
                stack,
                plan.drifted,
            )
        )
    if plan.errored or not plan.complete:
        warnings.append(
            Warning("Plan incomplete", "Terraform could not plan everything; fix the errors and plan again", stack)
        )
    return warnings
