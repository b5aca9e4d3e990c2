"""The fleet: each identity in each of its environments, its settings merged from the file's layers, each value
knowing the key it was written at (as ``git config --show-origin`` does).

A file is read in layers, most specific last: the built-in defaults, the top level, the stack's
``[[environments]]`` entry (``access_key``, ``user``, ``policy.hardening``, ``tags``), the ``[[identities]]``
entry, and that entry's ``[identities.environment.<environment>]``. A table is merged key by key; a list or a
value replaces. Two settings are one choice each: a layer that sets a policy source (``actions``, ``file``,
``template``) replaces the source it would inherit, and a layer that sets ``access_key.delivery`` leaves behind an
inherited ``pgp_key`` or ``kms_key_id`` that its delivery does not use.

Everything after this module takes a :class:`StackConfig` as any :class:`IdentityConfig` and never sees a
layer: only where a problem is named (:meth:`IdentityConfig.where`) and :func:`explain` ask where a value
came from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
import copy
from dataclasses import dataclass
import json
from pathlib import Path
import re
from typing import Any

from pydantic import BaseModel, PrivateAttr, ValidationError
from pydantic_core import ErrorDetails

from ..errors import ConfigError, Problem, did_you_mean, key_path, show, table_name
from .loader import load_config, load_config_file, location_parts, parse_config, validation_problem
from .model import Environment, IdentityConfig, IdentityEntry, nested_model, origin_key

IDENTITY_SECTIONS = ("kind", "naming", "policy", "user", "access_key", "tags")
"""What an identity may set for itself, and for itself in one environment; the rest of the file is the fleet's."""
ENVIRONMENT_SECTIONS = ("access_key", "user", "policy")
"""What an ``[[environments]]`` entry may set for every identity there (of ``policy``, only ``hardening``)."""
FLEET_SECTIONS = ("backend", "cloud", "terraform")
"""Set at the top level only: the same for every stack."""
POLICY_SOURCES = ("actions", "file", "template")
DELIVERY_SETTINGS = {"pgp_key": ("pgp",), "kms_key_id": ("secretsmanager", "ssm")}
"""The settings of ``access_key`` that only some deliveries use: not inherited past a layer choosing another."""
DEFAULT = "(default)"
"""How :func:`explain` shows a value nobody wrote."""
_SALVAGE_ROUNDS = 4

Origins = dict[tuple[str, ...], str]
"""Where each value of a stack was written: effective key (``("access_key", "generation")``) -> written key
(``identities[1].environment.production.access_key.generation``); a table's entry names the most specific
layer that wrote into it."""


class StackConfig(IdentityConfig):
    """The effective configuration of one stack: one identity in one environment, every layer merged.

    It is an :class:`IdentityConfig` with exactly one environment and the identity's name as ``naming.name``,
    so everything downstream reads it as such. Where each value was written: :meth:`written_key` and
    :meth:`where` (for problems), :func:`explain` (every setting).
    """

    _identity_index: int | None = PrivateAttr(default=None)

    @property
    def environment(self) -> Environment:
        """The stack's environment (its entry, without the settings it gives its identities)."""
        return self.environments[0]

    @property
    def identity(self) -> str:
        """The identity's name: what templates see as ``name``, and its ``programmatic-iam:identity`` tag."""
        return self.naming.name

    @property
    def identity_key(self) -> str | None:
        """The identity's entry, ``identities[1]``; ``None`` for the one identity of a file without [[identities]]."""
        return None if self._identity_index is None else key_path("identities", self._identity_index)

    @property
    def label(self) -> str:
        """The stack in a sentence: ``environment 'production'``, or ``identity 'backup' in environment 'production'``."""
        environment = f"environment {self.environment.name!r}"
        return environment if self._identity_index is None else f"identity {self.identity!r} in {environment}"

    def written_at(self, *key: str) -> str | None:
        """The key the value at ``key`` (a value, not a table) was written at; ``None`` for a built-in default."""
        origins = self._origins or {}
        return origins.get(tuple(piece for part in key for piece in part.split(".")))


@dataclass(frozen=True, slots=True)
class Fleet:
    """A configuration file resolved: one :class:`StackConfig` per identity and environment."""

    config: IdentityConfig
    """The file's top level as validated: environments, backend, cloud, terraform, and the settings every identity
    starts from. Not a stack's configuration: read each stack's from :attr:`stacks`."""
    stacks: tuple[StackConfig, ...]
    """In identity order (as in the file), then environment order (as in the file)."""
    identities: tuple[str, ...]
    """The identities' names, in file order (only the one named by ``naming.name`` without [[identities]])."""
    explicit: bool
    """Whether the file has [[identities]] (``False``: one identity, named by ``naming.name``, as before fleets)."""

    @property
    def origin(self) -> str:
        """The configuration file as the user named it, or ``<built-in default>``."""
        return self.config.origin

    def by_stack(self) -> dict[tuple[str, str], StackConfig]:
        """Each stack's configuration by ``(identity, environment)``, as a blueprint's stack names them
        (``identity_name``, ``environment``)."""
        return {(stack.identity, stack.environment.name): stack for stack in self.stacks}

    def select(self, identity: str | None = None, environment: str | None = None) -> tuple[StackConfig, ...]:
        """The stacks of ``identity`` in ``environment`` (``None``: any), as ``--identity`` and ``--environment``
        choose them; a :class:`ConfigError` about the command line names one that matches no stack."""
        problems: list[Problem] = []
        environments = [e.name for e in self.config.environments]
        if identity is not None and identity not in self.identities:
            problems.append(_unknown("--identity", identity, "an identity of the configuration", self.identities))
        if environment is not None and environment not in environments:
            problems.append(_unknown("--environment", environment, "an environment of the configuration", environments))
        selected = tuple(
            stack
            for stack in self.stacks
            if identity in (None, stack.identity) and environment in (None, stack.environment.name)
        )
        if not problems and not selected:  # an identity not deployed there, or (--environment alone) none is
            deployed = list(dict.fromkeys(s.environment.name for s in self.stacks if identity in (None, s.identity)))
            of = f"identity {identity!r}" if identity is not None else "any identity"
            problems.append(_unknown("--environment", str(environment), f"an environment of {of}", deployed))
        if problems:
            raise ConfigError(problems, subject="the command line")
        return selected


@dataclass(frozen=True, slots=True)
class Setting:
    """One effective setting of a stack, and where it was written."""

    key: str
    """Dotted, as in the file's top level: ``access_key.generation``, ``tags.team``."""
    value: Any
    written_at: str | None
    """The key it was written at (``environments[0].access_key.delivery``); ``None``: the built-in default."""


NOT_FOR_INSTANCE_PROFILES = ("access_key", "user.adopt", "user.attach_policies_to", "user.force_destroy")
"""The settings of a user and its key, which an instance profile (a role, no key) does not use: an environment's
``access_key.delivery`` reaches it without effect (docs/instance-profile.md)."""


def explain(stack: StackConfig) -> tuple[Setting, ...]:
    """Every setting of ``stack`` that has a value and is used, in the reference's order, each with the key it came
    from.

    The environment's own keys (``region``, ``account_id``, ...) are not repeated: they are the entry's. An
    instance profile's leaves out :data:`NOT_FOR_INSTANCE_PROFILES`.
    """
    settings: list[Setting] = []
    for name in IdentityConfig.model_fields:
        if name in IDENTITY_SECTIONS or name in FLEET_SECTIONS:
            settings += _settings(stack, (name,), getattr(stack, name))
    if stack.kind == "instance-profile":
        settings = [s for s in settings if not any(_within(s.key, unused) for unused in NOT_FOR_INSTANCE_PROFILES)]
    return tuple(settings)


def _within(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith(prefix + ".")


def _settings(stack: StackConfig, key: tuple[str, ...], value: Any) -> Iterator[Setting]:
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _settings(stack, (*key, name), getattr(value, name))
    elif isinstance(value, dict) and value:
        for name, item in value.items():
            yield Setting(_dotted((*key, name)), item, stack.written_at(*key, name))
    elif value is not None:
        yield Setting(_dotted(key), value, stack.written_at(*key))


def _dotted(key: tuple[str, ...]) -> str:
    return ".".join(table_name(part) for part in key)


def resolve_fleet(config: IdentityConfig) -> Fleet:
    """Every stack's effective configuration, from ``config`` as the loader validated it (the file's top level).

    Raises :class:`ConfigError` with every problem of the layers and of the fleet's shape (names, environments),
    each named at the key it was written at and reported once however many stacks inherit it; its ``partial``
    is the :class:`Fleet` of what resolved, for the checks that follow.
    """
    return _Resolution(config).fleet()


def load_fleet(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Fleet:
    """:func:`~programmatic_iam.config.load_config` (``$IAM_CONFIG``, ``iam.toml``, the built-in default), resolved
    into its fleet; one :class:`ConfigError` with the problems of both steps (``partial``: a :class:`Fleet`)."""
    return _fleet_of(lambda: load_config(environ, cwd))


def load_fleet_file(path: Path, shown_as: str | None = None) -> Fleet:
    """One TOML configuration file, resolved into its fleet (as :func:`load_fleet`)."""
    return _fleet_of(lambda: load_config_file(path, shown_as))


def parse_fleet(raw: Mapping[str, Any], *, origin: str, base_dir: Path) -> Fleet:
    """Already-parsed configuration data, resolved into its fleet (as :func:`load_fleet`)."""
    return _fleet_of(lambda: parse_config(raw, origin=origin, base_dir=base_dir))


def _fleet_of(load: Callable[[], IdentityConfig]) -> Fleet:
    try:
        config = load()
    except ConfigError as error:
        if not isinstance(error.partial, IdentityConfig):
            raise
        problems = list(error.problems)
        fleet: Fleet | None
        try:
            fleet = resolve_fleet(error.partial)
        except ConfigError as more:
            problems += more.problems
            fleet = more.partial if isinstance(more.partial, Fleet) else None
        raise ConfigError(list(dict.fromkeys(problems)), partial=fleet, notices=error.notices) from None
    return resolve_fleet(config)


@dataclass(frozen=True, slots=True)
class _Layer:
    """Settings of some sections, written under ``prefix`` (``environments[0]``, ``identities[1]``, ``""``)."""

    prefix: str
    sections: Mapping[str, Any]

    def written(self, key: tuple[str, ...]) -> str:
        return key_path(self.prefix, *(table_name(part) for part in key))


class _Resolution:
    """One resolution of a file: its layers checked once each, each distinct merge validated once."""

    def __init__(self, config: IdentityConfig) -> None:
        self.config = config
        self.origin = config.origin
        self.problems: list[Problem] = []
        self.validated: dict[str, tuple[IdentityConfig, tuple[tuple[tuple[str | int, ...], ErrorDetails], ...]]] = {}

    def fleet(self) -> Fleet:
        config = self.config
        explicit = "identities" in config.model_fields_set
        top = config.model_dump(include=set(IDENTITY_SECTIONS), exclude_unset=True)
        if explicit and "name" in config.naming.model_fields_set:
            self.problems.append(
                Problem(
                    f"{self.origin}: naming.name",
                    show(config.naming.name),
                    "does nothing in a file with [[identities]]: each identity is named by its own name",
                    "remove naming.name (a single identity keeps its name as identities.name)",
                )
            )
            top["naming"].pop("name", None)
        base = _Layer("", top)
        fleet_origins = {
            key: key_path(*key) for key in _leaves(config.model_dump(include=set(FLEET_SECTIONS), exclude_unset=True))
        }
        by_environment = {e.name: self._environment_layer(e) for e in config.environments}
        stacks: list[StackConfig] = []
        names: list[str] = []
        if not explicit:
            names.append(config.naming.name)
            for position, environment in enumerate(config.environments):
                stacks.append(self._stack(position, [base, by_environment[environment.name]], None, fleet_origins))
        else:
            if not config.identities and config._identity_indices is None:
                self.problems.append(
                    Problem(
                        f"{self.origin}: identities",
                        "[]",
                        "lists no identity, so nothing would be deployed",
                        "add [[identities]] entries, each with its name, or remove identities to deploy one identity "
                        "named by naming.name",
                    )
                )
            seen: dict[str, str] = {}
            for position, entry in enumerate(config.identities):
                index = config.identity_index(position)
                prefix = key_path("identities", index)
                if entry.name.casefold() in seen:
                    self.problems.append(
                        Problem(
                            f"{self.origin}: {prefix}.name",
                            show(entry.name),
                            f"is also the name of {seen[entry.name.casefold()]}; identity names are compared ignoring "
                            "case, as IAM compares the names made from them",
                            "give each identity a name of its own",
                        )
                    )
                    continue
                seen[entry.name.casefold()] = f"{prefix} ({entry.name!r})"
                names.append(entry.name)
                deployed = self._deployed(entry, prefix)
                own = self._layer(prefix, _identity_sections(entry))
                in_environment = {
                    name: self._layer(f"{prefix}.environment.{table_name(name)}", _identity_sections(settings))
                    for name, settings in entry.environment.items()
                }
                for position_in_file, environment in enumerate(config.environments):
                    if environment.name not in deployed:
                        continue
                    layers = [base, by_environment[environment.name], own]
                    if environment.name in in_environment:
                        layers.append(in_environment[environment.name])
                    identity = (index, entry.name, f"{prefix}.name")
                    stacks.append(self._stack(position_in_file, layers, identity, fleet_origins))
        fleet = Fleet(config, tuple(stacks), tuple(names), explicit)
        if self.problems:
            raise ConfigError(list(dict.fromkeys(self.problems)), partial=fleet)
        return fleet

    def _environment_layer(self, environment: Environment) -> _Layer:
        sections: dict[str, Any] = {
            name: getattr(environment, name) for name in ENVIRONMENT_SECTIONS if getattr(environment, name) is not None
        }
        if "policy" in sections:  # the loader refused the rest
            sections["policy"] = {k: v for k, v in sections["policy"].items() if k == "hardening"}
        if environment.tags:
            sections["tags"] = environment.tags
        return self._layer(self.config.environment_key(environment), sections)

    def _layer(self, prefix: str, sections: dict[str, Any]) -> _Layer:
        """The layer's settings checked on their own, once: each bad value is a problem at its key, and is left
        out (the stacks then take it from the layers below). Conflicts between keys wait for the merge, where a
        more specific layer may resolve them."""
        data = copy.deepcopy(sections)
        for _ in range(_SALVAGE_ROUNDS):
            try:
                IdentityConfig.model_validate(data)
            except ValidationError as error:
                details = [d for d in error.errors(include_url=False) if not _is_conflict(d)]
                if not details:
                    break
                for detail in details:
                    if detail["type"] != "extra_forbidden":  # the loader named the key, with a suggestion
                        location = key_path(prefix, *location_parts(detail["loc"]))
                        self.problems.append(validation_problem(detail, self.origin, location))
                _delete_all(data, [location_parts(d["loc"]) for d in details])
                continue
            break
        return _Layer(prefix, data)

    def _deployed(self, entry: IdentityEntry, prefix: str) -> set[str]:
        """The environments ``entry`` is deployed to; a problem for each name that is none."""
        known = [environment.name for environment in self.config.environments]
        dropped = self.config._dropped_environments
        if entry.environments is None:
            deployed = set(known)
        else:
            deployed = set()
            if not entry.environments:
                self.problems.append(
                    Problem(
                        f"{self.origin}: {prefix}.environments",
                        "[]",
                        "names no environment, so the identity would be deployed nowhere",
                        "list its environments, or leave environments out to deploy it to every one",
                    )
                )
            for position, name in enumerate(entry.environments):
                if name in deployed:
                    self.problems.append(
                        Problem(
                            f"{self.origin}: {prefix}.environments[{position}]",
                            show(name),
                            "is listed twice",
                            "list each environment once",
                        )
                    )
                elif name in known:
                    deployed.add(name)
                elif name not in dropped:  # an entry refused for its own problems is not blamed twice
                    self.problems.append(
                        _unknown(f"{self.origin}: {prefix}.environments[{position}]", name, "an environment", known)
                    )
        for name in entry.environment:
            where = f"{self.origin}: {prefix}.environment.{table_name(name)}"
            if name not in known and name not in dropped:
                self.problems.append(_unknown(where, name, "an environment", known, given_as="this table"))
            elif name in known and name not in deployed:
                self.problems.append(
                    Problem(
                        where,
                        "this table",
                        f"sets the identity's settings in {name!r}, an environment it is not deployed to "
                        f"({prefix}.environments), so they would do nothing",
                        f"add {name!r} to {prefix}.environments, or remove the table",
                    )
                )
        return deployed

    def _stack(
        self,
        position: int,
        layers: Sequence[_Layer],
        identity: tuple[int, str, str] | None,
        fleet_origins: Origins,
    ) -> StackConfig:
        merged, origins = _merge(layers)
        if identity is not None:
            _, name, written = identity
            merged.setdefault("naming", {})["name"] = name
            origins[("naming", "name")] = written
        sections, details = self._validated(merged)
        for location, detail in details:
            written = _conflict_origin(origins, location, detail) or origin_key(origins, *location)
            self.problems.append(validation_problem(detail, self.origin, written))
        origins.update(fleet_origins)
        config = self.config
        environment = config.environments[position]
        values = {name: getattr(config, name) for name in IdentityConfig.model_fields}
        values.update({name: getattr(sections, name) for name in IDENTITY_SECTIONS})
        values["environments"] = (environment.model_copy(update=dict.fromkeys(ENVIRONMENT_SECTIONS)),)
        values["identities"] = ()
        stack = StackConfig.model_construct(
            _fields_set=(config.model_fields_set - {"identities"}) | sections.model_fields_set, **values
        )
        stack._origin = config.origin
        stack._base_dir = config.base_dir
        stack._environment_indices = (config.environment_index(position),)
        stack._origins = origins
        stack._identity = identity[1] if identity is not None else None
        stack._identity_index = identity[0] if identity is not None else None
        return stack

    def _validated(
        self, merged: dict[str, Any]
    ) -> tuple[IdentityConfig, tuple[tuple[tuple[str | int, ...], ErrorDetails], ...]]:
        """The merged settings validated, with what failed (by effective key) left at its default; each distinct
        merge once, however many stacks share it."""
        fingerprint = json.dumps(merged, sort_keys=True, default=repr)
        if fingerprint in self.validated:
            return self.validated[fingerprint]
        data = copy.deepcopy(merged)
        found: list[tuple[tuple[str | int, ...], ErrorDetails]] = []
        result = IdentityConfig()
        for _ in range(_SALVAGE_ROUNDS):
            try:
                result = IdentityConfig.model_validate(data)
                break
            except ValidationError as error:
                details = error.errors(include_url=False)
                found += [(location_parts(d["loc"]), d) for d in details if d["type"] != "missing"]
                _delete_all(data, [location_parts(d["loc"]) for d in details])
        self.validated[fingerprint] = (result, tuple(found))
        return self.validated[fingerprint]


def _identity_sections(entry: BaseModel) -> dict[str, Any]:
    """An identity's own settings (or its settings in one environment), ``naming.name`` left out (refused)."""
    sections = {name: getattr(entry, name) for name in IDENTITY_SECTIONS if getattr(entry, name) is not None}
    if "naming" in sections:
        sections["naming"] = {k: v for k, v in sections["naming"].items() if k != "name"}
    return sections


def _merge(layers: Sequence[_Layer]) -> tuple[dict[str, Any], Origins]:
    """The layers merged, least specific first: tables key by key, lists and values replaced; and where each
    key was written."""
    merged: dict[str, Any] = {}
    origins: Origins = {}
    for layer in layers:
        for section, value in layer.sections.items():
            if section == "policy" and isinstance(value, Mapping) and any(s in value for s in POLICY_SOURCES):
                _forget(merged, origins, [("policy", source) for source in POLICY_SOURCES])
            if section == "access_key" and isinstance(value, Mapping) and "delivery" in value:
                _forget(
                    merged,
                    origins,
                    [("access_key", k) for k, uses in DELIVERY_SETTINGS.items() if value["delivery"] not in uses],
                )
            _merge_into(merged, origins, (section,), value, layer)
    return merged, origins


def _merge_into(target: dict[str, Any], origins: Origins, key: tuple[str, ...], value: Any, layer: _Layer) -> None:
    name = key[-1]
    origins[key] = layer.written(key)
    if isinstance(value, Mapping):
        table = target.get(name)
        if not isinstance(table, dict):
            table = target[name] = {}
        for inner, item in value.items():
            _merge_into(table, origins, (*key, str(inner)), item, layer)
    else:
        target[name] = copy.deepcopy(value)


def _forget(merged: dict[str, Any], origins: Origins, keys: Sequence[tuple[str, ...]]) -> None:
    for section, name in keys:
        table = merged.get(section)
        if isinstance(table, dict) and name in table:
            del table[name]
            origins.pop((section, name), None)


def _leaves(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The key of every value in ``data`` (tables opened), and of every table."""
    for name, value in data.items():
        key = (*prefix, str(name))
        yield key
        if isinstance(value, Mapping):
            yield from _leaves(value, key)


def _conflict_origin(origins: Origins, location: tuple[str | int, ...], detail: ErrorDetails) -> str | None:
    """Where a conflict between keys of a table was written: the table in the most specific layer that wrote one
    of the keys the message names (``sets delivery = "pgp" without pgp_key``: where ``delivery`` was written),
    not the last layer that wrote into the table for another reason. ``None`` for any other problem."""
    if not _is_conflict(detail) or not all(isinstance(part, str) for part in location):
        return None
    named = [
        written
        for key, written in origins.items()
        if key[:-1] == location and re.search(rf"\b{re.escape(key[-1])}\b", detail["msg"])
    ]
    if not named:
        return None
    most_specific = max(named, key=_specificity)
    return most_specific[: most_specific.rindex(".")]


def _specificity(written: str) -> int:
    """How specific the layer a key was written in is: the identity in an environment, the identity, the
    environment, the top level."""
    if written.startswith("identities["):
        return 3 if ".environment." in written else 2
    return 1 if written.startswith("environments[") else 0


def _is_conflict(detail: ErrorDetails) -> bool:
    """Whether pydantic's error is a conflict between keys of a section (a model's own check), which a layer
    alone cannot judge: another layer may complete or override what it sets."""
    if detail["type"] != "value_error":
        return False
    model: type[BaseModel] | None = IdentityConfig
    for part in location_parts(detail["loc"]):
        field = model.model_fields.get(str(part)) if model is not None and isinstance(part, str) else None
        if field is None:
            return False
        model = nested_model(field.annotation)
    return model is not None


def _delete_all(data: Any, locations: Sequence[tuple[str | int, ...]]) -> None:
    """Delete the value at each location (or the table holding it, when it is missing), deepest first."""
    for location in sorted(
        set(locations), key=lambda loc: [(p, "") if isinstance(p, int) else (-1, str(p)) for p in loc], reverse=True
    ):
        target = location if _exists(data, location) else location[:-1]
        if not target or not _exists(data, target):
            continue
        container = data
        for part in target[:-1]:
            container = container[part]
        del container[target[-1]]


def _exists(data: Any, location: tuple[str | int, ...]) -> bool:
    for part in location:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return False
    return True


def _unknown(where: str, given: str, what: str, choices: Sequence[str], *, given_as: str | None = None) -> Problem:
    return Problem(
        where,
        given_as if given_as is not None else show(given),
        f"is not {what}{did_you_mean(given, choices)}",
        f"use one of {', '.join(choices)}" if choices else "add it first",
    )
