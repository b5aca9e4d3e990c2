"""A ``terraform show -json`` plan, read defensively and with every sensitive value removed on the way in.

A plan's JSON carries the prior state, secrets included, marked only in ``*_sensitive`` masks. Nothing past
this module sees a sensitive value: :func:`read_plan` replaces each one with :data:`REDACTED` and keeps the
originals only in :attr:`StackPlan.sensitive_strings`, so that the renderer can prove none of them leaked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import Problem
from ..files import MAX_PLAN_BYTES, UTF16_WHY, RefusedError, is_utf16, read_bytes, read_text
from ..ownership import IDENTITY_TAG
from ..strict_json import parse_json
from .plan_shape import POLICY_TYPES, plan_shape_problems, policy_document_problems

REDACTED = "(sensitive)"
UNKNOWN = "(known after apply)"
STACK_CONFIG = "cdk.tf.json"
SUPPORTED_FORMAT = "1"
_GENERIC_PLAN_NAMES = frozenset({"plan", "tfplan", "plan.tfplan", "review"})
_SHORTEST_GUARDED_SECRET = 8  # shorter sensitive strings ("", "true") would match ordinary text

Action = Literal["create", "update", "replace", "delete", "read", "no-op", "forget"]
_ACTIONS: dict[tuple[str, ...], Action] = {
    ("no-op",): "no-op",
    ("create",): "create",
    ("read",): "read",
    ("update",): "update",
    ("delete",): "delete",
    ("delete", "create"): "replace",
    ("create", "delete"): "replace",
    ("forget",): "forget",
}


@dataclass(frozen=True, slots=True)
class ResourceChange:
    """One managed resource's planned change, sensitive values redacted and unknown ones marked."""

    address: str
    type: str
    action: Action
    before: Mapping[str, Any]
    after: Mapping[str, Any]
    reason: str = ""
    replace_paths: tuple[str, ...] = ()
    previous_address: str = ""
    """Where the resource was before a ``moved`` block moved it; ``""`` when it did not move."""
    importing: bool = False
    """Whether the plan imports the resource (an ``import`` block): it exists already and is not created."""
    import_id: str = ""
    """The id it is imported by (a user's name, a policy's ARN), when the plan says."""

    def value(self, attribute: str) -> Any:
        """The attribute after the change, or before it when the resource is destroyed."""
        source = self.before if self.action == "delete" else self.after
        return source.get(attribute)


@dataclass(frozen=True, slots=True)
class OutputChange:
    """One root output's planned change, its values redacted where sensitive and marked where unknown."""

    name: str
    action: Action
    before: Any
    after: Any
    sensitive: bool = False


@dataclass(frozen=True, slots=True)
class Backend:
    """Where a stack keeps its state, as its synthesized configuration says."""

    kind: str
    encrypted: bool
    locked: bool


@dataclass(frozen=True, slots=True)
class StackPlan:
    """One stack's plan: what changes, what drifted, and how its state is kept."""

    label: str
    changes: tuple[ResourceChange, ...]
    drifted: tuple[str, ...]
    complete: bool
    errored: bool
    backend: Backend | None
    references: Mapping[str, tuple[str, ...]]
    """Each configured resource's attribute expressions' references (``address.attr`` -> referenced addresses)."""
    sensitive_strings: frozenset[str] = field(default=frozenset(), repr=False)
    outputs: tuple[OutputChange, ...] = ()
    """The root outputs' changes, no-ops included, in the plan's order."""
    output_references: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Each configured root output's references (``access_key_id`` -> ``aws_iam_access_key.access_key.id``...)."""
    identity: str | None = None
    """The identity whose stack it is, as its resources' ``programmatic-iam:identity`` tag says (before a destroy,
    after any other change); ``None`` when no resource carries the tag (a plan of a stack from before the tag)."""


class PlanError(Exception):
    """The file is not a readable plan; carries the problems found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(problem.render() for problem in self.problems))


def read_plans(folder: Path, names: Sequence[str]) -> tuple[dict[str, StackPlan], list[Problem]]:
    """Each of the plan files ``names`` (relative to ``folder``) by the name given, and every problem: a file that is
    not a plan, and a second plan of one stack."""
    plans: dict[str, StackPlan] = {}
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for name in names:
        try:
            plan = read_plan(folder / name, display=name)
        except PlanError as error:
            problems += error.problems
            continue
        if plan.label in seen:
            why = f"is a plan of stack {plan.label!r}, like {seen[plan.label]}"
            problems.append(Problem(name, "", why, "pass one plan per stack"))
            continue
        seen[plan.label] = name
        plans[name] = plan
    return plans, problems


def read_plan(path: Path, *, display: str) -> StackPlan:
    """Read and check ``path`` (shown to users as ``display``); raise :class:`PlanError` if it is not a plan."""
    data = _load_json(path, display)
    problems = _shape_problems(data, display) or plan_shape_problems(data, display)
    if problems:
        raise PlanError(problems)
    secrets: set[str] = set()
    changes = []
    for index, raw in enumerate(data.get("resource_changes") or []):
        change, change_problems = _resource_change(raw, f"{display}: resource_changes[{index}]", secrets)
        problems += change_problems
        if change is not None:
            changes.append(change)
    outputs, output_problems = _output_changes(data, display, secrets)
    problems += output_problems
    backend, backend_problems = _backend(path.parent / STACK_CONFIG, display)
    problems += backend_problems
    if problems:
        raise PlanError(problems)
    _collect_sensitive(data, secrets)
    drifted = _relevant_drift(data)
    managed = tuple(change for change in changes if change.address and not change.address.startswith("data."))
    return StackPlan(
        label=_label(path, managed),
        changes=managed,
        drifted=drifted,
        complete=data.get("complete", True) is not False,
        errored=data.get("errored", False) is True,
        backend=backend,
        references=_references(data),
        sensitive_strings=frozenset(secret for secret in secrets if len(secret) >= _SHORTEST_GUARDED_SECRET),
        outputs=outputs,
        output_references=_output_references(data),
        identity=_identity(managed),
    )


def _relevant_drift(data: Mapping[str, Any]) -> tuple[str, ...]:
    """Resources changed outside Terraform in an attribute this plan depends on (what Terraform itself reports).

    Other drift is noise: a policy's ``attachment_count`` grows with our own attachment, and the emulator
    returns ``{}`` for tags never set.
    """
    relevant: dict[str, set[str]] = {}
    for item in data.get("relevant_attributes") or []:
        if isinstance(item, Mapping) and isinstance(item.get("attribute"), list) and item["attribute"]:
            relevant.setdefault(str(item.get("resource")), set()).add(str(item["attribute"][0]))
    drifted = []
    for item in data.get("resource_drift") or []:
        change = item.get("change") if isinstance(item, Mapping) else None
        if not isinstance(change, Mapping):
            continue
        before, after = change.get("before") or {}, change.get("after") or {}
        address = str(item.get("address", "?"))
        if any(_differs(before.get(key), after.get(key)) for key in relevant.get(address, ())):
            drifted.append(address)
    return tuple(drifted)


def _differs(old: Any, new: Any) -> bool:
    empty: tuple[Any, ...] = (None, {}, [], "")
    return old != new and not (old in empty and new in empty)


def _load_json(path: Path, display: str) -> Any:
    fix = "pass the JSON that `terraform show -json PLANFILE` prints for a saved plan (`terraform plan -out=PLANFILE`)"
    try:
        content = read_bytes(path, limit=MAX_PLAN_BYTES)
    except RefusedError as refused:
        raise PlanError([Problem(display, "", refused.why, fix)]) from None
    if is_utf16(content):
        utf8 = "in PowerShell, `terraform show -json PLANFILE | Out-File -Encoding utf8 plan.json` (not `> plan.json`)"
        raise PlanError([Problem(display, "", UTF16_WHY, f"write the JSON as UTF-8: {utf8}")])
    if content.lstrip().startswith((b"PK", b"\x1f")) or b"\x00" in content[:512]:  # never the start of JSON
        raise PlanError([Problem(display, "", "is a binary plan file, not its JSON", fix)])
    try:
        text = content.decode("utf-8-sig")  # the byte-order mark of Windows PowerShell's `Out-File -Encoding utf8`
    except UnicodeDecodeError as error:
        raise PlanError(
            [Problem(display, "", f"is not UTF-8 text ({error.reason} at byte {error.start})", fix)]
        ) from None
    data, problems = parse_json(text, display, fix=fix)
    if problems:
        raise PlanError(problems)
    return data


def _shape_problems(data: Any, display: str) -> list[Problem]:
    fix = "pass the JSON that `terraform show -json PLANFILE` prints for a saved plan (`terraform plan -out=PLANFILE`)"
    if not isinstance(data, Mapping):
        kind = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(type(data), "null")
        return [Problem(display, "", f"holds a JSON {kind}, not an object, so it is not a Terraform plan", fix)]
    if "format_version" not in data:
        return [Problem(display, "", "has no format_version, so it is not Terraform's JSON output", fix)]
    version = str(data["format_version"])
    if version.partition(".")[0] != SUPPORTED_FORMAT:
        return [
            Problem(
                f"{display}: format_version",
                repr(version),
                f"is not a version this review reads (major version {SUPPORTED_FORMAT})",
                "plan with Terraform 1.x",
            )
        ]
    if "planned_values" not in data and "values" in data:
        return [
            Problem(
                display,
                "",
                "is a state (`terraform show -json` without a plan file), not a plan",
                "save a plan with `terraform plan -out=PLANFILE` and pass `terraform show -json PLANFILE`",
            )
        ]
    if "planned_values" not in data:
        return [Problem(display, "", "has no planned_values, so it is not a plan", fix)]
    return []


def _resource_change(raw: Any, where: str, secrets: set[str]) -> tuple[ResourceChange | None, list[Problem]]:
    fix = "pass the plan JSON as Terraform wrote it"
    if not isinstance(raw, Mapping):
        return None, [Problem(where, type(raw).__name__, "is not an object", fix)]
    change = raw.get("change")
    if not isinstance(change, Mapping):
        return None, [Problem(f"{where}.change", "", "is missing or not an object", fix)]
    actions = change.get("actions")
    action = _action(actions)
    if action is None:
        return None, [Problem(f"{where}.change.actions", repr(actions), "is not an action list Terraform writes", fix)]
    if raw.get("mode", "managed") != "managed":
        return None, []
    before = _redacted(change.get("before"), change.get("before_sensitive"), secrets)
    after = _redacted(change.get("after"), change.get("after_sensitive"), secrets)
    after = _with_unknowns(after, change.get("after_unknown"))
    replace_paths = tuple(
        ".".join(str(step) for step in path) for path in change.get("replace_paths") or [] if isinstance(path, list)
    )
    importing = change.get("importing")
    import_id = importing.get("id") if isinstance(importing, Mapping) else None
    resource = ResourceChange(
        address=str(raw.get("address", "")),
        type=str(raw.get("type", "")),
        action=action,
        before=before if isinstance(before, Mapping) else {},
        after=after if isinstance(after, Mapping) else {},
        reason=str(raw.get("action_reason", "") or ""),
        replace_paths=replace_paths,
        previous_address=str(raw.get("previous_address", "") or ""),
        importing=isinstance(importing, Mapping),
        import_id=import_id if isinstance(import_id, str) else "",
    )
    return resource, _policy_problems(resource, where)


def _action(actions: Any) -> Action | None:
    """The one action an action list stands for; ``None`` for a list Terraform does not write."""
    if isinstance(actions, list) and all(isinstance(action, str) for action in actions):
        return _ACTIONS.get(tuple(actions))
    return None


def _output_changes(
    data: Mapping[str, Any], display: str, secrets: set[str]
) -> tuple[tuple[OutputChange, ...], list[Problem]]:
    """Every root output's change, with sensitive values redacted (and remembered) and unknown ones marked."""
    outputs, problems = [], []
    for name, change in (data.get("output_changes") or {}).items():
        action = _action(change.get("actions"))
        if action is None:
            problems.append(
                Problem(
                    f"{display}: output_changes.{name}.actions",
                    repr(change.get("actions")),
                    "is not an action list Terraform writes",
                    "pass the plan JSON as Terraform wrote it",
                )
            )
            continue
        before = _redacted(change.get("before"), change.get("before_sensitive"), secrets)
        after = _with_unknowns(
            _redacted(change.get("after"), change.get("after_sensitive"), secrets), change.get("after_unknown")
        )
        sensitive = change.get("before_sensitive") is True or change.get("after_sensitive") is True
        outputs.append(OutputChange(str(name), action, before, after, sensitive))
    return tuple(outputs), problems


def _policy_problems(change: ResourceChange, where: str) -> list[Problem]:
    """The problems of a policy resource's documents, read after redaction so that none can quote a secret."""
    if change.type not in POLICY_TYPES:
        return []
    problems = []
    for side, values in (("before", change.before), ("after", change.after)):
        document = values.get("policy")
        if isinstance(document, str) and document not in (REDACTED, UNKNOWN):
            problems += policy_document_problems(document, f"{where}.change.{side}.policy")
    return problems


def _redacted(value: Any, mask: Any, secrets: set[str]) -> Any:
    """``value`` with every part its sensitivity mask marks replaced by :data:`REDACTED`."""
    if mask is True:
        secrets.update(_strings(value))
        return REDACTED if value is not None else None
    if isinstance(value, Mapping):
        masks = mask if isinstance(mask, Mapping) else {}
        return {key: _redacted(item, masks.get(key), secrets) for key, item in value.items()}
    if isinstance(value, list):
        items = mask if isinstance(mask, list) else []
        return [
            _redacted(item, items[index] if index < len(items) else None, secrets) for index, item in enumerate(value)
        ]
    return value


def _with_unknowns(value: Any, unknown: Any) -> Any:
    if unknown is True:
        return UNKNOWN
    if isinstance(unknown, Mapping):
        known = dict(value) if isinstance(value, Mapping) else {}
        for key, mask in unknown.items():
            known[key] = _with_unknowns(known.get(key), mask)
        return known
    if isinstance(unknown, list) and isinstance(value, list):
        return [_with_unknowns(item, unknown[i] if i < len(unknown) else None) for i, item in enumerate(value)]
    return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _collect_sensitive(data: Mapping[str, Any], secrets: set[str]) -> None:
    """Every value a mask marks anywhere in the plan: prior state, planned values, outputs, drift."""
    for change in (data.get("output_changes") or {}).values():
        if isinstance(change, Mapping):
            for side in ("before", "after"):
                _redacted(change.get(side), change.get(f"{side}_sensitive"), secrets)
    for item in data.get("resource_drift") or []:
        if isinstance(item, Mapping) and isinstance(item.get("change"), Mapping):
            for side in ("before", "after"):
                _redacted(item["change"].get(side), item["change"].get(f"{side}_sensitive"), secrets)
    for values in ((data.get("prior_state") or {}).get("values"), data.get("planned_values")):
        if isinstance(values, Mapping):
            _module_sensitive(values, secrets)


def _module_sensitive(values: Mapping[str, Any], secrets: set[str]) -> None:
    for output in (values.get("outputs") or {}).values():
        if isinstance(output, Mapping) and output.get("sensitive"):
            secrets.update(_strings(output.get("value")))
    module = values.get("root_module")
    stack = [module] if isinstance(module, Mapping) else []
    while stack:
        current = stack.pop()
        for resource in current.get("resources") or []:
            if isinstance(resource, Mapping):
                _redacted(resource.get("values"), resource.get("sensitive_values"), secrets)
        stack.extend(child for child in current.get("child_modules") or [] if isinstance(child, Mapping))


def _label(path: Path, changes: Sequence[ResourceChange]) -> str:
    """The stack's name: its user's name (the stack id), else the plan file's (or, if generic, its folder's)."""
    names = {
        str(name)
        for change in changes
        if change.type == "aws_iam_user"
        for name in (change.value("name"),)
        if isinstance(name, str) and name not in (UNKNOWN, REDACTED)
    }
    if len(names) == 1:
        return names.pop()
    stem = path.name.removesuffix(".json")
    return path.resolve().parent.name if stem in _GENERIC_PLAN_NAMES else stem


def _identity(changes: Sequence[ResourceChange]) -> str | None:
    """The ``programmatic-iam:identity`` tag of the plan's principal (user or role), else of any resource.

    The tag, not the configuration, says whose a stack is: a plan that destroys an identity removed from the
    configuration still names it (from its resources' state), and ``review`` needs no configuration."""
    principals = [change for change in changes if change.type in ("aws_iam_user", "aws_iam_role")]
    for change in (*principals, *changes):
        for attribute in ("tags_all", "tags"):
            tags = change.value(attribute)
            identity = tags.get(IDENTITY_TAG) if isinstance(tags, Mapping) else None
            if isinstance(identity, str) and identity not in (UNKNOWN, REDACTED):
                return identity
    return None


def _backend(config_path: Path, display: str) -> tuple[Backend | None, list[Problem]]:
    """The backend of the synthesized stack beside the plan (``display``); ``None`` when there is none to read."""
    if not config_path.is_file():
        return None, []
    try:
        text = read_text(config_path, limit=MAX_PLAN_BYTES, encoding="utf-8")
    except RefusedError:
        return None, []
    where = f"{STACK_CONFIG} beside {display}"
    config, problems = parse_json(text, where, fix="synthesize the stack again, or move the plan away from this file")
    if problems:
        return None, problems
    terraform = config.get("terraform") if isinstance(config, Mapping) else None
    return (_backend_of(terraform) if isinstance(terraform, Mapping) else None), []


def _backend_of(terraform: Mapping[str, Any]) -> Backend:
    if "cloud" in terraform:
        return Backend(kind="cloud", encrypted=True, locked=True)
    backends = terraform.get("backend")
    if not isinstance(backends, Mapping) or not backends:
        return Backend(kind="local", encrypted=False, locked=False)
    kind, settings = next(iter(backends.items()))
    settings = settings if isinstance(settings, Mapping) else {}
    if kind == "s3":
        encrypted = settings.get("encrypt") is True or bool(settings.get("kms_key_id"))
        locked = settings.get("use_lockfile") is True or bool(settings.get("dynamodb_table"))
        return Backend(kind=kind, encrypted=encrypted, locked=locked)
    if kind == "local":
        return Backend(kind=kind, encrypted=False, locked=False)
    return Backend(kind=str(kind), encrypted=True, locked=True)


def _output_references(data: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    module = (data.get("configuration") or {}).get("root_module") or {}
    found: dict[str, tuple[str, ...]] = {}
    for name, output in (module.get("outputs") or {}).items():
        expression = output.get("expression") if isinstance(output, Mapping) else None
        if isinstance(expression, Mapping) and isinstance(expression.get("references"), list):
            found[str(name)] = tuple(str(r) for r in expression["references"])
    return found


def _references(data: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    module = (data.get("configuration") or {}).get("root_module") or {}
    found: dict[str, tuple[str, ...]] = {}
    for resource in module.get("resources") or []:
        if not isinstance(resource, Mapping):
            continue
        for attribute, expression in (resource.get("expressions") or {}).items():
            if isinstance(expression, Mapping) and isinstance(expression.get("references"), list):
                found[f"{resource.get('address')}.{attribute}"] = tuple(str(r) for r in expression["references"])
    return found
