"""The only module that imports cdktf, constructs and the AWS provider bindings.

It imports them under cdktf's names; :mod:`.engine` decides, once, which engine those names load. Every class
that writes into the Terraform JSON is handed out through its door (:mod:`.door`), so text reaches the JSON
escaped, or checked, without the constructs doing anything for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .door import STACK_READ_AS_WRITTEN, evaluated, functions, read_as_written
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

if not TYPE_CHECKING:  # mypy sees the bindings' own classes, whose signatures the doors keep
    AwsProvider = evaluated(AwsProvider)
    AwsProviderAssumeRole = evaluated(AwsProviderAssumeRole)
    AwsProviderDefaultTags = evaluated(AwsProviderDefaultTags)
    CloudBackend = read_as_written(CloudBackend)
    DynamodbTable = evaluated(DynamodbTable)
    DynamodbTableAttribute = evaluated(DynamodbTableAttribute)
    Fn = functions(Fn)
    IamAccessKey = evaluated(IamAccessKey)
    IamGroup = evaluated(IamGroup)
    IamGroupPolicyAttachment = evaluated(IamGroupPolicyAttachment)
    IamInstanceProfile = evaluated(IamInstanceProfile)
    IamPolicy = evaluated(IamPolicy)
    IamRole = evaluated(IamRole)
    IamRolePolicyAttachment = evaluated(IamRolePolicyAttachment)
    IamUser = evaluated(IamUser)
    IamUserGroupMembership = evaluated(IamUserGroupMembership)
    IamUserPolicyAttachment = evaluated(IamUserPolicyAttachment)
    LocalBackend = read_as_written(LocalBackend)
    NamedCloudWorkspace = read_as_written(NamedCloudWorkspace)
    S3Backend = read_as_written(S3Backend)
    S3Bucket = evaluated(S3Bucket)
    S3BucketOwnershipControls = evaluated(S3BucketOwnershipControls)
    S3BucketOwnershipControlsRule = evaluated(S3BucketOwnershipControlsRule)
    S3BucketPolicy = evaluated(S3BucketPolicy)
    S3BucketPublicAccessBlock = evaluated(S3BucketPublicAccessBlock)
    S3BucketServerSideEncryptionConfigurationA = evaluated(S3BucketServerSideEncryptionConfigurationA)
    S3BucketServerSideEncryptionConfigurationRuleA = evaluated(S3BucketServerSideEncryptionConfigurationRuleA)
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA = evaluated(
        S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA
    )
    S3BucketVersioningA = evaluated(S3BucketVersioningA)
    S3BucketVersioningVersioningConfiguration = evaluated(S3BucketVersioningVersioningConfiguration)
    SecretsmanagerSecret = evaluated(SecretsmanagerSecret)
    SecretsmanagerSecretVersion = evaluated(SecretsmanagerSecretVersion)
    SsmParameter = evaluated(SsmParameter)
    TaggedCloudWorkspaces = read_as_written(TaggedCloudWorkspaces)
    TerraformOutput = evaluated(TerraformOutput, read_as_written=("description",))
    TerraformStack = evaluated(TerraformStack, read_as_written=STACK_READ_AS_WRITTEN)

WITHOUT_DOOR = ("App", "Construct", "ENGINE", "IValidation", "TerraformResource", "Token")
"""What writes no text into the JSON itself (the app, bases, helpers), so needs no door."""

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
