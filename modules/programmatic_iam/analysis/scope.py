"""What a policy statement really allows, and whether its Resource and Condition narrow each action it grants.

IAM matches actions ignoring case, with ``*`` and ``?`` anywhere; ``NotAction`` grants everything it does not
name. A Resource scopes an action only when it leaves out some resources of the action's types (a concrete
partition, region or account does not count: an identity policy acts in its own account). A Condition scopes
an action only through a test that some request fails. docs/policy.md lists the shapes that count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
import fnmatch
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, collapse_addresses, ip_network
import itertools
import re
from typing import Any

from ..policy.catalogue import Catalogue
from ..policy.document import CONDITION_OPERATORS

NARROWING_GLOBAL_KEYS = ("aws:SourceIp", "aws:SourceVpc", "aws:SourceVpce", "aws:VpcSourceIp")
"""Global condition keys that scope every action: the network a request must come from, so a leaked key is
useless elsewhere. Other global keys do not: ``aws:SecureTransport`` and ``aws:MultiFactorAuthPresent`` say how,
``aws:RequestedRegion`` where (IAM is global, and a role gained in one region works in all of them),
``aws:PrincipalTag``, ``aws:PrincipalArn`` and ``aws:ResourceAccount`` hold for the identity's own account."""

NETWORK_KEYS = ("aws:SourceIp", "aws:VpcSourceIp")

MAX_SOURCE_ADDRESSES = {4: 2**24, 6: 2**112}
"""At most a /8 of IPv4 or a /16 of IPv6 in all: a wider source range is most of the internet."""

OPERATORS = tuple(operator for operator in CONDITION_OPERATORS if operator != "Null" and "Not" not in operator)
"""IAM's condition operators that say what a value must be. The others cannot narrow a grant: the negated
ones (``StringNotEquals``, ``NotIpAddress``, ``ArnNotLike``...) allow every value but a few, and ``Null`` tests
only whether a key is there. ``...IfExists`` holds whenever the key is missing (a request without tags, an
untagged resource, a call an AWS service makes for the identity), and ``ForAllValues:`` holds for a request
without the key, so neither narrows either."""

_TOKENS = ("xxxxxxxxxxxx", "yyyyyyyyyyyy")
"""Two names with no letter in common: a pattern that matches both whatever the name, matches every name."""
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}", re.IGNORECASE)
_ACCOUNT = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_MOST_PLACES = 64


@dataclass(frozen=True, slots=True)
class ConditionTest:
    """One test of a Condition block that narrows an action: its key (lower case) and the values it accepts."""

    key: str
    values: tuple[str, ...]


def as_strings(value: Any) -> list[str]:
    """A policy element that may be one string or a list, as a list of its strings."""
    if isinstance(value, str):
        return [value]
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def granted_actions(statement: Mapping[str, Any], catalogue: Catalogue) -> frozenset[str]:
    """Every action a statement names: its ``Action`` patterns expanded, and everything its ``NotAction`` leaves."""
    actions: set[str] = set()
    for pattern in as_strings(statement.get("Action")):
        actions |= expand(pattern, catalogue)
    if "NotAction" in statement:
        excluded = set().union(*(expand(pattern, catalogue) for pattern in as_strings(statement["NotAction"])))
        actions |= _all_actions(catalogue) - excluded
    return frozenset(actions)


def expand(pattern: str, catalogue: Catalogue) -> frozenset[str]:
    """The catalogue's actions ``pattern`` matches as IAM matches them: ignoring case, ``*`` and ``?`` anywhere.

    A name without a wildcard stands for itself (canonical, or in lower case when the catalogue lacks it).
    """
    if "*" not in pattern and "?" not in pattern:
        return frozenset({catalogue.canonical(pattern) or pattern.lower()})
    return _expand(catalogue, pattern)


@lru_cache(maxsize=1024)
def _expand(catalogue: Catalogue, pattern: str) -> frozenset[str]:
    matches = glob_matcher(pattern)
    prefix, colon, _ = pattern.partition(":")
    if colon and "*" not in prefix and "?" not in prefix:
        service = catalogue.service(prefix)
        services = [service] if service else []
    else:
        services = [service for service in map(catalogue.service, catalogue.prefixes) if service]
    return frozenset(
        f"{service.prefix}:{name}"
        for service in services
        for lowered, name in service.actions.items()
        if matches(f"{service.prefix}:{lowered}")
    )


@lru_cache(maxsize=4)
def _all_actions(catalogue: Catalogue) -> frozenset[str]:
    return _expand(catalogue, "*")


def on_every_resource(statement: Mapping[str, Any], action: str, catalogue: Catalogue) -> bool:
    """Whether a statement's resources leave ``action`` unscoped.

    ``NotResource`` never scopes (it grants everything it does not name), nor does a Resource that matches
    every resource of one of the action's types, whatever the partition, region and account
    (``*``, ``arn:aws:iam::*:user/*``, ``arn:*:iam::123456789012:*``). An action that works only on ``*``
    cannot be scoped by a Resource at all.
    """
    if "NotResource" in statement:
        return True
    patterns = as_strings(statement.get("Resource"))
    if not patterns or any(not pattern.replace("?", "*").strip("*") for pattern in patterns):
        return True
    formats = _arn_formats(catalogue, action)
    if not formats:
        return True
    return any(
        matches_every(pattern, arn_format)
        for pattern in patterns
        for arn_format in formats
        if _service_of(pattern) in (None, _service_of(arn_format))
    )


@lru_cache(maxsize=65536)
def _service_of(arn: str) -> str | None:
    """The service field of an ARN or ARN pattern, in lower case; ``None`` when a wildcard may stand for it."""
    fields = arn.split(":", 3)
    if len(fields) < 4 or fields[0].lower() != "arn" or "*" in "".join(fields[:3]) or "?" in "".join(fields[:3]):
        return None
    return fields[2].lower()


@lru_cache(maxsize=32768)
def _arn_formats(catalogue: Catalogue, action: str) -> tuple[str, ...]:
    return catalogue.arn_formats(action)


@lru_cache(maxsize=65536)
def matches_every(pattern: str, arn_format: str) -> bool:
    """Whether an ARN pattern matches every ARN of a format, in the partition, regions and accounts it names.

    ``?`` is read as ``*``: a pattern that differs only in the length of names it matches does not scope.
    """
    broadened = pattern.replace("?", "*")
    if not broadened.strip("*"):
        return bool(broadened)
    fields = broadened.split(":", 5)
    partition = fields[1] if len(fields) > 2 and fields[0].lower() == "arn" and "*" not in fields[1] else "aws"
    regions, accounts = set(_REGION.findall(broadened)), set(_ACCOUNT.findall(broadened))
    if (len(regions) + 1) * (len(accounts) + 2) > _MOST_PLACES:
        # No real ARN names that many places; judging every pairing would take too long, so it is unscoped.
        return True
    matches = glob_matcher(broadened)
    for region, account in itertools.product((*sorted(regions), None), (*sorted(accounts), "aws", None)):
        if all(matches(_probe(arn_format, token, partition, region, account)) for token in _TOKENS):
            return True
    return False


def _probe(arn_format: str, token: str, partition: str, region: str | None, account: str | None) -> str:
    """An ARN of the format, with ``token`` for every name (and for the region and account when not given)."""

    def value(placeholder: re.Match[str]) -> str:
        name = placeholder.group(1)
        if name == "Partition":
            return partition
        if name == "Region":
            return region or token
        if name in ("Account", "AccountId"):
            return account or token
        return token

    return _PLACEHOLDER.sub(value, arn_format)


def narrowing_tests(condition: Any, action: str, catalogue: Catalogue) -> tuple[ConditionTest, ...]:
    """The tests of a Condition block that narrow ``action``; IAM requires all of them, so one is enough.

    A test narrows when its operator is one of :data:`OPERATORS` (``ForAnyValue:`` allowed), its key is one of
    the action's condition keys or of :data:`NARROWING_GLOBAL_KEYS` (spelt exactly, ignoring ASCII case), and
    none of its values matches everything (``*``, ``arn:*``, every resource of a type, ``0.0.0.0/0``).
    """
    if not isinstance(condition, Mapping):
        return ()
    found = []
    for operator, tests in condition.items():
        base = _narrowing_operator(operator)
        if base is None or not isinstance(tests, Mapping):
            continue
        for key, raw in tests.items():
            if not isinstance(key, str) or not _is_key_of(key, action, catalogue):
                continue
            values = tuple(str(item) for item in (raw if isinstance(raw, list) else [raw]))
            if _values_narrow(base, key, values, action, catalogue):
                found.append(ConditionTest(key.lower(), values))
    return tuple(found)


def _narrowing_operator(operator: Any) -> str | None:
    """The operator without ``ForAnyValue:``, if it can narrow a grant; ``None`` if it cannot."""
    if not isinstance(operator, str):
        return None
    qualifier, _, base = operator.rpartition(":")
    return base if qualifier in ("", "ForAnyValue") and base in OPERATORS else None


def _is_key_of(key: str, action: str, catalogue: Catalogue) -> bool:
    templates = _templates_of(catalogue, key)
    return bool(templates) and not templates.isdisjoint(_keys_of(catalogue, action))


@lru_cache(maxsize=32768)
def _keys_of(catalogue: Catalogue, action: str) -> frozenset[str]:
    return frozenset((*catalogue.applicable_condition_keys(action), *NARROWING_GLOBAL_KEYS))


@lru_cache(maxsize=1024)
def _templates_of(catalogue: Catalogue, key: str) -> frozenset[str]:
    """Every condition key of the catalogue (as it spells them, ``${TagKey}`` and all) that ``key`` is."""
    return frozenset(template for template in _all_keys(catalogue) if _key_matcher(template)(key))


@lru_cache(maxsize=4)
def _all_keys(catalogue: Catalogue) -> frozenset[str]:
    keys: set[str] = set(NARROWING_GLOBAL_KEYS)
    for service in filter(None, map(catalogue.service, catalogue.prefixes)):
        for entry in (*service.privileges.values(), *service.resources.values()):
            types = entry.get("resource_types") or {}
            keys.update(entry.get("condition_keys", ()), *(of.get("condition_keys", ()) for of in types.values()))
    return frozenset(keys)


@lru_cache(maxsize=8192)
def _key_matcher(template: str) -> Callable[[str], object]:
    # ASCII case only: IAM ignores the case of a key, but a look-alike letter or an invisible soft hyphen
    # makes another key, one no request carries.
    return re.compile(
        ".+".join(re.escape(part) for part in _PLACEHOLDER.split(template)[::2]), re.IGNORECASE | re.ASCII | re.DOTALL
    ).fullmatch


def _values_narrow(operator: str, key: str, values: tuple[str, ...], action: str, catalogue: Catalogue) -> bool:
    if not values:
        return False
    if operator == "IpAddress" or key.lower() in (name.lower() for name in NETWORK_KEYS):
        return _networks_narrow(values)
    formats = _formats_near(catalogue, key, action)
    return not any(_matches_everything(value, formats) for value in values)


def _networks_narrow(values: Iterable[str]) -> bool:
    """Whether source networks leave out most of the internet (an invalid one leaves out nothing we can tell)."""
    try:
        networks = [ip_network(value, strict=False) for value in values]
    except ValueError:
        return False
    version_4 = collapse_addresses(network for network in networks if isinstance(network, IPv4Network))
    version_6 = collapse_addresses(network for network in networks if isinstance(network, IPv6Network))
    return (
        sum(network.num_addresses for network in version_4) <= MAX_SOURCE_ADDRESSES[4]
        and sum(network.num_addresses for network in version_6) <= MAX_SOURCE_ADDRESSES[6]
    )


@lru_cache(maxsize=4096)
def _formats_near(catalogue: Catalogue, key: str, action: str) -> tuple[str, ...]:
    """ARN formats a key's value may name: those of the key's service and of the action's resource types."""
    service = catalogue.service(key.partition(":")[0])
    of_service = (str(entry["arn"]) for entry in (service.resources if service else {}).values() if "arn" in entry)
    return tuple(sorted({*of_service, *catalogue.arn_formats(action)}))


def _matches_everything(value: str, formats: Iterable[str]) -> bool:
    """Whether a condition value matches any value at all, any service principal, or every ARN of a type."""
    broadened = value.replace("?", "*")
    if not broadened.strip("*"):
        return bool(broadened)
    if broadened in ("0.0.0.0/0", "::/0"):
        return True
    if "*" not in broadened:
        return False
    matches = glob_matcher(broadened)
    if any(all(matches(shape.format(token)) for token in _TOKENS) for shape in ("{}", "{}.amazonaws.com")):
        return True
    return any(matches_every(broadened, arn_format) for arn_format in formats)


@lru_cache(maxsize=4096)
def glob_matcher(pattern: str) -> Callable[[str], object]:
    """IAM's wildcard matching: ``*`` any run of characters, ``?`` any one, everything else literal, any case."""
    # fnmatch's translation matches each run between stars atomically, so `*a*a*...*b` cannot backtrack for
    # ever; its character classes are not IAM's, so a `[` is made a class of itself.
    return re.compile(fnmatch.translate(pattern.replace("[", "[[]")), re.IGNORECASE).match
