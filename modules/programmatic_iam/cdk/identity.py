"""The programmatic identity: managed policies, a user without console access, attachments, a key."""

from __future__ import annotations

from ..escaping import escape_terraform_template as literal
from ..spec import IdentitySpec, UserPrincipal
from .bindings import (
    Construct,
    IamAccessKey,
    IamGroup,
    IamGroupPolicyAttachment,
    IamPolicy,
    IamUser,
    IamUserGroupMembership,
    IamUserPolicyAttachment,
)


def policy_construct_id(index: int) -> str:
    """``policy`` for the first managed policy, ``policy_2``... after it. Part of the state contract."""
    return "policy" if index == 0 else f"policy_{index + 1}"


class ProgrammaticIdentity(Construct):
    """An IAM user that can only call APIs, with its managed policies attached and one access key.

    Add it to any cdktf stack that has an AWS provider::

        spec = identity_spec(load_config(), "production")
        identity = ProgrammaticIdentity(stack, "identity", spec)

    The user gets no login profile, so it has no console password. Construct ids (``user``,
    ``policy``, ``policy_2``..., ``access_key``) are stable: renaming one would replace the resource.
    """

    def __init__(self, scope: Construct, id: str, spec: IdentitySpec) -> None:
        super().__init__(scope, id)
        self.user = _user(self, spec.principal)
        self.policies = [
            IamPolicy(
                self,
                policy_construct_id(index),
                name=literal(policy.name),
                path=literal(policy.path),
                description=literal(policy.description),
                policy=literal(policy.document_json),
            )
            for index, policy in enumerate(spec.policies)
        ]
        if spec.attachment.to == "group":
            self._attach_through_group(spec.attachment.group_name, spec.principal.path)
        else:
            for index, policy in enumerate(self.policies):
                IamUserPolicyAttachment(
                    self, f"{policy_construct_id(index)}_attachment", user=self.user.name, policy_arn=policy.arn
                )
        self.access_key = IamAccessKey(self, "access_key", user=self.user.name)

    def _attach_through_group(self, group_name: str, path: str) -> None:
        group = IamGroup(self, "group", name=literal(group_name), path=literal(path))
        for index, policy in enumerate(self.policies):
            IamGroupPolicyAttachment(
                self, f"{policy_construct_id(index)}_attachment", group=group.name, policy_arn=policy.arn
            )
        IamUserGroupMembership(self, "group_membership", user=self.user.name, groups=[group.name])


def _user(scope: Construct, principal: UserPrincipal) -> IamUser:
    return IamUser(
        scope,
        "user",
        name=literal(principal.name),
        path=literal(principal.path),
        permissions_boundary=literal(principal.permissions_boundary) if principal.permissions_boundary else None,
        force_destroy=principal.force_destroy,
        tags={literal(k): literal(v) for k, v in principal.tags} or None,
    )
