"""``keys rotate`` as data: the next step of a stack's rotation, the keys to write and the table they go in, and
the evidence from IAM each step needs, judged without any AWS.

Three pieces, each testable alone (docs/key-rotation.md): :func:`plan_rotation` computes the step from the stack's
effective settings; :func:`evidence_problems` judges what IAM says about the keys (``analysis.keys.UserInIam``);
``config.editing`` writes the plan into ``iam.toml``. Nothing here reads a file or calls AWS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from .analysis.keys import KeyInIam
from .config.fleet import Fleet, StackConfig
from .errors import key_path, table_name

Step = Literal["create", "deactivate", "delete"]
STEPS: tuple[Step, ...] = ("create", "deactivate", "delete")
TableKey = tuple[str | int, ...]
"""Where a table is in the file: ``("identities", 1, "environment", "production", "access_key")``."""

ROTATION_KEYS = ("generation", "previous", "deactivated_on")
"""The keys of ``access_key`` that ``keys rotate`` writes; nothing else of the file changes."""

DELIVERY_ALLOWANCE = timedelta(seconds=15)
"""How long after the new key's creation a use of the old key still counts as the switch, not as a consumer left
behind: the apply writes the store (or the outputs) just after it creates the key, and a consumer that re-reads
its store on each call has a call or two in flight with the old key meanwhile (docs/key-rotation.md)."""

_STEP_OF_PREVIOUS: dict[str, Step] = {"none": "create", "active": "deactivate", "inactive": "delete"}
_NUMBER: dict[Step, int] = {"create": 1, "deactivate": 2, "delete": 3}
_WHAT: dict[Step, str] = {
    "create": "create the new key beside the old one",
    "deactivate": "deactivate the old key",
    "delete": "delete the old key",
}


class RotationRefusedError(Exception):
    """A step that cannot be planned: asked out of order, or for a stack without a managed key."""

    def __init__(self, why: str, *, out_of_order: bool = False) -> None:
        super().__init__(why)
        self.out_of_order = out_of_order
        """Asked for a step other than the one the stack is at (rather than a stack with no key to rotate)."""


@dataclass(frozen=True, slots=True)
class RotationPlan:
    """The next step of one stack's rotation, and exactly what to write for it."""

    stack: StackConfig
    step: Step
    table: TableKey
    """The table the keys are written in (created if the file has none)."""
    writes: tuple[tuple[str, Any], ...]
    """``(key, value)`` to set in :attr:`table`, in this order."""
    removes: tuple[str, ...] = ()
    """Keys to remove from :attr:`table` (``deactivated_on`` once the old key is deleted)."""

    @property
    def title(self) -> str:
        """``step 2 of 3: deactivate the old key``."""
        return f"step {_NUMBER[self.step]} of 3: {_WHAT[self.step]}"

    @property
    def table_name(self) -> str:
        """The table as its header reads: ``[identities.environment.production.access_key]`` (the entry's index is
        not part of a header, so it is named apart: ``identities[1]``)."""
        return "[" + ".".join(table_name(part) for part in self.table if isinstance(part, str)) + "]"

    @property
    def where(self) -> str:
        """The table as problems name keys: ``identities[1].environment.production.access_key``."""
        return key_path(*(table_name(p) if isinstance(p, str) else p for p in self.table))

    def settings(self) -> dict[str, Any]:
        """The stack's ``access_key.generation``, ``previous`` and ``deactivated_on`` once the plan is written."""
        key = self.stack.access_key
        settings: dict[str, Any] = {
            "generation": key.generation,
            "previous": key.previous,
            "deactivated_on": key.deactivated_on,
        }
        settings.update(dict(self.writes))
        for name in self.removes:
            settings[name] = None
        return settings


def current_step(previous: str) -> Step:
    """The step a stack's rotation is at: the next one to take, read from ``access_key.previous``."""
    return _STEP_OF_PREVIOUS[previous]


def plan_rotation(fleet: Fleet, stack: StackConfig, today: date, requested: Step | None = None) -> RotationPlan:
    """The next step of ``stack``'s rotation (``requested``: refused unless it is that step), written on ``today``.

    Raises :class:`RotationRefusedError` for a stack that has no key to rotate, and for a request out of order,
    naming the step the stack is at and the setting the requested step would need.
    """
    key = stack.access_key
    if stack.kind != "user":
        raise RotationRefusedError(f"{stack.label} has no access key to rotate (kind = {stack.kind!r})")
    if not key.create:
        raise RotationRefusedError(
            f"{stack.label} manages no key (access_key.create = false): adopt its key first (docs/adopting.md)"
        )
    step = current_step(key.previous)
    if requested is not None and requested != step:
        needs = next(previous for previous, at in _STEP_OF_PREVIOUS.items() if at == requested)
        raise RotationRefusedError(
            f"{stack.label} is at step {_NUMBER[step]} of 3 ({_WHAT[step]}: previous = {key.previous!r}); "
            f"{requested} is step {_NUMBER[requested]}, which needs previous = {needs!r}",
            out_of_order=True,
        )
    table = target_table(fleet, stack)
    if step == "create":
        writes: tuple[tuple[str, Any], ...] = (("generation", key.generation + 1), ("previous", "active"))
        removes: tuple[str, ...] = ("deactivated_on",) if key.deactivated_on is not None else ()
    elif step == "deactivate":
        writes, removes = (("previous", "inactive"), ("deactivated_on", today)), ()
    else:
        writes = (("previous", "none"),)
        removes = ("deactivated_on",) if key.deactivated_on is not None else ()
    return RotationPlan(stack, step, table, writes, removes)


def target_table(fleet: Fleet, stack: StackConfig) -> TableKey:
    """The table to write ``stack``'s rotation keys in: the most specific table that already holds one of them
    and that no other stack reads; else the identity's table in the stack's environment (in a file without
    [[identities]]: ``[access_key]`` for a file of one stack, the ``[[environments]]`` entry's ``access_key``
    for several)."""
    candidates = _own_tables(fleet, stack)
    written = {stack.written_at("access_key", name) for name in ROTATION_KEYS} - {None}
    for table in candidates:
        where = key_path(*(table_name(p) if isinstance(p, str) else p for p in table))
        if any(w is not None and w.startswith(where + ".") for w in written):
            return table
    return candidates[0]


def _own_tables(fleet: Fleet, stack: StackConfig) -> list[TableKey]:
    """The ``access_key`` tables only ``stack`` reads, most specific first (the first is where a new one goes)."""
    environment = stack.environment.name
    in_environment = [s for s in fleet.stacks if s.environment.name == environment]
    environment_index = stack._environment_indices[0] if stack._environment_indices else 0
    tables: list[TableKey] = []
    if fleet.explicit:
        identity_index = stack._identity_index
        assert identity_index is not None  # every stack of a file with [[identities]] has its entry
        tables.append(("identities", identity_index, "environment", environment, "access_key"))
        if sum(1 for s in fleet.stacks if s.identity == stack.identity) == 1:
            tables.append(("identities", identity_index, "access_key"))
    in_file = "environments" in fleet.config.model_fields_set
    if len(fleet.stacks) == 1 and not fleet.explicit:
        tables.append(("access_key",))
    if in_file and len(in_environment) == 1:
        tables.append(("environments", environment_index, "access_key"))
    if len(fleet.stacks) == 1 and fleet.explicit:
        tables.append(("access_key",))
    return tables


# ---------------------------------------------------------------------------------------------------------------------
# Evidence: whether IAM shows the step is safe
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreReading:
    """What the stack's store shows of the key it delivers, read for the deactivate step; never the secret."""

    delivery: Literal["ssm", "secretsmanager"]
    name: str
    """The parameter (``/app/production/access-key-id``) or the secret (``app/production``) read."""
    key_id: str | None = None
    """SSM: the key id the parameter holds; ``None``: there is no such parameter."""
    changed: datetime | None = None
    """Secrets Manager: when the secret last changed (``DescribeSecret``); ``None``: there is no such secret."""


def unchecked_delivery(step: Step, delivery: str) -> str | None:
    """What the deactivate step cannot check for a key delivered through the stack's outputs (``output``, ``pgp``):
    the notice ``keys rotate`` prints instead of staying silent; ``None`` when nothing is left unchecked."""
    if step != "deactivate" or delivery not in ("output", "pgp"):
        return None
    return (
        f'not checked: that the outputs hold the new key (delivery = "{delivery}"): they live in the Terraform '
        "state, which keys rotate does not read"
    )


def evidence_problems(
    step: Step,
    keys: Sequence[KeyInIam] | None,
    stack: StackConfig,
    now: datetime,
    store: StoreReading | None = None,
) -> list[str]:
    """Why IAM's ``keys`` of the stack's user (oldest first; ``None``: no such user), and the ``store`` that
    delivers them (``None``: not read), do not yet allow ``step``; empty when they do.

    - create: the previous rotation is finished (one key) and that key is active, as the configuration says;
    - deactivate: the new key exists and is active, and the old key has not been used since the new one was
      created (when the apply delivered it), :data:`DELIVERY_ALLOWANCE` allowed for the delivery itself; and
      the store delivers the new key: the SSM parameter holds its id, the secret changed since it was created;
    - delete: the old key is inactive, and has been for ``access_key.rotation_grace_days`` (counted from
      ``access_key.deactivated_on``, the day the deactivation was written).
    """
    if keys is None:
        return ["its user is not in IAM: deploy the stack first"]
    count = len(keys)
    if step == "create":
        if count != 1:
            return [f"IAM holds {count} keys for the user, not 1: finish the previous rotation (or apply it) first"]
        if keys[0].status != "Active":
            return [f"the only key {keys[0].key_id} is {keys[0].status}, but the configuration says it is in use"]
        return []
    if count != 2:
        return [f"IAM holds {count} key(s) for the user, not 2: apply the previous step first"]
    old, new = keys
    if step == "deactivate":
        problems = []
        if new.status != "Active":
            problems.append(f"the new key {new.key_id} is {new.status}")
        if old.last_used is not None and old.last_used > new.created + DELIVERY_ALLOWANCE:
            where = ", ".join(part for part in (old.last_service, old.last_region) if part) or "unknown service"
            problems.append(
                f"the old key {old.key_id} was used at {_moment(old.last_used)} ({where}), after the new key "
                f"{new.key_id} was delivered at {_moment(new.created)}: switch that consumer to the new key first"
            )
        if store is not None:
            problems.extend(_store_problems(store, old, new))
        return problems
    if old.status != "Inactive":
        return [f"the old key {old.key_id} is still {old.status}: apply step 2 (deactivate) first"]
    since = stack.access_key.deactivated_on
    grace = stack.access_key.rotation_grace_days
    if since is None:
        return [
            "access_key.deactivated_on is not set, so how long the old key has been inactive is unknown: set it "
            "to the day it was deactivated"
        ]
    ends = since + timedelta(days=grace)
    if now.date() < ends:
        return [
            f"the old key {old.key_id} is inactive since {since.isoformat()}, less than the grace period of {grace} "
            f"day(s) (access_key.rotation_grace_days): delete it on or after {ends.isoformat()}"
        ]
    return []


def _store_problems(store: StoreReading, old: KeyInIam, new: KeyInIam) -> list[str]:
    """Why the ``store`` does not show the ``new`` key delivered; empty when it does."""
    apply = "apply step 1 (which writes the store) first"
    if store.delivery == "ssm":
        if store.key_id is None:
            return [
                f"the parameter {store.name} does not exist, so it holds neither the old key {old.key_id} nor the "
                f"new key {new.key_id}: {apply}"
            ]
        if store.key_id != new.key_id:
            return [
                f"the parameter {store.name} holds the key id {store.key_id}, not the new key {new.key_id}: {apply}"
            ]
        return []
    if store.changed is None:
        return [
            f"the secret {store.name} does not exist, so it holds neither the old key {old.key_id} nor the new key "
            f"{new.key_id}: {apply}"
        ]
    # IAM gives a key's creation to the second: a secret written within that second counts as after it.
    if store.changed < new.created.replace(microsecond=0):
        return [
            f"the secret {store.name} last changed at {_moment(store.changed)}, before the new key {new.key_id} was "
            f"created at {_moment(new.created)}: it still holds the old key {old.key_id}, not the new one; {apply}"
        ]
    return []


def is_due(
    stack: StackConfig, keys: Sequence[KeyInIam] | None, now: datetime, store: StoreReading | None = None
) -> bool:
    """Whether a stack's rotation should move on without being asked for: its current key is past
    ``max_age_days`` (no rotation in progress), or a rotation is in progress and its next step's evidence (the
    ``store``'s included) holds."""
    if keys is None or not keys:
        return False
    step = current_step(stack.access_key.previous)
    if step == "create":
        return now - keys[-1].created > timedelta(days=stack.access_key.max_age_days)
    return not evidence_problems(step, keys, stack, now, store)


def _moment(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


# ---------------------------------------------------------------------------------------------------------------------
# The check after the edit: the file resolves to exactly the plan
# ---------------------------------------------------------------------------------------------------------------------


def unplanned_changes(before: Fleet, after: Fleet, plans: Sequence[RotationPlan]) -> list[str]:
    """What differs between the fleet ``before`` the edits and ``after`` them, beyond the plans: empty when the
    edited file resolves to exactly each plan's rotation settings for its stack and to the same settings as
    before for everything else."""
    planned = {(plan.stack.identity, plan.stack.environment.name): plan for plan in plans}
    if [(s.identity, s.environment.name) for s in after.stacks] != [
        (s.identity, s.environment.name) for s in before.stacks
    ]:
        return ["the stacks of the file changed"]
    changes = []
    for old, new in zip(before.stacks, after.stacks, strict=True):
        old_settings, new_settings = old.model_dump(), new.model_dump()
        plan = planned.get((old.identity, old.environment.name))
        if plan is not None:
            key = new.access_key
            written = {"generation": key.generation, "previous": key.previous, "deactivated_on": key.deactivated_on}
            if written != plan.settings():
                changes.append(f"{new.label}: access_key resolves to {written}, not {plan.settings()}")
            for settings in (old_settings, new_settings):
                for name in ROTATION_KEYS:
                    settings["access_key"].pop(name, None)
        if old_settings != new_settings:
            changes.append(f"{new.label}: settings other than the rotation's changed")
    unchanged = {"access_key", "identities", "environments"}
    if before.config.model_dump(exclude=unchanged) != after.config.model_dump(exclude=unchanged):
        changes.append("the file's top-level settings changed")
    return changes
