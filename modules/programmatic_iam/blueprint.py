"""From a resolved fleet to the specs of each stack: names, documents, backend, tags (no file is read here but the
policy sources the configuration names). It only assembles: the checks across keys and stacks are in checks.py."""

from __future__ import annotations

import re
import unicodedata

from .arns import partition_of
from .checks import (
    adoption_problems,
    fleet_problems,
    high_risk,
    kind_problems,
    region_notices,
    state_key_problems,
    tag_problems,
)
from .config.fleet import Fleet, StackConfig, resolve_fleet
from .config.model import Environment, IdentityConfig
from .errors import ConfigError, Notice, Problem, did_you_mean, merged_renderings, show
from .escaping import has_token_marker
from .naming import POLICY_NAME_MAX, Names, resolve_names, template_variables
from .ownership import ownership_tags
from .policy.document import PolicyDocument
from .policy.sizing import MANAGED_POLICY_MAX_CHARACTERS, iam_size, split_document
from .policy.sources import PolicyMemo, load_policy
from .spec import (
    AccessKey,
    Adoption,
    AssumedRole,
    BackendSpec,
    Blueprint,
    CloudSpec,
    IdentitySpec,
    ManagedPolicy,
    PolicyAttachment,
    RolePrincipal,
    StackSpec,
    UserPrincipal,
)
from .templating import render
from .versions import WRITE_ONLY_TERRAFORM

POLICY_DESCRIPTION_MAX = 1000


def build_blueprint(source: Fleet | IdentityConfig) -> Blueprint:
    """One :class:`StackSpec` per stack of the fleet (an :class:`IdentityConfig` is resolved into its fleet
    first), in the fleet's order; raise :class:`ConfigError` with every problem found in any of them."""
    fleet = source if isinstance(source, Fleet) else resolve_fleet(source)
    problems: list[Problem] = []
    notices: list[Notice] = []
    resolved: list[tuple[IdentityConfig, StackSpec]] = []
    documents = PolicyMemo()
    for config in fleet.stacks:
        stack, stack_problems, stack_notices = _stack_spec(config, config.environment, documents)
        problems += stack_problems + kind_problems(config)
        notices += [n for n in stack_notices if n not in notices]
        if stack is not None:
            resolved.append((config, stack))
    problems += fleet_problems(resolved)
    notices = region_notices(fleet.config, fleet.stacks) + notices
    if problems:  # the warnings too: a user fixing the problems should not meet them only on the next run
        raise ConfigError(merged_renderings(problems), notices=notices)
    return Blueprint(tuple(stack for _, stack in resolved), tuple(notices))


def identity_spec(source: Fleet | IdentityConfig, environment: str, identity: str | None = None) -> IdentitySpec:
    """The identity of one environment (of ``identity``, in a file with several), for users who add it to a stack
    of their own."""
    fleet = source if isinstance(source, Fleet) else resolve_fleet(source)
    if identity is None and len(fleet.identities) > 1:
        raise ConfigError(
            [
                Problem(
                    f"{fleet.origin}: identities",
                    f"{len(fleet.identities)} identities",
                    "leave the identity to choose open",
                    f"name one: identity_spec(config, {environment!r}, identity=...) with one of "
                    f"{', '.join(fleet.identities)}",
                )
            ]
        )
    for candidate in build_blueprint(fleet).stacks:
        if candidate.environment == environment and identity in (None, candidate.identity_name):
            return candidate.identity
    if identity is not None and identity not in fleet.identities:
        known, what, given, where = list(fleet.identities), "an identity", identity, "identities"
    else:
        known = [s.environment.name for s in fleet.stacks if identity in (None, s.identity)]
        what, given, where = "a configured environment", environment, "environments"
    raise ConfigError(
        [
            Problem(
                f"{fleet.origin}: {where}",
                show(given),
                f"is not {what}{did_you_mean(given, known)}",
                f"use one of {', '.join(known)}",
            )
        ]
    )


def identity_specs(source: Fleet | IdentityConfig) -> dict[tuple[str, str], IdentitySpec]:
    """The identity of every stack of the fleet, keyed by ``(identity, environment)`` in the fleet's order (identity
    by identity as in the file, each in its environments); raise :class:`ConfigError` as :func:`build_blueprint` does."""
    return {(stack.identity_name, stack.environment): stack.identity for stack in build_blueprint(source).stacks}


def _stack_spec(
    config: StackConfig, environment: Environment, documents: PolicyMemo
) -> tuple[StackSpec | None, list[Problem], list[Notice]]:
    names, problems = resolve_names(config, environment)
    variables = template_variables(config.naming, environment)
    document, policy_problems, notices = load_policy(config, variables, documents)
    problems += policy_problems
    # An empty description is IAM's default, and what a policy made in the console often has (user.adopt).
    description, description_problems = (
        ("", [])
        if not config.policy.description
        else _render_text(
            config.policy.description,
            variables,
            where=config.rendered_where("policy.description", environment),
        )
    )
    problems += description_problems
    key, key_problems = _render_text(
        config.backend.key,
        {**variables, "user": names.user},
        where=config.rendered_where("backend.key", environment),
    )
    problems += key_problems
    if names.user and not key_problems:  # without a user name the key would be wrong for that reason alone
        problems += state_key_problems(key, where=config.where("backend.key"))
    cloud, cloud_problems = _cloud(config, {**variables, "user": names.user}, environment)
    if names.user:
        problems += cloud_problems
    credentials, credential_problems = _access_key(config, {**variables, "user": names.user}, environment)
    if names.user:  # without a user name the store's name would be wrong for that reason alone
        problems += credential_problems
    problems += adoption_problems(config, environment)
    if len(description) > POLICY_DESCRIPTION_MAX:
        problems.append(
            Problem(
                config.where("policy.description"),
                show(description[:40] + "..."),
                f"renders to {len(description)} characters; IAM allows {POLICY_DESCRIPTION_MAX}",
                "shorten it",
            )
        )
    # IAM's pattern for a policy description is [\p{L}\p{M}\p{Z}\p{S}\p{N}\p{P}]*: no control or format characters.
    unprintable = sorted({c for c in description if unicodedata.category(c).startswith("C")})
    if unprintable:
        problems.append(
            Problem(
                config.rendered_where("policy.description", environment),
                show(description),
                f"renders with control or format characters ({''.join(unprintable)!r}), which IAM refuses",
                "remove them; a description is one line of text",
            )
        )
    # The effective tags hold the environment's (config/fleet.py merges them). The tool's own tags last: the
    # configuration cannot write them (config/model.py refuses their prefix).
    default_tags = {**config.tags, **ownership_tags(config.naming.name, environment.name)}
    problems += tag_problems(config, default_tags, environment)
    if document is not None:
        risk_problems, risk_notices = high_risk(config, document)
        problems += risk_problems
        notices += [notice for notice in risk_notices if notice not in notices]
    policies: tuple[ManagedPolicy, ...] = ()
    if document is not None and names.policy:
        policies, split_problems = _managed_policies(config, names, document, description, environment)
        problems += split_problems
    if problems or document is None:
        return None, problems, notices
    stack_credentials = credentials if config.kind == "user" else AccessKey(create=False)
    stack = StackSpec(
        identity_name=config.naming.name,
        environment=environment.name,
        region=environment.region,
        account_id=environment.guarded_account_id,
        default_tags=tuple(default_tags.items()),
        backend=BackendSpec.of(config.backend, key),
        identity=IdentitySpec(
            principal=_principal(config, names.user, environment),
            policies=policies,
            attachment=PolicyAttachment(config.user.attach_policies_to, names.group),
            credentials=stack_credentials,
            adoption=Adoption(environment.guarded_account_id, partition_of(environment.region))
            if config.user.adopt and environment.guarded_account_id
            else None,
        ),
        provider_version=config.terraform.provider_version,
        required_version=_required_terraform(config.terraform.required_version, stack_credentials),
        assume_role=_assumed_role(environment),
        cloud=cloud,
    )
    return stack, [], notices


def _required_terraform(constraint: str, credentials: AccessKey) -> str:
    """The configured Terraform constraint, and Terraform 1.11 when a store gets the secret write-only.

    Older Terraform fails on the write-only arguments in the middle of a plan; the constraint makes it
    refuse plainly at init, and CDK Terrain checks the stack's features against it (docs/engines.md).
    """
    if credentials.uses_write_only_arguments:
        return f"{constraint}, {WRITE_ONLY_TERRAFORM}"
    return constraint


_WORKSPACE_NAME = re.compile(r"[A-Za-z0-9_-]{1,90}")


def _cloud(
    config: IdentityConfig, variables: dict[str, str], environment: Environment
) -> tuple[CloudSpec | None, list[Problem]]:
    """The stack's HCP Terraform workspace, its name rendered from ``cloud.workspace``; ``None`` without [cloud]."""
    cloud = config.cloud
    if cloud is None:
        return None, []
    workspace = None
    if cloud.workspace:
        where = config.rendered_where("cloud.workspace", environment)
        workspace, problems = _render_text(cloud.workspace, variables, where=where)
        if problems:
            return None, problems
        if not _WORKSPACE_NAME.fullmatch(workspace):
            return None, [
                Problem(
                    where,
                    show(workspace),
                    "is not a workspace name (1 to 90 letters, digits, '_' and '-')",
                    "change cloud.workspace",
                )
            ]
    return CloudSpec(cloud.organization, workspace, cloud.workspace_tags, cloud.project, cloud.hostname), []


def _assumed_role(environment: Environment) -> AssumedRole | None:
    role = environment.assume_role
    if role is None:
        return None
    # The environment's name in the account's CloudTrail; environment names are valid session names, if shorter.
    session_name = role.session_name or f"programmatic-iam-{environment.name}"[:64]
    return AssumedRole(role.role_arn, session_name, role.external_id)


def _principal(config: IdentityConfig, name: str, environment: Environment) -> UserPrincipal | RolePrincipal:
    if config.kind == "instance-profile":
        partition = partition_of(environment.region)
        return RolePrincipal(
            name=name,
            path=config.user.path,
            permissions_boundary=config.user.permissions_boundary,
            tags=tuple(config.user.tags.items()),
            service="ec2.amazonaws.com.cn" if partition == "aws-cn" else "ec2.amazonaws.com",
        )
    return UserPrincipal(
        name=name,
        path=config.user.path,
        permissions_boundary=config.user.permissions_boundary,
        force_destroy=config.user.force_destroy,
        tags=tuple(config.user.tags.items()),
    )


def _access_key(
    config: IdentityConfig, variables: dict[str, str], environment: Environment
) -> tuple[AccessKey, list[Problem]]:
    """The key's delivery for one environment, its store's name rendered and checked."""
    settings = config.access_key
    problems: list[Problem] = []
    secret_name = parameter_path = ""
    if settings.delivery == "secretsmanager":
        secret_name, problems = _render_text(
            settings.secret_name, variables, where=config.rendered_where("access_key.secret_name", environment)
        )
        if not problems and not _SECRET_NAME.fullmatch(secret_name):
            problems.append(
                Problem(
                    config.where("access_key.secret_name"),
                    show(secret_name),
                    "is not a Secrets Manager name: 1 to 512 letters, digits and / _ + = . @ -",
                    "change the template",
                )
            )
    if settings.delivery == "ssm":
        parameter_path, problems = _render_text(
            settings.parameter_path,
            variables,
            where=config.rendered_where("access_key.parameter_path", environment),
        )
        if not problems and not _parameter_path_ok(parameter_path):
            problems.append(
                Problem(
                    config.where("access_key.parameter_path"),
                    show(parameter_path),
                    "is not an SSM parameter path: it starts with '/', uses letters, digits and / _ . -, has at "
                    "most 13 levels, and does not start with 'aws' or 'ssm'",
                    "change the template",
                )
            )
    return (
        AccessKey(
            delivery=settings.delivery,
            pgp_key=settings.pgp_key,
            secret_name=secret_name,
            parameter_path=parameter_path.rstrip("/"),
            kms_key_id=settings.kms_key_id,
            generation=settings.generation,
            previous=settings.previous,
            max_age_days=settings.max_age_days,
            create=settings.create,
        ),
        problems,
    )


_SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
_PARAMETER_PATH = re.compile(r"(/[A-Za-z0-9_.-]+)+/?")


def _parameter_path_ok(path: str) -> bool:
    # Two parameters go under it (a level each), and SSM allows 15 levels and 1,011 characters in a name.
    first = path.lstrip("/").split("/", 1)[0].lower()
    return (
        bool(_PARAMETER_PATH.fullmatch(path))
        and path.rstrip("/").count("/") <= 13
        and len(path) <= 980
        and not first.startswith(("aws", "ssm"))
    )


def _render_text(template: str, variables: dict[str, str], *, where: str) -> tuple[str, list[Problem]]:
    rendered, problems = render(template, variables, where=where)
    if rendered is not None and not rendered.strip():
        problems = [Problem(where, show(template), "renders to nothing", "make the template produce text")]
    elif rendered is not None and has_token_marker(rendered):
        # The configuration's own text is checked for markers as it is loaded; a template can still write one.
        problems = [
            Problem(
                where,
                show(template),
                f"renders {show(rendered)}, with a cdktf token marker ('TfToken['), which cdktf would replace "
                "with another value or fail on",
                "change the template so that it does not write 'TfToken['",
            )
        ]
    return (rendered or "").strip(), problems


def _managed_policies(
    config: IdentityConfig, names: Names, document: PolicyDocument, description: str, environment: Environment
) -> tuple[tuple[ManagedPolicy, ...], list[Problem]]:
    where = config.where("policy")
    parts, problems = split_document(document, where=where)
    if problems:
        return (), problems
    limit = config.policy.max_policies
    if len(parts) > limit:
        return (), [
            Problem(
                where,
                f"a document of {iam_size(document)} characters",
                f"needs {len(parts)} managed policies of at most {MANAGED_POLICY_MAX_CHARACTERS} characters; "
                f"policy.max_policies allows {limit}",
                "grant fewer actions, or raise policy.max_policies (AWS allows up to 20 per user after a quota increase)",
            )
        ]
    named = [(names.policy if index == 0 else f"{names.policy}-{index + 1}", part) for index, part in enumerate(parts)]
    too_long = [name for name, _ in named if len(name) > POLICY_NAME_MAX]
    if too_long:
        return (), [
            Problem(
                config.rendered_where("naming.policy", environment),
                show(too_long[-1]),
                f"is over IAM's {POLICY_NAME_MAX} characters once the part number is added",
                "shorten naming.policy",
            )
        ]
    return tuple(ManagedPolicy(name, part, description, config.policy.path) for name, part in named), []
