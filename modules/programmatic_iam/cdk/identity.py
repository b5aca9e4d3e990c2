"""The programmatic identity: managed policies, a user without console access, attachments, a key."""

from __future__ import annotations

from ..spec import AccessKey, IdentitySpec, RolePrincipal, UserPrincipal
from .addresses import ReadablyAddressed
from .bindings import (
    Construct,
    Fn,
    IamAccessKey,
    IamGroup,
    IamGroupPolicyAttachment,
    IamInstanceProfile,
    IamPolicy,
    IamRole,
    IamRolePolicyAttachment,
    IamUser,
    IamUserGroupMembership,
    IamUserPolicyAttachment,
    SecretsmanagerSecret,
    SecretsmanagerSecretVersion,
    SsmParameter,
    Token,
)


def key_construct_id(generation: int) -> str:
    """``access_key`` for odd generations (the first included), ``access_key_2`` for even ones.

    A rotation needs the old key and the new one side by side; alternating between two stable ids lets
    each step be a plain change to the configuration, and keeps the first key where it always was.
    """
    return "access_key" if generation % 2 else "access_key_2"


def policy_construct_id(index: int) -> str:
    """``policy`` for the first managed policy, ``policy_2``... after it. Part of the state contract."""
    return "policy" if index == 0 else f"policy_{index + 1}"


class ProgrammaticIdentity(ReadablyAddressed):
    """An IAM user that can only call APIs, with its managed policies attached and one access key.

    Add it to any cdktf stack that has an AWS provider::

        spec = identity_spec(load_config(), "production")
        identity = ProgrammaticIdentity(stack, "identity", spec)

    The user gets no login profile, so it has no console password. Construct ids (``user``,
    ``policy``, ``policy_2``..., ``access_key``) are stable: renaming one would replace the resource.
    Each resource's Terraform address is ``<address_prefix><construct id>``; the prefix defaults to
    ``<id>_`` (``aws_iam_user.stream_manager_user``), unique in a stack; the app's stacks, which hold one
    identity, use ``""`` (``aws_iam_user.user``). ``user_name`` and ``policy_arns`` are the references to the
    user's name and each policy's ARN, asked of the jsii kernel once and used wherever they are needed.
    """

    def __init__(self, scope: Construct, id: str, spec: IdentitySpec, address_prefix: str | None = None) -> None:
        super().__init__(scope, id, address_prefix)
        self._make(spec)
        self._finish_addresses()

    def _make(self, spec: IdentitySpec) -> None:
        if not isinstance(spec.principal, UserPrincipal):
            raise TypeError("ProgrammaticIdentity makes a user; use InstanceProfileIdentity for a role")
        principal = spec.principal
        self.user = self._add(
            IamUser,
            "user",
            name=principal.name,
            path=principal.path,
            permissions_boundary=principal.permissions_boundary or None,
            force_destroy=principal.force_destroy,
            tags=dict(principal.tags) or None,
        )
        # Each reference is a round trip to the kernel; asked once, the same token serves every use.
        self.user_name = self.user.name
        self.policies = _managed_policies(self, spec)
        self.policy_arns = [policy.arn for policy in self.policies]
        if spec.attachment.to == "group":
            self._attach_through_group(spec.attachment.group_name, spec.principal.path)
        else:
            self.attachments = [
                self._add(
                    IamUserPolicyAttachment,
                    f"{policy_construct_id(index)}_attachment",
                    user=self.user_name,
                    policy_arn=policy_arn,
                )
                for index, policy_arn in enumerate(self.policy_arns)
            ]
        if spec.adoption is not None:
            self._adopt(spec)
        key = spec.credentials
        self.secret: SecretsmanagerSecret | None = None
        self.parameters: tuple[SsmParameter, ...] = ()
        self.previous_key: IamAccessKey | None = None
        self.access_key: IamAccessKey | None = None
        if not key.create:
            return
        pgp_key = key.pgp_key or None
        self.access_key = self._add(
            IamAccessKey, key_construct_id(key.generation), user=self.user_name, pgp_key=pgp_key
        )
        if key.previous != "none":
            self.previous_key = self._add(
                IamAccessKey,
                key_construct_id(key.generation - 1),
                user=self.user_name,
                pgp_key=pgp_key,
                status="Inactive" if key.previous == "inactive" else "Active",
            )
        if key.delivery == "secretsmanager":
            self.secret = self._deliver_to_secrets_manager(key, self.access_key)
        elif key.delivery == "ssm":
            self.parameters = self._deliver_to_parameters(key, self.access_key)

    def _adopt(self, spec: IdentitySpec) -> None:
        """Import blocks for what the guide has people make by hand: the user, the policy, the attachment."""
        adoption = spec.adoption
        assert adoption is not None
        self.user.import_from(spec.principal.name)
        for policy, resource in zip(spec.policies, self.policies, strict=True):
            resource.import_from(adoption.policy_arn(policy))
        for policy, attachment in zip(spec.policies, self.attachments, strict=True):
            attachment.import_from(f"{spec.principal.name}/{adoption.policy_arn(policy)}")

    @staticmethod
    def _key_generation(access_key: IamAccessKey) -> float:
        """A number that changes exactly when the key is replaced: what tells a write-only store to rewrite.

        Write-only values never reach the state, so Terraform cannot see them change; it rewrites them when
        their version does. The key's creation time (YYYYMMDDhhmmss) is that version.
        """
        stamp: float = Token.as_number(Fn.parseint(Fn.formatdate("YYYYMMDDhhmmss", access_key.create_date), 10))
        return stamp

    def _deliver_to_secrets_manager(self, key: AccessKey, access_key: IamAccessKey) -> SecretsmanagerSecret:
        secret = self._add(
            SecretsmanagerSecret,
            "secret",
            name=key.secret_name,
            description="The access key of the IAM user, as JSON: access_key_id and secret_access_key.",
            kms_key_id=key.kms_key_id or None,
            # The key it holds goes with the stack; a recovery window would only block making the stack again.
            recovery_window_in_days=0,
        )
        self._add(
            SecretsmanagerSecretVersion,
            "secret_version",
            secret_id=secret.id,
            secret_string_wo=Fn.jsonencode({"access_key_id": access_key.id, "secret_access_key": access_key.secret}),
            secret_string_wo_version=self._key_generation(access_key),
        )
        return secret

    def _deliver_to_parameters(self, key: AccessKey, access_key: IamAccessKey) -> tuple[SsmParameter, ...]:
        key_id = self._add(
            SsmParameter,
            "access_key_id_parameter",
            name=f"{key.parameter_path}/access-key-id",
            type="String",
            value=access_key.id,
            description="The access key id of the IAM user.",
        )
        secret = self._add(
            SsmParameter,
            "secret_access_key_parameter",
            name=f"{key.parameter_path}/secret-access-key",
            type="SecureString",
            key_id=key.kms_key_id or None,
            value_wo=access_key.secret,
            value_wo_version=self._key_generation(access_key),
            description="The secret access key of the IAM user.",
        )
        return (key_id, secret)

    def _attach_through_group(self, group_name: str, path: str) -> None:
        group = self._add(IamGroup, "group", name=group_name, path=path)
        group_name_reference = group.name
        for index, policy_arn in enumerate(self.policy_arns):
            self._add(
                IamGroupPolicyAttachment,
                f"{policy_construct_id(index)}_attachment",
                group=group_name_reference,
                policy_arn=policy_arn,
            )
        self._add(IamUserGroupMembership, "group_membership", user=self.user_name, groups=[group_name_reference])


class InstanceProfileIdentity(ReadablyAddressed):
    """A role that EC2 instances assume, in an instance profile of the same name, with the managed policies.

    No user and no access key: the application on EC2 gets short-lived credentials from the instance
    metadata service. Construct ids (``role``, ``instance_profile``, ``policy``...) are stable, and name the
    resources' addresses as in :class:`ProgrammaticIdentity`.
    """

    def __init__(self, scope: Construct, id: str, spec: IdentitySpec, address_prefix: str | None = None) -> None:
        super().__init__(scope, id, address_prefix)
        self._make(spec)
        self._finish_addresses()

    def _make(self, spec: IdentitySpec) -> None:
        role = spec.principal
        if not isinstance(role, RolePrincipal):
            raise TypeError("InstanceProfileIdentity makes a role; use ProgrammaticIdentity for a user")
        self.role = self._add(
            IamRole,
            "role",
            name=role.name,
            path=role.path,
            assume_role_policy=role.trust_policy,
            permissions_boundary=role.permissions_boundary or None,
            tags=dict(role.tags) or None,
            description="Assumed by the application's EC2 instances through the instance profile of the same name.",
        )
        self.policies = _managed_policies(self, spec)
        self.attachments = [
            self._add(
                IamRolePolicyAttachment,
                f"{policy_construct_id(index)}_attachment",
                role=self.role.name,
                policy_arn=policy.arn,
            )
            for index, policy in enumerate(self.policies)
        ]
        self.instance_profile = self._add(
            IamInstanceProfile, "instance_profile", name=role.name, path=role.path, role=self.role.name
        )


def _managed_policies(identity: ReadablyAddressed, spec: IdentitySpec) -> list[IamPolicy]:
    return [
        identity._add(
            IamPolicy,
            policy_construct_id(index),
            name=policy.name,
            path=policy.path,
            description=policy.description or None,
            policy=policy.document_json,
        )
        for index, policy in enumerate(spec.policies)
    ]
