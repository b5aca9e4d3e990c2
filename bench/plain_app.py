"""A plain cdktf app making the same resources as our default synth, imported the way the cdktf docs show.

``$BENCH_ENVIRONMENTS`` (comma-separated, default ``production``) makes one stack per environment, named as
ours names them, so the benchmark compares like with like. In CDK Terrain's environment (docs/engines.md)
it is the same app on CDK Terrain: its modules have cdktf's API under their own names.
"""

import importlib
import importlib.util
import json
import os
from typing import Any

_CORE, _AWS = (
    ("cdktf", "cdktf_cdktf_provider_aws") if importlib.util.find_spec("cdktf") else ("cdktn", "cdktn_provider_aws")
)
# As `from cdktf_cdktf_provider_aws.iam_user import IamUser` does: the package first, then the submodule.
core: Any = importlib.import_module(_CORE)
aws: dict[str, Any] = {
    name: importlib.import_module(f"{_AWS}.{name}")
    for name in ("iam_access_key", "iam_policy", "iam_user", "iam_user_policy_attachment", "provider")
}

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


def programmatic_access_stack(app: Any, id: str) -> None:
    """Provider, S3 backend, a user with one managed policy and an access key, and their outputs."""
    stack = core.TerraformStack(app, id)
    user_name = id  # the stack is named after its user, as ours are
    aws["provider"].AwsProvider(stack, "aws", region=REGION)
    core.S3Backend(stack, bucket="terraform-state", key=f"{user_name}/terraform.tfstate", region=REGION, encrypt=True)
    # Same overrides as our stack, so both outputs are usable by the same Terraform and provider mirror.
    stack.add_override("terraform.backend.s3.use_lockfile", True)
    stack.add_override(
        "terraform.required_providers.aws", {"source": "hashicorp/aws", "version": ">= 5.100.0, < 7.0.0"}
    )
    stack.add_override("terraform.required_version", ">= 1.10.0")

    user = aws["iam_user"].IamUser(stack, "user", name=user_name, path="/", force_destroy=False)
    policy = aws["iam_policy"].IamPolicy(
        stack,
        "policy",
        name=f"{user_name}-programmatic-access",
        path="/",
        description="Programmatic access for streammanager in production",
        policy=POLICY_DOCUMENT,
    )
    aws["iam_user_policy_attachment"].IamUserPolicyAttachment(
        stack, "policy_attachment", user=user.name, policy_arn=policy.arn
    )
    access_key = aws["iam_access_key"].IamAccessKey(stack, "access_key", user=user.name)

    core.TerraformOutput(stack, "user_name", value=user.name, description="Name of the IAM user.")
    core.TerraformOutput(stack, "user_arn", value=user.arn, description="ARN of the IAM user.")
    core.TerraformOutput(
        stack, "policy_arns", value=[policy.arn], description="ARNs of the managed policies, in order."
    )
    core.TerraformOutput(stack, "access_key_id", value=access_key.id, description="The access key id.")
    core.TerraformOutput(
        stack, "secret_access_key", value=access_key.secret, sensitive=True, description="The secret access key."
    )


def main() -> None:
    """Synthesize into ``$CDKTF_OUTDIR`` (cdktf's ``App`` reads it), else ``cdktf.out``."""
    app = core.App()
    for environment in os.environ.get("BENCH_ENVIRONMENTS", "production").split(","):
        programmatic_access_stack(app, f"{environment}-streammanager")
    app.synth()


if __name__ == "__main__":
    main()
