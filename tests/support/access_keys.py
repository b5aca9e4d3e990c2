"""Access keys in emulator tests: secrets kept out of reprs, calls sorted into authorised and denied."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
import re
from typing import Any

from botocore.exceptions import ClientError

from programmatic_iam.spec import StackSpec
from programmatic_iam_dev.emulator import EMULATED_ACCOUNT_ID, AwsEmulator

# What AWS answers when IAM denies a call: EC2 says UnauthorizedOperation (moto says AccessDenied for
# every service), JSON-protocol services AccessDeniedException, the others AccessDenied.
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


@dataclass(frozen=True)
class AccessKey:
    """An access key. The secret is left out of ``repr``, so an assertion failure cannot show it."""

    access_key_id: str
    secret_access_key: str = field(repr=False)

    def client(self, aws: AwsEmulator, service: str) -> Any:
        """A boto3 client for ``service`` at the emulator, signing with this key."""
        return aws.client(service, aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key)

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` with this key as the AWS credentials (for Terraform)."""
        return {**base, "AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}


def error_code(call: Callable[[], object]) -> str | None:
    """The AWS error code ``call`` fails with, or ``None`` when it succeeds."""
    try:
        call()
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return None


def user_with_policy(aws: AwsEmulator, user_name: str, policy_json: str) -> AccessKey:
    """Create an IAM user with ``policy_json`` attached as a managed policy, and a key (IAM checks must be off)."""
    iam = aws.client("iam")
    iam.create_user(UserName=user_name)
    policy = iam.create_policy(PolicyName=f"{user_name}-policy", PolicyDocument=policy_json)["Policy"]
    iam.attach_user_policy(UserName=user_name, PolicyArn=policy["Arn"])
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    return AccessKey(key["AccessKeyId"], key["SecretAccessKey"])


def iam_resource_matches(pattern: str, arn: str) -> bool:
    """Whether a policy's Resource ``pattern`` covers ``arn``, as IAM matches them (``*`` and ``?``, case-sensitive)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn) is not None


def deploy_stack_user(aws: AwsEmulator, stack: StackSpec) -> None:
    """The stack's user with its managed policies attached, as its apply leaves them (a policy another stack already
    made is attached again, not made twice); no key."""
    iam = aws.client("iam")
    iam.create_user(UserName=stack.stack_id)
    for policy in stack.identity.policies:
        arn = f"arn:aws:iam::{EMULATED_ACCOUNT_ID}:policy{policy.path}{policy.name}"
        if error_code(lambda: iam.get_policy(PolicyArn=arn)) == "NoSuchEntity":  # noqa: B023 (called at once)
            iam.create_policy(PolicyName=policy.name, Path=policy.path, PolicyDocument=policy.document.to_json())
        iam.attach_user_policy(UserName=stack.stack_id, PolicyArn=arn)
