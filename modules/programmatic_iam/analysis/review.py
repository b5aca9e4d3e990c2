"""A pull-request review of planned changes: per stack what changes, its permissions, and what needs a human."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..policy.catalogue import load_catalogue
from .permissions import NEAR_LIMIT, PermissionChange, permission_change
from .plan import REDACTED, UNKNOWN, ResourceChange, StackPlan
from .risk import Finding, assess, new_findings

if TYPE_CHECKING:  # at run time only through a StackReview: recheck imports usage, which imports the comment
    from .recheck import StackRecheck

CHANGING = ("create", "update", "replace", "delete")
COUNTED = ("import", *CHANGING)
"""What the stacks table counts per stack: imports, and the changes Terraform makes."""

VERDICTS = (
    "destroys the identity",
    "creates the identity",
    "replaces a key",
    "rotates a key",
    "adds a key",
    "removes a key",
    "changes the key's delivery",
    "changes permissions",
    "imports existing resources",
    "changes other settings",
    "only moves addresses",
    "unchanged",
)
"""What a stack's plan does, most serious first; each stack is counted under the first that applies."""

KEY_OUTPUT = "access_key_id"
"""The output that names the current key: which key it refers to says where the outputs and stores point."""

DELIVERY_OUTPUTS = {
    "secret_access_key": "output",
    "encrypted_secret_access_key": "pgp",
    "secret_arn": "secretsmanager",
    "parameter_names": "ssm",
}
"""The output each ``access_key.delivery`` adds: one going and another coming is a change of delivery."""

STORE_TYPES = ("aws_secretsmanager_secret", "aws_ssm_parameter")


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

    @staticmethod
    def join(phrases: Sequence[Phrase], separator: str) -> Phrase:
        """The phrases one after another, ``separator`` (words of ours, no slot) between them."""
        return Phrase(separator.join(p.words for p in phrases), tuple(name for p in phrases for name in p.names))


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
    """Per :data:`COUNTED` kind, how many resources."""
    changes: tuple[Change, ...]
    permissions: PermissionChange
    warnings: tuple[Warning, ...]
    outputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Root outputs created, updated and deleted (by action; no-ops left out)."""
    identity: str | None = None
    """The identity whose stack it is (its plan's ``programmatic-iam:identity`` tag); ``None``: the plan does not say."""
    recheck: StackRecheck | None = None
    """Its removals on IAM's evidence, as ``usage recheck`` judged them for this plan; ``None``: not given."""

    def evidence_of(self, action: str) -> Phrase:
        """The evidence of a removed grant, for its row: ``never used...``, ``last used D, N days before...``."""
        recheck = self.recheck
        removal = recheck.of(action) if recheck else None
        if recheck is None or removal is None:
            return Phrase("")
        if removal.verdict == "used" and removal.region:
            return Phrase("⛔ used {} in {}: the apply refuses", (removal.last_used, removal.region))
        if removal.verdict == "used":
            return Phrase("⛔ used {}: the apply refuses", (removal.last_used,))
        if removal.verdict == "used-before-window":
            return Phrase(f"last used {{}}, {recheck.days_unused(removal)} days before", (removal.last_used,))
        if removal.verdict == "never-used" and recheck.user_outlives_the_record():
            return Phrase(f"never used in the {recheck.days_tracked()} days IAM's record covers")
        if removal.verdict == "never-used":
            return Phrase(f"never used since the user was created, {recheck.days_tracked()} days before")
        return Phrase(f"{removal.label}: {{}}", (removal.why,))

    @property
    def summary(self) -> str:
        """The plan's own count, in Terraform's words: ``3 to import, 0 to add, 0 to change, 0 to destroy``."""
        counts = self.counts
        imports = f"{counts['import']} to import, " if counts["import"] else ""
        return (
            f"{imports}{counts['create'] + counts['replace']} to add, {counts['update']} to change, "
            f"{counts['delete'] + counts['replace']} to destroy"
        )


@dataclass(frozen=True, slots=True)
class Reading:
    """What a plan does to the user's keys, read as a step of a rotation (or as no sensible one)."""

    verdict: str
    warning: Warning


def review_stack(plan: StackPlan, recheck: StackRecheck | None = None) -> StackReview:
    """What one stack's plan does, and what in it needs a human (``recheck``: its removals on IAM's evidence, as
    ``usage recheck`` judged them for this plan)."""
    catalogue = load_catalogue()
    permissions = permission_change(plan.changes, catalogue)
    added_findings = new_findings(assess(permissions.before_documents), assess(permissions.after_documents))
    changing = [change for change in plan.changes if change.action in CHANGING]
    counts = {action: sum(1 for change in changing if change.action == action) for action in CHANGING}
    counts["import"] = sum(1 for change in plan.changes if change.importing)
    names = _names(plan)
    describe = _describer(names, plan.references)
    rotation = read_rotation(plan)
    outputs = {
        action: tuple(output.name for output in plan.outputs if output.action == action)
        for action in ("create", "update", "delete")
    }
    delivery = _delivery_warnings(plan, describe)
    warnings = [rotation.warning] if rotation else []
    warnings += delivery
    warnings += _warnings(plan, changing, permissions, added_findings, describe, rotating=rotation is not None)
    warnings += _recheck_warnings(plan.label, recheck)
    return StackReview(
        label=plan.label,
        verdict=_verdict(plan, changing, permissions, rotation, delivery=bool(delivery)),
        counts=counts,
        changes=tuple(
            Change(_shown_action(c), describe(c), c.address, _detail(c))
            for c in plan.changes
            if c.action in CHANGING or c.previous_address or c.importing
        ),
        permissions=permissions,
        warnings=tuple(warnings),
        outputs={action: names for action, names in outputs.items() if names},
        identity=plan.identity,
        recheck=recheck,
    )


def _recheck_warnings(stack: str, recheck: StackRecheck | None) -> list[Warning]:
    """A removal on IAM's evidence used since the evidence, or removals the evidence could not support again."""
    if recheck is None or not recheck.refused:
        return []
    used = [removal for removal in recheck.removals if removal.verdict == "used"]
    if used:
        return [
            Warning(
                "A removal on IAM's evidence is in use",
                "IAM's evidence, read again for this plan, shows the action used in the window, so the apply refuses "
                "the plan: take it out of `policy.remove_actions`, or run `usage tighten` again later",
                stack,
                tuple(removal.action for removal in used),
                Phrase.join([Phrase("used {}", (removal.last_used,)) for removal in used], ", "),
            )
        ]
    return [
        Warning(
            "Removals IAM's evidence cannot support",
            "IAM's evidence, read again for this plan, could not be read or is too short to judge (a user younger than "
            "the window); the apply refuses the plan until the evidence supports every removal",
            stack,
            note=Phrase("{}", (recheck.refused,)),
        )
    ]


def _shown_action(change: ResourceChange) -> str:
    if change.action in CHANGING:
        return f"import and {change.action}" if change.importing else change.action
    return "import" if change.importing else "move"


def verdict_line(stacks: Sequence[StackReview]) -> str:
    """``3 stacks: 1 changes permissions, 1 replaces a key, 1 unchanged``."""
    noun = "stack" if len(stacks) == 1 else "stacks"
    return f"{len(stacks)} {noun}: {verdict_tally(stacks)}"


def verdict_tally(stacks: Sequence[StackReview]) -> str:
    """``1 changes permissions, 1 replaces a key, 1 unchanged``: how many stacks of each verdict, most serious first."""
    tally = {verdict: sum(1 for stack in stacks if stack.verdict == verdict) for verdict in VERDICTS}
    return ", ".join(f"{count} {verdict}" for verdict, count in tally.items() if count)


def _verdict(
    plan: StackPlan,
    changing: Sequence[ResourceChange],
    permissions: PermissionChange,
    rotation: Reading | None,
    *,
    delivery: bool,
) -> str:
    """The most serious of :data:`VERDICTS` that the plan does."""
    users = [change for change in changing if change.type == "aws_iam_user"]
    keys = [change for change in changing if change.type == "aws_iam_access_key"]
    applies = set()
    if any(change.action == "delete" for change in users):
        applies.add("destroys the identity")
    if any(change.action == "create" for change in users):
        applies.add("creates the identity")
    if rotation is not None:
        applies.add(rotation.verdict)
    elif any(key.action == "replace" for key in keys) or {"create", "delete"} <= {key.action for key in keys}:
        applies.add("replaces a key")
    elif any(key.action == "create" for key in keys):
        applies.add("adds a key")
    elif any(key.action == "delete" for key in keys):
        applies.add("removes a key")
    if delivery:
        applies.add("changes the key's delivery")
    if permissions.changed or any("attachment" in change.type for change in changing):
        applies.add("changes permissions")
    if any(change.importing for change in plan.changes):
        applies.add("imports existing resources")
    if changing or any(output.action != "no-op" for output in plan.outputs):
        applies.add("changes other settings")
    if any(change.previous_address for change in plan.changes):
        applies.add("only moves addresses")
    return next((verdict for verdict in VERDICTS if verdict in applies), "unchanged")


def _names(plan: StackPlan) -> dict[str, str]:
    """Address -> the resource's IAM name (``name``), where the plan knows it."""
    names = {}
    for change in plan.changes:
        name = change.value("name")
        if isinstance(name, str) and name not in (UNKNOWN, REDACTED):
            names[change.address] = name
    return names


READABLE_TYPES = {
    "aws_iam_user": "user",
    "aws_iam_policy": "policy",
    "aws_iam_role": "role",
    "aws_iam_instance_profile": "instance profile",
    "aws_iam_group": "group",
    "aws_iam_user_policy": "inline policy",
    "aws_iam_group_policy": "inline policy",
    "aws_iam_role_policy": "inline policy",
    "aws_secretsmanager_secret": "Secrets Manager secret",
    "aws_ssm_parameter": "SSM parameter",
}
"""Resource types named by what they are, followed by the resource's ``name``; :func:`_describer` names the rest."""


def _describer(names: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> Callable[[ResourceChange], Phrase]:
    """A function naming a change for people: user `production-streammanager`, access key of user `...`."""

    def name_of(change: ResourceChange, attribute: str) -> str:
        # The resource it refers to first: a secret's ARN (secret_id) ends in a random suffix, not its name.
        for reference in references.get(f"{change.address}.{attribute}", ()):
            if reference in names:
                return names[reference]
        known = _text(change.value(attribute))
        return known.rpartition("/")[2] if attribute.endswith("_arn") else known

    def named(words: str, name: str) -> Phrase:
        return Phrase(f"{words} {{}}", (name,)) if name else Phrase(words)

    def describe(change: ResourceChange) -> Phrase:
        name = names.get(change.address, "")
        user = name_of(change, "user")
        if change.type == "aws_iam_access_key":
            return named("access key of user", user) if user else Phrase("access key")
        if change.type.endswith("_policy_attachment"):
            policy = name_of(change, "policy_arn") or UNKNOWN
            target = user or name_of(change, "group") or name_of(change, "role") or "its principal"
            return Phrase("attachment of policy {} to {}", (policy, target))
        if change.type == "aws_secretsmanager_secret_version":
            return named("version of Secrets Manager secret", name_of(change, "secret_id"))
        if change.type == "aws_iam_user_group_membership":
            groups = change.value("groups")
            listed = [_text(group) for group in groups if _text(group)] if isinstance(groups, list) else []
            if not listed:
                return named("group membership of user", user)
            slots = ", ".join("{}" for _ in listed)
            return Phrase(f"membership of user {{}} in group {slots}", (user or UNKNOWN, *listed))
        if change.type in READABLE_TYPES:
            return named(READABLE_TYPES[change.type], name)
        # A type this tool never makes: only the plan can name it, so it is shown as the plan writes it.
        return Phrase("{} {}", (change.type, name)) if name else Phrase("{}", (change.type,))

    return describe


def _text(value: Any) -> str:
    return value if isinstance(value, str) and value not in (UNKNOWN, REDACTED) else ""


_SHOWN_ATTRIBUTES = ("name", "path", "status", "description", "force_destroy", "permissions_boundary")


def _detail(change: ResourceChange) -> Phrase:
    """What it is imported by, what changes in it (:func:`_change_detail`), and where it moved from."""
    parts = [Phrase("imported by id {}", (change.import_id,))] if change.importing and change.import_id else []
    parts.append(_change_detail(change))
    if change.previous_address:
        parts.append(Phrase("moved from {}", (change.previous_address,)))
    return Phrase.join([part for part in parts if part.words], "; ")


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
        if old == new or key in ("policy", "id", "arn", "unique_id"):
            continue
        if key == "tags_all":
            # tags_all is tags and the provider's default tags together: only news when tags alone do not say it.
            if change.before.get("tags") == change.after.get("tags"):
                words.append("default tags")
            continue
        # Only our own attribute names are words; every other name, and every value, comes from the plan.
        if key in _SHOWN_ATTRIBUTES and isinstance(old, str | bool | None) and isinstance(new, str | bool | None):
            words.append(f"{key} {{}} → {{}}")
            values += [repr(old), repr(new)]
        else:
            words.append("{}")
            values.append(key)
    return Phrase(", ".join(words), tuple(values))


@dataclass(frozen=True, slots=True)
class KeySlot:
    """One access key resource of a plan, as a rotation step sees it."""

    address: str
    action: str
    before: str | None
    """Its status before the plan (``Active``, ``Inactive``); ``None`` when the plan creates it."""
    after: str | None
    """Its status after; ``None`` when the plan deletes it."""
    key_id: str = ""
    """The key's id before the plan, where the plan shows it."""
    current_before: bool = False
    """The key output (:data:`KEY_OUTPUT`) named it before the plan."""
    current_after: bool = False
    """The key output refers to it after the plan."""


def key_slots(plan: StackPlan) -> list[KeySlot]:
    """The plan's access keys, with which one the outputs (and stores) name before and after."""
    output = next((output for output in plan.outputs if output.name == KEY_OUTPUT), None)
    named_before = _text(output.before) if output is not None else ""
    refers_to = plan.output_references.get(KEY_OUTPUT, ())
    slots = []
    for change in plan.changes:
        if change.type != "aws_iam_access_key":
            continue
        key_id = _text(change.before.get("id"))
        slots.append(
            KeySlot(
                address=change.address,
                action=change.action,
                before=None if change.action == "create" else _status(change.before.get("status")),
                after=None if change.action == "delete" else _status(change.after.get("status")),
                key_id=key_id,
                current_before=bool(key_id) and key_id == named_before,
                current_after=change.action != "delete" and change.address in refers_to,
            )
        )
    return slots


def _status(value: Any) -> str:
    return value if value in ("Active", "Inactive") else "Active"  # IAM's default, and what an unset status means


def read_rotation(plan: StackPlan) -> Reading | None:
    """The rotation step a plan performs (docs/key-rotation.md), or the warning that it is none.

    Judged from the user's two key resources: which one the outputs name before and after (the current key),
    and what happens to each. ``None`` when the plan makes, replaces or removes the user, replaces a key, or
    does nothing to the keys that a rotation would: those are judged key by key.
    """
    if any(
        change.type == "aws_iam_user" and change.action in ("create", "delete", "replace") for change in plan.changes
    ):
        return None
    keys = key_slots(plan)
    if not keys or len(keys) > 2 or any(key.action not in ("create", "update", "delete", "no-op") for key in keys):
        return None
    existed = [key for key in keys if key.before is not None]
    created = [key for key in keys if key.before is None]
    staying = [key for key in existed if key.action == "no-op"]
    # Without the key output to tell, the current key is the only one there was, or the only one left alone.
    guess = existed[0] if len(existed) == 1 else staying[0] if len(staying) == 1 else None
    old = next((key for key in existed if key.current_before), guess)
    new = next((key for key in keys if key.current_after), created[0] if len(created) == 1 else old)
    if old is None and new in existed:
        old = new  # nothing names the current key before: take it to be the one the outputs name after
    if old is None or new is None:
        return None
    other = next((key for key in keys if key is not old), None)
    stack = plan.label
    if new is not old and new.before is None:
        return _new_key_reading(stack, old)
    if new is not old:
        return _switch_back_reading(stack, old, new)
    if other is None or (other.before == other.after and other.action == "no-op"):
        return None
    return _previous_key_reading(stack, other)


def _key(key: KeySlot) -> tuple[str, ...]:
    return (key.key_id or key.address,)


def _new_key_reading(stack: str, old: KeySlot) -> Reading:
    """A new key becomes the current one; what happens to the old key says which step (or shortcut) it is."""
    if old.after == "Active":
        return Reading(
            "rotates a key",
            Warning(
                "Access key rotation, step 1 of 3: new key created",
                "the old key stays active; the outputs and stores hold the new key once this is applied. "
                'Switch every consumer to it, then set access_key.previous = "inactive"',
                stack,
                note=Phrase("old key {} stays active", _key(old)),
                severity="medium",
            ),
        )
    if old.after == "Inactive":
        return Reading(
            "rotates a key",
            Warning(
                "Access key rotation, steps 1 and 2 at once: new key created, old key deactivated",
                "whatever still uses the old key fails once this is applied (what you want when it leaked). "
                'The outputs and stores hold the new key: hand it over, then set access_key.previous = "none"',
                stack,
                note=Phrase(
                    f"old key {{}} {'stays inactive' if old.before == 'Inactive' else 'deactivated'}", _key(old)
                ),
            ),
        )
    return Reading(
        "replaces a key",
        Warning(
            "Access key replaced with no overlap: old key deleted, new key created",
            "every consumer of the old key fails once this is applied, with no way back. To rotate without "
            'downtime, raise access_key.generation with access_key.previous = "active", which keeps the old key',
            stack,
            note=Phrase("old key {} deleted", _key(old)),
        ),
    )


def _switch_back_reading(stack: str, old: KeySlot, new: KeySlot) -> Reading:
    """The outputs move to a key that exists already: the previous generation's, not a new one."""
    fates = {"Active": "stays active", "Inactive": "is deactivated", None: "is deleted"}
    woken = "reactivated and " if new.before == "Inactive" else ""
    return Reading(
        "replaces a key",
        Warning(
            "Outputs switched back to the previous key: no new key created",
            "raising (or lowering) access_key.generation by one while the previous key still exists makes that "
            "older key the current one instead of creating a new key, and hands it to the consumers that were "
            'moving away from it. End the rotation first (access_key.previous = "none"), then raise the generation',
            stack,
            note=Phrase(
                f"older key {{}} {woken}now in the outputs and stores; key {{}} {fates[old.after]}",
                (*_key(new), *_key(old)),
            ),
        ),
    )


def _previous_key_reading(stack: str, previous: KeySlot) -> Reading | None:
    """The current key stays; what happens to the other key says which step it is."""
    if previous.before is None:
        return Reading(
            "adds a key",
            Warning(
                "Access key created beside the current one: not a rotation step",
                "the outputs and stores keep the current key and nothing delivers the new one (its secret is only "
                "in the state). To rotate, raise access_key.generation by one; between rotations, keep "
                'access_key.previous = "none"',
                stack,
                note=Phrase(f"new {str(previous.after).lower()} key {{}}", (previous.address,)),
            ),
        )
    if previous.before == "Active" and previous.after == "Inactive":
        return Reading(
            "rotates a key",
            Warning(
                "Access key rotation, step 2 of 3: old key deactivated",
                'a consumer still using the old key fails from then on (set previous = "active" again to undo); '
                'when all is well, set previous = "none"',
                stack,
                note=Phrase("key {} deactivated", _key(previous)),
                severity="medium",
            ),
        )
    if previous.before == "Inactive" and previous.after == "Active":
        return Reading(
            "rotates a key",
            Warning(
                "Access key rotation, step 2 undone: old key active again",
                "the previous key signs requests again; the outputs and stores keep the current key. "
                'Set previous = "inactive" again once its last consumer has switched',
                stack,
                note=Phrase("key {} reactivated", _key(previous)),
                severity="medium",
            ),
        )
    if previous.after is None and previous.before == "Inactive":
        return Reading(
            "rotates a key",
            Warning(
                "Access key rotation, step 3 of 3: old key deleted",
                "the deactivated key is deleted for good; the rotation is complete once this is applied",
                stack,
                note=Phrase("key {} deleted", _key(previous)),
                severity="medium",
            ),
        )
    if previous.after is not None:
        return None
    return Reading(
        "rotates a key",
        Warning(
            "Access key deleted while still active",
            "the rotation skipped deactivating it (step 2): a consumer that still uses it fails at once, with "
            "no way back",
            stack,
            note=Phrase("key {} deleted", _key(previous)),
        ),
    )


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
            elif _status(change.before.get("status")) != _status(change.after.get("status")):
                active = _status(change.after.get("status")) == "Active"
                warnings.append(
                    Warning(
                        "Access key reactivated" if active else "Access key deactivated",
                        "the key signs requests again once this is applied"
                        if active
                        else "every consumer of the key fails once this is applied (set it active again to undo)",
                        stack,
                        (_text(change.before.get("id")) or change.address,),
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
    warnings += _import_warnings(plan)
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


def _delivery_warnings(plan: StackPlan, describe: Callable[[ResourceChange], Phrase]) -> list[Warning]:
    """A change of ``access_key.delivery``: one delivery's output goes, another's comes, stores come or go."""
    if any(change.type == "aws_iam_user" and change.action in ("create", "delete") for change in plan.changes):
        return []
    gone = [output for output in plan.outputs if output.name in DELIVERY_OUTPUTS and output.action == "delete"]
    come = [output for output in plan.outputs if output.name in DELIVERY_OUTPUTS and output.action == "create"]
    if not gone or not come:
        return []
    stores = [c for c in plan.changes if c.type in STORE_TYPES and c.action in ("create", "delete")]
    what = [
        *(Phrase("output {} removed", (output.name,)) for output in gone),
        *(Phrase("output {} added", (output.name,)) for output in come),
        *(
            Phrase(f"{describe(c).words} {'created' if c.action == 'create' else 'deleted'}", describe(c).names)
            for c in stores
        ),
    ]
    to_pgp = any(DELIVERY_OUTPUTS[output.name] == "pgp" for output in come)
    why = (
        "consumers must switch to the new key, which only the holder of access_key.pgp_key can decrypt; from now "
        "on no plaintext secret enters the state, but the earlier versions of the state object keep the old one "
        "until those versions expire or are deleted"
        if to_pgp
        else "consumers must read the key from its new place once this is applied; the state keeps the secret "
        "in plaintext (in the key resource: only pgp keeps it out), and the earlier versions of the state object "
        "keep every copy written before until those versions expire or are deleted"
    )
    return [Warning("Access key delivery changed", why, plan.label, note=Phrase.join(what, "; "))]


def _import_warnings(plan: StackPlan) -> list[Warning]:
    """Resources the plan imports: they exist already, and Terraform manages them from then on."""
    imported = [change for change in plan.changes if change.importing]
    if not imported:
        return []
    created = sum(1 for change in plan.changes if change.action in ("create", "replace"))
    return [
        Warning(
            "Existing resources imported",
            "Terraform takes them over as they are once this is applied, and manages them from then on: "
            "a later destroy of the stack deletes them",
            plan.label,
            tuple(change.import_id or change.address for change in imported),
            Phrase(f"{len(imported)} imported, {created or 'nothing'} created"),
            severity="medium",
        )
    ]
