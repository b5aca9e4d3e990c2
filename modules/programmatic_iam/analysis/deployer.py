"""The deploying identity's least privilege: what `terraform plan`, `apply` and `destroy` of the stacks call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
import json
from typing import Any

from ..arns import partition_of
from ..config.model import KMS_KEY_ARN, outside_latin1
from ..errors import ConfigError, Notice, Problem, did_you_mean, rendered_for, show
from ..policy.catalogue import load_catalogue
from ..policy.document import ActionRules, PolicyDocument, Statement, check_actions
from ..policy.sizing import MANAGED_POLICY_MAX_CHARACTERS, iam_size
from ..spec import BackendSpec, Blueprint, RolePrincipal, StackSpec
from ..spec.identity import UserPrincipal

# ---------------------------------------------------------------------------------------------------------
# What Terraform calls: observed call by call (TF_LOG=DEBUG) with the AWS provider 5.100.0 and Terraform
# 1.11 against the emulator, and read from the provider's and the S3 backend's code for what the emulator
# cannot run (force_destroy, boundaries); see docs/deployer-policy.md. Only what creating, reading,
# converging drift and deleting these resources needs: renames (iam:UpdateUser, iam:UpdateGroup) are left
# out, because a policy scoped to the new name cannot authorise a call on the old one anyway.
# ---------------------------------------------------------------------------------------------------------

# The provider (and the S3 backend) look up the account once per run. AWS allows this call to everyone,
# even under an explicit Deny; it is listed so that the document says what the run does.
CALLER_IDENTITY_ACTIONS = ("sts:GetCallerIdentity",)

# aws_iam_user: create (tags in CreateUser need iam:TagUser), read, tag changes, delete. Deleting a user
# first lists its groups to leave them (aws_iam_user_group_membership reads the same list).
USER_ACTIONS = (
    "iam:CreateUser",
    "iam:GetUser",
    "iam:TagUser",
    "iam:UntagUser",
    "iam:ListGroupsForUser",
    "iam:DeleteUser",
)
# `usage recheck`, before the plan's review and its apply: IAM's last-accessed report of a user whose plan removes
# actions on IAM's evidence (the report job is read by its id, an action IAM gives no resource type).
RECHECK_USER_ACTIONS = ("iam:GenerateServiceLastAccessedDetails",)
RECHECK_JOB_ACTIONS = ("iam:GetServiceLastAccessedDetails",)
# aws_iam_access_key: create, read (by listing the user's keys), status drift, delete.
ACCESS_KEY_ACTIONS = ("iam:CreateAccessKey", "iam:ListAccessKeys", "iam:UpdateAccessKey", "iam:DeleteAccessKey")
# aws_iam_user_policy_attachment (attach_policies_to = "user"). Attaching and detaching are granted only for
# the stack's own policies (iam:PolicyARN): otherwise whoever deploys could attach AdministratorAccess to the
# user and then create a key for it.
USER_ATTACHMENT_ACTIONS = ("iam:AttachUserPolicy", "iam:ListAttachedUserPolicies", "iam:DetachUserPolicy")
POLICY_ARN_CONDITIONED_ACTIONS = frozenset(
    {"iam:AttachUserPolicy", "iam:DetachUserPolicy", "iam:AttachGroupPolicy", "iam:DetachGroupPolicy"}
)
# With a boundary, removing it is denied outright, whatever else the deploying identity is allowed.
BOUNDARY_REMOVAL_ACTIONS = ("iam:DeleteUserPermissionsBoundary",)
# user.permissions_boundary: a boundary that drifted is put back.
BOUNDARY_ACTIONS = ("iam:PutUserPermissionsBoundary",)
# Actions whose iam:PermissionsBoundary condition key holds the boundary of the user they act on. With a
# boundary configured they are granted only for a user that has exactly that boundary (AWS's delegation
# pattern): a leaked deployer key cannot make the user, or attach to it, without the cap.
BOUNDARY_CONDITIONED_ACTIONS = frozenset(
    {
        "iam:CreateUser",
        "iam:PutUserPermissionsBoundary",
        "iam:AttachUserPolicy",
        "iam:DetachUserPolicy",
        "iam:DeleteUserPolicy",
    }
)
# user.force_destroy: before DeleteUser the provider removes whatever Terraform does not manage.
FORCE_DESTROY_USER_ACTIONS = (
    "iam:ListAccessKeys",
    "iam:DeleteAccessKey",
    "iam:ListSSHPublicKeys",
    "iam:DeleteSSHPublicKey",
    "iam:ListMFADevices",
    "iam:DeactivateMFADevice",
    "iam:DeleteLoginProfile",
    "iam:ListSigningCertificates",
    "iam:DeleteSigningCertificate",
    "iam:ListServiceSpecificCredentials",
    "iam:DeleteServiceSpecificCredential",
    "iam:ListUserPolicies",
    "iam:DeleteUserPolicy",
    "iam:ListAttachedUserPolicies",
    "iam:DetachUserPolicy",
)
# ListVirtualMFADevices has no resource (the whole account's list); a device is deleted by its own ARN.
FORCE_DESTROY_LIST_MFA_ACTIONS = ("iam:ListVirtualMFADevices",)
FORCE_DESTROY_MFA_ACTIONS = ("iam:DeleteVirtualMFADevice",)
# aws_iam_policy: create (with tags), read (the default version's document), a changed document
# (a new default version; at IAM's 5 versions the oldest is deleted first), tags, delete (versions first).
POLICY_ACTIONS = (
    "iam:CreatePolicy",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:ListPolicyVersions",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:TagPolicy",
    "iam:UntagPolicy",
    "iam:DeletePolicy",
)
# kind = "instance-profile": aws_iam_role (created with its trust policy, read with its inline and attached
# policies and instance profiles, tagged, deleted), aws_iam_role_policy_attachment, aws_iam_instance_profile.
ROLE_ACTIONS = (
    "iam:CreateRole",
    "iam:GetRole",
    "iam:DeleteRole",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
)
ROLE_ATTACHMENT_ACTIONS = ("iam:AttachRolePolicy", "iam:DetachRolePolicy")
ROLE_BOUNDARY_ACTIONS = ("iam:PutRolePermissionsBoundary",)
INSTANCE_PROFILE_ACTIONS = (
    "iam:CreateInstanceProfile",
    "iam:GetInstanceProfile",
    "iam:DeleteInstanceProfile",
    "iam:AddRoleToInstanceProfile",
    "iam:RemoveRoleFromInstanceProfile",
    "iam:TagInstanceProfile",
    "iam:UntagInstanceProfile",
)
# AddRoleToInstanceProfile also needs iam:PassRole on the role it adds (AWS's API reference): on that one role,
# without an iam:PassedToService condition, since AWS documents no such key for this call (docs/deployer-policy.md).
INSTANCE_PROFILE_ROLE_ACTIONS = ("iam:PassRole",)
# access_key.delivery = "secretsmanager": aws_iam_secretsmanager_secret (created, read with its resource policy,
# tagged, deleted at once) and its version (written, read back by listing versions and their stages).
SECRET_ACTIONS = (
    "secretsmanager:CreateSecret",
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:UpdateSecret",
    "secretsmanager:TagResource",
    "secretsmanager:UntagResource",
    "secretsmanager:DeleteSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:GetSecretValue",
    "secretsmanager:ListSecretVersionIds",
    "secretsmanager:UpdateSecretVersionStage",
)
# access_key.delivery = "ssm": two aws_ssm_parameter resources, written, read, tagged, deleted.
PARAMETER_ACTIONS = (
    "ssm:PutParameter",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:ListTagsForResource",
    "ssm:AddTagsToResource",
    "ssm:RemoveTagsFromResource",
    "ssm:DeleteParameter",
)
# The provider reads a parameter's description and tier through DescribeParameters, which takes no resource.
PARAMETER_LISTING_ACTIONS = ("ssm:DescribeParameters",)
# access_key.kms_key_id: the store encrypts with the key (Secrets Manager asks for a data key).
STORE_KEY_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey")
# attach_policies_to = "group": aws_iam_group, aws_iam_group_policy_attachment, aws_iam_user_group_membership.
GROUP_ACTIONS = (
    "iam:CreateGroup",
    "iam:GetGroup",
    "iam:DeleteGroup",
    "iam:AttachGroupPolicy",
    "iam:ListAttachedGroupPolicies",
    "iam:DetachGroupPolicy",
    "iam:AddUserToGroup",
    "iam:RemoveUserFromGroup",
)
# The S3 backend. Without s3:ListBucket, S3 answers 403 instead of 404 for a state that does not exist
# yet, and the first `terraform init` fails; see docs/deployer-policy.md for why it has no prefix condition.
STATE_BUCKET_ACTIONS = ("s3:ListBucket",)
# The state object: HeadObject and GetObject are s3:GetObject; the backend never deletes the state.
STATE_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject")
# backend.use_lockfile: <key>.tflock is created (conditional put), read, and deleted.
STATE_LOCK_FILE_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
LOCK_FILE_SUFFIX = ".tflock"
# backend.dynamodb_table: the lock item and the state's digest item. Terraform's docs also list
# dynamodb:DescribeTable, which no released S3 backend calls.
STATE_LOCK_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem")
# backend.kms_key_id: S3 asks KMS for a data key to write the state and to decrypt it to read.
STATE_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")

_SID_ORDER = (
    "CallerIdentity",
    "UsageRecheckJobs",
    "Users",
    "UsersWithinBoundary",
    "UserAttachments",
    "UserAttachmentsWithinBoundary",
    "DenyBoundaryRemoval",
    "Policies",
    "Groups",
    "GroupAttachments",
    "Roles",
    "RolesWithinBoundary",
    "RoleAttachments",
    "InstanceProfiles",
    "PassRoleToInstanceProfile",
    "KeySecret",
    "KeyParameters",
    "KeyParameterListing",
    "KeyStoreEncryptionKey",
    "ForceDestroyListMfaDevices",
    "ForceDestroyMfaDevices",
    "StateBucket",
    "StateObjects",
    "StateLockFiles",
    "StateLockTable",
    "StateEncryptionKey",
)
WHERE = "deployer policy"
LARGEST_POLICY_CHARACTERS = 10240
"""The most policy text IAM holds in one place: a role's inline policies together (a managed policy holds
6,144, a user's inline policies 2,048). A larger deployer policy could not be attached anywhere."""
FLEET_PATH = "/programmatic-iam/"
"""The IAM path docs/deployer-policy.md tells a fleet to put its users and policies under (any own path works)."""


@dataclass(frozen=True, slots=True)
class DeployerPolicy:
    """The identity policy the deploying identity needs, and what a reviewer should know about it."""

    document: PolicyDocument
    notices: tuple[Notice, ...]


_Condition = tuple[tuple[str, str, str | tuple[str, ...]], ...]
"""(operator, key, value or values) triples."""


@dataclass(frozen=True, slots=True)
class Grant:
    """Some actions on one resource, under an optional condition: the unit statements are merged from."""

    sid: str
    actions: tuple[str, ...]
    resource: str
    condition: _Condition = ()
    effect: str = "Allow"


def deployer_policy(
    blueprint: Blueprint, environments: Collection[str] | None = None, *, selected_by: str = "environments"
) -> DeployerPolicy:
    """The least-privilege policy for running Terraform on the blueprint's stacks (or those of ``environments``).

    ``selected_by`` names where ``environments`` came from, in problems and warnings (a command says its
    option). Raises :class:`ConfigError` with every problem: an unknown environment, a state KMS key that
    is not a key ARN, a resource IAM cannot name, or an action the catalogue does not know.
    """
    stacks, problems = _selected(blueprint, environments, selected_by)
    scopes = fleet_scopes(stacks, blueprint.stacks)
    grants: list[Grant] = []
    for stack, scope in zip(stacks, scopes, strict=True):
        stack_grants, stack_problems = stack_grants_of(stack, scope)
        grants += stack_grants
        problems += stack_problems
    statements, statement_problems = statements_of(grants)
    problems += statement_problems
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    document = PolicyDocument(tuple(statements))
    if (size := iam_size(document)) > LARGEST_POLICY_CHARACTERS:
        raise ConfigError([_too_large(size, stacks, scopes, selected_by)])
    return DeployerPolicy(document, tuple(_size_notices(document, selected_by) + _assumed_role_notices(stacks)))


@dataclass(frozen=True, slots=True)
class StackScope:
    """What one stack's grants name by a path or a folder its fleet shares, instead of by its own names.

    ``None`` everywhere (the default): every resource by its name, as for a stack on its own.
    """

    path: str | None = None
    """The IAM path of the stack's principal, group and policies, granted as ``<kind><path>*``."""
    state_folder: str | None = None
    """The folder of the state bucket its state key is in, shared with others: ``<bucket>/<folder>*``."""
    secret_folder: str | None = None
    """The same for the secret's name (``secret:<folder>*``)."""
    parameter_folder: str | None = None
    """The same for the parameters' path (``parameter<folder>*``)."""


BY_NAME = StackScope()
"""Every resource by its own name."""


def own_path(stack: StackSpec) -> str | None:
    """The one IAM path of the stack's principal and policies, when it is not ``/``; ``None`` otherwise."""
    path = stack.identity.principal.path
    if path == "/" or any(policy.path != path for policy in stack.identity.policies):
        return None
    return path


def fleet_scopes(stacks: Sequence[StackSpec], fleet: Sequence[StackSpec] = ()) -> tuple[StackScope, ...]:
    """Each stack's scope: by path where its principal and policies share an IAM path of their own with others'.

    A path is granted whole (``user<path>*``) only for two or more stacks whose principals (of one kind, in one
    partition) and policies are all under it: one stack alone keeps the exact names, which fit. Every principal of
    that kind under the path, among ``stacks`` and the rest of the ``fleet`` they were selected from (a grant on
    the path reaches the stacks left out too), must have the same permissions boundary: otherwise a grant made for
    one without a boundary would let the deployer create the other without its cap. Other stacks keep their
    names. Among the stacks
    granted by path, state keys, secret names and parameter paths of two or more stacks in one place are granted
    by the folder they share, when it is not the root (:func:`shared_folders`).
    """
    groups = [_path_group(stack) for stack in stacks]
    own = [own_path(stack) for stack in stacks]
    boundaries: dict[tuple[str, str, str], set[str | None]] = {}
    for stack in (*stacks, *fleet):
        boundaries.setdefault(_path_group(stack), set()).add(stack.identity.principal.permissions_boundary)
    sharing = Counter(group for group, path in zip(groups, own, strict=True) if path is not None)
    paths = [
        path if path is not None and sharing[group] >= 2 and len(boundaries[group]) == 1 else None
        for group, path in zip(groups, own, strict=True)
    ]
    scoped = [stack for stack, path in zip(stacks, paths, strict=True) if path is not None]
    state = shared_folders(
        ((partition_of(s.backend.region), s.backend.bucket), s.backend.key) for s in scoped if s.cloud is None
    )
    secrets = shared_folders(
        (_store_place(s), s.identity.credentials.secret_name)
        for s in scoped
        if s.identity.credentials.delivery == "secretsmanager"
    )
    parameters = shared_folders(
        (_store_place(s), s.identity.credentials.parameter_path)
        for s in scoped
        if s.identity.credentials.delivery == "ssm"
    )
    return tuple(
        BY_NAME
        if path is None
        else StackScope(
            path,
            state.get((partition_of(stack.backend.region), stack.backend.bucket)) if stack.cloud is None else None,
            secrets.get(_store_place(stack)),
            parameters.get(_store_place(stack)),
        )
        for stack, path in zip(stacks, paths, strict=True)
    )


def shared_folders(named: Iterable[tuple[tuple[str, ...], str]]) -> dict[tuple[str, ...], str]:
    """Per place, the deepest folder (up to a ``/``) that its two or more names share, if it is not the root.

    The root (``""``, or ``/`` for SSM parameters) would be every object, secret or parameter of the place, and
    one name alone keeps its own exact grant.
    """
    names: dict[tuple[str, ...], set[str]] = {}
    for place, name in named:
        names.setdefault(place, set()).add(name)
    folders: dict[tuple[str, ...], str] = {}
    for place, some in names.items():
        if len(some) < 2:
            continue
        first, last = min(some), max(some)
        common = first[: next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first))]
        folder = common[: common.rfind("/") + 1]
        if folder.strip("/"):
            folders[place] = folder
    return folders


def _path_group(stack: StackSpec) -> tuple[str, str, str]:
    """The principals a grant on the stack's principal path also covers: same kind, partition and path."""
    principal = stack.identity.principal
    kind = "role" if isinstance(principal, RolePrincipal) else "user"
    return kind, partition_of(stack.region), principal.path


def _store_place(stack: StackSpec) -> tuple[str, str, str]:
    """Where the stack's secret or parameters live: partition, region and account (``*`` if not configured)."""
    return partition_of(stack.region), stack.region, stack.account_id or "*"


def to_console_json(document: PolicyDocument) -> str:
    """The document as the IAM console's JSON tab shows it: indented, keys in AWS's order."""
    return json.dumps(document.to_json_value(), indent=2, ensure_ascii=False)


def arn_literal(text: str) -> str:
    """``text`` as a literal inside a policy's Resource or an ARN (or StringLike) condition's value.

    IAM reads ``*`` and ``?`` as wildcards there (in ArnEquals too) and ``${...}`` as a variable; every name
    and path the deployer policy puts into an ARN goes through here, so that it names exactly one thing.
    """
    return text.replace("$", "${$}").replace("*", "${*}").replace("?", "${?}")


def exact_literal(text: str) -> str:
    """``text`` as a literal inside an exact string condition (StringEquals).

    There ``*`` and ``?`` are plain characters, but ``${...}`` is still a variable (AWS resolves the special
    ``${$}`` wherever variables are allowed), so only ``$`` is escaped.
    """
    return text.replace("$", "${$}")


def iam_arn(stack: StackSpec, kind: str, path_and_name: str) -> str:
    """The ARN of one of the stack's IAM resources (``user``, ``group``, ``role``, ``policy``...), as a literal.

    Without the environment's ``account_id`` the account is ``*``, which also matches ``aws``, the account
    of AWS managed policies: see :func:`own_policies_condition`.
    """
    return f"arn:{partition_of(stack.region)}:iam::{stack.account_id or '*'}:{kind}{arn_literal(path_and_name)}"


def principal_arn(stack: StackSpec, scope: StackScope, kind: str, path_and_name: str) -> str:
    """:func:`iam_arn`, or with a path scope every resource of ``kind`` under the path (its ``*`` is meant)."""
    return iam_arn(stack, kind, path_and_name) if scope.path is None else iam_arn(stack, kind, scope.path) + "*"


def aws_managed_policies(stack: StackSpec) -> str:
    """The pattern of every AWS managed policy in the stack's partition (their account is ``aws``)."""
    return f"arn:{partition_of(stack.region)}:iam::aws:policy/*"


def own_policies_condition(stack: StackSpec, scope: StackScope = BY_NAME) -> _Condition:
    """``iam:PolicyARN`` is one of the stack's own policies: the same literals as the Policies statement names.

    With a path scope, any policy under the path (the pattern the Policies statement names). Where the account is
    not configured, its ``*`` would also match AWS's managed policy of the same path and name
    (``naming.policy = "AdministratorAccess"``), so those are excluded by an ArnNotLike in the same condition
    (both must hold).
    """
    policy_arns = tuple(
        dict.fromkeys(
            principal_arn(stack, scope, "policy", policy.path + policy.name) for policy in stack.identity.policies
        )
    )
    if stack.account_id is not None:
        return (("ArnEquals" if scope.path is None else "ArnLike", "iam:PolicyARN", policy_arns),)
    return (("ArnLike", "iam:PolicyARN", policy_arns), ("ArnNotLike", "iam:PolicyARN", aws_managed_policies(stack)))


def stack_grants_of(stack: StackSpec, scope: StackScope = BY_NAME) -> tuple[list[Grant], list[Problem]]:
    """What Terraform needs for one stack: its identity's IAM resources and its state, named as ``scope`` says."""
    identity = stack.identity
    user = identity.principal
    if isinstance(user, RolePrincipal):
        state_grants, problems = _stack_state_grants(stack, scope)
        return _role_grants(stack, user, scope) + state_grants, problems
    user_arn = principal_arn(stack, scope, "user", user.path + user.name)
    user_actions: tuple[str, ...] = USER_ACTIONS + ACCESS_KEY_ACTIONS + RECHECK_USER_ACTIONS
    if identity.attachment.to == "user":
        user_actions += USER_ATTACHMENT_ACTIONS
    if user.force_destroy:
        user_actions += FORCE_DESTROY_USER_ACTIONS
    grants = [
        Grant("CallerIdentity", CALLER_IDENTITY_ACTIONS, "*"),
        Grant("UsageRecheckJobs", RECHECK_JOB_ACTIONS, "*"),
    ]
    own_policies = own_policies_condition(stack, scope)
    # force_destroy detaches whatever Terraform does not manage, so its DetachUserPolicy stays unconditioned
    # (detaching only takes permissions away).
    conditioned = POLICY_ARN_CONDITIONED_ACTIONS - (set(FORCE_DESTROY_USER_ACTIONS) if user.force_destroy else set())
    attaching = tuple(a for a in user_actions if a in conditioned)
    plain = tuple(a for a in user_actions if a not in conditioned)
    if user.permissions_boundary:
        boundary = (("StringEquals", "iam:PermissionsBoundary", exact_literal(user.permissions_boundary)),)
        bounded = tuple(a for a in (*plain, *BOUNDARY_ACTIONS) if a in BOUNDARY_CONDITIONED_ACTIONS)
        free = tuple(a for a in plain if a not in BOUNDARY_CONDITIONED_ACTIONS)
        grants += [
            Grant("Users", free, user_arn),
            Grant("UsersWithinBoundary", bounded, user_arn, boundary),
            Grant("DenyBoundaryRemoval", BOUNDARY_REMOVAL_ACTIONS, user_arn, effect="Deny"),
        ]
        if attaching:
            grants.append(Grant("UserAttachmentsWithinBoundary", attaching, user_arn, boundary + own_policies))
    else:
        grants.append(Grant("Users", plain, user_arn))
        if attaching:
            grants.append(Grant("UserAttachments", attaching, user_arn, own_policies))
    grants += [
        Grant("Policies", POLICY_ACTIONS, principal_arn(stack, scope, "policy", policy.path + policy.name))
        for policy in identity.policies
    ]
    if identity.attachment.to == "group":
        group_arn = principal_arn(stack, scope, "group", user.path + identity.attachment.group_name)
        group_attaching = tuple(a for a in GROUP_ACTIONS if a in POLICY_ARN_CONDITIONED_ACTIONS)
        group_plain = tuple(a for a in GROUP_ACTIONS if a not in POLICY_ARN_CONDITIONED_ACTIONS)
        grants += [
            Grant("Groups", group_plain, group_arn),
            Grant("GroupAttachments", group_attaching, group_arn, own_policies),
        ]
    grants += _key_store_grants(stack, scope)
    if user.force_destroy:
        grants += [
            Grant("ForceDestroyListMfaDevices", FORCE_DESTROY_LIST_MFA_ACTIONS, "*"),
            # A device has a name of its own, not the user's: any device of the account (the `*` is meant).
            Grant("ForceDestroyMfaDevices", FORCE_DESTROY_MFA_ACTIONS, iam_arn(stack, "mfa", "/") + "*"),
        ]
    state_grants, problems = _stack_state_grants(stack, scope)
    return grants + state_grants, problems


def _stack_state_grants(stack: StackSpec, scope: StackScope) -> tuple[list[Grant], list[Problem]]:
    """The S3 backend's grants; none on HCP Terraform, which keeps the state itself."""
    if stack.cloud is not None:
        return [], []
    return state_grants_of(stack.backend, environment=stack.environment, folder=scope.state_folder)


def _role_grants(stack: StackSpec, role: RolePrincipal, scope: StackScope) -> list[Grant]:
    """kind = "instance-profile": the role, its instance profile of the same name, its policies."""
    role_arn = principal_arn(stack, scope, "role", role.path + role.name)
    profile_arn = principal_arn(stack, scope, "instance-profile", role.path + role.name)
    own_policies = own_policies_condition(stack, scope)
    grants = [
        Grant("CallerIdentity", CALLER_IDENTITY_ACTIONS, "*"),
        Grant("Roles", ROLE_ACTIONS, role_arn),
        Grant("RoleAttachments", ROLE_ATTACHMENT_ACTIONS, role_arn, own_policies),
        Grant("InstanceProfiles", INSTANCE_PROFILE_ACTIONS, profile_arn),
        Grant("PassRoleToInstanceProfile", INSTANCE_PROFILE_ROLE_ACTIONS, role_arn),
    ]
    if role.permissions_boundary:
        boundary: _Condition = (("StringEquals", "iam:PermissionsBoundary", exact_literal(role.permissions_boundary)),)
        grants.append(Grant("RolesWithinBoundary", ROLE_BOUNDARY_ACTIONS, role_arn, boundary))
        grants.append(Grant("DenyBoundaryRemoval", ("iam:DeleteRolePermissionsBoundary",), role_arn, effect="Deny"))
    grants += [
        Grant("Policies", POLICY_ACTIONS, principal_arn(stack, scope, "policy", policy.path + policy.name))
        for policy in stack.identity.policies
    ]
    return grants


def _key_store_grants(stack: StackSpec, scope: StackScope) -> list[Grant]:
    """What delivering the key to a store needs: the secret or the parameters, and the store's KMS key."""
    key = stack.identity.credentials
    region = f"arn:{partition_of(stack.region)}:{{service}}:{stack.region}:{stack.account_id or '*'}"
    grants: list[Grant] = []
    if key.delivery == "secretsmanager":
        # Secrets Manager appends six random characters to a secret's name in its ARN.
        name = (
            arn_literal(key.secret_name) + "-??????"
            if scope.secret_folder is None
            else arn_literal(scope.secret_folder) + "*"
        )
        grants.append(Grant("KeySecret", SECRET_ACTIONS, f"{region.format(service='secretsmanager')}:secret:{name}"))
    if key.delivery == "ssm":
        parameters = f"{region.format(service='ssm')}:parameter"
        if scope.parameter_folder is None:
            path = arn_literal(key.parameter_path)
            grants += [
                Grant("KeyParameters", PARAMETER_ACTIONS, f"{parameters}{path}/access-key-id"),
                Grant("KeyParameters", PARAMETER_ACTIONS, f"{parameters}{path}/secret-access-key"),
            ]
        else:
            grants.append(
                Grant("KeyParameters", PARAMETER_ACTIONS, f"{parameters}{arn_literal(scope.parameter_folder)}*")
            )
        grants.append(Grant("KeyParameterListing", PARAMETER_LISTING_ACTIONS, "*"))
    if key.kms_key_id is not None:
        grants.append(Grant("KeyStoreEncryptionKey", STORE_KEY_ACTIONS, arn_literal(key.kms_key_id)))
    return grants


def state_grants_of(
    backend: BackendSpec, *, environment: str, folder: str | None = None
) -> tuple[list[Grant], list[Problem]]:
    """What the S3 backend needs for one state: the bucket, the object, its lock, its encryption key.

    With ``folder`` (a prefix of ``backend.key`` that other stacks' keys share), every object under the folder.
    """
    partition = partition_of(backend.region)
    bucket = f"arn:{partition}:s3:::{arn_literal(backend.bucket)}"
    state = f"{bucket}/{arn_literal(backend.key)}" if folder is None else f"{bucket}/{arn_literal(folder)}*"
    grants = [
        Grant("StateBucket", STATE_BUCKET_ACTIONS, bucket),
        Grant("StateObjects", STATE_OBJECT_ACTIONS, state),
    ]
    if backend.use_lockfile:
        grants.append(Grant("StateLockFiles", STATE_LOCK_FILE_ACTIONS, state + LOCK_FILE_SUFFIX))
    if backend.dynamodb_table:
        # The table's account is not configured (it may differ from the environment's), so any account.
        table = f"arn:{partition}:dynamodb:{backend.region}:*:table/{arn_literal(backend.dynamodb_table)}"
        grants.append(Grant("StateLockTable", STATE_LOCK_TABLE_ACTIONS, table))
    problems: list[Problem] = []
    if backend.kms_key_id is not None:
        if KMS_KEY_ARN.fullmatch(backend.kms_key_id):
            grants.append(Grant("StateEncryptionKey", STATE_KEY_ACTIONS, arn_literal(backend.kms_key_id)))
        else:
            problems.append(
                Problem(
                    rendered_for("backend.kms_key_id", environment),
                    show(backend.kms_key_id),
                    "is not a KMS key ARN, and an IAM policy can grant the use of a key only by the key's ARN "
                    "(not by an alias or a bare key id)",
                    "write the key's ARN: arn:aws:kms:<region>:<account id>:key/<key id>",
                )
            )
    return grants, problems


def statements_of(grants: list[Grant]) -> tuple[list[Statement], list[Problem]]:
    """Merge grants into statements: one per Sid, actions and condition; resources in first-seen order.

    Actions go through the same catalogue checks as a user's policy (canonical spelling, no wildcards).
    """
    merged: dict[tuple[str, tuple[str, ...], _Condition, str], list[str]] = {}
    for grant in sorted(grants, key=lambda g: _SID_ORDER.index(g.sid)):
        resources = merged.setdefault((grant.sid, grant.actions, grant.condition, grant.effect), [])
        if grant.resource not in resources:
            resources.append(grant.resource)
    rules = ActionRules(load_catalogue())
    statements: list[Statement] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for (sid, actions, condition, effect), resources in merged.items():
        seen[sid] = seen.get(sid, 0) + 1
        unique_sid = sid if seen[sid] == 1 else f"{sid}{seen[sid]}"
        checked, action_problems, _ = check_actions(actions, rules, where=f"{WHERE}: {unique_sid}.Action")
        problems += action_problems + _latin1_problems(resources, where=f"{WHERE}: {unique_sid}.Resource")
        statements.append(
            Statement(
                effect=effect,
                actions=checked,
                resources=resources[0] if len(resources) == 1 else tuple(resources),
                sid=unique_sid,
                condition=_condition(condition),
            )
        )
    return statements, problems


def _selected(
    blueprint: Blueprint, environments: Collection[str] | None, selected_by: str
) -> tuple[list[StackSpec], list[Problem]]:
    if environments is None:
        return list(blueprint.stacks), []
    known = [stack.environment for stack in blueprint.stacks]
    problems = [
        Problem(
            selected_by,
            show(name),
            f"is not a configured environment{did_you_mean(name, known)}",
            f"use one of {', '.join(known)}",
        )
        for name in environments
        if name not in known
    ]
    return [stack for stack in blueprint.stacks if stack.environment in environments], problems


def _condition(triples: _Condition) -> Mapping[str, Any] | None:
    if not triples:
        return None
    condition: dict[str, dict[str, str | list[str]]] = {}
    for operator, key, value in triples:
        single = isinstance(value, str) or len(value) == 1
        condition.setdefault(operator, {})[key] = (
            (value if isinstance(value, str) else value[0]) if single else list(value)
        )
    return condition


def _latin1_problems(resources: list[str], *, where: str) -> list[Problem]:
    return [
        Problem(
            where,
            show(resource),
            "has characters outside Latin-1, which IAM policies cannot hold",
            "use ASCII in backend.key and IAM paths",
        )
        for resource in resources
        if outside_latin1(resource)
    ]


def _assumed_role_notices(stacks: Sequence[StackSpec]) -> list[Notice]:
    """Where the policy goes when a stack's provider assumes a role: the role does the IAM work, not the caller."""
    return [
        Notice(
            WHERE,
            f"environment {stack.environment!r} assumes {stack.assume_role.role_arn}: attach the statements for its "
            "identity to that role, and give the identity that runs Terraform sts:AssumeRole on it and the "
            "state statements (docs/terraform-workflows.md#many-accounts)",
        )
        for stack in stacks
        if stack.assume_role is not None
    ]


def _too_large(size: int, stacks: Sequence[StackSpec], scopes: Sequence[StackScope], selected_by: str) -> Problem:
    """The refusal of a document IAM could not hold: how large, the limit, what makes it grow, and the fix."""
    pairs = list(zip(stacks, scopes, strict=True))
    growing = {
        "stacks whose user and policies are not under a path of their own other than '/' that another stack "
        "shares (or whose path mixes permissions boundaries)": sum(scope.path is None for _, scope in pairs),
        "state keys with no folder in common": sum(
            scope.path is not None and stack.cloud is None and scope.state_folder is None for stack, scope in pairs
        ),
        "secret names with no folder in common": sum(
            scope.path is not None
            and stack.identity.credentials.delivery == "secretsmanager"
            and scope.secret_folder is None
            for stack, scope in pairs
        ),
        "parameter paths with no folder in common": sum(
            scope.path is not None and stack.identity.credentials.delivery == "ssm" and scope.parameter_folder is None
            for stack, scope in pairs
        ),
    }
    named = "; ".join(f"{count} {what}" for what, count in growing.items() if count)
    return Problem(
        WHERE,
        f"{len(stacks)} stacks",
        f"make a policy of {size:,} characters, over the {LARGEST_POLICY_CHARACTERS:,} IAM holds in one place (a "
        f"role's inline policies; a managed policy holds {MANAGED_POLICY_MAX_CHARACTERS:,}): each of them names its "
        f"resources one by one ({named})",
        f'put every identity\'s users and policies under one IAM path of their own ([user] path = "{FLEET_PATH}" '
        f'and [policy] path = "{FLEET_PATH}") and its state keys, secret names and parameter paths under a folder '
        'of their own (backend.key = "programmatic-iam/{{ user }}/terraform.tfstate"): the policy then grants the '
        f"path and the folders and no longer grows with the fleet (docs/deployer-policy.md); or narrow it with "
        f"{selected_by}",
    )


def _size_notices(document: PolicyDocument, selected_by: str) -> list[Notice]:
    size = iam_size(document)
    if size <= MANAGED_POLICY_MAX_CHARACTERS:
        return []
    return [
        Notice(
            WHERE,
            f"is {size} characters, over the {MANAGED_POLICY_MAX_CHARACTERS} a managed policy holds; emit one "
            f"policy per environment ({selected_by}) and give each environment's pipeline its own identity, "
            "or attach it to a role as an inline policy (10,240 characters)",
        )
    ]


USAGE_READS = ("iam:GetUser", "iam:GenerateServiceLastAccessedDetails")
"""What ``usage report`` and ``usage tighten`` call on each stack's user (cli/usage.py)."""
USAGE_JOB_READ = "iam:GetServiceLastAccessedDetails"
"""Reads a report job by its id: IAM gives the action no resource type, so it takes ``*`` (it reveals only jobs the
caller made, by an id it was given)."""


def usage_reader_policy(stacks: Sequence[StackSpec]) -> PolicyDocument:
    """The read-only policy ``usage report`` and ``usage tighten`` (and the schedule that runs them) need: each stack's
    user by its ARN, and the report jobs. Nothing that writes."""
    users = sorted(
        {
            iam_arn(stack, "user", stack.identity.principal.path + stack.identity.principal.name)
            for stack in stacks
            if isinstance(stack.identity.principal, UserPrincipal)
        }
    )
    statements = [Statement(effect="Allow", actions=USAGE_READS, resources=tuple(users), sid="ReadTheUsersLastAccess")]
    statements.append(Statement(effect="Allow", actions=(USAGE_JOB_READ,), resources="*", sid="ReadTheReportJobs"))
    return PolicyDocument(tuple(statements) if users else (statements[1],))
