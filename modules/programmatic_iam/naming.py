"""Naming conventions: render the templates, tidy delimiters, apply the namespace, enforce IAM's rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import re

from .config.model import IAM_NAME_CHARACTER, Environment, IdentityConfig, Naming
from .errors import Problem, show
from .templating import render, variables_used

# IAM's length limits for user, group and policy names (CreateUser / CreateGroup / CreatePolicy API model).
USER_NAME_MAX = 64
GROUP_NAME_MAX = 128
POLICY_NAME_MAX = 128
NAMESPACE_VARIABLE = "namespace"


@dataclass(frozen=True, slots=True)
class Names:
    """The physical names of one environment's identity."""

    user: str
    policy: str
    group: str


def template_variables(naming: Naming, environment: Environment) -> dict[str, str]:
    """What every naming, description, key and policy template sees."""
    return {
        "namespace": naming.namespace,
        "name": naming.name,
        "environment": environment.name,
        "region": environment.region,
        "account_id": environment.guarded_account_id or "",
    }


def render_name(
    template: str, variables: Mapping[str, str], delimiter: str, *, where: str
) -> tuple[str, list[Problem]]:
    """Render one name template; prefix the namespace unless the template places it itself."""
    rendered, problems = render(template, variables, where=where)
    if rendered is None:
        return "", problems
    namespace = variables.get(NAMESPACE_VARIABLE, "")
    if namespace and NAMESPACE_VARIABLE not in variables_used(template):
        rendered = f"{namespace}{delimiter}{rendered}"
    return tidy_delimiters(rendered.strip(), delimiter), []


def tidy_delimiters(name: str, delimiter: str) -> str:
    """Collapse doubled delimiters and drop them at either end (what an empty variable leaves behind)."""
    collapsed = re.sub(f"{re.escape(delimiter)}{{2,}}", delimiter, name)
    return collapsed.strip(delimiter)


def name_problems(name: str, *, kind: str, limit: int, where: str, template: str) -> list[Problem]:
    """IAM's length and character rules for a rendered name."""
    problems = []
    if not 1 <= len(name) <= limit:
        problems.append(
            Problem(
                where=where,
                given=show(template),
                why=f"renders the {kind} name {show(name)} of {len(name)} characters; IAM allows 1 to {limit}",
                fix="shorten naming.name, naming.namespace or the template",
            )
        )
    bad = sorted(set(IAM_NAME_CHARACTER.sub("", name)))
    if name and bad:
        problems.append(
            Problem(
                where=where,
                given=show(template),
                why=f"renders the {kind} name {show(name)}, which has characters IAM does not allow: {''.join(bad)!r}",
                fix="use only letters, digits and + = , . @ _ -",
            )
        )
    return problems


def stack_folder_problems(name: str, *, where: str, template: str) -> list[Problem]:
    """The user name names its stack's folder, ``cdktf.out/stacks/<user name>``: it must be a folder of its own.

    IAM allows ``.`` in names, but ``.`` and ``..`` are not folders of their own (``..`` writes the stack
    outside ``stacks/``), and a folder starting with ``.`` is hidden from ``ls``, which the workflow lists the
    stacks with: such a stack would be skipped without a word.
    """
    if not name.startswith("."):
        return []
    return [
        Problem(
            where=where,
            given=show(template),
            why=f"renders the user name {show(name)}, which names the stack's folder under cdktf.out/stacks; a "
            "folder name starting with '.' is hidden (or, as '.' and '..', not a folder of its own), so the stack "
            "would be written elsewhere or skipped",
            fix="start the user name with a letter, a digit or one of + = , @ _ -",
        )
    ]


def resolve_names(config: IdentityConfig, environment: Environment) -> tuple[Names, list[Problem]]:
    """The user, policy and group names of ``environment``, with every problem found.

    The group name is ``""`` unless the policies are attached through a group.
    """
    naming = config.naming
    variables = template_variables(naming, environment)
    problems: list[Problem] = []
    rendered = {"group": ""}
    kinds = [("user", naming.user, USER_NAME_MAX), ("policy", naming.policy, POLICY_NAME_MAX)]
    if config.user.attach_policies_to == "group":  # an unused group's template is not the user's concern
        kinds.append(("group", naming.group, GROUP_NAME_MAX))
    for kind, template, limit in kinds:
        where = config.rendered_where(f"naming.{kind}", environment)
        name, render_problems = render_name(template, variables, naming.delimiter, where=where)
        problems += render_problems or name_problems(name, kind=kind, limit=limit, where=where, template=template)
        if kind == "user" and not render_problems:
            problems += stack_folder_problems(name, where=where, template=template)
        rendered[kind] = name
    return Names(**rendered), problems
