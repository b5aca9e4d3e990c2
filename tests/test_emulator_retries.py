"""A retried request is answered as its first attempt was (``moto_server.py``, docs/local-emulator.md): what keeps a
response the emulator's web server lost from turning into ``EntityAlreadyExists``, a second access key or a state
lock refused to its own holder, while every other repeated request is still carried out as AWS carries it out.

The SDK's retry is made here as the SDK makes it: the same ``amz-sdk-invocation-id`` again, with a higher attempt in
``amz-sdk-request``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
import uuid

from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import error_code

INVOCATION_1 = str(uuid.uuid4())
INVOCATION_2 = str(uuid.uuid4())
WRITER_1 = str(uuid.uuid4())
WRITER_2 = str(uuid.uuid4())


@contextmanager
def sent_as(client: Any, invocation: str, attempt: int) -> Iterator[None]:
    """Every request ``client`` sends meanwhile is attempt ``attempt`` of invocation ``invocation``."""

    def headers(request: Any, **_: Any) -> None:
        request.headers["amz-sdk-invocation-id"] = invocation
        request.headers["amz-sdk-request"] = f"attempt={attempt}; max=25"

    client.meta.events.register("before-send", headers)
    try:
        yield
    finally:
        client.meta.events.unregister("before-send", headers)


def test_a_retried_create_gets_its_first_answer_and_a_second_create_is_refused(aws: AwsEmulator) -> None:
    iam = aws.client("iam")
    with sent_as(iam, INVOCATION_1, 1):
        first = iam.create_user(UserName="production-streammanager")["User"]
    with sent_as(iam, INVOCATION_1, 2):
        retried = iam.create_user(UserName="production-streammanager")["User"]
    assert retried["UserId"] == first["UserId"]
    with sent_as(iam, INVOCATION_2, 1):
        assert error_code(lambda: iam.create_user(UserName="production-streammanager")) == "EntityAlreadyExists"
    with sent_as(iam, INVOCATION_1, 1):  # the same id, not said to be a retry: carried out
        assert error_code(lambda: iam.create_user(UserName="production-streammanager")) == "EntityAlreadyExists"


def test_a_retried_access_key_is_the_first_one_not_a_second(aws: AwsEmulator) -> None:
    iam = aws.client("iam")
    iam.create_user(UserName="production-streammanager")
    with sent_as(iam, INVOCATION_1, 1):
        first = iam.create_access_key(UserName="production-streammanager")["AccessKey"]["AccessKeyId"]
    with sent_as(iam, INVOCATION_1, 3):
        retried = iam.create_access_key(UserName="production-streammanager")["AccessKey"]["AccessKeyId"]
    keys = iam.list_access_keys(UserName="production-streammanager")["AccessKeyMetadata"]
    assert (retried, [key["AccessKeyId"] for key in keys]) == (first, [first])


def test_a_changed_request_under_the_same_id_is_carried_out(aws: AwsEmulator) -> None:
    iam = aws.client("iam")
    with sent_as(iam, INVOCATION_1, 1):
        iam.create_user(UserName="staging-streammanager")
    with sent_as(iam, INVOCATION_1, 2):
        iam.create_user(UserName="production-streammanager")
    users = sorted(user["UserName"] for user in iam.list_users()["Users"])
    assert users == ["production-streammanager", "staging-streammanager"]


def test_a_retry_of_a_failed_first_answer_is_carried_out_again(aws: AwsEmulator) -> None:
    # The SDK retries an answer it did get when that answer was an error it retries (a 500, a throttle): replaying the
    # error would make the retry pointless. Nor is any other failed answer kept.
    iam = aws.client("iam")
    iam.create_user(UserName="production-streammanager")
    with sent_as(iam, INVOCATION_1, 1):
        assert error_code(lambda: iam.create_user(UserName="production-streammanager")) == "EntityAlreadyExists"
    iam.delete_user(UserName="production-streammanager")
    with sent_as(iam, INVOCATION_1, 2):
        assert error_code(lambda: iam.create_user(UserName="production-streammanager")) is None


def test_a_retried_lock_write_succeeds_and_another_writers_is_still_refused(aws: AwsEmulator) -> None:
    # Terraform's DynamoDB state lock is a conditional write of an item with a random lock id: its retry must not fail
    # on the lock it has just taken, and a second writer must.
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(
        TableName="terraform-locks",
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    def lock(info: str, invocation: str, attempt: int) -> str | None:
        item = {"LockID": {"S": "terraform-state/x/terraform.tfstate"}, "Info": {"S": info}}
        with sent_as(dynamodb, invocation, attempt):
            return error_code(
                lambda: dynamodb.put_item(
                    TableName="terraform-locks", Item=item, ConditionExpression="attribute_not_exists(LockID)"
                )
            )

    assert lock('{"ID":"one"}', WRITER_1, 1) is None
    assert lock('{"ID":"one"}', WRITER_1, 2) is None
    assert lock('{"ID":"two"}', WRITER_2, 1) == "ConditionalCheckFailedException"
    assert lock('{"ID":"two"}', WRITER_2, 2) == "ConditionalCheckFailedException"
