"""The state bucket, its optional lock table, and the bootstrap stack that creates them."""

from __future__ import annotations

from ..spec.state_bucket import (
    LOCAL_STATE_FILE,
    LOCK_TABLE_HASH_KEY,
    SSE_KMS,
    BootstrapSpec,
    StateBucketSpec,
    deny_insecure_transport,
    policy_json,
)
from .addresses import ReadablyAddressed
from .bindings import (
    App,
    Construct,
    DynamodbTable,
    DynamodbTableAttribute,
    LocalBackend,
    S3Bucket,
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
    S3BucketPolicy,
    S3BucketPublicAccessBlock,
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
    TerraformOutput,
    TerraformStack,
)
from .stack import require_aws_provider, require_terraform, use_aws_provider, use_s3_backend


class StateBucket(ReadablyAddressed):
    """An S3 bucket fit for Terraform state, and optionally a DynamoDB lock table.

    Versioned (an overwritten or deleted state can be recovered), encrypted by default, closed to the
    public, owned by the bucket owner only (ACLs off), and refusing requests without TLS. Construct ids
    (``bucket``, ``versioning``, ``encryption``, ``public_access_block``, ``ownership_controls``,
    ``tls_only_policy``, ``lock_table``) are stable: renaming one would replace the resource, and
    replacing the bucket means losing every state in it. Addresses are ``<id>_<construct id>``
    (``aws_s3_bucket.state_bucket``), moved from cdktf's hashed ones.
    """

    def __init__(self, scope: Construct, id: str, spec: StateBucketSpec) -> None:
        super().__init__(scope, id)
        self._make(spec)
        self._finish_addresses()

    def _make(self, spec: StateBucketSpec) -> None:
        # No force_destroy: deleting a bucket that still holds state must fail.
        self.bucket = self._add(S3Bucket, "bucket", bucket=spec.bucket)
        name = self.bucket.bucket
        self._add(
            S3BucketVersioningA,
            "versioning",
            bucket=name,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        kms = spec.sse_algorithm == SSE_KMS
        self._add(
            S3BucketServerSideEncryptionConfigurationA,
            "encryption",
            bucket=name,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                        sse_algorithm=spec.sse_algorithm,
                        kms_master_key_id=spec.kms_key_id or None,
                    ),
                    # An S3 bucket key cuts the KMS requests (and their cost) for every state write.
                    bucket_key_enabled=True if kms else None,
                )
            ],
        )
        public_access_block = self._add(
            S3BucketPublicAccessBlock,
            "public_access_block",
            bucket=name,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        self._add(
            S3BucketOwnershipControls,
            "ownership_controls",
            bucket=name,
            rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        self.policy = self._add(
            S3BucketPolicy,
            "tls_only_policy",
            bucket=name,
            # The document holds no user text, only the bucket's ARN attribute: nothing to escape.
            policy=policy_json(deny_insecure_transport(self.bucket.arn)),
            # S3 rejects a policy change while the public access block of the same bucket is changing.
            depends_on=[public_access_block],
        )
        self.lock_table = (
            self._add(
                DynamodbTable,
                "lock_table",
                name=spec.lock_table,
                billing_mode="PAY_PER_REQUEST",
                hash_key=LOCK_TABLE_HASH_KEY,
                attribute=[DynamodbTableAttribute(name=LOCK_TABLE_HASH_KEY, type="S")],
            )
            if spec.lock_table
            else None
        )


class StateBootstrapStack(TerraformStack):
    """The stack that creates the state bucket, its own state local at first and in that bucket later."""

    def __init__(self, scope: Construct, id: str, spec: BootstrapSpec) -> None:
        super().__init__(scope, id)
        require_terraform(self, spec.required_version)
        use_aws_provider(self, spec.region, spec.default_tags)
        if spec.backend is None:
            # Relative to the stack folder, where Terraform runs: the file moves with the folder.
            LocalBackend(self, path=LOCAL_STATE_FILE)
        else:
            use_s3_backend(self, spec.backend)
        require_aws_provider(self, spec.provider_version)

        state = StateBucket(self, "state", spec.state_bucket)
        TerraformOutput(self, "bucket", value=state.bucket.bucket, description="Name of the state bucket.")
        TerraformOutput(self, "bucket_arn", value=state.bucket.arn, description="ARN of the state bucket.")
        if state.lock_table is not None:
            TerraformOutput(
                self, "lock_table", value=state.lock_table.name, description="Name of the DynamoDB lock table."
            )


def build_bootstrap_app(spec: BootstrapSpec, outdir: str) -> App:
    """An app holding only the bootstrap stack, writing to ``outdir``."""
    app = App(outdir=outdir, stack_traces=False)
    StateBootstrapStack(app, spec.stack_id, spec)
    return app
