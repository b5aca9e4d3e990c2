"""The deployer policy's Resources and conditions, decided by an independent IAM evaluator.

The emulator ignores conditions and most ARNs (docs/deployer-policy.md); `@cloud-copilot/iam-simulate`
(tests/support/iam_evaluator.py) evaluates both as IAM does. Each test builds the deployer policy from a real
configuration and asks, decision by decision, what a leaked deployer credential could do with it: only the
stack's own policy may be attached, never the same name under another path, never the AWS managed policy
of the same name, and a `*`, `?` or `${...}` in a name or path is a literal everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from programmatic_iam.analysis.deployer import deployer_policy
from programmatic_iam.arns import partition_of
from programmatic_iam.spec import RolePrincipal, StackSpec
from tests.support.helpers import blueprint_of
from tests.support.iam_evaluator import ACCOUNT_ID, Decision, Request, decide_named

ALLOWED: Decision = "Allowed"
DENIED: Decision = "ImplicitlyDenied"
# The evaluator does not derive aws:username from the principal: given, so that `${aws:username}` resolves.
PRINCIPAL_KEYS = {"aws:username": "deployer"}
BOUNDARY = f"arn:aws:iam::{ACCOUNT_ID}:policy/caps*/boundary?"
# Each character IAM reads specially, and what it would match if it were read so (for the variable: the
# principal's name, which the evaluator is given).
SPECIALS = {"*": "any/thing", "?": "x", "${aws:username}": "deployer"}


def deployment_of(toml: str | None, directory: Path) -> tuple[dict[str, Any], StackSpec]:
    """The deployer policy of a one-stack configuration, and the stack."""
    blueprint = blueprint_of(toml, directory)
    (stack,) = blueprint.stacks
    return deployer_policy(blueprint).document.to_json_value(), stack


def real_arn(stack: StackSpec, kind: str, path_and_name: str, *, account: str | None = None) -> str:
    """An IAM ARN as AWS writes it for a resource that exists (every character literal)."""
    account = account or stack.account_id or ACCOUNT_ID
    return f"arn:{partition_of(stack.region)}:iam::{account}:{kind}{path_and_name}"


def attach_target(stack: StackSpec) -> tuple[str, str, str]:
    """The attach and detach actions of the stack's attachment, and the ARN they act on."""
    principal = stack.identity.principal
    if isinstance(principal, RolePrincipal):
        return "iam:AttachRolePolicy", "iam:DetachRolePolicy", real_arn(stack, "role", principal.path + principal.name)
    if stack.identity.attachment.to == "group":
        group = principal.path + stack.identity.attachment.group_name
        return "iam:AttachGroupPolicy", "iam:DetachGroupPolicy", real_arn(stack, "group", group)
    return "iam:AttachUserPolicy", "iam:DetachUserPolicy", real_arn(stack, "user", principal.path + principal.name)


def stand_in(text: str) -> str:
    """What ``text`` would also match if its IAM-special characters were read as wildcards or variables."""
    for special, other in SPECIALS.items():
        text = text.replace(special, other)
    return text


ENVIRONMENT = '[[environments]]\nname = "production"\nregion = "{region}"\n'
WITH_ACCOUNT_ID = 'account_id = "111111111111"\n'
AWS_NAMED = '[naming]\npolicy = "AdministratorAccess"\n'


@pytest.mark.parametrize(
    "toml",
    [
        pytest.param(None, id="default"),
        pytest.param(ENVIRONMENT.format(region="us-east-1") + WITH_ACCOUNT_ID, id="account-id"),
        pytest.param('[policy]\npath = "/policies/"\n', id="policy-path"),
        pytest.param(
            '[policy]\npath = "/policies/"\n' + ENVIRONMENT.format(region="us-east-1") + WITH_ACCOUNT_ID,
            id="policy-path-account-id",
        ),
        pytest.param(AWS_NAMED, id="aws-managed-name"),
        pytest.param(
            AWS_NAMED + ENVIRONMENT.format(region="us-east-1") + WITH_ACCOUNT_ID, id="aws-managed-name-account-id"
        ),
        pytest.param(AWS_NAMED + ENVIRONMENT.format(region="cn-north-1"), id="aws-managed-name-china"),
        pytest.param(AWS_NAMED + ENVIRONMENT.format(region="us-gov-west-1"), id="aws-managed-name-govcloud"),
        pytest.param(AWS_NAMED + '[policy]\npath = "/team*/"\n', id="star-in-path"),
        pytest.param('[policy]\npath = "/team?/"\n', id="question-mark-in-path"),
        pytest.param('[policy]\npath = "/${aws:username}/"\n', id="variable-in-path"),
        pytest.param(
            '[policy]\npath = "/team*/"\n' + ENVIRONMENT.format(region="us-east-1") + WITH_ACCOUNT_ID,
            id="star-in-path-account-id",
        ),
        pytest.param(AWS_NAMED + '[user]\nattach_policies_to = "group"\n', id="group"),
        pytest.param('kind = "instance-profile"\n' + AWS_NAMED, id="instance-profile"),
        pytest.param(AWS_NAMED + f'[user]\npermissions_boundary = "{BOUNDARY}"\n', id="boundary"),
    ],
)
def test_only_the_stacks_own_policy_can_be_attached(toml: str | None, tmp_path: Path) -> None:
    document, stack = deployment_of(toml, tmp_path)
    attach, detach, target = attach_target(stack)
    (policy,) = stack.identity.policies
    context: dict[str, str] = dict(PRINCIPAL_KEYS)
    if stack.identity.principal.permissions_boundary:
        context["iam:PermissionsBoundary"] = stack.identity.principal.permissions_boundary
    arns = {
        "its own policy": real_arn(stack, "policy", policy.path + policy.name),
        "the same name under another path": real_arn(stack, "policy", "/elsewhere/" + policy.name),
        "the AWS managed policy of the same name": real_arn(stack, "policy", "/" + policy.name, account="aws"),
        "the AWS managed policy of the same path and name": real_arn(
            stack, "policy", policy.path + policy.name, account="aws"
        ),
        "another policy under its path": real_arn(stack, "policy", policy.path + "another-policy"),
    }
    if stand_in(policy.path) != policy.path:
        arns["the same name under a path it would match"] = real_arn(
            stack, "policy", stand_in(policy.path) + policy.name
        )
    requests = {
        f"{action} {label}": Request(action, target, {**context, "iam:PolicyARN": arn})
        for label, arn in arns.items()
        for action in (attach, detach)
    }
    decisions = decide_named({"deployer": document}, requests)
    own = {f"{attach} its own policy", f"{detach} its own policy"}
    assert decisions == {name: ALLOWED if name in own else DENIED for name in requests}


@pytest.mark.parametrize(
    "toml",
    [
        pytest.param("", id="default"),
        pytest.param(ENVIRONMENT.format(region="us-east-1") + WITH_ACCOUNT_ID, id="account-id"),
        pytest.param(ENVIRONMENT.format(region="cn-north-1"), id="china"),
        pytest.param('[user]\npath = "/team*/"\n', id="star-in-path"),
        pytest.param('[user]\npath = "/team?/"\n', id="question-mark-in-path"),
        pytest.param('[user]\npath = "/${aws:username}/"\n', id="variable-in-path"),
    ],
)
def test_the_deployer_may_pass_its_own_role_and_no_other(toml: str, tmp_path: Path) -> None:
    """AddRoleToInstanceProfile needs iam:PassRole on the role it adds (AWS's API reference): that role only.

    Asked with and without iam:PassedToService, which the grant does not depend on (AWS documents no such key for
    this call, so the policy does not condition on it).
    """
    document, stack = deployment_of('kind = "instance-profile"\n' + toml, tmp_path)
    role = stack.identity.principal
    assert isinstance(role, RolePrincipal)
    arns = {
        "its own role": real_arn(stack, "role", role.path + role.name),
        "another role under its path": real_arn(stack, "role", role.path + "another-role"),
        "its name under another path": real_arn(stack, "role", "/elsewhere/" + role.name),
    }
    if stack.account_id is not None:
        arns["its name in another account"] = real_arn(stack, "role", role.path + role.name, account="222222222222")
    if stand_in(role.path) != role.path:
        arns["its name under a path it would match"] = real_arn(stack, "role", stand_in(role.path) + role.name)
    contexts = {"": {}, " to EC2": {"iam:PassedToService": role.service}}
    requests = {
        f"pass {label}{to}": Request("iam:PassRole", arn, {**PRINCIPAL_KEYS, **context})
        for label, arn in arns.items()
        for to, context in contexts.items()
        if "*" not in arn  # the evaluator reads a `*` in a request's resource as a pattern
    }
    decisions = decide_named({"deployer": document}, requests)
    assert decisions == {name: ALLOWED if "its own role" in name else DENIED for name in requests}


def test_force_destroy_may_detach_an_aws_managed_policy_but_never_attach_it(tmp_path: Path) -> None:
    """Detaching only takes permissions away, so force_destroy may detach what Terraform does not manage."""
    document, stack = deployment_of(AWS_NAMED + "[user]\nforce_destroy = true\n", tmp_path)
    user = real_arn(stack, "user", "/" + stack.identity.principal.name)
    administrator = {"iam:PolicyARN": real_arn(stack, "policy", "/AdministratorAccess", account="aws")}
    own = {"iam:PolicyARN": real_arn(stack, "policy", "/AdministratorAccess")}
    decisions = decide_named(
        {"deployer": document},
        {
            "attach own": Request("iam:AttachUserPolicy", user, own),
            "attach AWS managed": Request("iam:AttachUserPolicy", user, administrator),
            "detach AWS managed": Request("iam:DetachUserPolicy", user, administrator),
        },
    )
    assert decisions == {"attach own": ALLOWED, "attach AWS managed": DENIED, "detach AWS managed": ALLOWED}


# Terraform refuses `${` in backend settings, so the state key takes a `$` alone (which stands for nothing else).
KEY_SPECIALS = {"*": "*", "?": "?", "${aws:username}": "$"}


@pytest.mark.parametrize("special", list(SPECIALS))
@pytest.mark.parametrize("kind", ["user", "group", "instance-profile"])
def test_special_characters_in_paths_and_keys_are_literal_in_every_resource(
    special: str, kind: str, tmp_path: Path
) -> None:
    """Each resource is allowed as it is named, and denied where its `*`, `?` or `${...}` would stand for more."""
    toml = (
        ('kind = "instance-profile"\n' if kind == "instance-profile" else "")
        + f'[user]\npath = "/team{special}/"\n'
        + ('attach_policies_to = "group"\n' if kind == "group" else "")
        + f'[policy]\npath = "/policies{special}/"\n'
        + f'[backend]\nkey = "state/{KEY_SPECIALS[special]}/{{{{ user }}}}.tfstate"\n'
    )
    document, stack = deployment_of(toml, tmp_path)
    principal = stack.identity.principal
    (policy,) = stack.identity.policies
    # kind of resource -> an action on it, and its path and name.
    named = {"policy": ("iam:CreatePolicyVersion", policy.path + policy.name)}
    if kind == "instance-profile":
        named["role"] = ("iam:UpdateAssumeRolePolicy", principal.path + principal.name)
        named["instance-profile"] = ("iam:AddRoleToInstanceProfile", principal.path + principal.name)
    else:
        named["user"] = ("iam:CreateAccessKey", principal.path + principal.name)
    if kind == "group":
        named["group"] = ("iam:AddUserToGroup", principal.path + stack.identity.attachment.group_name)
    bucket = f"arn:aws:s3:::{stack.backend.bucket}"
    arns = {
        f"its {resource_kind}": (action, real_arn(stack, resource_kind, own))
        for resource_kind, (action, own) in named.items()
    }
    arns |= {
        f"a {resource_kind} it would match": (action, real_arn(stack, resource_kind, stand_in(own)))
        for resource_kind, (action, own) in named.items()
    }
    arns["its state"] = ("s3:PutObject", f"{bucket}/{stack.backend.key}")
    if stand_in(stack.backend.key) != stack.backend.key:
        arns["a state it would match"] = ("s3:PutObject", f"{bucket}/{stand_in(stack.backend.key)}")
    # The evaluator reads a `*` in a request's resource as a pattern: such a resource is not asked for.
    requests = {name: Request(action, arn, PRINCIPAL_KEYS) for name, (action, arn) in arns.items() if "*" not in arn}
    requests["the state bucket"] = Request("s3:ListBucket", bucket)
    decisions = decide_named({"deployer": document}, requests)
    assert decisions == {name: DENIED if name.endswith("it would match") else ALLOWED for name in requests}


def test_the_permissions_boundary_condition_is_exact(tmp_path: Path) -> None:
    """StringEquals reads no wildcards: the user can be made only with exactly the configured boundary."""
    document, stack = deployment_of(f'[user]\npermissions_boundary = "{BOUNDARY}"\n', tmp_path)
    user = real_arn(stack, "user", "/" + stack.identity.principal.name)
    (policy,) = stack.identity.policies
    own_policy = {"iam:PolicyARN": real_arn(stack, "policy", policy.path + policy.name)}
    lookalike = f"arn:aws:iam::{ACCOUNT_ID}:policy/caps-wide/boundary-x"
    decisions = decide_named(
        {"deployer": document},
        {
            "create with the boundary": Request("iam:CreateUser", user, {"iam:PermissionsBoundary": BOUNDARY}),
            "create with a look-alike": Request("iam:CreateUser", user, {"iam:PermissionsBoundary": lookalike}),
            "create without one": Request("iam:CreateUser", user),
            "attach with the boundary": Request(
                "iam:AttachUserPolicy", user, {**own_policy, "iam:PermissionsBoundary": BOUNDARY}
            ),
            "attach with a look-alike": Request(
                "iam:AttachUserPolicy", user, {**own_policy, "iam:PermissionsBoundary": lookalike}
            ),
            "remove the boundary": Request("iam:DeleteUserPermissionsBoundary", user),
        },
    )
    assert decisions == {
        "create with the boundary": ALLOWED,
        "create with a look-alike": DENIED,
        "create without one": DENIED,
        "attach with the boundary": ALLOWED,
        "attach with a look-alike": DENIED,
        "remove the boundary": "ExplicitlyDenied",
    }
