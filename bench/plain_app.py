"""A plain cdktf app making the same resources as our default synth, imported the way the cdktf docs show.

``$BENCH_ENVIRONMENTS`` (comma-separated, default ``production``) makes one stack per environment, named as
ours names them, so the benchmark compares like with like.
"""

import json
import os

from cdktf import App, S3Backend, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.iam_access_key import IamAccessKey
from cdktf_cdktf_provider_aws.iam_policy import IamPolicy
from cdktf_cdktf_provider_aws.iam_user import IamUser
from cdktf_cdktf_provider_aws.iam_user_policy_attachment import IamUserPolicyAttachment
from cdktf_cdktf_provider_aws.provider import AwsProvider
from constructs import Construct

REGION = "us-east-1"
POLICY_DOCUMENT = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ec2:DescribeInstances", "ec2:RunInstances", "ec2:StartInstances", "ec2:StopInstances"],
                "Resource": "*",
            }
        ],
    },
    separators=(",", ":"),
)


class ProgrammaticAccessStack(TerraformStack):
    """Provider, S3 backend, a user with one managed policy and an access key, and their outputs."""

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        user_name = id  # the stack is named after its user, as ours are
        AwsProvider(self, "aws", region=REGION)
        S3Backend(self, bucket="terraform-state", key=f"{user_name}/terraform.tfstate", region=REGION, encrypt=True)
        # Same overrides as our stack, so both outputs are usable by the same Terraform and provider mirror.
        self.add_override("terraform.backend.s3.use_lockfile", True)
        self.add_override(
            "terraform.required_providers.aws", {"source": "hashicorp/aws", "version": ">= 5.100.0, < 7.0.0"}
        )
        self.add_override("terraform.required_version", ">= 1.10.0")

        user = IamUser(self, "user", name=user_name, path="/", force_destroy=False)
        policy = IamPolicy(
            self,
            "policy",
            name=f"{user_name}-programmatic-access",
            path="/",
            description="Programmatic access for streammanager in production",
            policy=POLICY_DOCUMENT,
        )
        IamUserPolicyAttachment(self, "policy_attachment", user=user.name, policy_arn=policy.arn)
        access_key = IamAccessKey(self, "access_key", user=user.name)

        TerraformOutput(self, "user_name", value=user.name, description="Name of the IAM user.")
        TerraformOutput(self, "user_arn", value=user.arn, description="ARN of the IAM user.")
        TerraformOutput(self, "policy_arns", value=[policy.arn], description="ARNs of the managed policies, in order.")
        TerraformOutput(self, "access_key_id", value=access_key.id, description="The access key id.")
        TerraformOutput(
            self, "secret_access_key", value=access_key.secret, sensitive=True, description="The secret access key."
        )


def main() -> None:
    """Synthesize into ``$CDKTF_OUTDIR`` (cdktf's ``App`` reads it), else ``cdktf.out``."""
    app = App()
    for environment in os.environ.get("BENCH_ENVIRONMENTS", "production").split(","):
        ProgrammaticAccessStack(app, f"{environment}-streammanager")
    app.synth()


if __name__ == "__main__":
    main()
