"""moto's server, with bucket-policy statements that carry a ``Condition`` left out of its access checks.

moto checks bucket policies without any request context and takes every condition as met, so the
state bucket's "deny unless TLS" statement (``aws:SecureTransport`` false) would deny every object
request, the state's reads and writes included. On AWS the backend always speaks HTTPS, which the
emulator's plain HTTP stands in for, and that statement never applies: leaving conditional statements
out is what AWS does with the policies this project writes. Unconditional statements are still enforced.

Run as a script (``python -I moto_server.py -H ... -p ...``) so that it needs nothing but moto.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def unconditional_statements(policy: str | bytes) -> str:
    """The bucket policy ``policy`` without its statements that have a ``Condition``."""
    document = json.loads(policy)
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return json.dumps({**document, "Statement": [s for s in statements if "Condition" not in s]})


def patch_bucket_policy_checks() -> None:
    """Make moto's S3 check bucket policies without their conditional statements."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        return IAMPolicy(unconditional_statements(self.policy)).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


if __name__ == "__main__":
    patch_bucket_policy_checks()
    from moto.server import main

    main(sys.argv[1:])
