"""IAM identity-policy documents as value objects: parsed, checked and normalised in one pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
import ipaddress
import json
import re
from typing import Any

from ..config.model import ACTION_SYNTAX, control_characters
from ..errors import SUGGESTIONS_MAX, Notice, Problem, closest_match, did_you_mean, show
from .catalogue import Catalogue

POLICY_VERSION = "2012-10-17"
_SID_SYNTAX = re.compile(r"[A-Za-z0-9]*")
# IAM's condition operators (IAM User Guide, "Condition operators"); any but Null may end in IfExists, and
# any may start with ForAllValues: or ForAnyValue:. Matched ignoring case, as IAM's evaluators do.
CONDITION_OPERATORS = (
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
)
_SET_OPERATORS = ("ForAllValues", "ForAnyValue")
_IF_EXISTS = "IfExists"
_OPERATORS_LOWER = frozenset(operator.lower() for operator in CONDITION_OPERATORS)
_SET_LOWER = frozenset(operator.lower() for operator in _SET_OPERATORS)
_OPERATORS_FIX = (
    f"use one of {', '.join(CONDITION_OPERATORS)}; any but Null may end in IfExists, and any may start with "
    "ForAllValues: or ForAnyValue:"
)
_STATEMENT_KEYS = ("Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition")
_DOCUMENT_KEYS = ("Version", "Id", "Statement")


@dataclass(frozen=True, slots=True)
class ActionRules:
    """How strictly actions are checked against the catalogue."""

    catalogue: Catalogue
    allow_wildcards: bool = False
    allow_unlisted: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement; ``actions`` are canonical, de-duplicated and sorted."""

    effect: str
    actions: tuple[str, ...]
    resources: str | tuple[str, ...]
    sid: str | None = None
    negated_actions: bool = False
    negated_resources: bool = False
    condition: Mapping[str, Any] | None = None

    def to_json_value(self) -> dict[str, Any]:
        value: dict[str, Any] = {}
        if self.sid is not None:
            value["Sid"] = self.sid
        value["Effect"] = self.effect
        value["NotAction" if self.negated_actions else "Action"] = list(self.actions)
        resources = self.resources if isinstance(self.resources, str) else list(self.resources)
        value["NotResource" if self.negated_resources else "Resource"] = resources
        if self.condition is not None:
            value["Condition"] = self.condition
        return value


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    """An identity-based policy document."""

    statements: tuple[Statement, ...]
    id: str | None = None

    def to_json_value(self) -> dict[str, Any]:
        value: dict[str, Any] = {"Version": POLICY_VERSION}
        if self.id is not None:
            value["Id"] = self.id
        value["Statement"] = [statement.to_json_value() for statement in self.statements]
        return value

    def to_json(self) -> str:
        """Compact JSON, the form sent to AWS."""
        return json.dumps(self.to_json_value(), separators=(",", ":"), ensure_ascii=False)

    @property
    def actions(self) -> tuple[str, ...]:
        """Every action named by an Action element, sorted, once each."""
        return tuple(sorted({a for s in self.statements if not s.negated_actions for a in s.actions}))


# Operators whose values :func:`with_condition` can intersect with those a statement already tests.
_INTERSECTED_OPERATORS = ("StringEquals", "IpAddress")


def with_condition(statement: Statement, operator: str, key: str, values: Sequence[str]) -> tuple[Statement, str]:
    """``statement`` also requiring ``{operator: {key: values}}``, or why it cannot: ``(statement, "")`` when done.

    IAM requires every key of every operator block, and any one value of a key. So the test goes in the
    statement's own block of ``operator`` beside its other keys, or in a new block. Where that block already
    tests ``key``, adding ``values`` to its list would widen the statement: its values become those both allow
    instead (for ``StringEquals`` the common strings, for ``IpAddress`` the common ranges). No value in common,
    or one that cannot be compared (a policy variable, a malformed range), is returned as the reason, with the
    statement unchanged. A Deny is returned as it is: a condition on it narrows the denial, so widens access.
    ``operator`` is ``StringEquals`` or ``IpAddress``.
    """
    if operator not in _INTERSECTED_OPERATORS:
        raise ValueError(f"with_condition cannot intersect {operator!r} tests")
    if statement.effect != "Allow":
        return statement, ""
    condition: dict[str, dict[str, Any]] = {name: dict(tests) for name, tests in (statement.condition or {}).items()}
    blocks = [name for name in condition if name.lower() == operator.lower()]
    for block in blocks:
        for tested, given in condition[block].items():
            if tested.lower() != key.lower():
                continue
            theirs = given if isinstance(given, list) else [given]
            common = _common_values(operator, theirs, values)
            if common is None:
                return statement, (
                    f"tests {tested} under {block} with {show(given)}, which cannot be compared with {show(list(values))}"
                )
            if not common:
                return statement, (
                    f"tests {tested} under {block} with {show(given)}, which has no value in common with "
                    f"{show(list(values))}: the statement would allow nothing"
                )
            if set(common) == set(theirs):
                return statement, ""  # its own test is already as narrow: left exactly as written
            condition[block][tested] = common
            return replace(statement, condition=condition), ""
    condition.setdefault(blocks[0] if blocks else operator, {})[key] = list(values)
    return replace(statement, condition=condition), ""


def _common_values(operator: str, theirs: Sequence[Any], ours: Sequence[str]) -> list[str] | None:
    """What both lists allow under ``operator`` (``theirs`` spelt as given), or ``None`` if they cannot be compared."""
    if not all(isinstance(value, str) for value in theirs):
        return None
    if operator == "StringEquals":
        if any("${" in value for value in theirs):  # a policy variable: its value is known only per request
            return None
        return [value for value in dict.fromkeys(theirs) if value in ours]
    try:
        their_ranges = [ipaddress.ip_network(value, strict=False) for value in theirs]
        our_ranges = [ipaddress.ip_network(value, strict=False) for value in ours]
    except ValueError:
        return None
    common: list[str] = []
    for their_text, their_range in zip(theirs, their_ranges, strict=True):
        for our_text, our_range in zip(ours, our_ranges, strict=True):
            if their_range.version != our_range.version:
                continue
            # Two ranges either nest or do not meet: what both allow is the smaller one.
            if their_range.subnet_of(our_range):  # type: ignore[arg-type]
                common.append(their_text)
            elif our_range.subnet_of(their_range):  # type: ignore[arg-type]
                common.append(our_text)
    return list(dict.fromkeys(common))


def check_actions(
    given: Sequence[Any], rules: ActionRules, *, where: str, suggestions: int = SUGGESTIONS_MAX
) -> tuple[tuple[str, ...], list[Problem], list[Notice]]:
    """Canonical, de-duplicated, sorted actions, or the problems with them.

    ``where`` names the list; each problem adds the item's index. A "did you mean" (or, for a wildcard, an
    example of what it matches) is searched for only until ``suggestions`` problems have been found.
    """
    problems: list[Problem] = []
    notices: list[Notice] = []
    accepted: set[str] = set()
    unlisted = {a.lower(): a for a in rules.allow_unlisted}
    catalogue = rules.catalogue
    if not given:
        problems.append(Problem(where, "[]", "grants nothing", "list at least one action"))
    for index, action in enumerate(given):
        place = f"{where}[{index}]"
        if not isinstance(action, str):
            problems.append(Problem(place, show(action), "is not a string", 'write actions as "service:Action"'))
            continue
        if action != "*" and not ACTION_SYNTAX.fullmatch(action):
            problems.append(_syntax_problem(action, place))
            continue
        suggest = len(problems) < suggestions
        if "*" in action or "?" in action:
            wildcard_problems = _wildcard_problems(action, rules, place, example=suggest)
            problems += wildcard_problems
            if not wildcard_problems:
                accepted.add(_lower_prefix(action))
            continue
        canonical = catalogue.canonical(action)
        if canonical is not None:
            accepted.add(canonical)
        elif action.lower() in unlisted:
            accepted.add(_lower_prefix(unlisted[action.lower()]))
            notices.append(
                Notice(
                    place,
                    f"{action!r} is not in the IAM catalogue ({catalogue.source}); accepted because "
                    "policy.allow_unlisted_actions lists it",
                )
            )
        else:
            problems.append(_unknown_action_problem(action, catalogue, place, suggest=suggest))
    return tuple(sorted(accepted)), problems, notices


def _syntax_problem(action: str, place: str) -> Problem:
    stripped = action.strip()
    if stripped != action and (stripped == "*" or ACTION_SYNTAX.fullmatch(stripped)):
        return Problem(
            place, show(action), "has spaces or line breaks around the action, which IAM refuses", f"write {stripped!r}"
        )
    return Problem(
        place, show(action), "is not an IAM action", 'write "service:ActionName", e.g. "ec2:DescribeInstances"'
    )


def _lower_prefix(action: str) -> str:
    prefix, colon, name = action.partition(":")
    return f"{prefix.lower()}{colon}{name}"


def _wildcard_problems(action: str, rules: ActionRules, place: str, *, example: bool) -> list[Problem]:
    if not rules.allow_wildcards:
        matched = rules.catalogue.matching(action) if example else []
        if example and not matched and action != "*":  # allowing wildcards would not make it right either
            return [
                Problem(
                    place,
                    show(action),
                    f"is a wildcard, and matches no action in the IAM catalogue ({rules.catalogue.source})",
                    "check the service prefix and the pattern, then list the actions the application needs",
                )
            ]
        example_text = f" (it matches {len(matched)} actions today, e.g. {', '.join(matched[:3])})" if matched else ""
        return [
            Problem(
                place,
                show(action),
                f"is a wildcard, which also grants every matching action AWS adds later{example_text}",
                "list the actions the application needs, or set policy.allow_wildcards = true",
            )
        ]
    if action != "*" and not rules.catalogue.matching(action):
        return [
            Problem(
                place,
                show(action),
                f"matches no action in the IAM catalogue ({rules.catalogue.source})",
                "check the service prefix and the pattern",
            )
        ]
    return []


def _unknown_action_problem(action: str, catalogue: Catalogue, place: str, *, suggest: bool) -> Problem:
    prefix, _, name = action.partition(":")
    service = catalogue.service(prefix)
    if service is None:
        guessed = catalogue.service(closest_match(prefix, catalogue.prefixes) or "") if suggest else None
        known = guessed.actions.get(name.lower()) if guessed else None
        if guessed is not None and known is not None:
            return Problem(
                place,
                show(action),
                f"names the unknown service {prefix!r}; did you mean '{guessed.prefix}:{known}'?",
                f"write '{guessed.prefix}:{known}'",
            )
        suggestion = f"; did you mean {guessed.prefix!r}?" if guessed else ""
        return Problem(
            place,
            show(action),
            f"names the unknown service {prefix!r}{suggestion}",
            "use a service prefix from the AWS Service Authorization Reference, such as 'ec2' or 's3'",
        )
    unknown = f"is not an action of {service.prefix!r} in the IAM catalogue ({catalogue.source})"
    match = closest_match(name, service.actions.values()) if suggest else None
    if match is None:
        return Problem(
            place, show(action), unknown, "list it in policy.allow_unlisted_actions if AWS added it after the catalogue"
        )
    return Problem(
        place,
        show(action),
        f"{unknown}; did you mean '{service.prefix}:{match}'?",
        f"write '{service.prefix}:{match}' (policy.allow_unlisted_actions is only for actions AWS added after "
        "the catalogue)",
    )


def parse_document(
    data: Any, rules: ActionRules, *, where: str
) -> tuple[PolicyDocument | None, list[Problem], list[Notice]]:
    """Check a policy document (parsed JSON) as IAM would for an identity policy, and normalise it."""
    if not isinstance(data, Mapping):
        return (
            None,
            [Problem(where, show(data), "is not a policy document or a list of actions", "see docs/policy.md")],
            [],
        )
    problems: list[Problem] = []
    for key in data:
        if key not in _DOCUMENT_KEYS:
            problems.append(
                Problem(
                    f"{where}: {key}",
                    "this key",
                    f"is not a policy document element{did_you_mean(key, _DOCUMENT_KEYS)}",
                    f"use only {', '.join(_DOCUMENT_KEYS)}",
                )
            )
    if data.get("Version") != POLICY_VERSION:
        problems.append(
            Problem(
                f"{where}: Version",
                show(data.get("Version")),
                "must be the current policy language version (older versions ignore policy variables)",
                f'write "Version": "{POLICY_VERSION}"',
            )
        )
    raw_statements = data.get("Statement")
    if isinstance(raw_statements, Mapping):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list) or not raw_statements:
        problems.append(
            Problem(
                f"{where}: Statement",
                show(raw_statements),
                "must be a statement or a non-empty list of them",
                "add a Statement",
            )
        )
        return None, problems, []
    statements: list[Statement] = []
    notices: list[Notice] = []
    for index, raw in enumerate(raw_statements):
        statement, statement_problems, statement_notices = _parse_statement(
            raw, rules, where=f"{where}: Statement[{index}]", suggestions=max(0, SUGGESTIONS_MAX - len(problems))
        )
        problems += statement_problems
        notices += statement_notices
        if statement is not None:
            statements.append(statement)
    problems += _duplicate_sid_problems(raw_statements, where)
    document_id = data.get("Id")
    if document_id is not None and not isinstance(document_id, str):
        problems.append(Problem(f"{where}: Id", show(document_id), "must be a string", "write a string or remove Id"))
    if problems:
        return None, problems, notices
    return PolicyDocument(tuple(statements), id=document_id), [], notices


def _parse_statement(
    raw: Any, rules: ActionRules, *, where: str, suggestions: int
) -> tuple[Statement | None, list[Problem], list[Notice]]:
    if not isinstance(raw, Mapping):
        return (
            None,
            [
                Problem(
                    where,
                    show(raw),
                    "is not a statement object",
                    'write {"Effect": ..., "Action": ..., "Resource": ...}',
                )
            ],
            [],
        )
    problems: list[Problem] = []
    for key in raw:
        if key in ("Principal", "NotPrincipal"):
            problems.append(
                Problem(
                    f"{where}.{key}",
                    show(raw[key]),
                    "belongs in resource or trust policies; an identity policy applies to the user it is attached to",
                    f"remove {key}",
                )
            )
        elif key not in _STATEMENT_KEYS:
            problems.append(
                Problem(
                    f"{where}.{key}",
                    "this key",
                    f"is not a statement element{did_you_mean(key, _STATEMENT_KEYS)}",
                    f"use only {', '.join(_STATEMENT_KEYS)}",
                )
            )
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        problems.append(
            Problem(f"{where}.Effect", show(effect), 'must be exactly "Allow" or "Deny"', "fix the spelling and case")
        )
    sid = raw.get("Sid")
    if sid is not None and (not isinstance(sid, str) or not _SID_SYNTAX.fullmatch(sid)):
        problems.append(Problem(f"{where}.Sid", show(sid), "may hold only letters and digits", "rename it"))
    action_key = _exactly_one(raw, "Action", "NotAction", where, problems)
    resource_key = _exactly_one(raw, "Resource", "NotResource", where, problems)
    actions: tuple[str, ...] = ()
    notices: list[Notice] = []
    if action_key is not None:
        given = raw[action_key]
        listed = [given] if isinstance(given, str) else given
        if not isinstance(listed, list):
            problems.append(
                Problem(
                    f"{where}.{action_key}",
                    show(given),
                    "must be a string or a list of strings",
                    "write a list of actions",
                )
            )
        else:
            actions, action_problems, notices = check_actions(
                listed, rules, where=f"{where}.{action_key}", suggestions=max(0, suggestions - len(problems))
            )
            problems += action_problems
    resources: str | tuple[str, ...] = "*"
    if resource_key is not None:
        given_resources = raw[resource_key]
        if isinstance(given_resources, str) and given_resources:
            resources = given_resources
        elif (
            isinstance(given_resources, list)
            and given_resources
            and all(isinstance(r, str) and r for r in given_resources)
        ):
            resources = tuple(dict.fromkeys(given_resources))
        else:
            problems.append(
                Problem(
                    f"{where}.{resource_key}",
                    show(given_resources),
                    "must be a non-empty string or list of strings",
                    'write "*" or ARNs',
                )
            )
        controls = control_characters("".join(resources))
        if controls:
            problems.append(
                Problem(
                    f"{where}.{resource_key}",
                    show(given_resources),
                    f"has control characters ({controls!r}), which are in no ARN and which IAM rejects",
                    "remove them",
                )
            )
    condition = raw.get("Condition")
    if condition is not None and not _is_condition(condition):
        problems.append(
            Problem(
                f"{where}.Condition",
                show(condition),
                "must map operators to {key: value or list of values}",
                'write e.g. {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}',
            )
        )
    elif condition is not None:
        problems += [
            _operator_problem(operator, f"{where}.Condition", suggest=len(problems) < suggestions)
            for operator in condition
            if not is_condition_operator(operator)
        ]
    if problems or action_key is None or resource_key is None:
        return None, problems, notices
    statement = Statement(
        effect=str(effect),
        actions=actions,
        resources=resources,
        sid=sid,
        negated_actions=action_key == "NotAction",
        negated_resources=resource_key == "NotResource",
        condition=condition,
    )
    return statement, [], notices


def _exactly_one(raw: Mapping[str, Any], key: str, negated: str, where: str, problems: list[Problem]) -> str | None:
    present = [k for k in (key, negated) if k in raw]
    if len(present) == 1:
        return present[0]
    if not present:
        problems.append(
            Problem(where, "", f"has neither {key} nor {negated}; a statement needs one of them", f"add {key}")
        )
    else:
        problems.append(
            Problem(
                where,
                "",
                f"has both {key} and {negated}, which are mutually exclusive",
                f"keep one of {key} and {negated}",
            )
        )
    return None


def _is_condition(value: Any) -> bool:
    if not isinstance(value, Mapping) or not value:
        return False
    for operator, tests in value.items():
        if not isinstance(operator, str) or not isinstance(tests, Mapping) or not tests:
            return False
        for test in tests.values():
            values = test if isinstance(test, list) else [test]
            if not values or not all(isinstance(v, str | bool | int | float) for v in values):
                return False
    return True


def is_condition_operator(operator: str) -> bool:
    """Whether IAM knows ``operator``: a base operator, maybe ending in IfExists (not Null), maybe set-prefixed."""
    set_operator, colon, base = operator.rpartition(":")
    if colon and set_operator.lower() not in _SET_LOWER:
        return False
    if base.lower() in _OPERATORS_LOWER:
        return True
    return base.lower().endswith(_IF_EXISTS.lower()) and base.lower()[: -len(_IF_EXISTS)] in _OPERATORS_LOWER - {"null"}


def _operator_problem(operator: str, where: str, *, suggest: bool) -> Problem:
    set_operator, colon, base = operator.rpartition(":")
    if_exists = base.lower().endswith(_IF_EXISTS.lower()) and base.lower() != "ifexists"
    stem = base[: -len(_IF_EXISTS)] if if_exists else base
    guess = closest_match(stem, CONDITION_OPERATORS) if suggest else None
    guessed_set = closest_match(set_operator, _SET_OPERATORS) if suggest and colon else None
    suggestion = ""
    if guess is not None and (guessed_set is not None or not colon) and not (guess == "Null" and if_exists):
        written = f"{guessed_set}:" if colon else ""
        suggestion = f"; did you mean '{written}{guess}{_IF_EXISTS if if_exists else ''}'?"
    return Problem(
        where,
        show(operator),
        f"is not an IAM condition operator{suggestion}",
        _OPERATORS_FIX,
    )


def _duplicate_sid_problems(raw_statements: list[Any], where: str) -> list[Problem]:
    seen: dict[str, int] = {}
    problems = []
    for index, raw in enumerate(raw_statements):
        sid = raw.get("Sid") if isinstance(raw, Mapping) else None
        if not isinstance(sid, str) or not sid:
            continue
        if sid in seen:
            problems.append(
                Problem(
                    f"{where}: Statement[{index}].Sid",
                    show(sid),
                    f"repeats the Sid of Statement[{seen[sid]}]; Sids must be unique",
                    "rename one",
                )
            )
        else:
            seen[sid] = index
    return problems
