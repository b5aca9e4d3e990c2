"""What a plan must look like for the review to read it: every field the review uses, of the kind Terraform writes.

Checked once, where the plan is read, so that nothing after :mod:`.plan` meets a list where an object
belongs (``"prior_state": []``), a number where a name belongs, or a policy document that the risk engine
cannot read. A field Terraform leaves out may be absent or ``null``; one of another kind is a problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import Problem, show
from ..strict_json import json_path, parse_json

FIX = "pass the plan JSON exactly as `terraform show -json PLANFILE` wrote it"

POLICY_TYPES = {
    "aws_iam_policy": "policy",
    "aws_iam_user_policy": "inline policy",
    "aws_iam_group_policy": "group inline policy",
    "aws_iam_role_policy": "role inline policy",
}
"""Resource types that carry a policy document in their ``policy`` attribute, and what to call them."""

Path = tuple[str | int, ...]
OBJECT, LIST, STRING, BOOLEAN = "an object", "a list", "a string", "true or false"
_KINDS: dict[str, type | tuple[type, ...]] = {OBJECT: Mapping, LIST: list, STRING: str, BOOLEAN: bool}


def kind_of(value: Any) -> str:
    """The JSON kind of a parsed value, as a problem names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return STRING
    return LIST if isinstance(value, list) else OBJECT


class _Checker:
    """Collects one problem per value of the wrong kind, each at its path in the file."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[Problem] = []

    def problem(self, path: Path, given: str, why: str) -> None:
        self.problems.append(Problem(f"{self.where}: {json_path(path)}" if path else self.where, given, why, FIX))

    def value(self, value: Any, path: Path, kind: str) -> Any:
        """``value`` if it is of ``kind``; ``None`` if it is ``null``, or (with a problem) of another kind."""
        if value is None or isinstance(value, _KINDS[kind]):
            return value
        self.problem(path, "", f"is {kind_of(value)}, not {kind}")
        return None

    def field(self, parent: Mapping[str, Any], key: str, path: Path, kind: str) -> Any:
        """``parent[key]`` if it is of ``kind``; ``None`` if absent or ``null``, or (with a problem) of another kind."""
        return self.value(parent.get(key), (*path, key), kind)

    def objects(self, parent: Mapping[str, Any], key: str, path: Path) -> list[tuple[Mapping[str, Any], Path]]:
        """Each item of the list ``parent[key]`` with its path, every one an object (a problem for each that is not)."""
        items = enumerate(self.field(parent, key, path, LIST) or [])
        return [(item, (*path, key, i)) for i, item in items if self.value(item, (*path, key, i), OBJECT) is not None]

    def entries(self, parent: Mapping[str, Any], key: str, path: Path, kind: str) -> list[tuple[Any, Path]]:
        """Each value of the object ``parent[key]`` with its path, every one of ``kind`` (a problem for each that is not)."""
        items = (self.field(parent, key, path, OBJECT) or {}).items()
        return [(item, (*path, key, k)) for k, item in items if self.value(item, (*path, key, k), kind) is not None]


def plan_shape_problems(data: Mapping[str, Any], where: str) -> list[Problem]:
    """A problem for every field the review reads that is not of the kind Terraform writes."""
    check = _Checker(where)
    for key in ("format_version", "terraform_version"):
        check.field(data, key, (), STRING)
    for key in ("complete", "errored"):
        check.field(data, key, (), BOOLEAN)
    for change, path in check.objects(data, "resource_changes", ()):
        for key in ("address", "type", "mode", "module_address", "action_reason", "previous_address"):
            check.field(change, key, path, STRING)
        details = check.field(change, "change", path, OBJECT) or {}
        for side in ("before", "after"):
            check.field(details, side, (*path, "change"), OBJECT)
        importing = check.field(details, "importing", (*path, "change"), OBJECT) or {}
        check.field(importing, "id", (*path, "change", "importing"), STRING)
        replace_paths = check.field(details, "replace_paths", (*path, "change"), LIST) or []
        for index, replace_path in enumerate(replace_paths):
            check.value(replace_path, (*path, "change", "replace_paths", index), LIST)
    for item, path in check.objects(data, "resource_drift", ()):
        check.field(item, "address", path, STRING)
        drift = check.field(item, "change", path, OBJECT) or {}
        for side in ("before", "after"):
            check.field(drift, side, (*path, "change"), OBJECT)
    for item, path in check.objects(data, "relevant_attributes", ()):
        check.field(item, "resource", path, STRING)
        check.field(item, "attribute", path, LIST)
    for output, path in check.entries(data, "output_changes", (), OBJECT):
        check.field(output, "actions", path, LIST)
    prior = check.field(data, "prior_state", (), OBJECT) or {}
    for raw, path in (
        (prior.get("values"), ("prior_state", "values")),
        (data.get("planned_values"), ("planned_values",)),
    ):
        values = check.value(raw, path, OBJECT)
        if isinstance(values, Mapping):
            _module_values(check, values, path)
    configuration = check.field(data, "configuration", (), OBJECT) or {}
    root = check.field(configuration, "root_module", ("configuration",), OBJECT) or {}
    for resource, path in check.objects(root, "resources", ("configuration", "root_module")):
        check.field(resource, "address", path, STRING)
        expressions = check.field(resource, "expressions", path, OBJECT) or {}
        for name, expression in expressions.items():
            if isinstance(expression, Mapping):  # a nested block's expressions are a list: not read
                check.field(expression, "references", (*path, "expressions", name), LIST)
    for output, path in check.entries(root, "outputs", ("configuration", "root_module"), OBJECT):
        expression = check.field(output, "expression", path, OBJECT) or {}
        check.field(expression, "references", (*path, "expression"), LIST)
    return check.problems


def _module_values(check: _Checker, values: Mapping[str, Any], path: Path) -> None:
    """``outputs`` and the module tree of planned values or prior state (iteratively: modules nest)."""
    check.entries(values, "outputs", path, OBJECT)
    root = check.field(values, "root_module", path, OBJECT)
    pending = [(root, (*path, "root_module"))] if root else []
    while pending:
        module, module_path = pending.pop()
        for resource, resource_path in check.objects(module, "resources", module_path):
            check.field(resource, "values", resource_path, OBJECT)
        pending.extend(check.objects(module, "child_modules", module_path))


def policy_document_problems(text: str, where: str) -> list[Problem]:
    """Problems of a policy document in a plan (a ``policy`` attribute's JSON) that the review could not judge.

    Only what the review reads is checked, and loosely: Terraform's plan has accepted the document, and the
    review shows it as it is.
    """
    document, problems = parse_json(text, where, fix=FIX)
    if problems:
        return problems
    check = _Checker(where)
    if check.value(document, (), OBJECT) is None:
        return check.problems
    for key in ("Version", "Id"):
        check.field(document, key, (), STRING)
    statements = document.get("Statement")
    if isinstance(statements, Mapping):  # IAM takes a single statement object too
        _statement(check, statements, ("Statement",))
    else:
        for statement, path in check.objects(document, "Statement", ()):
            _statement(check, statement, path)
    return check.problems


def _statement(check: _Checker, statement: Mapping[str, Any], path: Path) -> None:
    for key in ("Sid", "Effect"):
        check.field(statement, key, path, STRING)
    for key in ("Action", "NotAction", "Resource", "NotResource"):
        value = statement.get(key)
        items = [value] if isinstance(value, str) else value if isinstance(value, list) else None
        if value is not None and (items is None or not all(isinstance(item, str) for item in items)):
            check.problem((*path, key), show(value), "should be a string or a list of strings")
        elif key in ("Action", "NotAction"):
            for index, action in enumerate(items or []):
                if action != "*" and ":" not in action:
                    at = (*path, key, index) if isinstance(value, list) else (*path, key)
                    check.problem(at, show(action), "is not an IAM action (service:action, or *)")
    for block, block_path in check.entries(statement, "Condition", path, OBJECT):
        for key, value in block.items():
            values = value if isinstance(value, list) else [value]
            if not all(isinstance(item, str | int | float) for item in values):
                check.problem(
                    (*block_path, key), show(value), "should be a string, number or boolean, or a list of them"
                )
