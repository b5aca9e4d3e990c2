"""The policy sources (inline actions, a file, a template) turned into one checked document."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
import json
from pathlib import Path
from typing import Any

from ..arns import partition_of
from ..config.model import IdentityConfig, outside_latin1
from ..errors import Notice, Problem, did_you_mean, show
from ..escaping import token_marker_problems
from ..files import MAX_POLICY_BYTES, RefusedError, read_text
from ..resources import templates_dir
from ..strict_json import parse_json
from ..templating import includes_templates, render, variables_used
from .catalogue import load_catalogue
from .document import ActionRules, PolicyDocument, Statement, check_actions, parse_document, with_condition

TEMPLATES_DIR = templates_dir("policies")
TEMPLATE_SUFFIX = ".json.j2"
DEFAULT_TEMPLATE = "stream-manager-2.0"


def shipped_templates() -> list[str]:
    """Names of the policy templates in ``templates/policies/``."""
    return sorted(p.name.removesuffix(TEMPLATE_SUFFIX) for p in TEMPLATES_DIR.glob(f"*{TEMPLATE_SUFFIX}"))


@dataclass
class PolicyMemo:
    """Documents already made in one run (of a blueprint), by everything they depend on: see :func:`load_policy`."""

    documents: dict[tuple[Any, ...], tuple[PolicyDocument | None, tuple[Problem, ...], tuple[Notice, ...]]] = field(
        default_factory=dict
    )
    reads: dict[tuple[str, Path], set[str]] = field(default_factory=dict)
    """The template variables each policy template (by name, and the folder it is looked for in) reads."""


TEMPLATE_VARIABLES = frozenset({"namespace", "name", "environment", "region", "account_id", "hardening"})
# What `hardening` holds is made from these (hardening_variables).
_HARDENING_VARIABLES = frozenset({"name", "region", "account_id"})
# The keys a problem of the policy may be named at: part of what a document (with its problems) depends on.
_POLICY_KEYS = (
    "policy.actions",
    "policy.remove_actions",
    "policy.file",
    "policy.template",
    "policy.hardening.regions",
    "policy.hardening.source_ips",
    "policy.hardening.tag_key",
    "policy.hardening.tag_value",
)


def load_policy(
    config: IdentityConfig, variables: Mapping[str, str], memo: PolicyMemo | None = None
) -> tuple[PolicyDocument | None, list[Problem], list[Notice]]:
    """The configured policy for one environment (templates may use the environment's variables).

    ``policy.hardening.regions`` and ``source_ips`` bound every Allow statement, whatever the source; the tag
    settings must be tested by some statement (docs/policies.md). The document returned is final: what is
    sized and split is what AWS receives.

    ``memo``, kept by the caller for one run, holds the documents made so far: a stack whose policy settings, the
    keys they were written at, and the template variables its source reads are those of an earlier stack gets
    that stack's document, problems and warnings without making them again. Inline actions and a policy file
    read no variable, nor does the default template, so in a fleet most identities make their document once.
    """
    if memo is None:
        return _load_policy(config, variables)
    key = _memo_key(config, variables, memo)
    if key not in memo.documents:
        document, problems, notices = _load_policy(config, variables)
        memo.documents[key] = (document, tuple(problems), tuple(notices))
    made, problems_made, notices_made = memo.documents[key]
    return made, list(problems_made), list(notices_made)


def _memo_key(config: IdentityConfig, variables: Mapping[str, str], memo: PolicyMemo) -> tuple[Any, ...]:
    policy = config.policy
    read: set[str] = set()
    if policy.actions is None and policy.file is None:
        template = policy.template or DEFAULT_TEMPLATE
        if (template, config.base_dir) not in memo.reads:
            memo.reads[template, config.base_dir] = _variables_read(template, config)
        read = set(memo.reads[template, config.base_dir])
    if config.policy.hardening.model_fields_set & {"tag_key", "tag_value"}:
        read |= {"name"}  # the tag's value defaults to the name (_unused_tag_problems)
    return (
        config.policy,
        config.base_dir,
        tuple(config.where(key) for key in _POLICY_KEYS),
        tuple((name, variables.get(name)) for name in sorted(read)),
    )


def _variables_read(template: str, config: IdentityConfig) -> set[str]:
    """The template variables the policy template reads (all of them when that cannot be told)."""
    path, _ = _template_path(template, config)
    try:
        folder = TEMPLATES_DIR if path is not None and path.parent == TEMPLATES_DIR else config.base_dir
        text = read_text(path, limit=MAX_POLICY_BYTES, inside=folder) if path is not None else None
    except RefusedError:
        text = None
    read = _template_reads(text) if text is not None else TEMPLATE_VARIABLES
    return set(read | _HARDENING_VARIABLES if "hardening" in read else read)


@lru_cache(maxsize=64)
def _template_reads(text: str) -> frozenset[str]:
    """The template variables ``text`` reads; all of them when it includes or imports another template."""
    if includes_templates(text):
        return TEMPLATE_VARIABLES
    return frozenset(variables_used(text) & TEMPLATE_VARIABLES)


def _load_policy(
    config: IdentityConfig, variables: Mapping[str, str]
) -> tuple[PolicyDocument | None, list[Problem], list[Notice]]:
    document, problems, notices = _load_source(config, variables)
    if document is None:
        return None, problems, notices
    source = source_name(config)
    document, removal_problems = without_removed_actions(document, config.policy.remove_actions, config, source)
    if document is None:
        return None, removal_problems, notices
    problems = _unused_tag_problems(document, config, variables, source)
    document, bound_problems = bound_by_hardening(document, config, source)
    problems += bound_problems
    return (None, problems, notices) if problems else (document, [], notices)


def without_removed_actions(
    document: PolicyDocument, removed: Sequence[str], config: IdentityConfig, source: str
) -> tuple[PolicyDocument | None, list[Problem]]:
    """``document`` without the actions ``policy.remove_actions`` names, taken out of every Allow statement that
    grants them (a statement left with none goes); a problem for an entry no Allow statement grants, which would
    remove nothing, and for a removal that leaves no statement."""
    if not removed:
        return document, []
    wanted = {action.lower() for action in removed}
    granted = {
        a.lower() for s in document.statements if s.effect == "Allow" and not s.negated_actions for a in s.actions
    }
    where = config.where("policy.remove_actions")
    problems = [
        Problem(
            where,
            show(action),
            f"is granted by no Allow statement of {source}, so it removes nothing",
            "delete it from the list",
        )
        for action in removed
        if action.lower() not in granted
    ]
    statements = []
    for statement in document.statements:
        if statement.effect != "Allow" or statement.negated_actions:
            statements.append(statement)
            continue
        kept = tuple(action for action in statement.actions if action.lower() not in wanted)
        if kept:
            statements.append(replace(statement, actions=kept))
    if not any(s.effect == "Allow" for s in statements):
        problems.append(
            Problem(where, "", f"removes every action {source} grants", "keep the actions the application uses")
        )
    return (None, problems) if problems else (PolicyDocument(tuple(statements), document.id), [])


def source_name(config: IdentityConfig) -> str:
    """The policy source as a problem names it: ``policy.actions``, ``policy.file 'p.json'``, ..."""
    policy = config.policy
    if policy.actions is not None:
        return "policy.actions"
    if policy.file is not None:
        return f"policy.file {show(policy.file)}"
    if policy.template is None:
        return f"the default policy template {DEFAULT_TEMPLATE!r}"
    return f"policy template {policy.template!r}"


def _load_source(
    config: IdentityConfig, variables: Mapping[str, str]
) -> tuple[PolicyDocument | None, list[Problem], list[Notice]]:
    """The document of the configured source, checked, before ``policy.hardening`` bounds it."""
    policy = config.policy
    rules = ActionRules(load_catalogue(), policy.allow_wildcards, frozenset(policy.allow_unlisted_actions))
    if policy.actions is not None:
        return _from_actions(policy.actions, rules, config, where=config.where("policy.actions"))
    if policy.file is not None:
        path = config.base_dir / policy.file
        text, problems = _read(path, config.base_dir, where=config.where("policy.file"), given=policy.file)
        if text is None:
            return None, problems, []
        return _from_json_text(text, rules, config, where=policy.file)
    template = policy.template or DEFAULT_TEMPLATE
    template_path, problems = _template_path(template, config)
    if template_path is None:
        return None, problems, []
    folder = TEMPLATES_DIR if template_path.parent == TEMPLATES_DIR else config.base_dir
    text, problems = _read(template_path, folder, where=config.where("policy.template"), given=template)
    if text is None:
        return None, problems, []
    rendered, problems = render(
        text,
        {**variables, "hardening": hardening_variables(config, variables)},
        where=f"{config.where('policy.template')} ({template})",
        partials=(config.base_dir, TEMPLATES_DIR.parent),
    )
    if rendered is None:
        return None, problems, []
    return _from_json_text(rendered, rules, config, where=f"policy template {template!r}")


def hardening_variables(config: IdentityConfig, variables: Mapping[str, str]) -> dict[str, Any]:
    """What policy templates see as ``hardening``: the scope settings, their defaults resolved per environment."""
    settings = config.policy.hardening
    region = variables["region"]
    return {
        "tag_key": settings.tag_key,
        "tag_value": settings.tag_value or variables["name"],
        "regions": list(settings.regions or (region,)),
        "source_ips": list(settings.source_ips),
        "partition": partition_of(region),
        "account": variables["account_id"] or "*",
    }


# Global condition keys, so a test on them holds for every action: (setting, operator, key).
_GLOBAL_BOUNDS = (
    ("regions", "StringEquals", "aws:RequestedRegion"),
    ("source_ips", "IpAddress", "aws:SourceIp"),
)


def bound_by_hardening(
    document: PolicyDocument, config: IdentityConfig, source: str
) -> tuple[PolicyDocument, list[Problem]]:
    """Every Allow statement of ``document`` also requiring the configured regions and source ranges.

    Each is a test on a global condition key, merged into the statement's own Condition
    (:func:`~programmatic_iam.policy.document.with_condition`: never widening a test the statement already
    has). Deny statements are left as they are. A statement whose own test leaves nothing in common with the
    setting is a problem, not a statement that silently allows nothing.
    """
    settings = config.policy.hardening
    bounds = [
        (setting, operator, key, values)
        for setting, operator, key in _GLOBAL_BOUNDS
        if (values := tuple(getattr(settings, setting)))
    ]
    if not bounds:
        return document, []
    statements: list[Statement] = []
    problems: list[Problem] = []
    for index, statement in enumerate(document.statements):
        for setting, operator, key, values in bounds:
            statement, conflict = with_condition(statement, operator, key, values)
            if conflict:
                named = f"Statement[{index}]" + (f" ({statement.sid})" if statement.sid else "")
                problems.append(
                    Problem(
                        config.where("policy.hardening", setting),
                        show(list(values)),
                        f"cannot bound {named} of {source}, which {conflict}",
                        f"make that statement's {key} test a plain list that shares values with "
                        f"policy.hardening.{setting}, or remove the test and let the setting bound it",
                    )
                )
        statements.append(statement)
    return replace(document, statements=tuple(statements)), problems


def _unused_tag_problems(
    document: PolicyDocument, config: IdentityConfig, variables: Mapping[str, str], source: str
) -> list[Problem]:
    """``tag_key`` or ``tag_value`` set where no condition tests that tag (or with that value): they would do nothing.

    Unlike the regions and the source ranges, a tag cannot bound every statement: an action whose resources
    carry no tag would be denied for good. Only a policy (a template) that tests the tag uses these settings.
    """
    settings = config.policy.hardening
    given = [name for name in ("tag_key", "tag_value") if name in settings.model_fields_set]
    if not given:
        return []
    suffix = f"tag/{settings.tag_key}".lower()
    tested_values: list[list[Any]] = []
    names_key = False
    for statement in document.statements:
        for tests in (statement.condition or {}).values():
            for key, value in tests.items():
                values = value if isinstance(value, list) else [value]
                if key.lower().endswith(suffix):
                    tested_values.append(values)
                elif key.lower() == "aws:tagkeys" and settings.tag_key in values:
                    names_key = True
    tag_value = settings.tag_value or variables["name"]
    used = {
        "tag_key": bool(tested_values) or names_key,
        "tag_value": any(tag_value in values for values in tested_values),
    }
    what = {
        "tag_key": f"no condition of {source} tests the tag {settings.tag_key!r}",
        "tag_value": f"no condition of {source} tests the tag {settings.tag_key!r} against {tag_value!r}",
    }
    return [
        Problem(
            config.where("policy.hardening", name),
            show(getattr(settings, name)),
            f"does nothing: {what[name]}",
            "remove it; the tag settings are for policy templates that test them in conditions (policy.template = "
            '"stream-manager-2.0-hardened" does), while regions and source_ips bound every policy source',
        )
        for name in given
        if not used[name]
    ]


def _from_actions(
    actions: Any, rules: ActionRules, config: IdentityConfig, *, where: str
) -> tuple[PolicyDocument | None, list[Problem], list[Notice]]:
    checked, problems, notices = check_actions(actions, rules, where=where)
    if problems:
        return None, problems, notices
    resources = config.policy.resources
    statement = Statement(effect="Allow", actions=checked, resources=resources[0] if len(resources) == 1 else resources)
    return PolicyDocument((statement,)), [], notices


def _from_json_text(
    text: str, rules: ActionRules, config: IdentityConfig, *, where: str
) -> tuple[PolicyDocument | None, list[Problem], list[Notice]]:
    paste = "paste the policy exactly as the console's JSON tab shows it, or a JSON array of actions"
    data, problems = parse_json(text, where, fix=paste)
    if problems:
        return None, problems, []
    return _from_json_data(data, rules, config, where=where)


def _from_json_data(
    data: Any, rules: ActionRules, config: IdentityConfig, *, where: str
) -> tuple[PolicyDocument | None, list[Problem], list[Notice]]:
    # Checked on the parsed data: "\u20ac" in the file is a euro sign in the policy.
    problems = [*token_marker_problems(data, where), *_latin1_problems(json.dumps(data, ensure_ascii=False), where)]
    if isinstance(data, list):
        document, more, notices = _from_actions(data, rules, config, where=where)
    else:
        document, more, notices = parse_document(data, rules, where=where)
    problems += more
    return (None, problems, notices) if problems else (document, [], notices)


def _read(path: Path, folder: Path, *, where: str, given: str) -> tuple[str | None, list[Problem]]:
    """The text of ``path``, a regular file in ``folder`` of at most :data:`~programmatic_iam.files.MAX_POLICY_BYTES`."""
    try:
        return read_text(path, limit=MAX_POLICY_BYTES, inside=folder), []
    except RefusedError as refused:
        if refused.missing:
            return None, [
                Problem(
                    where,
                    show(given),
                    f"does not exist (looked for {path})",
                    "fix the path; it is relative to the config file",
                )
            ]
        return None, [refused.problem(where, show(given))]


def _template_path(template: str, config: IdentityConfig) -> tuple[Path | None, list[Problem]]:
    if template in shipped_templates():
        return TEMPLATES_DIR / f"{template}{TEMPLATE_SUFFIX}", []
    candidate = config.base_dir / template
    try:
        found = candidate.is_file()
    except (OSError, ValueError):  # a name too long for the file system, or holding a NUL byte
        found = False
    if found:
        return candidate, []
    return None, [
        Problem(
            config.where("policy.template"),
            show(template),
            f"is neither a shipped template nor a file{did_you_mean(template, shipped_templates())}",
            f"use one of {', '.join(shipped_templates())}, or a path relative to the config file",
        )
    ]


def _latin1_problems(text: str, where: str) -> list[Problem]:
    outside = outside_latin1(text)
    if not outside:
        return []
    return [
        Problem(
            where,
            show(outside[:10]),
            "are characters outside Latin-1, which IAM rejects in policies",
            "remove them",
        )
    ]
