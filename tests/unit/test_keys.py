"""``keys status`` without AWS: which key is which, when one is due, orphans, and what is printed (text and JSON)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
from typing import Any

import pytest

from programmatic_iam.analysis.keys import (
    KeyInIam,
    KeyReader,
    Role,
    UserInIam,
    WatchedStack,
    key_roles,
    status_json,
    status_text,
    survey,
    verdict,
)
from programmatic_iam.ownership import ENVIRONMENT_TAG, IDENTITY_TAG
from tests.support.helpers import blueprint_of

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.mark.parametrize(
    ("count", "manages_key", "previous", "roles"),
    [
        (0, True, "none", []),
        (1, True, "none", ["current"]),
        # Two keys where the configuration keeps one: the older was not made by this configuration.
        (2, True, "none", ["hand-made", "current"]),
        (2, True, "active", ["previous", "current"]),
        (2, True, "inactive", ["previous", "current"]),
        (1, True, "active", ["current"]),  # step 1 merged, not applied yet: IAM still has one key
        (1, False, "none", ["hand-made"]),  # access_key.create = false: an adopted user's own key
        (2, False, "none", ["hand-made", "hand-made"]),
    ],
)
def test_each_key_gets_its_role_from_the_configuration_and_the_order_iam_made_them(
    count: int, manages_key: bool, previous: str, roles: list[Role]
) -> None:
    assert key_roles(count, manages_key=manages_key, previous=previous) == roles


@pytest.mark.parametrize(
    ("age", "status", "expected"),
    [
        (0, "Active", "ok"),
        (76, "Active", "ok"),  # 90 days allowed, due 14 days before
        (76.001, "Active", "due"),
        (90, "Active", "due"),
        (90.001, "Active", "overdue"),
        (400, "Inactive", "inactive"),  # an inactive key signs nothing, so it is never overdue
    ],
)
def test_a_key_is_due_two_weeks_before_its_maximum_age_and_overdue_after_it(
    age: float, status: str, expected: str
) -> None:
    assert verdict(days_ago(age), status, NOW, 90) == expected


def test_what_the_configuration_expects_of_each_stack(tmp_path: Path) -> None:
    (default,) = blueprint_of(None, tmp_path).stacks
    assert WatchedStack.of(default) == WatchedStack(
        stack="production-streammanager",
        identity="streammanager",
        environment="production",
        user="production-streammanager",
        manages_key=True,
        previous="none",
        max_age_days=90,
    )
    (rotating,) = blueprint_of(
        '[access_key]\ngeneration = 2\nprevious = "inactive"\nmax_age_days = 30\n', tmp_path
    ).stacks
    watched = WatchedStack.of(rotating)
    assert (watched.previous, watched.max_age_days) == ("inactive", 30)
    (adopted,) = blueprint_of("[access_key]\ncreate = false\n", tmp_path).stacks
    assert WatchedStack.of(adopted).manages_key is False
    (profile,) = blueprint_of('kind = "instance-profile"\n', tmp_path).stacks
    assert (WatchedStack.of(profile).user, WatchedStack.of(profile).manages_key) == (None, False)


def watched(stack: str, *, previous: str = "none", manages_key: bool = True, max_age_days: int = 90) -> WatchedStack:
    return WatchedStack(
        stack=stack,
        identity="streammanager",
        environment=stack.split("-")[0],
        user=stack,
        manages_key=manages_key,
        previous=previous,  # type: ignore[arg-type]
        max_age_days=max_age_days,
    )


OLD = KeyInIam("AKIAOLD0000000000000", "Inactive", days_ago(100))
NEW = KeyInIam("AKIANEW0000000000000", "Active", days_ago(20), days_ago(1), "ec2")
ORPHAN = KeyInIam("AKIAORPHAN0000000000", "Active", days_ago(200))
ORPHAN_TAGS = ((IDENTITY_TAG, "streammanager"), (ENVIRONMENT_TAG, "staging"))


def example() -> Any:
    """A rotation at step 2, a stack not deployed, and the key of an environment removed from the configuration."""
    return survey(
        NOW,
        [
            (
                watched("production-streammanager", previous="inactive"),
                ACCOUNT,
                UserInIam("production-streammanager", ACCOUNT, (OLD, NEW)),
            ),
            (watched("dev-streammanager"), ACCOUNT, None),
        ],
        [UserInIam("staging-streammanager", ACCOUNT, (ORPHAN,), ORPHAN_TAGS)],
        orphan_max_age_days=180,
        accounts_searched=[ACCOUNT],
    )


def test_orphans_are_judged_by_the_top_level_maximum_age_and_named_by_their_tags() -> None:
    result = example()
    assert [(key.key.key_id, key.role, key.verdict) for key in result.keys] == [
        ("AKIAOLD0000000000000", "previous", "inactive"),
        ("AKIANEW0000000000000", "current", "ok"),
        ("AKIAORPHAN0000000000", "orphan", "overdue"),
    ]
    (orphan,) = result.orphans
    assert (orphan.stack, orphan.identity, orphan.environment, orphan.max_age_days) == (
        "staging-streammanager",
        "streammanager",
        "staging",
        180,
    )
    assert [status.user_found for status in result.stacks] == [True, False]


def test_the_json_has_one_record_per_key_with_whose_it_is_and_what_it_is() -> None:
    document = status_json(example())
    assert json.loads(json.dumps(document)) == document  # plain JSON, no datetime left
    assert document["version"] == 1 and document["as_of"] == "2027-03-01T12:00:00Z"
    assert document["keys"][1] == {
        "stack": "production-streammanager",
        "identity": "streammanager",
        "environment": "production",
        "account": ACCOUNT,
        "user": "production-streammanager",
        "access_key_id": "AKIANEW0000000000000",
        "status": "Active",
        "role": "current",
        "created": "2027-02-09T12:00:00Z",
        "age_days": 20,
        "last_used": "2027-02-28T12:00:00Z",
        "last_used_service": "ec2",
        "max_age_days": 90,
        "verdict": "ok",
    }
    assert [(key["role"], key["last_used"]) for key in document["keys"]] == [
        ("previous", None),
        ("current", "2027-02-28T12:00:00Z"),
        ("orphan", None),
    ]
    assert document["stacks"][1] == {
        "stack": "dev-streammanager",
        "identity": "streammanager",
        "environment": "dev",
        "account": ACCOUNT,
        "user": "dev-streammanager",
        "manages_key": True,
        "max_age_days": 90,
        "user_found": False,
        "keys": 0,
    }
    assert document["accounts_searched"] == [ACCOUNT] and document["accounts_not_searched"] == []
    assert document["summary"] == {"keys": 3, "overdue": 1, "due": 0, "orphans": 1, "hand_made": 0}


def test_the_text_names_each_key_s_role_and_what_to_do() -> None:
    text = status_text(example())
    assert text.splitlines() == [
        f"production-streammanager (user production-streammanager in {ACCOUNT}, keys may be 90 days old)",
        "  AKIAOLD0000000000000  Inactive  previous    100 days old (created 2026-11-21), never used  inactive",
        "  AKIANEW0000000000000  Active    current      20 days old (created 2027-02-09), last used 2027-02-28 (ec2)  ok",
        f"dev-streammanager (user dev-streammanager in {ACCOUNT}, keys may be 90 days old)",
        "  no such user (not deployed yet?)",
        "Not in the configuration any more (found by their programmatic-iam: tags):",
        f"staging-streammanager (user staging-streammanager in {ACCOUNT}, identity streammanager, environment staging, "
        "keys may be 180 days old)",
        "  AKIAORPHAN0000000000  Active    orphan      200 days old (created 2026-08-13), never used  overdue",
        "1 active key(s) of stacks no longer configured: destroy those stacks, or delete the keys "
        "(docs/key-rotation.md).",
        "1 key(s) overdue: rotate now (docs/key-rotation.md).",
    ]


def test_the_text_says_what_it_could_not_see_and_which_stacks_hold_no_managed_key() -> None:
    profile = WatchedStack("production-streammanager", "streammanager", "production", None, False, "none", 90)
    hand = KeyInIam("AKIAHAND000000000000", "Active", days_ago(3))
    result = survey(
        NOW,
        [
            (profile, ACCOUNT, None),
            (
                watched("staging-streammanager", manages_key=False),
                ACCOUNT,
                UserInIam("staging-streammanager", ACCOUNT, (hand,)),
            ),
        ],
        orphan_max_age_days=90,
        accounts_not_searched=[("111111111111", "AccessDenied: the credentials need iam:ListUsers")],
    )
    assert status_text(result).splitlines() == [
        "production-streammanager: no key (kind = instance-profile)",
        f"staging-streammanager (user staging-streammanager in {ACCOUNT}, no managed key (access_key.create = false), "
        "keys may be 90 days old)",
        "  AKIAHAND000000000000  Active    hand-made     3 days old (created 2027-02-26), never used  ok",
        "Account 111111111111: not searched for keys of removed environments (AccessDenied: the credentials need "
        "iam:ListUsers).",
        "No key is due.",
    ]
    assert status_json(result)["summary"]["hand_made"] == 1


# ---------------------------------------------------------------------------------------------------------------------
# The reader, on a stand-in for IAM's client that answers as IAM does
# ---------------------------------------------------------------------------------------------------------------------


class NoSuchEntityError(Exception):
    """IAM's NoSuchEntity."""


class StandInIam:
    """IAM's answers for a few users (name: (tags, keys)); counts the tag look-ups."""

    class exceptions:  # noqa: N801 (boto3's spelling)
        NoSuchEntityException = NoSuchEntityError

    def __init__(self, users: dict[str, tuple[dict[str, str], list[dict[str, Any]]]], gone: frozenset[str]) -> None:
        self.users = users
        self.gone = gone  # listed, then deleted before their tags were asked for
        self.tag_lookups: list[str] = []

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_users"
        names = [*self.users, *self.gone]

        class Pages:
            @staticmethod
            def paginate() -> Iterator[dict[str, Any]]:
                # Two pages, as IAM gives them to a client that follows the marker.
                yield {"Users": [{"UserName": name} for name in names[:2]]}
                yield {"Users": [{"UserName": name} for name in names[2:]]}

        return Pages()

    def list_user_tags(self, UserName: str) -> dict[str, Any]:  # noqa: N803 (boto3's spelling)
        self.tag_lookups.append(UserName)
        if UserName not in self.users:
            raise NoSuchEntityError(UserName)
        return {"Tags": [{"Key": key, "Value": value} for key, value in self.users[UserName][0].items()]}

    def list_access_keys(self, UserName: str) -> dict[str, Any]:  # noqa: N803
        if UserName not in self.users:
            raise NoSuchEntityError(UserName)
        return {"AccessKeyMetadata": self.users[UserName][1]}

    def get_access_key_last_used(self, AccessKeyId: str) -> dict[str, Any]:  # noqa: N803
        if AccessKeyId.endswith("USED"):
            return {"AccessKeyLastUsed": {"LastUsedDate": days_ago(1), "ServiceName": "ec2", "Region": "us-east-1"}}
        return {"AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}}


def listed_key(key_id: str, age: int, status: str = "Active") -> dict[str, Any]:
    return {"AccessKeyId": key_id, "Status": status, "CreateDate": days_ago(age)}


def test_the_reader_finds_users_by_the_tool_s_tags_only_and_skips_those_it_knows() -> None:
    iam = StandInIam(
        {
            "production-streammanager": (
                {IDENTITY_TAG: "streammanager"},
                [listed_key("AKIANEWUSED", 2), listed_key("AKIAOLD", 50, "Inactive")],
            ),
            "staging-streammanager": ({ENVIRONMENT_TAG: "staging", "team": "video"}, [listed_key("AKIASTAGING", 9)]),
            "someone-else": ({"team": "video"}, [listed_key("AKIAOTHER", 1)]),
        },
        gone=frozenset({"deleted-meanwhile"}),
    )
    reader = KeyReader(iam, ACCOUNT)
    found = list(reader.tagged_users(known={"production-streammanager"}))
    assert found == [
        UserInIam(
            "staging-streammanager",
            ACCOUNT,
            (KeyInIam("AKIASTAGING", "Active", days_ago(9)),),
            ((ENVIRONMENT_TAG, "staging"),),
        )
    ]
    assert "production-streammanager" not in iam.tag_lookups  # a configured user costs no tag look-up
    user = reader.user("production-streammanager")
    assert user is not None
    assert user.keys == (  # oldest first; "N/A" (never used) is no service
        KeyInIam("AKIAOLD", "Inactive", days_ago(50)),
        KeyInIam("AKIANEWUSED", "Active", days_ago(2), days_ago(1), "ec2", "us-east-1"),
    )
    assert reader.user("not-deployed") is None
