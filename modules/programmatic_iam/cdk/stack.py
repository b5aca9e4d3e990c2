"""One environment's stack: provider, S3 backend, version constraints, the identity and its outputs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..spec import AssumedRole, BackendSpec, CloudSpec, RolePrincipal, StackSpec
from ..versions import semver_range
from .bindings import (
    ENGINE,
    AwsProvider,
    AwsProviderAssumeRole,
    AwsProviderDefaultTags,
    CloudBackend,
    Construct,
    IamAccessKey,
    NamedCloudWorkspace,
    S3Backend,
    TaggedCloudWorkspaces,
    TerraformOutput,
    TerraformStack,
)
from .identity import InstanceProfileIdentity, ProgrammaticIdentity

TARGET_VERSIONS_CONTEXT = "targetVersions"
"""CDK Terrain's context key for the Terraform versions a stack targets (its CLI fills it from cdktf.json)."""


def require_aws_provider(stack: TerraformStack, version: str) -> None:
    """Ask for ``hashicorp/aws`` within ``version`` (a constraint such as ``>= 5.100.0, < 7.0.0``).

    The bindings write source ``aws`` pinned to exactly 6.25.0; users need the registry source and a range.
    """
    stack.add_override("terraform.required_providers.aws", {"source": "hashicorp/aws", "version": version})


def use_aws_provider(
    stack: TerraformStack,
    region: str,
    default_tags: Iterable[tuple[str, str]],
    account_id: str | None = None,
    assume_role: AssumedRole | None = None,
) -> AwsProvider:
    """The stack's AWS provider: its region, the tags on everything it creates, the one account allowed, and
    the role it assumes to get there (the backend keeps the caller's own credentials)."""
    tags = dict(default_tags)
    return AwsProvider(
        stack,
        "aws",
        region=region,
        allowed_account_ids=[account_id] if account_id else None,
        default_tags=[AwsProviderDefaultTags(tags=tags)] if tags else None,
        assume_role=[
            AwsProviderAssumeRole(
                role_arn=assume_role.role_arn,
                session_name=assume_role.session_name,
                external_id=assume_role.external_id,
            )
        ]
        if assume_role
        else None,
    )


def use_s3_backend(stack: TerraformStack, backend: BackendSpec) -> None:
    """Keep the stack's state in S3 as ``backend`` describes, locked with a lock file when it asks for one."""
    _s3_backend(stack, backend)
    if backend.use_lockfile:
        stack.add_override("terraform.backend.s3.use_lockfile", True)


def _s3_backend(stack: TerraformStack, backend: BackendSpec) -> None:
    """The S3 backend without ``use_lockfile``: cdktf 0.21's S3Backend predates it (Terraform 1.10)."""
    S3Backend(
        stack,
        bucket=backend.bucket,
        key=backend.key,
        region=backend.region,
        encrypt=backend.encrypt,
        dynamodb_table=backend.dynamodb_table,
        kms_key_id=backend.kms_key_id,
    )


def use_cloud(stack: TerraformStack, cloud: CloudSpec) -> None:
    """Plan and apply the stack on its HCP Terraform workspace, which keeps its state (encrypted and locked)."""
    CloudBackend(
        stack,
        organization=cloud.organization,
        hostname=cloud.hostname,
        workspaces=NamedCloudWorkspace(cloud.workspace, project=cloud.project)
        if cloud.workspace
        else TaggedCloudWorkspaces(list(cloud.workspace_tags), project=cloud.project),
    )


def require_terraform(stack: TerraformStack, required_version: str) -> None:
    """``terraform.required_version``, and the same range as the stack's context ``targetVersions``.

    CDK Terrain checks the Terraform features a stack's resources use (write-only arguments need 1.11)
    against that context, and without it assumes Terraform 1.5.7; cdktf ignores it and writes no context
    into the stack. Context must be set before the stack has children, so this comes first.
    """
    target_terraform(stack, required_version)
    stack.add_override("terraform.required_version", required_version)


def target_terraform(stack: TerraformStack, required_version: str) -> None:
    """The stack's context ``targetVersions`` (see :func:`require_terraform`), for the engines that read it."""
    if ENGINE.reads_target_versions:
        stack.node.set_context(TARGET_VERSIONS_CONTEXT, {"terraform": semver_range(required_version)})


def terraform_block(required_version: str, provider_version: str, *, use_lockfile: bool) -> dict[str, Any]:
    """What :func:`require_terraform`, :func:`require_aws_provider` and :func:`use_s3_backend` add to the
    ``terraform`` block, as one override: each override is a round trip to the jsii kernel, and cdktf merges
    this one into the block key by key, as it merges theirs."""
    block: dict[str, Any] = {
        "required_version": required_version,
        "required_providers": {"aws": {"source": "hashicorp/aws", "version": provider_version}},
    }
    if use_lockfile:
        block["backend"] = {"s3": {"use_lockfile": True}}
    return block


class IdentityStack(TerraformStack):
    """A stack holding one programmatic identity, its state in S3."""

    def __init__(self, scope: Construct, id: str, spec: StackSpec) -> None:
        super().__init__(scope, id)
        target_terraform(self, spec.required_version)
        use_aws_provider(self, spec.region, spec.default_tags, spec.account_id, spec.assume_role)
        if spec.cloud is not None:
            use_cloud(self, spec.cloud)
        else:
            _s3_backend(self, spec.backend)
        use_lockfile = spec.cloud is None and spec.backend.use_lockfile
        self.add_override(
            "terraform", terraform_block(spec.required_version, spec.provider_version, use_lockfile=use_lockfile)
        )

        if isinstance(spec.identity.principal, RolePrincipal):
            instance_profile_outputs(self, InstanceProfileIdentity(self, "identity", spec.identity, address_prefix=""))
            return
        # The stack's only identity: its resources get the plainest addresses (aws_iam_user.user).
        identity = ProgrammaticIdentity(self, "identity", spec.identity, address_prefix="")
        TerraformOutput(self, "user_name", value=identity.user_name, description="Name of the IAM user.")
        TerraformOutput(self, "user_arn", value=identity.user.arn, description="ARN of the IAM user.")
        TerraformOutput(
            self,
            "policy_arns",
            value=identity.policy_arns,
            description="ARNs of the managed policies, in order.",
        )
        key = identity.access_key
        if key is not None:
            key_outputs(self, identity, key, spec.identity.credentials.delivery)


def key_outputs(stack: TerraformStack, identity: ProgrammaticIdentity, key: IamAccessKey, delivery: str) -> None:
    """The key's outputs: its id, and its secret or where it was delivered."""
    TerraformOutput(stack, "access_key_id", value=key.id, description="The access key id.")
    if identity.previous_key is not None:
        TerraformOutput(
            stack,
            "previous_access_key_id",
            value=identity.previous_key.id,
            description="The previous generation's key id, until the rotation ends (docs/key-rotation.md).",
        )
    if delivery == "output":
        TerraformOutput(
            stack,
            "secret_access_key",
            value=key.secret,
            sensitive=True,
            description="The secret access key. Read it with `terraform output -raw secret_access_key`; never log it.",
        )
    elif delivery == "pgp":
        TerraformOutput(
            stack,
            "encrypted_secret_access_key",
            value=key.encrypted_secret,
            description="The secret access key encrypted with access_key.pgp_key (base64); docs/security.md "
            "shows how to decrypt it.",
        )
        TerraformOutput(
            stack,
            "key_fingerprint",
            value=key.key_fingerprint,
            description="The PGP key's fingerprint.",
        )
    elif identity.secret is not None:
        TerraformOutput(
            stack, "secret_arn", value=identity.secret.arn, description="The Secrets Manager secret holding the key."
        )
    else:
        TerraformOutput(
            stack,
            "parameter_names",
            value=[parameter.name for parameter in identity.parameters],
            description="The SSM parameters holding the key id and (SecureString) the secret.",
        )


def instance_profile_outputs(stack: TerraformStack, identity: InstanceProfileIdentity) -> None:
    """The role's and the instance profile's names and ARNs, and the policies'."""
    TerraformOutput(stack, "role_name", value=identity.role.name, description="Name of the IAM role.")
    TerraformOutput(stack, "role_arn", value=identity.role.arn, description="ARN of the IAM role.")
    TerraformOutput(
        stack,
        "instance_profile_name",
        value=identity.instance_profile.name,
        description="The instance profile to launch the application's instances with.",
    )
    TerraformOutput(
        stack, "instance_profile_arn", value=identity.instance_profile.arn, description="ARN of the instance profile."
    )
    TerraformOutput(
        stack,
        "policy_arns",
        value=[policy.arn for policy in identity.policies],
        description="ARNs of the managed policies, in order.",
    )
