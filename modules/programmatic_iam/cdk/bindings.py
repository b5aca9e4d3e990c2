"""The only module that imports cdktf, constructs and the AWS provider bindings.

Switching to CDK Terrain means changing the imports here (``cdktn``, ``cdktn_provider_aws``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

# jsii prints a large end-of-life banner on Node 20 at every run; it says nothing about our output.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def _register_provider_package_without_submodules(package: str) -> None:
    """Make ``import package.submodule`` skip the package's ``__init__``.

    The bindings' ``__init__`` imports all ~2,200 resource modules (12-15 s, up to 1.6 GB); an empty
    stand-in with the real ``__path__`` lets us import only the few we use, with identical output.
    """
    if package in sys.modules:
        return
    spec = importlib.util.find_spec(package)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"{package} is not installed; run the setup command in README.md")
    stand_in = types.ModuleType(package)
    stand_in.__path__ = list(spec.submodule_search_locations)
    stand_in.__spec__ = spec
    sys.modules[package] = stand_in


_register_provider_package_without_submodules("cdktf_cdktf_provider_aws")

from cdktf import App, LocalBackend, S3Backend, TerraformOutput, TerraformStack  # noqa: E402
from cdktf_cdktf_provider_aws.dynamodb_table import DynamodbTable, DynamodbTableAttribute  # noqa: E402
from cdktf_cdktf_provider_aws.iam_access_key import IamAccessKey  # noqa: E402
from cdktf_cdktf_provider_aws.iam_group import IamGroup  # noqa: E402
from cdktf_cdktf_provider_aws.iam_group_policy_attachment import IamGroupPolicyAttachment  # noqa: E402
from cdktf_cdktf_provider_aws.iam_policy import IamPolicy  # noqa: E402
from cdktf_cdktf_provider_aws.iam_user import IamUser  # noqa: E402
from cdktf_cdktf_provider_aws.iam_user_group_membership import IamUserGroupMembership  # noqa: E402
from cdktf_cdktf_provider_aws.iam_user_policy_attachment import IamUserPolicyAttachment  # noqa: E402
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags  # noqa: E402
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
from constructs import Construct, IValidation  # noqa: E402

__all__ = [
    "App",
    "AwsProvider",
    "AwsProviderDefaultTags",
    "Construct",
    "DynamodbTable",
    "DynamodbTableAttribute",
    "IamAccessKey",
    "IamGroup",
    "IamGroupPolicyAttachment",
    "IamPolicy",
    "IamUser",
    "IamUserGroupMembership",
    "IamUserPolicyAttachment",
    "IValidation",
    "LocalBackend",
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
    "S3BucketVersioningVersioningConfiguration",
    "TerraformOutput",
    "TerraformStack",
]
