"""The checks across keys and across stacks, in one place: what the blueprint must not assemble, reported together.

Each takes a stack's effective configuration (:class:`~programmatic_iam.config.StackConfig`, or any
:class:`IdentityConfig` of one environment) and, for the fleet-wide checks, the specs the blueprint resolved,
and returns problems named at the key where the value was written (``config.where``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
import json

from .analysis.risk import Finding, assess
from .config.model import TAGS_PER_RESOURCE_MAX, Environment, IdentityConfig
from .errors import Notice, Problem, show
from .ownership import OWNERSHIP_TAGS
from .policy.document import PolicyDocument
from .regions import unknown_region_message
from .spec import RolePrincipal, StackSpec

STATE_KEY_MAX = 1024  # S3 object key limit, in bytes of UTF-8
CALLERS_ACCOUNT = "the caller's"
"""The account of an environment that names none: the one of the credentials Terraform runs with."""


def region_notices(top: IdentityConfig, stacks: Sequence[IdentityConfig]) -> list[Notice]:
    """A warning for each configured region botocore does not know (a typo, or a region newer than botocore),
    once per key it is written at: the environments' and the backend's in ``top`` (the file's top level), each
    stack's ``policy.hardening.regions``."""
    places = [
        *((f"{top.origin}: {top.environment_key(e, 'region')}", e.region) for e in top.environments),
        (top.where("backend.region"), top.backend.region),
        *(
            (config.where("policy.hardening.regions", i), region)
            for config in stacks
            for i, region in enumerate(config.policy.hardening.regions)
        ),
    ]
    return [
        Notice(where, message)
        for where, region in dict.fromkeys(places)
        if (message := unknown_region_message(region)) is not None
    ]


def kind_problems(config: IdentityConfig) -> list[Problem]:
    """An instance profile has no key and no group: settings for those cannot apply to it."""
    if config.kind != "instance-profile":
        return []
    conflicts = [
        (key, value)
        for key, value, default in (
            ("user.attach_policies_to", config.user.attach_policies_to, "user"),
            ("user.adopt", config.user.adopt, False),
            ("user.force_destroy", config.user.force_destroy, False),
            ("access_key.delivery", config.access_key.delivery, "output"),
            ("access_key.generation", config.access_key.generation, 1),
        )
        if value != default and _written_for_this_identity(config, key)
    ]
    return [
        Problem(
            config.where(key),
            show(value) if isinstance(value, str) else str(value).lower(),
            'does not apply with kind = "instance-profile", which makes a role and no user or key',
            f'drop {key}, or use kind = "user"',
        )
        for key, value in conflicts
    ]


def _written_for_this_identity(config: IdentityConfig, key: str) -> bool:
    # In a fleet, the environment's or the top level's key settings are for its users: an instance profile there
    # has none and leaves them be. Only what its own [[identities]] entry writes is a conflict.
    return config._identity is None or config.written_key(key).startswith("identities[")


def adoption_problems(config: IdentityConfig, environment: Environment) -> list[Problem]:
    """What ``user.adopt`` needs: the account's id (the hand-made policy's ARN holds it), and the user's attachment."""
    if not config.user.adopt:
        return []
    problems = []
    if environment.guarded_account_id is None:
        problems.append(
            Problem(
                f"{config.origin}: {config.environment_key(environment, 'account_id')}",
                "",
                "is missing, and user.adopt imports the hand-made policy by its ARN, which holds the account id",
                "set the environment's account_id (aws sts get-caller-identity prints it)",
            )
        )
    if config.user.attach_policies_to != "user":
        problems.append(
            Problem(
                config.where("user.attach_policies_to"),
                show(config.user.attach_policies_to),
                "cannot be adopted: the guide attaches the policy to the user, and a group made by hand is not "
                "imported",
                'adopt with attach_policies_to = "user", then move to a group in a later change',
            )
        )
    return problems


@lru_cache(maxsize=64)
def _high_findings(document_json: str) -> tuple[Finding, ...]:
    # Environments usually share one document: judge it once, not once per stack.
    return tuple(finding for finding in assess([json.loads(document_json)]) if finding.severity == "high")


def high_risk(config: IdentityConfig, document: PolicyDocument) -> tuple[list[Problem], list[Notice]]:
    """Each high-severity finding of the document: a warning, or a problem when the configuration asks."""
    where = config.where("policy")
    problems: list[Problem] = []
    notices: list[Notice] = []
    for finding in _high_findings(document.to_json()):
        what = f"grants {finding.title}: {', '.join(finding.actions)} ({finding.why})"
        fix = f"{finding.fix}; `python -m programmatic_iam report` lists every finding"
        if config.policy.high_risk_findings == "error":
            problems.append(Problem(where, "", what, f'{fix}; or set policy.high_risk_findings = "warn"'))
        else:
            notices.append(Notice(where, f"{what}; {fix}"))
    return problems, notices


def tag_problems(config: IdentityConfig, default_tags: dict[str, str], environment: Environment) -> list[Problem]:
    """The tags that reach the user: no two keys equal ignoring case (IAM takes them for one), at most 50."""
    tags = {**default_tags, **config.user.tags}
    who = _reaching(config, environment)
    first: dict[str, str] = {}
    problems = []
    for key in tags:
        if key.lower() in first:
            problems.append(
                Problem(
                    config.where("tags"),
                    f"{show(first[key.lower()])} and {show(key)}",
                    f"reach {who} as two tag keys, which IAM refuses as duplicates (it compares tag keys ignoring case)",
                    "spell the key the same way in tags, environments.tags and user.tags",
                )
            )
        first.setdefault(key.lower(), key)
    if len(tags) > TAGS_PER_RESOURCE_MAX:
        problems.append(
            Problem(
                config.where("tags"),
                f"{len(tags)} tags",
                f"reach {who} (the {len(OWNERSHIP_TAGS)} programmatic-iam: tags included); AWS allows "
                f"{TAGS_PER_RESOURCE_MAX}",
                "drop some of tags, environments.tags and user.tags",
            )
        )
    return problems


def _reaching(config: IdentityConfig, environment: Environment) -> str:
    identity = config._identity
    return (
        f"the user of environment {environment.name!r}"
        if identity is None
        else f"the user of identity {identity!r} in environment {environment.name!r}"
    )


def state_key_problems(key: str, *, where: str) -> list[Problem]:
    """A rendered state key that S3 or Terraform's backend refuses."""
    # Backend settings are read before Terraform evaluates anything: a template sequence there is not
    # escapable, so it is refused rather than written.
    if "${" in key or "%{" in key:
        return [
            Problem(where, show(key), "contains '${' or '%{', which Terraform refuses in backend settings", "remove it")
        ]
    if key.startswith("/") or len(key.encode("utf-8")) > STATE_KEY_MAX:
        return [
            Problem(
                where,
                show(key),
                f"must not start with '/' and may have at most {STATE_KEY_MAX} bytes in UTF-8 (S3's limit for a key)",
                "shorten it",
            )
        ]
    return []


def account_of(stack: StackSpec) -> str:
    """The account a stack's resources are made in: its ``account_id``, its role's, or :data:`CALLERS_ACCOUNT`."""
    return stack.account_id or CALLERS_ACCOUNT


def fleet_problems(stacks: Sequence[tuple[IdentityConfig, StackSpec]]) -> list[Problem]:
    """The checks across stacks: names IAM would refuse as duplicates, and states two stacks would share.

    User and role names name the stacks' folders (``cdktf.out/stacks/<user name>``), so they are unique across the
    whole fleet; policy and group names only within an account, ignoring case as IAM compares them. Two stacks
    may not keep their state in one place.
    """
    problems = _duplicates(
        (config, "user", stack.identity.principal.name, "", _principal_kind(stack)) for config, stack in stacks
    )
    problems += _duplicates(
        (config, "policy", policy.name, account_of(stack), "policy")
        for config, stack in stacks
        for policy in stack.identity.policies
    )
    problems += _duplicates(
        (config, "group", stack.identity.attachment.group_name, account_of(stack), "group")
        for config, stack in stacks
        if stack.identity.attachment.to == "group"
    )
    return problems + _shared_state_problems(stacks)


def _principal_kind(stack: StackSpec) -> str:
    return "role" if isinstance(stack.identity.principal, RolePrincipal) else "user"


def _duplicates(names: Iterator[tuple[IdentityConfig, str, str, str, str]]) -> list[Problem]:
    """A problem for each name equal, ignoring case, to one an earlier stack has in the same account (``""``: any)."""
    seen: dict[tuple[str, str], IdentityConfig] = {}
    problems = []
    for config, template, name, account, kind in names:
        folded = (account, name.casefold())
        if folded not in seen:
            seen[folded] = config
            continue
        first = seen[folded]
        stacks = (
            f"environments {_environment(first)!r} and {_environment(config)!r}"
            if first._identity is None and config._identity is None
            else f"{_who(first)} and {_who(config)}"
        )
        why = f"{stacks} both get this {kind} name (IAM compares names ignoring case)"
        if not account and _account(first) != _account(config):
            why += "; in different accounts, but the user name is also the stack's id, its folder in cdktf.out/stacks"
        elif account:
            why += f" in account {account}" if account != CALLERS_ACCOUNT else " in the caller's account"
        problems.append(
            Problem(
                config.where(f"naming.{template}"),
                show(name),
                why,
                "use {{ environment }} in the template, or give the environments distinct names"
                if config._identity is None
                else "use {{ name }} and {{ environment }} in the template",
            )
        )
    return problems


def _environment(config: IdentityConfig) -> str:
    return config.environments[0].name


def _account(config: IdentityConfig) -> str:
    return config.environments[0].guarded_account_id or CALLERS_ACCOUNT


def _who(config: IdentityConfig) -> str:
    """A stack as a check names it: its environment (``'production'``), and its identity in a fleet."""
    if config._identity is None:
        return repr(_environment(config))
    return f"identity {config._identity!r} in {_environment(config)!r}"


def _shared_state_problems(stacks: Sequence[tuple[IdentityConfig, StackSpec]]) -> list[Problem]:
    seen: dict[tuple[str, str], IdentityConfig] = {}
    problems = []
    for config, stack in stacks:
        if stack.cloud is not None:
            if stack.cloud.workspace is None:
                continue
            key, shown, location = "cloud.workspace", stack.cloud.workspace, ("cloud", stack.cloud.workspace)
        else:
            key, shown, location = "backend.key", stack.backend.key, (stack.backend.bucket, stack.backend.key)
        if location in seen:
            names = "{{ user }} or {{ environment }}" if config._identity is None else "{{ user }}"
            problems.append(
                Problem(
                    config.where(key),
                    show(shown),
                    f"is the state of both {_who(seen[location])} and {_who(config)}; they would overwrite each other",
                    f"use {names} in {key}",
                )
            )
        seen.setdefault(location, config)
    return problems


__all__ = [
    "CALLERS_ACCOUNT",
    "STATE_KEY_MAX",
    "account_of",
    "adoption_problems",
    "fleet_problems",
    "high_risk",
    "kind_problems",
    "region_notices",
    "state_key_problems",
    "tag_problems",
]
