"""moto's server, with two of its access checks made to behave as AWS's do, and a retried write that does not
fail on itself (docs/local-emulator.md).

Bucket-policy statements that carry a ``Condition`` are left out. moto checks bucket policies without any
request context and takes every condition as met, so the state bucket's "deny unless TLS" statement
(``aws:SecureTransport`` false) would deny every object request, the state's reads and writes included.
On AWS the backend always speaks HTTPS, which the emulator's plain HTTP stands in for, and that statement
never applies: leaving conditional statements out is what AWS does with the policies this project writes.
Unconditional statements are still enforced.

An inactive access key is refused. moto finds the key a request is signed with but ignores its status, so
a key deactivated by a rotation's second step would go on working; AWS refuses it
(``InvalidClientTokenId``), and the rotation tests must see that. Nor is such a refused call recorded as the
key's last use (moto records every request's key before it checks it): AWS's ``GetAccessKeyLastUsed`` shows
calls it authenticated, and ``keys status`` and ``keys rotate`` read it as the evidence of who still uses a key.

A write that repeats exactly the item already stored succeeds even under a condition the stored item fails.
Terraform takes its DynamoDB state lock with a conditional write of an item holding a random lock id; on a
loaded machine moto has been seen to store that item while the client never got the answer, and the retry
then failed on the client's own lock ("Error acquiring the state lock", the lock's info naming the very
operation that failed). An identical item can only come from the same writer, so this changes nothing
for two writers: the second one's item differs in its lock id and is still refused.

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


def patch_inactive_key_checks() -> None:
    """Make moto refuse a request signed with an inactive access key, as AWS does.

    The key is refused the way moto refuses an unknown one: ``InvalidClientTokenId`` (S3:
    ``InvalidAccessKeyId``), which is what AWS answers for a deactivated key. Nor is the refused call recorded
    as the key's last use, which moto would record for every request before checking it.
    """
    from moto.iam.access_control import CreateAccessKeyFailure, IAMUserAccessKey

    find_key = IAMUserAccessKey.__init__

    def refuse_inactive(self: Any, *arguments: Any, **keywords: Any) -> None:
        find_key(self, *arguments, **keywords)
        key = self.backend.get_user(self._owner_user_name).get_access_key_by_id(self._access_key_id)
        if key.status != "Active":
            raise CreateAccessKeyFailure(reason="InvalidId")

    IAMUserAccessKey.__init__ = refuse_inactive  # type: ignore[method-assign]

    from moto.iam import models
    from moto.utilities.utils import get_partition

    record_use = models.mark_account_as_visited

    def record_active_use(account_id: str, access_key: str, service: str, region: str) -> None:
        backend = models.iam_backends[account_id][get_partition(region)]
        key = backend.access_keys.get(access_key)
        if key is None or key.status == "Active":
            record_use(account_id, access_key, service, region)

    # moto's request handling imports it from the module at each request, so replacing it there is enough.
    models.mark_account_as_visited = record_active_use


def patch_repeated_conditional_writes() -> None:
    """A conditional ``PutItem`` of exactly the item already stored succeeds: the retry of a write whose answer
    was lost, not a second writer (module docstring)."""
    from moto.dynamodb.exceptions import ConditionalCheckFailed
    from moto.dynamodb.models.table import Table

    put_item = Table.put_item

    def put_item_once(self: Any, item_attrs: dict[str, Any], *arguments: Any, **keywords: Any) -> Any:
        try:
            return put_item(self, item_attrs, *arguments, **keywords)
        except ConditionalCheckFailed:
            stored = self.get_item(*_key_of(self, item_attrs))
            if stored is not None and stored.to_json()["Attributes"] == item_attrs:
                return stored
            raise

    Table.put_item = put_item_once  # type: ignore[method-assign]


def _key_of(table: Any, item_attrs: dict[str, Any]) -> tuple[Any, Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    range_key = table.range_key_attr
    return (
        DynamoType(item_attrs[table.hash_key_attr]),
        DynamoType(item_attrs[range_key]) if range_key is not None else None,
    )


if __name__ == "__main__":
    patch_bucket_policy_checks()
    patch_inactive_key_checks()
    patch_repeated_conditional_writes()
    from moto.server import main

    main(sys.argv[1:])
