"""A plain cdktf app making the same resources as our default synth, imported the way the cdktf docs show.

``$BENCH_ENVIRONMENTS`` (comma-separated, default ``production``) makes one stack per environment, named as
ours names them, so the benchmark compares like with like. ``$BENCH_STACKS`` names a JSON file of stacks
instead (``bench/fleet_config.py``'s ``fleet_stacks``: a fleet), each with its own region, account, actions,
key generation and key delivery. In CDK Terrain's environment (docs/engines.md) it is the same app on CDK
Terrain: its modules have cdktf's API under their own names.
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
    for name in (
        "iam_access_key",
        "iam_policy",
        "iam_user",
        "iam_user_policy_attachment",
        "provider",
        "secretsmanager_secret",
        "secretsmanager_secret_version",
        "ssm_parameter",
    )
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


def fleet_stack(app: Any, stack: dict[str, Any]) -> None:
    """One identity of a fleet in one environment: as above, in its region and account, with its own actions,
    its key under the generation's construct id, and the secret delivered as the stack says."""
    id = stack["id"]
    scope = core.TerraformStack(app, id)
    aws["provider"].AwsProvider(
        scope,
        "aws",
        region=stack["region"],
        allowed_account_ids=[stack["account_id"]],
        default_tags=[{"tags": {"team": "platform"}}],
    )
    core.S3Backend(scope, bucket="fleet-terraform-state", key=f"{id}.tfstate", region=REGION, encrypt=True)
    scope.add_override("terraform.backend.s3.use_lockfile", True)
    scope.add_override(
        "terraform.required_providers.aws", {"source": "hashicorp/aws", "version": ">= 5.100.0, < 7.0.0"}
    )
    scope.add_override("terraform.required_version", ">= 1.10.0")

    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": stack["actions"], "Resource": "*"}],
    }
    user = aws["iam_user"].IamUser(scope, "user", name=id, path="/", force_destroy=False)
    policy = aws["iam_policy"].IamPolicy(
        scope, "policy", name=f"{id}-access", path="/", policy=json.dumps(document, separators=(",", ":"))
    )
    aws["iam_user_policy_attachment"].IamUserPolicyAttachment(
        scope, "policy_attachment", user=user.name, policy_arn=policy.arn
    )
    key_id = "access_key" if stack["generation"] % 2 else "access_key_2"
    access_key = aws["iam_access_key"].IamAccessKey(scope, key_id, user=user.name)

    core.TerraformOutput(scope, "user_name", value=user.name, description="Name of the IAM user.")
    core.TerraformOutput(scope, "user_arn", value=user.arn, description="ARN of the IAM user.")
    core.TerraformOutput(scope, "policy_arns", value=[policy.arn], description="ARNs of the managed policies.")
    core.TerraformOutput(scope, "access_key_id", value=access_key.id, description="The access key id.")
    if stack["delivery"] == "secretsmanager":
        secret = aws["secretsmanager_secret"].SecretsmanagerSecret(
            scope, "secret", name=f"{id}/access-key", recovery_window_in_days=0
        )
        aws["secretsmanager_secret_version"].SecretsmanagerSecretVersion(
            scope,
            "secret_version",
            secret_id=secret.id,
            secret_string=core.Fn.jsonencode({"access_key_id": access_key.id, "secret_access_key": access_key.secret}),
        )
        core.TerraformOutput(scope, "secret_arn", value=secret.arn, description="The secret holding the key.")
    elif stack["delivery"] == "ssm":
        parameters = [
            aws["ssm_parameter"].SsmParameter(
                scope, "access_key_id_parameter", name=f"/{id}/access-key-id", type="String", value=access_key.id
            ),
            aws["ssm_parameter"].SsmParameter(
                scope,
                "secret_access_key_parameter",
                name=f"/{id}/secret-access-key",
                type="SecureString",
                value=access_key.secret,
            ),
        ]
        core.TerraformOutput(
            scope, "parameter_names", value=[p.name for p in parameters], description="The key's parameters."
        )
    else:
        core.TerraformOutput(
            scope, "secret_access_key", value=access_key.secret, sensitive=True, description="The secret access key."
        )


def main() -> None:
    """Synthesize into ``$CDKTF_OUTDIR`` (cdktf's ``App`` reads it), else ``cdktf.out``."""
    app = core.App()
    stacks = os.environ.get("BENCH_STACKS")
    if stacks:
        with open(stacks, encoding="utf-8") as file:
            for stack in json.load(file):
                fleet_stack(app, stack)
    else:
        for environment in os.environ.get("BENCH_ENVIRONMENTS", "production").split(","):
            programmatic_access_stack(app, f"{environment}-streammanager")
    app.synth()


if __name__ == "__main__":
    main()
