"""The deployer policy of a fleet: granted by the IAM path and the folders the stacks share, so it does not grow.

A fleet here is a blueprint of many stacks (hundreds: 600 is 200 identities in 3 environments), made of
configurations of many environments, one per kind of identity, spread over accounts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from programmatic_iam.analysis.deployer import FLEET_PATH, LARGEST_POLICY_CHARACTERS, deployer_policy, shared_folders
from programmatic_iam.errors import ConfigError
from programmatic_iam.policy.sizing import MANAGED_POLICY_MAX_CHARACTERS, iam_size
from programmatic_iam.spec import Blueprint
from tests.support.deployer_fleets import ACCOUNTS, FOLDER, KINDS, PATHS, STATE, environments, fleet
from tests.support.helpers import blueprint_of


def document(blueprint: Blueprint) -> dict[str, Any]:
    return deployer_policy(blueprint).document.to_json_value()


def by_sid(blueprint: Blueprint) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in document(blueprint)["Statement"]}


def size_of(blueprint: Blueprint) -> int:
    return iam_size(deployer_policy(blueprint).document)


@pytest.mark.parametrize(
    ("accounts", "limit"),
    [
        pytest.param(None, MANAGED_POLICY_MAX_CHARACTERS, id="no-account-id"),
        pytest.param(ACCOUNTS[:1], MANAGED_POLICY_MAX_CHARACTERS, id="one-account"),
        # Every kind of identity in each of three accounts: each account's ARNs once (a role's inline policy).
        pytest.param(ACCOUNTS, LARGEST_POLICY_CHARACTERS, id="three-accounts"),
    ],
)
def test_the_fleet_policy_does_not_grow_with_the_fleet(
    accounts: tuple[str, ...] | None, limit: int, tmp_path: Path
) -> None:
    sizes = {}
    for stacks in (24, 60, 600):
        (tmp_path / str(stacks)).mkdir()
        blueprint = fleet(stacks, tmp_path / str(stacks), KINDS, accounts=accounts)
        assert len(blueprint.stacks) == stacks
        sizes[stacks] = size_of(blueprint)
        text = deployer_policy(blueprint).document.to_json()
        assert "env1-" not in text, "a stack is named one by one"
    assert len(set(sizes.values())) == 1, sizes
    assert sizes[600] <= limit


ANY_ACCOUNT = "arn:aws:iam::*:"
NOT_AWS_MANAGED = {"ArnNotLike": {"iam:PolicyARN": "arn:aws:iam::aws:policy/*"}}
FLEET_POLICIES = f"{ANY_ACCOUNT}policy{FLEET_PATH}*"


@pytest.mark.parametrize(
    ("sid", "expected"),
    [
        ("Users", {"Resource": f"{ANY_ACCOUNT}user{FLEET_PATH}*"}),
        (
            "UserAttachments",
            {
                "Resource": f"{ANY_ACCOUNT}user{FLEET_PATH}*",
                "Condition": {"ArnLike": {"iam:PolicyARN": FLEET_POLICIES}, **NOT_AWS_MANAGED},
            },
        ),
        ("Policies", {"Resource": FLEET_POLICIES}),
        ("Groups", {"Resource": f"{ANY_ACCOUNT}group{FLEET_PATH}*"}),
        (
            "GroupAttachments",
            {
                "Resource": f"{ANY_ACCOUNT}group{FLEET_PATH}*",
                "Condition": {"ArnLike": {"iam:PolicyARN": FLEET_POLICIES}, **NOT_AWS_MANAGED},
            },
        ),
        ("Roles", {"Resource": f"{ANY_ACCOUNT}role{FLEET_PATH}*"}),
        (
            "RoleAttachments",
            {
                "Resource": f"{ANY_ACCOUNT}role{FLEET_PATH}*",
                "Condition": {"ArnLike": {"iam:PolicyARN": FLEET_POLICIES}, **NOT_AWS_MANAGED},
            },
        ),
        ("InstanceProfiles", {"Resource": f"{ANY_ACCOUNT}instance-profile{FLEET_PATH}*"}),
        ("PassRoleToInstanceProfile", {"Resource": f"{ANY_ACCOUNT}role{FLEET_PATH}*"}),
        ("KeySecret", {"Resource": f"arn:aws:secretsmanager:us-east-1:*:secret:{FOLDER}*"}),
        ("KeyParameters", {"Resource": f"arn:aws:ssm:us-east-1:*:parameter/{FOLDER}*"}),
        ("StateObjects", {"Resource": f"arn:aws:s3:::terraform-state/{FOLDER}*"}),
        ("StateLockFiles", {"Resource": f"arn:aws:s3:::terraform-state/{FOLDER}*.tflock"}),
        ("StateBucket", {"Resource": "arn:aws:s3:::terraform-state"}),
    ],
)
def test_a_fleet_is_granted_its_path_and_its_folders(sid: str, expected: dict[str, Any], tmp_path: Path) -> None:
    statement = by_sid(fleet(600, tmp_path, KINDS))[sid]
    assert {key: statement.get(key) for key in expected} == expected


def test_with_account_ids_each_account_gets_the_path_and_attaching_needs_no_exclusion(tmp_path: Path) -> None:
    statements = by_sid(fleet(600, tmp_path, KINDS, accounts=ACCOUNTS))
    assert statements["Users"]["Resource"] == [f"arn:aws:iam::{account}:user{FLEET_PATH}*" for account in ACCOUNTS]
    attaching = [s for sid, s in statements.items() if sid.startswith("UserAttachments")]
    assert [s["Condition"] for s in attaching] == [
        {"ArnLike": {"iam:PolicyARN": f"arn:aws:iam::{account}:policy{FLEET_PATH}*"}} for account in ACCOUNTS
    ]


# A fleet's users and policies under the path, and each of these instead of the fleet's own folders or settings.
TOO_LARGE = [
    pytest.param("", "600 stacks whose user and policies are not under a path of their own", id="default-path"),
    pytest.param(
        '[user]\npath = "/programmatic-iam/"\n[policy]\npath = "/policies/"\n' + STATE,
        "600 stacks whose user and policies are not under a path of their own",
        id="user-and-policy-paths-differ",
    ),
    pytest.param(PATHS.format(user=""), "600 state keys with no folder in common", id="state-keys-in-no-folder"),
    pytest.param(
        PATHS.format(user="") + STATE + '[access_key]\ndelivery = "secretsmanager"\n',
        "600 secret names with no folder in common",
        id="secrets-in-no-folder",
    ),
    pytest.param(
        PATHS.format(user="") + STATE + '[access_key]\ndelivery = "ssm"\n',
        "600 parameter paths with no folder in common",
        id="parameters-in-the-root",
    ),
]


@pytest.mark.parametrize(("toml", "growing"), TOO_LARGE)
def test_rejects_a_fleet_policy_iam_cannot_hold(toml: str, growing: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        deployer_policy(fleet(600, tmp_path, {"fleet": toml}), selected_by="--environment")
    (problem,) = caught.value.problems
    rendered = problem.render()
    assert rendered.startswith("deployer policy: 600 stacks make a policy of "), rendered
    size = int(rendered.split("make a policy of ", 1)[1].split(" characters")[0].replace(",", ""))
    assert size > LARGEST_POLICY_CHARACTERS
    assert f"over the {LARGEST_POLICY_CHARACTERS:,} IAM holds in one place" in rendered
    assert growing in rendered
    assert f'[user] path = "{FLEET_PATH}" and [policy] path = "{FLEET_PATH}"' in rendered
    assert "or narrow it with --environment" in rendered


def test_rejects_a_fleet_whose_path_mixes_permissions_boundaries(tmp_path: Path) -> None:
    """Granting the path would let the deployer create a capped identity's user without its cap: by name instead."""
    capped = PATHS.format(user='permissions_boundary = "arn:aws:iam::111111111111:policy/cap"\n') + STATE
    blueprint = fleet(600, tmp_path, {"free": KINDS["direct"], "capped": capped})
    with pytest.raises(ConfigError) as caught:
        deployer_policy(blueprint)
    growing = "600 stacks whose user and policies are not under a path of their own other than '/' that another "
    assert growing + "stack shares (or whose path mixes permissions boundaries)" in caught.value.problems[0].render()


def test_between_a_managed_policy_and_the_largest_it_is_a_warning(tmp_path: Path) -> None:
    blueprint = fleet(12, tmp_path, {"fleet": ""})
    policy = deployer_policy(blueprint, selected_by="--environment")
    assert MANAGED_POLICY_MAX_CHARACTERS < iam_size(policy.document) <= LARGEST_POLICY_CHARACTERS
    (notice,) = policy.notices
    assert "over the 6144 a managed policy holds" in notice.render()


USER = "arn:aws:iam::*:user/"


@pytest.mark.parametrize(
    ("settings", "stacks", "expected"),
    [
        pytest.param({"fleet": KINDS["direct"]}, 1, {f"{USER}programmatic-iam/env0-fleet"}, id="one-stack-by-name"),
        pytest.param(
            {"fleet": STATE},
            2,
            {f"{USER}env0-fleet", f"{USER}env1-fleet"},
            id="root-path-by-name",
        ),
        pytest.param(
            {"fleet": '[user]\npath = "/programmatic-iam/"\n[policy]\npath = "/policies/"\n' + STATE},
            2,
            {f"{USER}programmatic-iam/env0-fleet", f"{USER}programmatic-iam/env1-fleet"},
            id="policies-elsewhere-by-name",
        ),
        pytest.param(
            {
                "capped": PATHS.format(user='permissions_boundary = "arn:aws:iam::111111111111:policy/cap"\n') + STATE,
                "free": KINDS["direct"],
            },
            4,
            {
                f"{USER}programmatic-iam/env0-capped",
                f"{USER}programmatic-iam/env1-capped",
                f"{USER}programmatic-iam/env0-free",
                f"{USER}programmatic-iam/env1-free",
            },
            id="boundaries-differ-by-name",
        ),
        pytest.param({"fleet": KINDS["direct"]}, 2, {f"{USER}programmatic-iam/*"}, id="two-stacks-by-path"),
        pytest.param(
            {"user": KINDS["direct"], "profile": KINDS["profile"]},
            4,
            {f"{USER}programmatic-iam/*"},
            id="two-users-and-two-roles",
        ),
        pytest.param(
            {"user": KINDS["direct"], "profile": KINDS["profile"]},
            2,
            {f"{USER}programmatic-iam/env0-user"},
            id="one-user-and-one-role-by-name",
        ),
        pytest.param(
            {"capped": PATHS.format(user='permissions_boundary = "arn:aws:iam::111111111111:policy/cap"\n') + STATE},
            2,
            {f"{USER}programmatic-iam/*"},
            id="one-boundary-by-path",
        ),
    ],
)
def test_a_path_is_granted_only_when_two_stacks_own_it_alike(
    settings: dict[str, str], stacks: int, expected: set[str], tmp_path: Path
) -> None:
    granted = {
        resource
        for statement in document(fleet(stacks, tmp_path, settings))["Statement"]
        if statement["Sid"].startswith("Users")
        for resource in ([statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"])
    }
    assert granted == expected


def test_one_boundary_for_the_whole_path_keeps_the_cap(tmp_path: Path) -> None:
    boundary = "arn:aws:iam::111111111111:policy/cap"
    statements = by_sid(
        fleet(600, tmp_path, {"capped": PATHS.format(user=f'permissions_boundary = "{boundary}"\n') + STATE})
    )
    path = f"{USER}programmatic-iam/*"
    assert statements["UsersWithinBoundary"]["Resource"] == path
    assert statements["UsersWithinBoundary"]["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": boundary}}
    assert statements["UserAttachmentsWithinBoundary"]["Condition"] == {
        "StringEquals": {"iam:PermissionsBoundary": boundary},
        "ArnLike": {"iam:PolicyARN": FLEET_POLICIES},
        **NOT_AWS_MANAGED,
    }
    assert (statements["DenyBoundaryRemoval"]["Effect"], statements["DenyBoundaryRemoval"]["Resource"]) == (
        "Deny",
        path,
    )
    assert "iam:CreateUser" not in statements["Users"]["Action"]


# Terraform refuses `${` in backend settings: the state folder holds a `$` alone (which stands for nothing else).
@pytest.mark.parametrize(
    ("path", "literal", "folder", "folder_literal"),
    [
        ("/a*/", "/a${*}/", "s/a*/", "s/a${*}/"),
        ("/a?/", "/a${?}/", "s/a?/", "s/a${?}/"),
        ("/${aws:username}/", "/${$}{aws:username}/", "s/$/", "s/${$}/"),
    ],
)
def test_a_hostile_path_or_folder_is_granted_literally(
    path: str, literal: str, folder: str, folder_literal: str, tmp_path: Path
) -> None:
    toml = f'[user]\npath = "{path}"\n[policy]\npath = "{path}"\n[backend]\nkey = "{folder}{{{{ user }}}}"\n'
    statements = by_sid(fleet(600, tmp_path, {"fleet": toml}))
    assert statements["Users"]["Resource"] == f"{USER}{literal[1:]}*"
    assert statements["UserAttachments"]["Condition"]["ArnLike"] == {"iam:PolicyARN": f"{ANY_ACCOUNT}policy{literal}*"}
    assert statements["StateObjects"]["Resource"] == f"arn:aws:s3:::terraform-state/{folder_literal}*"


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param(["programmatic-iam/a/x", "programmatic-iam/b/x"], "programmatic-iam/", id="shared-folder"),
        pytest.param(["p/team-a/x", "p/team-b/x"], "p/", id="cut-at-the-folder"),
        pytest.param(["p/a/x", "p/a/y"], "p/a/", id="deepest-folder"),
        pytest.param(["/programmatic-iam/a", "/programmatic-iam/b"], "/programmatic-iam/", id="parameter-folder"),
        pytest.param(["prod-a/x", "prod-b/x"], None, id="no-folder"),
        pytest.param(["/a/x", "/b/x"], None, id="root-of-parameters"),
        pytest.param(["p/a/x"], None, id="one-name-alone"),
        pytest.param(["p/a/x", "p/a/x"], None, id="one-name-twice"),
        pytest.param(["p/", "p/a"], "p/", id="prefix-of-another"),
    ],
)
def test_shared_folders(names: list[str], expected: str | None) -> None:
    assert shared_folders((("place",), name) for name in names).get(("place",)) == expected


def test_places_do_not_share_a_folder() -> None:
    assert shared_folders([(("a",), "p/x"), (("b",), "p/y")]) == {}


def test_a_secret_alone_in_its_account_keeps_its_name(tmp_path: Path) -> None:
    """Folders are shared within one account and region: one secret there is granted by its own name."""
    statements = by_sid(fleet(2, tmp_path, {"fleet": KINDS["grouped"]}, accounts=ACCOUNTS[:2]))
    assert statements["KeySecret"]["Resource"] == [
        f"arn:aws:secretsmanager:us-east-1:{account}:secret:{FOLDER}env{i}-fleet/access-key-??????"
        for i, account in enumerate(ACCOUNTS[:2])
    ]


def test_a_boundary_left_out_by_the_selection_still_keeps_the_path_by_name(tmp_path: Path) -> None:
    """The path would reach the capped identity's users too, though only the free identity's environments are
    selected: its stacks keep their names."""
    (tmp_path / "free").mkdir()
    (tmp_path / "capped").mkdir()
    free = blueprint_of('[naming]\nname = "free"\n' + KINDS["direct"] + environments(2, None), tmp_path / "free")
    capped = blueprint_of(
        PATHS.format(user='permissions_boundary = "arn:aws:iam::111111111111:policy/cap"\n')
        + STATE
        + '[naming]\nname = "capped"\n[[environments]]\nname = "other"\nregion = "us-east-1"\n',
        tmp_path / "capped",
    )
    alone = deployer_policy(free, ["env0", "env1"]).document
    beside = deployer_policy(Blueprint(free.stacks + capped.stacks, ()), ["env0", "env1"]).document
    assert {s.sid: s.resources for s in alone.statements}["Users"] == f"{USER}programmatic-iam/*"
    assert {s.sid: s.resources for s in beside.statements}["Users"] == (
        f"{USER}programmatic-iam/env0-free",
        f"{USER}programmatic-iam/env1-free",
    )
