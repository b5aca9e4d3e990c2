"""From a loaded configuration to the specs of each stack: names, documents, backend, tags (no file is read here
but the policy sources the configuration names)."""

from __future__ import annotations

from functools import lru_cache
import json
import re
import unicodedata

from .analysis.risk import Finding, assess
from .arns import partition_of
from .config.model import TAGS_PER_RESOURCE_MAX, Environment, IdentityConfig
from .errors import ConfigError, Notice, Problem, key_path, rendered_for, show
from .escaping import has_token_marker
from .naming import POLICY_NAME_MAX, Names, duplicate_name_problems, resolve_names, template_variables
from .ownership import OWNERSHIP_TAGS, ownership_tags
from .policy.document import PolicyDocument
from .policy.sizing import MANAGED_POLICY_MAX_CHARACTERS, iam_size, split_document
from .policy.sources import load_policy
from .regions import unknown_region_message
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
STATE_KEY_MAX = 1024  # S3 object key limit, in bytes of UTF-8


def build_blueprint(config: IdentityConfig) -> Blueprint:
    """Resolve every environment; raise :class:`ConfigError` with every problem found in any of them."""
    problems: list[Problem] = []
    notices: list[Notice] = []
    stacks: list[StackSpec] = []
    for environment in config.environments:
        stack, stack_problems, stack_notices = _stack_spec(config, environment)
        problems += stack_problems
        notices += [n for n in stack_notices if n not in notices]
        if stack is not None:
            stacks.append(stack)
    problems += _cross_stack_problems(config, stacks) + _kind_problems(config)
    notices = _region_notices(config) + notices
    if problems:  # the warnings too: a user fixing the problems should not meet them only on the next run
        raise ConfigError(list(dict.fromkeys(problems)), notices=notices)
    return Blueprint(tuple(stacks), tuple(notices))


def _region_notices(config: IdentityConfig) -> list[Notice]:
    """A warning for each configured region botocore does not know (a typo, or a region newer than botocore)."""
    places = [
        *((config.environment_key(e, "region"), e.region) for e in config.environments),
        ("backend.region", config.backend.region),
        *(
            (key_path("policy.hardening.regions", i), region)
            for i, region in enumerate(config.policy.hardening.regions)
        ),
    ]
    return [
        Notice(f"{config.origin}: {where}", message)
        for where, region in places
        if (message := unknown_region_message(region)) is not None
    ]


def identity_spec(config: IdentityConfig, environment: str) -> IdentitySpec:
    """The identity of one environment, for users who add it to a stack of their own."""
    for candidate in build_blueprint(config).stacks:
        if candidate.environment == environment:
            return candidate.identity
    known = ", ".join(e.name for e in config.environments)
    raise ConfigError(
        [
            Problem(
                f"{config.origin}: environments",
                show(environment),
                "is not a configured environment",
                f"use one of {known}",
            )
        ]
    )


def _stack_spec(
    config: IdentityConfig, environment: Environment
) -> tuple[StackSpec | None, list[Problem], list[Notice]]:
    names, problems = resolve_names(config, environment)
    variables = template_variables(config.naming, environment)
    document, policy_problems, notices = load_policy(config, variables)
    problems += policy_problems
    # An empty description is IAM's default, and what a policy made in the console often has (user.adopt).
    description, description_problems = (
        ("", [])
        if not config.policy.description
        else _render_text(
            config.policy.description,
            variables,
            where=f"{config.origin}: {rendered_for('policy.description', environment.name)}",
        )
    )
    problems += description_problems
    key, key_problems = _render_text(
        config.backend.key,
        {**variables, "user": names.user},
        where=f"{config.origin}: {rendered_for('backend.key', environment.name)}",
    )
    problems += key_problems
    if names.user and not key_problems:  # without a user name the key would be wrong for that reason alone
        problems += _state_key_problems(key, where=f"{config.origin}: backend.key")
    cloud, cloud_problems = _cloud(config, {**variables, "user": names.user}, environment)
    if names.user:
        problems += cloud_problems
    credentials, credential_problems = _access_key(config, {**variables, "user": names.user}, environment)
    if names.user:  # without a user name the store's name would be wrong for that reason alone
        problems += credential_problems
    problems += _adoption_problems(config, environment)
    if len(description) > POLICY_DESCRIPTION_MAX:
        problems.append(
            Problem(
                f"{config.origin}: policy.description",
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
                f"{config.origin}: {rendered_for('policy.description', environment.name)}",
                show(description),
                f"renders with control or format characters ({''.join(unprintable)!r}), which IAM refuses",
                "remove them; a description is one line of text",
            )
        )
    # The tool's own tags last: the configuration cannot write them (config/model.py refuses their prefix).
    default_tags = {**config.tags, **environment.tags, **ownership_tags(config.naming.name, environment.name)}
    problems += _tag_case_problems({**default_tags, **config.user.tags}, config.origin, environment.name)
    if len(default_tags) + len(config.user.tags) > TAGS_PER_RESOURCE_MAX:
        problems.append(
            Problem(
                f"{config.origin}: tags",
                f"{len(default_tags) + len(config.user.tags)} tags",
                f"reach the user of environment {environment.name!r} (the {len(OWNERSHIP_TAGS)} programmatic-iam: "
                f"tags included); AWS allows {TAGS_PER_RESOURCE_MAX}",
                "drop some of tags, environments.tags and user.tags",
            )
        )
    if document is not None:
        risk_problems, risk_notices = _high_risk(config, document)
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
        where = f"{config.origin}: {rendered_for('cloud.workspace', environment.name)}"
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


def _kind_problems(config: IdentityConfig) -> list[Problem]:
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
        if value != default
    ]
    return [
        Problem(
            f"{config.origin}: {key}",
            show(value) if isinstance(value, str) else str(value).lower(),
            'does not apply with kind = "instance-profile", which makes a role and no user or key',
            f'drop {key}, or use kind = "user"',
        )
        for key, value in conflicts
    ]


def _adoption_problems(config: IdentityConfig, environment: Environment) -> list[Problem]:
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
                f"{config.origin}: user.attach_policies_to",
                show(config.user.attach_policies_to),
                "cannot be adopted: the guide attaches the policy to the user, and a group made by hand is not "
                "imported",
                'adopt with attach_policies_to = "user", then move to a group in a later change',
            )
        )
    return problems


def _access_key(
    config: IdentityConfig, variables: dict[str, str], environment: Environment
) -> tuple[AccessKey, list[Problem]]:
    """The key's delivery for one environment, its store's name rendered and checked."""
    settings = config.access_key
    where = f"{config.origin}: access_key"
    problems: list[Problem] = []
    secret_name = parameter_path = ""
    if settings.delivery == "secretsmanager":
        secret_name, problems = _render_text(
            settings.secret_name, variables, where=f"{where}.{rendered_for('secret_name', environment.name)}"
        )
        if not problems and not _SECRET_NAME.fullmatch(secret_name):
            problems.append(
                Problem(
                    f"{where}.secret_name",
                    show(secret_name),
                    "is not a Secrets Manager name: 1 to 512 letters, digits and / _ + = . @ -",
                    "change the template",
                )
            )
    if settings.delivery == "ssm":
        parameter_path, problems = _render_text(
            settings.parameter_path,
            variables,
            where=f"{where}.{rendered_for('parameter_path', environment.name)}",
        )
        if not problems and not _parameter_path_ok(parameter_path):
            problems.append(
                Problem(
                    f"{where}.parameter_path",
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


@lru_cache(maxsize=64)
def _high_findings(document_json: str) -> tuple[Finding, ...]:
    # Environments usually share one document: judge it once, not once per stack.
    return tuple(finding for finding in assess([json.loads(document_json)]) if finding.severity == "high")


def _high_risk(config: IdentityConfig, document: PolicyDocument) -> tuple[list[Problem], list[Notice]]:
    """Each high-severity finding of the document: a warning, or a problem when the configuration asks."""
    where = f"{config.origin}: policy"
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


def _tag_case_problems(tags: dict[str, str], origin: str, environment: str) -> list[Problem]:
    """Keys that differ only in case across tags, environments.tags and user.tags: IAM takes them for one."""
    first: dict[str, str] = {}
    problems = []
    for key in tags:
        if key.lower() in first:
            problems.append(
                Problem(
                    f"{origin}: tags",
                    f"{show(first[key.lower()])} and {show(key)}",
                    f"reach the user of environment {environment!r} as two tag keys, which IAM refuses as "
                    "duplicates (it compares tag keys ignoring case)",
                    "spell the key the same way in tags, environments.tags and user.tags",
                )
            )
        first.setdefault(key.lower(), key)
    return problems


def _state_key_problems(key: str, *, where: str) -> list[Problem]:
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
    where = f"{config.origin}: policy"
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
                f"{config.origin}: {rendered_for('naming.policy', environment.name)}",
                show(too_long[-1]),
                f"is over IAM's {POLICY_NAME_MAX} characters once the part number is added",
                "shorten naming.policy",
            )
        ]
    return tuple(ManagedPolicy(name, part, description, config.policy.path) for name, part in named), []


def _cross_stack_problems(config: IdentityConfig, stacks: list[StackSpec]) -> list[Problem]:
    problems = duplicate_name_problems(
        ((s.environment, s.identity.principal.name) for s in stacks), kind="user", origin=config.origin
    )
    problems += duplicate_name_problems(
        ((s.environment, p.name) for s in stacks for p in s.identity.policies), kind="policy", origin=config.origin
    )
    if config.user.attach_policies_to == "group":
        problems += duplicate_name_problems(
            ((s.environment, s.identity.attachment.group_name) for s in stacks), kind="group", origin=config.origin
        )
    seen: dict[tuple[str, str], str] = {}
    for stack in stacks:
        if stack.cloud is not None:
            if stack.cloud.workspace is None:
                continue
            where, shown, location = "cloud.workspace", stack.cloud.workspace, ("cloud", stack.cloud.workspace)
        else:
            where, shown, location = "backend.key", stack.backend.key, (stack.backend.bucket, stack.backend.key)
        if location in seen:
            problems.append(
                Problem(
                    f"{config.origin}: {where}",
                    show(shown),
                    f"is the state of both {seen[location]!r} and {stack.environment!r}; they would overwrite each other",
                    f"use {{{{ user }}}} or {{{{ environment }}}} in {where}",
                )
            )
        seen.setdefault(location, stack.environment)
    return problems
