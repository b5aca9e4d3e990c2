"""Find, read and validate the configuration file, reporting every problem at once."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
import copy
import datetime
import os
from pathlib import Path
import tomllib
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ..errors import SUGGESTIONS_MAX, ConfigError, Problem, did_you_mean, key_path, show, table_name
from ..escaping import token_marker_problems
from ..files import MAX_CONFIG_BYTES, RefusedError, kind_of, read_text
from .model import IdentityConfig, keyed_by, layer_of, nested_model, refused_keys

DEFAULT_CONFIG_FILE = "iam.toml"
CONFIG_FILE_VARIABLE = "IAM_CONFIG"
_MISSING = "is missing"
NESTING_MAX = 12
"""Tables and arrays in each other; the deepest key needs 8
(``identities[0].environment.production.policy.hardening.regions[0]``)."""
# pydantic's type errors in TOML's words.
_EXPECTED = {
    "string_type": 'text in quotes, such as "value"',
    "bool_type": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "tuple_type": 'a list, such as ["a", "b"]',
    "list_type": 'a list, such as ["a", "b"]',
    "dict_type": 'a table, such as { key = "value" }',
    "model_type": "a table",
}


def load_config(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> IdentityConfig:
    """Load ``$IAM_CONFIG``, else ``iam.toml`` in ``cwd``, else the built-in default.

    Raises :class:`ConfigError` listing every problem found.
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    named = environ.get(CONFIG_FILE_VARIABLE, "")
    if named:
        path = cwd / named
        kind = kind_of(path)
        if kind is not None and not kind.startswith("unreadable"):  # unreadable: load_config_file says why
            raise ConfigError(
                [
                    Problem(
                        where=f"${CONFIG_FILE_VARIABLE}",
                        given=show(named),
                        why="no such file" if kind == "missing" else f"is {kind}, not a file",
                        fix=f"point {CONFIG_FILE_VARIABLE} at an existing TOML file, or unset it to use "
                        f"{DEFAULT_CONFIG_FILE} or the built-in default",
                    )
                ]
            )
        return load_config_file(path, shown_as=named)
    default = cwd / DEFAULT_CONFIG_FILE
    kind = kind_of(default)
    if kind == "missing":
        return parse_config({}, origin="<built-in default>", base_dir=cwd)
    if kind is not None and not kind.startswith("unreadable"):  # a folder, a dangling link: never "the default"
        raise ConfigError(
            [
                Problem(
                    where=DEFAULT_CONFIG_FILE,
                    given="",
                    why=f"is {kind}, not a file",
                    fix=f"make {DEFAULT_CONFIG_FILE} a TOML file, or remove it to use the built-in default",
                )
            ]
        )
    return load_config_file(default, shown_as=DEFAULT_CONFIG_FILE)


def load_config_file(path: Path, shown_as: str | None = None) -> IdentityConfig:
    """Read and validate one TOML configuration file."""
    origin = shown_as or str(path)
    try:
        # A byte-order mark, as Windows editors write, is allowed (read_text's default encoding).
        raw = tomllib.loads(read_text(path, limit=MAX_CONFIG_BYTES))
    except RefusedError as refused:
        raise ConfigError([refused.problem(origin, "the file")]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            [Problem(where=origin, given="the file", why=f"is not valid TOML ({error})", fix="fix the TOML syntax")]
        ) from None
    except RecursionError:
        raise ConfigError(
            [Problem(where=origin, given="the file", why="nests arrays or tables too deeply", fix="flatten it")]
        ) from None
    return parse_config(raw, origin=origin, base_dir=path.parent.resolve())


def parse_config(raw: Mapping[str, Any], *, origin: str, base_dir: Path) -> IdentityConfig:
    """Validate already-parsed configuration data; unknown keys and bad values are all reported."""
    too_deep = _nesting_problem(raw, origin)
    if too_deep is not None:
        raise ConfigError([too_deep])
    problems = [
        _unknown_key_problem(origin, path, key, fields, suggest=count < SUGGESTIONS_MAX)
        if refusal is None
        else Problem(f"{origin}: {path}", "this key", *refusal)
        for count, (path, key, fields, refusal) in enumerate(_unknown_keys(raw, IdentityConfig, prefix=()))
    ]
    problems += token_marker_problems(raw, origin)
    config: IdentityConfig | None = None
    try:
        config = IdentityConfig.model_validate(raw)
    except ValidationError as error:
        problems.extend(_validation_problems(error, origin))
        config, hidden = _salvage(raw, error, origin)
        problems.extend(hidden)
    if config is not None:
        config._origin = origin
        config._base_dir = base_dir
    if problems or config is None:
        raise ConfigError(_deduplicated(problems), partial=config)
    return config


def _nesting_problem(raw: Mapping[str, Any], origin: str) -> Problem | None:
    """A problem for tables or arrays nested deeper than any key needs, found without recursion.

    TOML's dotted keys nest without limit (``[a.a.a...]`` 500 deep parses), and every later step walks
    the data recursively: a depth no configuration needs is refused here, before any of them.
    """
    pending: list[tuple[Any, int, str]] = [(raw, 0, "")]
    while pending:
        value, depth, path = pending.pop()
        if depth > NESTING_MAX:
            return Problem(
                where=f"{origin}: {path}",
                given="",
                why=f"nests tables or arrays more than {NESTING_MAX} deep, deeper than any configuration key",
                fix="remove the extra levels (docs/configuration.md lists every key)",
            )
        if isinstance(value, Mapping):
            pending += [(item, depth + 1, key_path(path, str(key))) for key, item in value.items()]
        elif isinstance(value, list):
            pending += [(item, depth + 1, key_path(path, index)) for index, item in enumerate(value)]
    return None


def _salvage(
    raw: Mapping[str, Any], error: ValidationError, origin: str
) -> tuple[IdentityConfig | None, list[Problem]]:
    """The config without the values that failed (so they take their defaults), for the checks that follow.

    Also returns the problems that showed only once those values were gone: a check over a whole list
    (duplicate environments) runs only when every item in it is valid.
    """
    data: Any = copy.deepcopy(dict(raw))
    hidden: list[Problem] = []
    # Where each environment and identity left stands in the file, so that later checks name it by its own index.
    indices = {key: list(range(len(data[key]))) for key in _INDEXED_LISTS if isinstance(data.get(key), list)}
    dropped_environments: set[str] = set()
    for _ in range(4):
        # Deepest and highest index first, indices compared as numbers: deleting item 9 before item 10
        # would shift 10 onto 9 and delete a good item instead.
        locations = sorted({tuple(d["loc"]) for d in error.errors()}, key=_location_order, reverse=True)
        if not locations or () in locations:
            return None, hidden
        for location in locations:
            target = location if _exists(data, location) else location[:-1]
            if len(target) == 2 and target[0] in indices and _exists(data, target) and indices[str(target[0])]:
                del indices[str(target[0])][int(target[1])]
                entry = data[target[0]][target[1]]
                if target[0] == "environments" and isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
                    dropped_environments.add(entry["name"])
            _delete(data, target)
        try:
            config = IdentityConfig.model_validate(data)
        except ValidationError as again:
            error = again
            # "missing" here means a value this loop deleted, not one the user left out.
            hidden += [p for p in _validation_problems(again, origin) if p.why != _MISSING]
            continue
        if isinstance(data.get("environments"), list):  # not taken from the defaults
            config._environment_indices = tuple(indices.get("environments", ()))
        if isinstance(data.get("identities"), list):
            config._identity_indices = tuple(indices.get("identities", ()))
        config._dropped_environments = frozenset(dropped_environments)
        return config, hidden
    return None, hidden


_INDEXED_LISTS = ("environments", "identities")


def _location_order(location: tuple[int | str, ...]) -> list[tuple[int, str]]:
    return [(part, "") if isinstance(part, int) else (-1, str(part)) for part in location]


def _exists(data: Any, location: tuple[int | str, ...]) -> bool:
    for part in location:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return False
    return True


def _delete(data: Any, location: tuple[int | str, ...]) -> None:
    if not location or not _exists(data, location):
        return
    if location == ("identities",):
        # A fleet whose identities are all refused stays a fleet, of none: the file's top level is not an identity.
        data["identities"] = []
        return
    container = data
    for part in location[:-1]:
        container = container[part]
    del container[location[-1]]
    if isinstance(container, list) and not container:
        _delete(data, location[:-1])  # an emptied list (no environments left) takes its default


_Refusal = tuple[frozenset[str], str, str]
_NOTHING_REFUSED: _Refusal = (frozenset(), "", "")


def _unknown_keys(
    raw: Any, model: type[BaseModel], prefix: tuple[str | int, ...], refused: _Refusal = _NOTHING_REFUSED
) -> Iterator[tuple[str, str, tuple[str, ...], tuple[str, str] | None]]:
    """Each key that ``model`` does not have, or that this place may not set (``refused``): its key path, the
    key, the keys it could have been, and for a refused key why and what to do instead.

    A fleet's layer tables (``[environments.access_key]``, ``[identities.naming]``) are checked against the
    section they set; ``identities.environment`` against an identity's settings, under each environment's name.
    """
    if not isinstance(raw, Mapping):
        return
    fields = model.model_fields
    for key, value in raw.items():
        path = (*prefix, str(key))
        if key not in fields:
            yield key_path(*path), str(key), tuple(fields), None
            continue
        if key in refused[0]:
            yield key_path(*path), str(key), tuple(fields), refused[1:]
            continue
        field = fields[key]
        section = layer_of(field)
        nested = nested_model(IdentityConfig.model_fields[section].annotation if section else field.annotation)
        if nested is None:
            continue
        if keyed_by(field) is not None and isinstance(value, Mapping):
            for name, item in value.items():
                yield from _unknown_keys(item, nested, (*path, table_name(str(name))))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from _unknown_keys(item, nested, (*path, index))
        else:
            yield from _unknown_keys(value, nested, path, refused_keys(field))


def _unknown_key_problem(origin: str, path: str, key: str, fields: tuple[str, ...], *, suggest: bool) -> Problem:
    return Problem(
        where=f"{origin}: {path}",
        given="this key",
        why=f"is not a configuration key{did_you_mean(key, fields) if suggest else ''}",
        fix=f"use one of {', '.join(fields)} (docs/configuration.md lists every key)",
    )


def _validation_problems(error: ValidationError, origin: str) -> Iterator[Problem]:
    for detail in error.errors(include_url=False):
        if detail["type"] == "extra_forbidden":
            continue  # reported with a suggestion by _unknown_key_problem
        yield validation_problem(detail, origin, _location(detail["loc"]))


def validation_problem(detail: ErrorDetails, origin: str, location: str) -> Problem:
    """pydantic's error ``detail`` as a problem of the key at ``location`` (``key_path`` form) in ``origin``."""
    given = "" if detail["type"] == "missing" or _is_table(detail["input"]) else _as_toml(detail["input"])
    if detail["type"] in ("tuple_type", "list_type") and isinstance(detail["input"], Mapping):
        why = f"is a single [{location}] table, but a list of tables is expected"
        fix = f"write [[{location}]] (double brackets) before each entry"
    elif detail["type"] in ("model_type", "dict_type") and isinstance(detail["input"], list):
        why = f"is a list of tables ([[{location}]]), but a single table is expected"
        fix = f"write [{location}] (single brackets), once"
    else:
        why, fix = _why_and_fix(detail["type"], detail["msg"])
    return Problem(where=f"{origin}: {location or '(top level)'}", given=given, why=why, fix=fix)


def _as_toml(value: Any) -> str:
    """A given value as the user wrote it in TOML (``true``, ``1979-05-27``), not as Python shows it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return show(value)


def _is_table(value: Any) -> bool:
    """A TOML table or array of tables: shown by its key rather than by its (long) value."""
    return isinstance(value, Mapping) or (
        isinstance(value, list | tuple) and any(isinstance(v, Mapping) for v in value)
    )


def _location(loc: tuple[int | str, ...]) -> str:
    return key_path(*location_parts(loc))


def location_parts(loc: tuple[int | str, ...]) -> tuple[str | int, ...]:
    """The key of pydantic's error location ``loc``, without the validators' own steps (``function-after[...]``)."""
    return tuple(part for part in loc if isinstance(part, int) or not str(part).startswith("function-"))


def _why_and_fix(kind: str, message: str) -> tuple[str, str]:
    message = message.removeprefix("Value error, ")
    if kind == "missing":
        return _MISSING, "add it"
    if "; " in message and kind == "value_error":
        why, _, fix = message.rpartition("; ")
        return why, fix
    if kind in _EXPECTED:
        return f"should be {_EXPECTED[kind]}", f"write {_EXPECTED[kind]} (the key reference in docs/configuration.md)"
    message = message.removeprefix("Input ").removeprefix("Tuple ")
    message = message[:1].lower() + message[1:]
    if kind.endswith("_type"):
        return message, "write a value of that type (the key reference in docs/configuration.md)"
    return message, "see the key reference in docs/configuration.md for the allowed values"


def _deduplicated(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
