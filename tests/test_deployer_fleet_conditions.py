"""The deployer policy of a 600-stack fleet, decided by an independent IAM evaluator.

The fleet's users, groups, roles, instance profiles and policies are under `/programmatic-iam/`, and their state
keys, secrets and parameters under the folder `programmatic-iam/` (tests/support/deployer_fleets.py): the policy
grants the path and the folders. `@cloud-copilot/iam-simulate` (tests/support/iam_evaluator.py) decides, request
by request, what a leaked deployer credential could do with it: everything the fleet's stacks need on the fleet's
own resources, nothing outside the path or the folders, and never AWS's AdministratorAccess.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from programmatic_iam.analysis.deployer import deployer_policy
from programmatic_iam.spec import RolePrincipal, StackSpec
from tests.support.deployer_fleets import ACCOUNTS, KINDS, fleet
from tests.support.iam_evaluator import ACCOUNT_ID, Decision, Request, decide_named

ALLOWED: Decision = "Allowed"
DENIED: Decision = "ImplicitlyDenied"
OUTSIDER_ACCOUNT = "444444444444"


def account_of(stack: StackSpec) -> str:
    return stack.account_id or ACCOUNT_ID


def iam(stack: StackSpec, kind: str, path_and_name: str, *, account: str | None = None) -> str:
    """An IAM ARN as AWS writes it for a resource that exists (every character literal)."""
    return f"arn:aws:iam::{account or account_of(stack)}:{kind}{path_and_name}"


def request(action: str, resource: str, stack: StackSpec, policy_arn: str | None = None) -> Request:
    """A call in the stack's account, attaching ``policy_arn`` if given."""
    context = {} if policy_arn is None else {"iam:PolicyARN": policy_arn}
    return Request(action, resource, context, account_id=account_of(stack))


def needed(stack: StackSpec) -> dict[str, Request]:
    """Calls Terraform makes for the stack, on its own resources: each must be allowed."""
    principal, identity = stack.identity.principal, stack.identity
    own = iam(stack, "policy", identity.policies[0].path + identity.policies[0].name)
    name = principal.name
    calls = {
        f"{name}: update its policy": request("iam:CreatePolicyVersion", own, stack),
        f"{name}: write its state": request(
            "s3:PutObject", f"arn:aws:s3:::{stack.backend.bucket}/{stack.backend.key}", stack
        ),
        f"{name}: release its lock": request(
            "s3:DeleteObject", f"arn:aws:s3:::{stack.backend.bucket}/{stack.backend.key}.tflock", stack
        ),
    }
    if isinstance(principal, RolePrincipal):
        role = iam(stack, "role", principal.path + principal.name)
        profile = iam(stack, "instance-profile", principal.path + principal.name)
        return calls | {
            f"{name}: create its role": request("iam:CreateRole", role, stack),
            f"{name}: attach its policy to its role": request("iam:AttachRolePolicy", role, stack, policy_arn=own),
            f"{name}: pass its role": request("iam:PassRole", role, stack),
            f"{name}: fill its instance profile": request("iam:AddRoleToInstanceProfile", profile, stack),
        }
    user = iam(stack, "user", principal.path + principal.name)
    calls |= {
        f"{name}: create its user": request("iam:CreateUser", user, stack),
        f"{name}: mint its key": request("iam:CreateAccessKey", user, stack),
    }
    if identity.attachment.to == "group":
        group = iam(stack, "group", principal.path + identity.attachment.group_name)
        calls[f"{name}: attach its policy to its group"] = request(
            "iam:AttachGroupPolicy", group, stack, policy_arn=own
        )
        calls[f"{name}: put its user in its group"] = request("iam:AddUserToGroup", group, stack)
    else:
        calls[f"{name}: attach its policy"] = request("iam:AttachUserPolicy", user, stack, policy_arn=own)
    store = f"{stack.region}:{account_of(stack)}"
    if identity.credentials.delivery == "secretsmanager":
        secret = f"arn:aws:secretsmanager:{store}:secret:{identity.credentials.secret_name}-AbCdEf"
        calls[f"{name}: write its secret"] = request("secretsmanager:PutSecretValue", secret, stack)
    if identity.credentials.delivery == "ssm":
        parameter = f"arn:aws:ssm:{store}:parameter{identity.credentials.parameter_path}/secret-access-key"
        calls[f"{name}: write its parameter"] = request("ssm:PutParameter", parameter, stack)
    return calls


def outside(stack: StackSpec) -> dict[str, Request]:
    """What a leaked deployer credential would try beside the fleet, from one of its stacks: each must be denied."""
    principal, identity = stack.identity.principal, stack.identity
    own = iam(stack, "policy", identity.policies[0].path + identity.policies[0].name)
    user = iam(stack, "user", principal.path + principal.name)
    administrator = iam(stack, "policy", "/AdministratorAccess", account="aws")
    store = f"{stack.region}:{account_of(stack)}"
    calls = {
        "attach AWS's AdministratorAccess to a fleet user": request(
            "iam:AttachUserPolicy", user, stack, policy_arn=administrator
        ),
        "attach an AWS managed policy under the fleet's path": request(
            "iam:AttachUserPolicy",
            user,
            stack,
            policy_arn=iam(stack, "policy", principal.path + "AdministratorAccess", account="aws"),
        ),
        "attach a policy at the root": request(
            "iam:AttachUserPolicy", user, stack, policy_arn=iam(stack, "policy", "/AdministratorAccess")
        ),
        "attach a policy under another path": request(
            "iam:AttachUserPolicy", user, stack, policy_arn=iam(stack, "policy", "/other/admin")
        ),
        "attach a policy under a path that merely starts alike": request(
            "iam:AttachUserPolicy",
            user,
            stack,
            policy_arn=iam(stack, "policy", "/programmatic-iam-other/admin"),
        ),
        "attach AWS's AdministratorAccess to a fleet group": request(
            "iam:AttachGroupPolicy",
            iam(stack, "group", principal.path + "some-group"),
            stack,
            policy_arn=administrator,
        ),
        "attach AWS's AdministratorAccess to a fleet role": request(
            "iam:AttachRolePolicy",
            iam(stack, "role", principal.path + "some-role"),
            stack,
            policy_arn=administrator,
        ),
        "mint a key for a user at the root": request("iam:CreateAccessKey", iam(stack, "user", "/admin"), stack),
        "mint a key for a user under a path that merely starts alike": request(
            "iam:CreateAccessKey", iam(stack, "user", "/programmatic-iam-other/admin"), stack
        ),
        "mint a key for a user with the path deeper down": request(
            "iam:CreateAccessKey", iam(stack, "user", "/other/programmatic-iam/admin"), stack
        ),
        "delete a user outside the path": request("iam:DeleteUser", iam(stack, "user", "/admin"), stack),
        "attach a fleet policy to a user outside the path": request(
            "iam:AttachUserPolicy", iam(stack, "user", "/admin"), stack, policy_arn=own
        ),
        "rewrite a policy outside the path": request(
            "iam:CreatePolicyVersion", iam(stack, "policy", "/AdministratorAccess"), stack
        ),
        "pass a role outside the path": request("iam:PassRole", iam(stack, "role", "/admin"), stack),
        "read a state outside the folder": request(
            "s3:GetObject", f"arn:aws:s3:::{stack.backend.bucket}/other/terraform.tfstate", stack
        ),
        "write a secret outside the folder": request(
            "secretsmanager:PutSecretValue", f"arn:aws:secretsmanager:{store}:secret:other/key-AbCdEf", stack
        ),
        "write a parameter outside the folder": request(
            "ssm:PutParameter", f"arn:aws:ssm:{store}:parameter/other/secret-access-key", stack
        ),
    }
    if stack.account_id is not None:
        calls["mint a key for a fleet user in another account"] = Request(
            "iam:CreateAccessKey",
            iam(stack, "user", principal.path + principal.name, account=OUTSIDER_ACCOUNT),
            {},
            account_id=OUTSIDER_ACCOUNT,
        )
    return calls


@pytest.mark.parametrize("accounts", [None, ACCOUNTS], ids=["no-account-id", "three-accounts"])
def test_the_fleet_deployer_reaches_the_fleet_and_nothing_else(
    accounts: tuple[str, ...] | None, tmp_path: Path
) -> None:
    blueprint = fleet(600, tmp_path, KINDS, accounts=accounts)
    document = deployer_policy(blueprint).document.to_json_value()
    # Three stacks of each kind (one in each account when there are three).
    samples = [stack for name in KINDS for stack in (s for s in blueprint.stacks if s.stack_id.endswith(name))][::50]
    assert len(samples) == 12
    requests = {label: call for stack in samples for label, call in needed(stack).items()}
    refused = {f"{label} ({stack.environment})": call for stack in samples for label, call in outside(stack).items()}
    decisions = decide_named({"deployer": document}, requests | refused)
    assert decisions == {**dict.fromkeys(requests, ALLOWED), **dict.fromkeys(refused, DENIED)}


@pytest.mark.parametrize(
    ("path", "folder", "would_match"),
    [
        ("/a*/", "s/a*/", ("/abc/", "/a/", "/a/b/")),
        ("/a?/", "s/a?/", ("/ab/", "/a//")),
    ],
)
def test_a_hostile_path_does_not_widen_the_fleet(
    path: str, folder: str, would_match: tuple[str, ...], tmp_path: Path
) -> None:
    toml = f'[user]\npath = "{path}"\n[policy]\npath = "{path}"\n[backend]\nkey = "{folder}{{{{ user }}}}"\n'
    blueprint = fleet(600, tmp_path, {"fleet": toml})
    document = deployer_policy(blueprint).document.to_json_value()
    stack = blueprint.stacks[0]
    name, policy = stack.identity.principal.name, stack.identity.policies[0].name
    bucket = f"arn:aws:s3:::{stack.backend.bucket}"
    requests: dict[str, Request] = {}
    for other in would_match:
        other_user = iam(stack, "user", other + name)
        other_policy = iam(stack, "policy", other + policy)
        requests[f"mint a key for a user under {other}"] = request("iam:CreateAccessKey", other_user, stack)
        requests[f"attach a policy under {other} to a user under it"] = request(
            "iam:AttachUserPolicy", other_user, stack, policy_arn=other_policy
        )
        requests[f"write a state under s{other}"] = request("s3:PutObject", f"{bucket}/s{other}{name}", stack)
    # The evaluator reads a `*` in a request's resource as a pattern: a resource under `/a*/` is not asked for.
    if "*" not in path:
        own_user = iam(stack, "user", path + name)
        requests["mint its own key"] = request("iam:CreateAccessKey", own_user, stack)
        requests["write its own state"] = request("s3:PutObject", f"{bucket}/{stack.backend.key}", stack)
        requests["attach its own policy"] = request(
            "iam:AttachUserPolicy", own_user, stack, policy_arn=iam(stack, "policy", path + policy)
        )
        requests |= {
            f"attach a policy under {other}": request(
                "iam:AttachUserPolicy", own_user, stack, policy_arn=iam(stack, "policy", other + policy)
            )
            for other in would_match
        }
    decisions = decide_named({"deployer": document}, requests)
    assert decisions == {label: DENIED if " under " in label else ALLOWED for label in requests}
