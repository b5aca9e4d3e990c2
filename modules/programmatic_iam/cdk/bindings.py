"""The only module that imports cdktf, constructs and the AWS provider bindings.

It imports them under cdktf's names; :mod:`.engine` decides, once, which engine those names load.
"""

from __future__ import annotations

from .engine import load_chosen_engine

ENGINE = load_chosen_engine()

from cdktf import (  # noqa: E402
    App,
    CloudBackend,
    Fn,
    LocalBackend,
    NamedCloudWorkspace,
    S3Backend,
    TaggedCloudWorkspaces,
    TerraformOutput,
    TerraformResource,
    TerraformStack,
    Token,
)
from cdktf_cdktf_provider_aws.dynamodb_table import DynamodbTable, DynamodbTableAttribute  # noqa: E402
from cdktf_cdktf_provider_aws.iam_access_key import IamAccessKey  # noqa: E402
from cdktf_cdktf_provider_aws.iam_group import IamGroup  # noqa: E402
from cdktf_cdktf_provider_aws.iam_group_policy_attachment import IamGroupPolicyAttachment  # noqa: E402
from cdktf_cdktf_provider_aws.iam_instance_profile import IamInstanceProfile  # noqa: E402
from cdktf_cdktf_provider_aws.iam_policy import IamPolicy  # noqa: E402
from cdktf_cdktf_provider_aws.iam_role import IamRole  # noqa: E402
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment  # noqa: E402
from cdktf_cdktf_provider_aws.iam_user import IamUser  # noqa: E402
from cdktf_cdktf_provider_aws.iam_user_group_membership import IamUserGroupMembership  # noqa: E402
from cdktf_cdktf_provider_aws.iam_user_policy_attachment import IamUserPolicyAttachment  # noqa: E402
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderAssumeRole, AwsProviderDefaultTags  # noqa: E402
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket  # noqa: E402
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (  # noqa: E402
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy  # noqa: E402
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock  # noqa: E402
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (  # noqa: E402
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import (  # noqa: E402
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
)
from cdktf_cdktf_provider_aws.secretsmanager_secret import SecretsmanagerSecret  # noqa: E402
from cdktf_cdktf_provider_aws.secretsmanager_secret_version import SecretsmanagerSecretVersion  # noqa: E402
from cdktf_cdktf_provider_aws.ssm_parameter import SsmParameter  # noqa: E402
from constructs import Construct, IValidation  # noqa: E402

__all__ = [
    "ENGINE",
    "App",
    "AwsProvider",
    "AwsProviderAssumeRole",
    "AwsProviderDefaultTags",
    "CloudBackend",
    "Construct",
    "DynamodbTable",
    "DynamodbTableAttribute",
    "Fn",
    "IamAccessKey",
    "IamGroup",
    "IamGroupPolicyAttachment",
    "IamInstanceProfile",
    "IamPolicy",
    "IamRole",
    "IamRolePolicyAttachment",
    "IamUser",
    "IamUserGroupMembership",
    "IamUserPolicyAttachment",
    "IValidation",
    "LocalBackend",
    "NamedCloudWorkspace",
    "S3Backend",
    "S3Bucket",
    "S3BucketOwnershipControls",
    "S3BucketOwnershipControlsRule",
    "S3BucketPolicy",
    "S3BucketPublicAccessBlock",
    "S3BucketServerSideEncryptionConfigurationA",
    "S3BucketServerSideEncryptionConfigurationRuleA",
    "S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA",
    "S3BucketVersioningA",
    "SecretsmanagerSecret",
    "SecretsmanagerSecretVersion",
    "SsmParameter",
    "TaggedCloudWorkspaces",
    "Token",
    "S3BucketVersioningVersioningConfiguration",
    "TerraformOutput",
    "TerraformResource",
    "TerraformStack",
]
