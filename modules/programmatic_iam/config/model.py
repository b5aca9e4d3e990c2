"""The typed configuration: every key a user can set, its default, and its static checks."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import date
import ipaddress
from pathlib import Path
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from ..errors import key_path, rendered_for, show
from ..escaping import UNCARRIED_KEY
from ..ownership import TAG_PREFIX, is_reserved_tag_key

# AWS tag rules (IAM, S3 and the provider's default_tags share them).
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
TAGS_PER_RESOURCE_MAX = 50
# AWS's tag pattern is [\p{L}\p{Z}\p{N}_.:/=+\-@]*: letters, digits and spaces, but no tab or newline.
# Python's \w (Unicode) is \p{L}, \p{N} and "_", so it stays Unicode here, unlike every other pattern.
_TAG_CHARS = re.compile(r"[\w .:/=+\-@]*")
_TAG_PROBLEMS_LISTED = 5
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
_ACCOUNT_ID = re.compile(r"[0-9]{12}")
_PLAIN_ACTION = re.compile(r"[A-Za-z0-9-]+:[A-Za-z0-9-]+")
_ENVIRONMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# IAM's characters for user, group and policy names (CreateUser / CreateGroup / CreatePolicy API model).
IAM_NAME_CHARACTER = re.compile(r"[\w+=,.@-]", re.ASCII)
_IAM_PATH = re.compile(r"/|/[\x21-\x7e]+/")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
# The forms Terraform's S3 backend accepts (measured with 1.11): lowercase RFC 4122 key ids, so AWS's
# documentation example "1234abcd-12ab-34cd-56ef-1234567890ab" is refused.
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_KMS_ARN_PREFIX = r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:"
_KMS_KEY_ID = rf"{_UUID}|mrk-[0-9a-f]{{32}}"
_KMS_ALIAS = r"alias/[A-Za-z0-9/_-]+"
KMS_KEY_ARN = re.compile(rf"{_KMS_ARN_PREFIX}key/({_KMS_KEY_ID})")
"""A KMS key's ARN: the only form in which an IAM policy can grant the use of a key."""
_KMS_KEY = re.compile(rf"{_KMS_ARN_PREFIX}(key/({_KMS_KEY_ID})|{_KMS_ALIAS})|{_KMS_KEY_ID}|{_KMS_ALIAS}")


def outside_latin1(text: str) -> str:
    """The characters of ``text`` that IAM policies cannot hold (they are Latin-1 only), sorted, once each."""
    return "".join(sorted({c for c in text if ord(c) > 0xFF}))


def control_characters(text: str) -> str:
    """The control characters of ``text`` (C0, DEL and C1), sorted, once each: IAM refuses them in policies."""
    return "".join(sorted(set(_CONTROL.findall(text))))


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def _check_region(value: str) -> str:
    if not _REGION.fullmatch(value):
        raise ValueError("is not an AWS region name; use a region code such as 'us-east-1' or 'eu-west-2'")
    return value


def _check_tags(tags: dict[str, str]) -> dict[str, str]:
    problems = []
    if len(tags) > TAGS_PER_RESOURCE_MAX:
        problems.append(f"has {len(tags)} tags, AWS allows at most {TAGS_PER_RESOURCE_MAX}")
    seen: dict[str, str] = {}
    for key, value in tags.items():
        if not 1 <= len(key) <= TAG_KEY_MAX:
            problems.append(f"has the tag key {show(key)}, AWS allows 1 to {TAG_KEY_MAX} characters")
        if key.lower().startswith("aws:"):
            problems.append(f"has the tag key {show(key)}, whose prefix 'aws:' AWS reserves")
        if is_reserved_tag_key(key):
            problems.append(
                f"has the tag key {show(key)}, whose prefix {TAG_PREFIX!r} this tool reserves for the tags "
                "by which `keys status` finds what it made"
            )
        # IAM compares tag keys ignoring case: "Duplicate tag keys found" at apply.
        if key.lower() in seen:
            problems.append(
                f"has the tag keys {show(seen[key.lower()])} and {show(key)}, which IAM takes for one "
                "(it compares tag keys ignoring case)"
            )
        seen.setdefault(key.lower(), key)
        if len(value) > TAG_VALUE_MAX:
            problems.append(f"has a value of {len(value)} characters for tag {show(key)}, AWS allows {TAG_VALUE_MAX}")
        for text in (key, value):
            if not _TAG_CHARS.fullmatch(text):
                problems.append(f"has {show(text)}, with characters AWS tags do not allow")
    if problems:
        listed = problems[:_TAG_PROBLEMS_LISTED]
        if len(problems) > len(listed):
            listed.append(f"and {len(problems) - len(listed)} more")
        raise ValueError(
            ", ".join(listed) + "; use letters, digits, spaces and _ . : / = + - @, at most 50 tags, "
            f"no key starting aws: or {TAG_PREFIX}"
        )
    return tags


def _check_tag_value(value: str) -> str:
    if len(value) > TAG_VALUE_MAX or not _TAG_CHARS.fullmatch(value):
        raise ValueError(
            f"is not a tag value AWS accepts; use at most {TAG_VALUE_MAX} letters, digits, spaces and _ . : / = + - @"
        )
    return value


def _check_carried_keys(tags: dict[str, str]) -> dict[str, str]:
    # AWS allows the key, but jsii refuses it in any map it passes to JavaScript: synthesis would fail on it.
    if UNCARRIED_KEY in tags:
        raise ValueError(
            f"has the tag key {UNCARRIED_KEY!r}, which cdktf cannot pass on to Terraform (its JavaScript runtime "
            "refuses that key in any map); name the tag otherwise"
        )
    return tags


Region = Annotated[str, AfterValidator(_check_region)]
Tags = Annotated[dict[str, str], AfterValidator(_check_tags), AfterValidator(_check_carried_keys)]


LAYER_OF = "settings_of"
"""The ``json_schema_extra`` key that marks a field holding settings of a top-level section for one layer of a
fleet (an environment, an identity, an identity in an environment): its value names the section. Such a
table is checked key by key against that section and merged by config/fleet.py, never used as it stands."""
KEYED_BY = "keyed_by"
"""The ``json_schema_extra`` key of a table of tables keyed by a name (``identities.environment.<environment>``):
what its keys are, as the reference shows them."""

Layer = dict[str, Any] | None
"""Settings of one section for one layer of the fleet: a table, checked and merged by config/fleet.py."""


_REFUSED = "refused"


def layer(section: str, description: str, *, refused: tuple[tuple[str, ...], str, str] | None = None) -> Any:
    """A field holding ``section``'s settings for one layer of the fleet (not set by default).

    ``refused``: the keys of ``section`` this layer may not set, and why and what to do instead (the loader
    reports each such key as it reports an unknown one).
    """
    extra: dict[str, Any] = {LAYER_OF: section}
    if refused is not None:
        extra[_REFUSED] = [list(refused[0]), refused[1], refused[2]]
    return Field(default=None, description=description, json_schema_extra=extra)


def layer_of(field: FieldInfo) -> str | None:
    """The section whose settings ``field`` holds for one layer of the fleet, or ``None`` for any other field."""
    extra = field.json_schema_extra
    section = extra.get(LAYER_OF) if isinstance(extra, dict) else None
    return section if isinstance(section, str) else None


def refused_keys(field: FieldInfo) -> tuple[frozenset[str], str, str]:
    """The keys a layer field may not set, why, and what to do instead (no keys for any other field)."""
    extra = field.json_schema_extra
    refused = extra.get(_REFUSED) if isinstance(extra, dict) else None
    if not isinstance(refused, list):
        return frozenset(), "", ""
    keys, why, fix = refused
    assert isinstance(keys, list) and isinstance(why, str) and isinstance(fix, str)
    return frozenset(str(key) for key in keys), why, fix


def keyed_by(field: FieldInfo) -> str | None:
    """What the keys of a table of tables are (``<environment>``), or ``None`` for any other field."""
    extra = field.json_schema_extra
    name = extra.get(KEYED_BY) if isinstance(extra, dict) else None
    return name if isinstance(name, str) else None


class _Section(BaseModel):
    """Frozen, strict, and closed: an unknown key is an error, not a silent no-op."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Naming(_Section):
    """How names are made. Templates are jinja2, rendered in a sandbox; see docs/naming.md."""

    namespace: str = Field(
        default="",
        description="Optional organisation prefix. When set and a template does not use `namespace`, "
        "names are prefixed with it and the delimiter.",
    )
    name: str = Field(default="streammanager", min_length=1, description="The application.")
    user: str = Field(
        default="{{ environment }}-{{ name }}",
        min_length=1,
        description="jinja2 template of the IAM user name; also the stack's id.",
    )
    policy: str = Field(
        default="{{ environment }}-{{ name }}-programmatic-access",
        min_length=1,
        description="jinja2 template of the managed policy name. A policy split in parts adds `-2`, `-3`, ... "
        "to the second and later parts.",
    )
    group: str = Field(
        default="{{ environment }}-{{ name }}",
        min_length=1,
        description="jinja2 template of the IAM group name, used only when `user.attach_policies_to` is `group`.",
    )
    delimiter: Literal["-", "_", "."] = Field(
        default="-",
        description="Joins the namespace prefix; doubled or leading/trailing delimiters left by empty "
        "variables are removed.",
    )

    @field_validator("namespace", "name")
    @classmethod
    def _iam_name_part(cls, value: str) -> str:
        # Checked here, at the input, so that the problem names this key once rather than every name it is in.
        bad = sorted(set(IAM_NAME_CHARACTER.sub("", value)))
        if bad:
            raise ValueError(
                f"has characters IAM does not allow in names: {''.join(bad)!r}; "
                "use only letters, digits and + = , . @ _ - (for example 'acme-corp')"
            )
        return value


def _check_tag_key(value: str) -> str:
    _check_tags({value: ""})
    return value


def _check_network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"is not an IP address range ({error}); write one such as '203.0.113.0/24'") from None
    return value


class Hardening(_Section):
    """Scopes of the policy: the regions and source ranges bound every policy source; the tag is for templates.

    Templates see these as `hardening`. `regions` and `source_ips` are tests on global condition keys, added to
    every Allow statement whatever the source (docs/policies.md); `tag_key` and `tag_value` are refused where no
    statement tests the tag, since no setting may silently do nothing.
    """

    tag_key: Annotated[str, AfterValidator(_check_tag_key)] = Field(
        default="Application",
        description="The tag that marks the application's own resources, for a policy template that tests it "
        "(`stream-manager-2.0-hardened`: launches must set it, and only EC2 resources carrying it may be started, "
        "stopped, terminated, modified, attached or detached). Setting it is an error where no condition of the "
        "policy tests the tag.",
    )
    tag_value: Annotated[str, AfterValidator(_check_tag_value)] = Field(
        default="",
        description="The tag's value; empty means the application's name (`naming.name`). Setting it is an error "
        "where no condition of the policy tests the tag against it.",
    )
    regions: tuple[Region, ...] = Field(
        default=(),
        strict=False,
        description="Regions every Allow statement may be called in (`aws:RequestedRegion`), whatever the policy "
        "source. Empty: no such bound, but the hardened template still keeps to the environment's region. "
        "Calls to global services are requested in `us-east-1` (IAM, for one): list it if the policy grants them.",
    )
    source_ips: tuple[Annotated[str, AfterValidator(_check_network)], ...] = Field(
        default=(),
        strict=False,
        description="IP address ranges every Allow statement may be called from (`aws:SourceIp`), whatever the "
        "policy source; empty means anywhere. Calls through a VPC endpoint carry no source address and are denied.",
    )


# Service prefixes and action names are ASCII letters, digits and '-' (vpc-lattice:AssociateViaAWSService-EventsAndStates).
ACTION_SYNTAX = re.compile(r"[A-Za-z0-9-]+:[A-Za-z0-9*?-]+")
"""An action as a policy writes it, wildcards allowed."""


class Policy(_Section):
    """Where the permissions come from, and how strictly they are checked."""

    actions: tuple[str, ...] | None = Field(
        default=None,
        strict=False,
        description="Inline list of IAM actions, granted on `policy.resources`. Default (when no source is set): "
        "the `stream-manager-2.0` template, the guide's 63 actions on every resource.",
    )
    file: str | None = Field(
        default=None,
        description="Path, relative to the config file, of an IAM policy document as pasted from the console, "
        "or of a JSON array of actions. A regular file of at most 1 MiB in the config file's folder or below it "
        "(symbolic links followed): 20 managed policies, the most a user can have, hold 122,880 characters "
        "without whitespace.",
    )
    template: str | None = Field(
        default=None,
        description="A policy template: the name of one in `templates/policies/` (without `.json.j2`) "
        "or a path relative to the config file (a regular file of at most 1 MiB in its folder or below, as are "
        "the partials it includes). Rendered in a sandbox, then checked like any other source.",
    )
    resources: tuple[str, ...] = Field(
        default=("*",),
        strict=False,
        min_length=1,
        description="Resources of the statement made from `policy.actions` (or an array of actions in `policy.file`).",
    )
    allow_wildcards: bool = Field(
        default=False,
        description="Accept actions with `*` or `?` (each must match at least one known action).",
    )
    allow_unlisted_actions: tuple[str, ...] = Field(
        default=(),
        strict=False,
        description="Actions accepted although the offline IAM catalogue does not know them (AWS added them "
        "later); each use prints a warning.",
    )
    remove_actions: tuple[str, ...] = Field(
        default=(),
        strict=False,
        description="Actions taken out of the policy, whatever its source (an action list, a console JSON file, a "
        "template): each as the source grants it (a wildcard only as a whole), matched ignoring case. What "
        "`usage tighten --write` writes (docs/tightening.md). One the source does not grant is refused.",
    )
    unused_for_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="`usage tighten`'s window: an action no stack of the identity used in this many days before "
        "IAM's evidence was taken is proposed for removal (`--unused-for` overrides it).",
    )
    description: str = Field(
        default="Programmatic access for {{ name }} in {{ environment }}",
        max_length=1000,
        description='jinja2 template of the managed policy\'s description; `""` for none (changing it replaces '
        "the policy).",
    )
    path: str = Field(default="/", description="IAM path of the managed policy.")
    hardening: Hardening = Field(
        default_factory=Hardening,
        description="Scopes of the policy: regions and source ranges for every source, the tag for templates that "
        "test it; policy templates see them as `hardening`.",
    )
    high_risk_findings: Literal["warn", "error"] = Field(
        default="warn",
        description="What a high-severity finding in the document (a privilege-escalation path, `iam:PassRole` or "
        "permissions management on any resource, actions that return credentials) does at `check` and synth: "
        "`warn` prints a warning, `error` refuses the configuration. Never silent; `report` lists every finding.",
    )
    max_policies: int = Field(
        default=10,
        ge=1,
        le=20,
        description="How many managed policies a user may need when a document is split. AWS allows 10 per user "
        "by default and 20 after a quota increase.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Policy:
        given = [key for key in ("actions", "file", "template") if getattr(self, key) is not None]
        if len(given) > 1:
            raise ValueError(
                f"sets policy.{' and policy.'.join(given)}, which are mutually exclusive; keep exactly one policy source"
            )
        return self

    @field_validator("remove_actions")
    @classmethod
    def _removed_actions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for action in value:
            if not ACTION_SYNTAX.fullmatch(action):
                raise ValueError(f"has {action!r}, which is not an action (service:Action, a wildcard allowed)")
        return value

    @field_validator("resources")
    @classmethod
    def _resource_texts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not resource.strip() for resource in value):
            raise ValueError("has an empty resource; write '*' or ARNs")
        outside = outside_latin1("".join(value))
        if outside:
            raise ValueError(
                f"has characters outside Latin-1 ({outside!r}), which IAM rejects in policies; remove them"
            )
        controls = control_characters("".join(value))
        if controls:
            raise ValueError(
                f"has control characters ({controls!r}), which are in no ARN and which IAM rejects; remove them"
            )
        return value

    @field_validator("allow_unlisted_actions")
    @classmethod
    def _unlisted_action_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # An entry that is no action name could never match one, so it would silently allow nothing.
        malformed = [action for action in value if not _PLAIN_ACTION.fullmatch(action)]
        if malformed:
            raise ValueError(
                f"lists {', '.join(map(repr, malformed[:5]))}, which {'is' if len(malformed) == 1 else 'are'} not "
                "an IAM action name; write each as 'service:ActionName', without wildcards or spaces"
            )
        return value

    @field_validator("path")
    @classmethod
    def _iam_path(cls, value: str) -> str:
        if len(value) > 512 or not _IAM_PATH.fullmatch(value):
            raise ValueError(
                "is not an IAM path; use '/' or a path that starts and ends with '/', at most 512 printable characters"
            )
        return value


_BOUNDARY_ARN = re.compile(r"arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/[\x21-\x7e]+")


class User(_Section):
    """The programmatic user. It never gets a console password (no login profile)."""

    path: str = Field(default="/", description="IAM path of the user.")
    permissions_boundary: str | None = Field(
        default=None, description="ARN of a managed policy that caps the user's permissions."
    )
    force_destroy: bool = Field(
        default=False,
        description="Let `terraform destroy` delete the user even when it has keys or MFA devices "
        "that Terraform does not manage.",
    )
    attach_policies_to: Literal["user", "group"] = Field(
        default="user",
        description="Attach the managed policies to the user (as the guide does) or to a group of which "
        "the user is the only member. See [Choices worth knowing](#choices-worth-knowing) for the trade-off.",
    )
    tags: Tags = Field(default_factory=dict, description="Tags on the user only (besides the provider's default tags).")
    adopt: bool = Field(
        default=False,
        description="Take over a user, its policy and their attachment made by hand (as the guide does) through "
        "Terraform import blocks instead of failing on EntityAlreadyExists; needs `environments.account_id`. "
        "See docs/adopting.md.",
    )

    @field_validator("path")
    @classmethod
    def _iam_path(cls, value: str) -> str:
        return Policy._iam_path(value)

    @field_validator("permissions_boundary")
    @classmethod
    def _policy_arn(cls, value: str | None) -> str | None:
        if value is not None and not _BOUNDARY_ARN.fullmatch(value):
            raise ValueError("is not a managed policy ARN; use 'arn:aws:iam::<account id>:policy/<name>'")
        return value


_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::([0-9]{12}):role/[\w+=,.@/-]{1,512}", re.ASCII)
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)


class AssumeRole(_Section):
    """A role the provider assumes to work in the environment's account (the state stays with the caller's)."""

    role_arn: str = Field(
        description="ARN of the role, for example `arn:aws:iam::111111111111:role/identity-deployer`."
    )
    session_name: str | None = Field(
        default=None,
        description="Session name in the account's CloudTrail; default `programmatic-iam-<environment>`.",
    )
    external_id: str | None = Field(
        default=None, description="External id the role's trust policy requires (`sts:ExternalId`), if any."
    )

    @field_validator("role_arn")
    @classmethod
    def _role(cls, value: str) -> str:
        if not _ROLE_ARN.fullmatch(value):
            raise ValueError("is not an IAM role ARN; write arn:aws:iam::<12-digit account id>:role/<path and name>")
        return value

    @field_validator("session_name")
    @classmethod
    def _session(cls, value: str | None) -> str | None:
        if value is not None and not _SESSION_NAME.fullmatch(value):
            raise ValueError("is not a session name; use 2 to 64 of letters, digits and + = , . @ _ -")
        return value

    @field_validator("external_id")
    @classmethod
    def _external(cls, value: str | None) -> str | None:
        if value is not None and not _EXTERNAL_ID.fullmatch(value):
            raise ValueError("is not an external id; use 2 to 1,224 of letters, digits and + = , . @ : / _ -")
        return value

    @property
    def account_id(self) -> str:
        """The account the role is in: where the provider works once it has assumed it."""
        match = _ROLE_ARN.fullmatch(self.role_arn)
        assert match is not None
        return match.group(1)


class Environment(_Section):
    """One deployment target: one stack, one state file, one user."""

    name: str = Field(description="The environment, for example `production`.")
    region: Region = Field(description="AWS region of the provider.")
    account_id: str | None = Field(
        default=None,
        description="When set, the provider refuses to run against any other account (`allowed_account_ids`).",
    )
    tags: Tags = Field(
        default_factory=dict,
        description="Default tags for this environment, over the top-level `tags` (and under an identity's own).",
    )
    assume_role: AssumeRole | None = Field(
        default=None,
        description="A role in the environment's account that the provider assumes (docs/terraform-workflows.md); "
        "`account_id`, when set, must be the role's account, and defaults to it.",
    )
    access_key: Layer = layer(
        "access_key",
        "Any key of `access_key`, for every identity in this environment: over the top level's, under an "
        "identity's own ([precedence](#precedence)).",
    )
    user: Layer = layer(
        "user",
        "Any key of `user`, for every identity in this environment: over the top level's, under an identity's own.",
    )
    policy: Layer = layer(
        "policy",
        "Only `hardening` (`[environments.policy.hardening]`): any key of `policy.hardening`, for every identity "
        "in this environment, over the top level's, under an identity's own.",
        refused=(
            tuple(name for name in Policy.model_fields if name != "hardening"),
            "cannot be set for an environment, which may set only policy.hardening of the policy",
            "set it at the top level, for an identity ([[identities]] policy), or for an identity in this environment "
            "([identities.environment.<environment>.policy])",
        ),
    )

    @field_validator("name")
    @classmethod
    def _environment_name(cls, value: str) -> str:
        if not _ENVIRONMENT_NAME.fullmatch(value):
            raise ValueError(
                "is not a usable environment name; use letters, digits, '-', '_' and '.', starting with a letter or digit"
            )
        return value

    @field_validator("account_id")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT_ID.fullmatch(value):
            raise ValueError("is not an AWS account id; write its 12 digits as a string")
        return value

    @model_validator(mode="after")
    def _role_in_the_account(self) -> Environment:
        role = self.assume_role
        if role is not None and self.account_id is not None and role.account_id != self.account_id:
            raise ValueError(
                f"assume_role.role_arn is in account {role.account_id}, but account_id is {self.account_id}; the "
                "provider works in the role's account: make them the same, or leave account_id out"
            )
        return self

    @property
    def guarded_account_id(self) -> str | None:
        """The one account the provider may work in: ``account_id``, else the assumed role's account."""
        if self.account_id is not None:
            return self.account_id
        return self.assume_role.account_id if self.assume_role is not None else None


_HCP_NAME = re.compile(r"[A-Za-z0-9_-]{1,90}")
# HCP Terraform's project names (the tfe provider's check): 3 to 40 characters, no space at either end.
_HCP_PROJECT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_ -]{1,38}[A-Za-z0-9_-]")
# A DNS host name (labels of letters, digits and inner '-'), with an optional port, as Terraform's cloud block takes it.
_HOST_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?P<host>{_HOST_LABEL}(\.{_HOST_LABEL})*)(:(?P<port>[0-9]{{1,5}}))?")


class Cloud(_Section):
    """HCP Terraform (or Terraform Enterprise) instead of the S3 backend: state and runs on its workspaces."""

    organization: str = Field(description="The HCP Terraform organization.")
    workspace: str | None = Field(
        default="{{ user }}",
        description="jinja2 template of each stack's workspace name; sees the naming variables and `user`. Set it "
        'to `""` to select workspaces by `workspace_tags` instead.',
    )
    workspace_tags: tuple[str, ...] = Field(
        default=(),
        strict=False,
        description="Tags selecting the workspaces (`terraform workspace select` picks one), instead of a name.",
    )
    project: str | None = Field(
        default=None,
        description="The project of the workspaces (3 to 40 letters, digits, spaces, `_` and `-`); default: the "
        "organization's default project.",
    )
    hostname: str | None = Field(
        default=None,
        description="Terraform Enterprise's host name (`tfe.example.com`, maybe with a `:port`); not set: HCP "
        "Terraform's own.",
    )

    @field_validator("organization")
    @classmethod
    def _organization(cls, value: str) -> str:
        if not _HCP_NAME.fullmatch(value):
            raise ValueError("is not an organization name; use letters, digits, '_' and '-'")
        return value

    @field_validator("project")
    @classmethod
    def _project(cls, value: str | None) -> str | None:
        if value is not None and not _HCP_PROJECT.fullmatch(value):
            raise ValueError(
                "is not an HCP Terraform project name; use 3 to 40 letters, digits, spaces, '_' and '-', "
                "with no space at either end"
            )
        return value

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        match = _HOSTNAME.fullmatch(value) if value is not None else None
        if value is not None and (
            match is None or len(match["host"]) > 253 or not 0 < int(match["port"] or 443) <= 65535
        ):
            raise ValueError(
                "is not a host name; write Terraform Enterprise's host name alone, such as 'tfe.example.com' or "
                "'tfe.example.com:8443', with no scheme, path or spaces"
            )
        return value

    @field_validator("workspace_tags")
    @classmethod
    def _tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [tag for tag in value if not re.fullmatch(r"[a-z0-9][a-z0-9:_-]{0,254}", tag)]
        if bad:
            raise ValueError(f"has {bad[0]!r}; workspace tags are lower-case letters, digits, ':', '_' and '-'")
        return value

    @model_validator(mode="after")
    def _name_or_tags(self) -> Cloud:
        if bool(self.workspace) == bool(self.workspace_tags):
            raise ValueError(
                'needs either workspace (a name template) or workspace_tags, not both: set workspace = "" '
                "to select by tags"
            )
        return self


class Backend(_Section):
    """The S3 remote state of every stack."""

    bucket: str = Field(default="terraform-state", description="S3 bucket holding the state; must exist.")
    key: str = Field(
        default="{{ user }}/terraform.tfstate",
        min_length=1,
        description="jinja2 template of the state object's key; sees the naming variables and `user`.",
    )
    region: Region = Field(default="us-east-1", description="Region of the state bucket.")
    encrypt: bool = Field(default=True, description="Server-side encryption of the state object.")
    use_lockfile: bool = Field(
        default=True, description="Lock the state with a lock file in the bucket (Terraform >= 1.10)."
    )
    dynamodb_table: str | None = Field(
        default=None, description="DynamoDB table for state locking (deprecated by Terraform; prefer the lock file)."
    )
    kms_key_id: str | None = Field(default=None, description="KMS key ARN used to encrypt the state object.")

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _BUCKET.fullmatch(value) or ".." in value:
            raise ValueError(
                "is not an S3 bucket name; use 3 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit"
            )
        reserved = [p for p in _BUCKET_RESERVED_PREFIXES if value.startswith(p)]
        reserved += [s for s in _BUCKET_RESERVED_SUFFIXES if value.endswith(s)]
        if reserved:
            raise ValueError(f"uses {reserved[0]!r}, which S3 reserves; choose a bucket name without it")
        if _is_ip_address(value):
            raise ValueError("looks like an IP address, which S3 refuses as a bucket name; choose a bucket name")
        return value

    @field_validator("dynamodb_table")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        if value is not None and not _TABLE_NAME.fullmatch(value):
            raise ValueError(
                "is not a DynamoDB table name; use 3 to 255 letters, digits, '_', '.' and '-', "
                "or drop it to lock with a lock file"
            )
        return value

    @field_validator("kms_key_id")
    @classmethod
    def _kms_key(cls, value: str | None) -> str | None:
        if value is not None and not _KMS_KEY.fullmatch(value):
            raise ValueError(
                "is not a KMS key ARN, key id or alias (Terraform's S3 backend wants lowercase RFC 4122 key ids); "
                "use 'arn:aws:kms:<region>:<account id>:key/<key id>' (or an alias ARN, a key id or 'alias/<name>')"
            )
        return value

    @model_validator(mode="after")
    def _kms_needs_encryption(self) -> Backend:
        if not self.encrypt and self.kms_key_id is not None:
            raise ValueError(
                "sets backend.kms_key_id with backend.encrypt = false; set encrypt = true or drop kms_key_id"
            )
        return self


# Terraform's version constraint syntax: comma-separated `operator version` (1, 1.2 or 1.2.3, maybe -beta1).
# ASCII digits and blanks only: Python's \d and \s also match other scripts' digits and spaces.
_VERSION_CONSTRAINT = re.compile(r"[ \t]*(=|!=|>|>=|<|<=|~>)?[ \t]*[0-9]+(\.[0-9]+){0,2}(-[0-9A-Za-z.]+)?[ \t]*")


def _check_version_constraint(value: str) -> str:
    if not all(_VERSION_CONSTRAINT.fullmatch(part) for part in value.split(",")):
        raise ValueError(
            "is not a Terraform version constraint; write comma-separated operators and versions, "
            "such as '>= 5.100.0, < 7.0.0' or '~> 1.10'"
        )
    return value


VersionConstraint = Annotated[str, AfterValidator(_check_version_constraint)]


def _check_pgp_key(value: str) -> str:
    """A base64 OpenPGP public key, as `gpg --export KEY | base64 -w0` prints it (binary, not armoured)."""
    if value.lstrip().startswith("-----BEGIN"):
        raise ValueError(
            "is an ASCII-armoured key; Terraform takes the binary key in base64: gpg --export KEY | base64 -w0"
        )
    try:
        packet = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not base64; write the output of gpg --export KEY | base64 -w0") from None
    first = packet[0] if packet else 0
    tag = (first & 0x3F) if first & 0x40 else (first >> 2) & 0x0F
    if not first & 0x80 or tag != 6:
        raise ValueError(
            "is base64 but not an OpenPGP public key (its first packet is not a public key); "
            "write the output of gpg --export KEY | base64 -w0"
        )
    return value


class AccessKeySettings(_Section):
    """Where the access key's secret is delivered (docs/security.md says where it lives in each mode)."""

    delivery: Literal["output", "secretsmanager", "ssm", "pgp"] = Field(
        default="output",
        description="`output`: a sensitive Terraform output (the secret is in the state). `secretsmanager`: "
        "one secret holding the key id and secret as JSON. `ssm`: two parameters, the secret a SecureString. "
        "`pgp`: only the secret encrypted with `pgp_key` is in the state.",
    )
    pgp_key: Annotated[str, AfterValidator(_check_pgp_key)] | None = Field(
        default=None,
        description='With `delivery = "pgp"`: a base64 OpenPGP public key (`gpg --export KEY | base64 -w0`).',
    )
    secret_name: str = Field(
        default="{{ user }}/access-key",
        min_length=1,
        description="jinja2 template of the Secrets Manager secret's name; sees the naming variables and `user`.",
    )
    parameter_path: str = Field(
        default="/{{ user }}/access-key",
        min_length=1,
        description="jinja2 template of the SSM path under which `access-key-id` and `secret-access-key` are "
        "written; sees the naming variables and `user`.",
    )
    kms_key_id: str | None = Field(
        default=None,
        description="KMS key ARN that encrypts the secret or the SecureString; default: the account's AWS managed key.",
    )
    create: bool = Field(
        default=True,
        description="`false`: the stack manages no key, for an adopted user whose hand-made key serves until a "
        "managed one is rotated in (docs/adopting.md).",
    )
    generation: int = Field(
        default=1,
        ge=1,
        description="The current key's generation. Raise it by one to rotate: a new key is created beside the "
        "old one, and the outputs and stores point at the new one (docs/key-rotation.md).",
    )
    previous: Literal["none", "active", "inactive"] = Field(
        default="none",
        description="The previous generation's key during a rotation: `active` while consumers switch, then "
        "`inactive`, then `none` (deleted). IAM allows two keys per user, so never more than these two.",
    )
    max_age_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="How old a key may get before `keys status` calls it overdue (and exits 1).",
    )
    rotation_grace_days: int = Field(
        default=7,
        ge=0,
        le=365,
        description="How many days the old key stays inactive before `keys rotate` deletes it (step 3), so that a "
        "consumer that broke when it was deactivated is noticed while the key can still be reactivated.",
    )
    deactivated_on: date | None = Field(
        default=None,
        description='The day `keys rotate` wrote `previous = "inactive"` (a TOML date, 2027-03-01): the grace '
        "period before step 3 counts from it. Written and removed by `keys rotate`; ignored unless `previous = "
        '"inactive"`.',
    )

    @field_validator("kms_key_id")
    @classmethod
    def _kms_key(cls, value: str | None) -> str | None:
        if value is not None and not KMS_KEY_ARN.fullmatch(value):
            raise ValueError(
                "is not a KMS key ARN; write arn:aws:kms:<region>:<account id>:key/<key id> (the deployer "
                "policy can grant a key only by its ARN)"
            )
        return value

    @model_validator(mode="after")
    def _settings_match_the_mode(self) -> AccessKeySettings:
        if self.delivery == "pgp" and self.pgp_key is None:
            raise ValueError('sets delivery = "pgp" without pgp_key; add access_key.pgp_key')
        if self.delivery != "pgp" and self.pgp_key is not None:
            raise ValueError(f'sets pgp_key with delivery = "{self.delivery}"; set delivery = "pgp" or drop pgp_key')
        if not self.create and (self.delivery != "output" or self.generation != 1 or self.pgp_key is not None):
            raise ValueError(
                "sets create = false with a delivery or a rotation; a stack that manages no key delivers none: "
                "drop them until create = true"
            )
        if self.generation == 1 and self.previous != "none":
            raise ValueError(
                f'sets previous = "{self.previous}" at generation 1, which has no previous key; raise generation '
                "to 2 to rotate"
            )
        if self.kms_key_id is not None and self.delivery not in ("secretsmanager", "ssm"):
            raise ValueError(
                f'sets kms_key_id with delivery = "{self.delivery}", where no store uses it; drop it, or deliver '
                'to "secretsmanager" or "ssm"'
            )
        return self


class Terraform(_Section):
    """Versions the synthesized configuration asks for."""

    provider_version: VersionConstraint = Field(
        default=">= 5.100.0, < 7.0.0",
        min_length=1,
        description="Version constraint of `hashicorp/aws`.",
    )
    required_version: VersionConstraint = Field(
        default=">= 1.10.0",
        min_length=1,
        description=(
            'Terraform version constraint (1.10 brought S3 lock files). With `delivery = "secretsmanager"` or '
            '`"ssm"` the stacks add `>= 1.11.0`: the stores take the secret through write-only arguments.'
        ),
    )


_KIND_DESCRIPTION = "`user` or `instance-profile`, over the top-level `kind`."
_IDENTITY_NAME_REFUSED = (
    ("name",),
    "cannot be set for an identity: templates see the identity's own `name` as `name`",
    "set name in the [[identities]] entry, and rename the identity there",
)


def _check_identity_name(value: str) -> str:
    return Naming._iam_name_part(value)


class IdentityInEnvironment(_Section):
    """``[identities.environment.<environment>]``: one identity's settings in one environment, the most specific."""

    kind: Literal["user", "instance-profile"] | None = Field(
        default=None, description="`user` or `instance-profile`, over the identity's `kind`."
    )
    naming: Layer = layer("naming", "Any key of `naming` but `name`.", refused=_IDENTITY_NAME_REFUSED)
    policy: Layer = layer("policy", "Any key of `policy`; a policy source set here replaces the one it would inherit.")
    user: Layer = layer("user", "Any key of `user`.")
    access_key: Layer = layer(
        "access_key",
        "Any key of `access_key`: a rotation of this identity in this environment alone, for example `generation = 2`.",
    )
    tags: Layer = layer("tags", "Tags, over the identity's own.")


class IdentityEntry(_Section):
    """One ``[[identities]]`` entry: an identity of the fleet, with the settings that are its own."""

    name: Annotated[str, AfterValidator(_check_identity_name)] = Field(
        min_length=1,
        description="The identity: what templates see as `name` (in place of `naming.name`), and the value of its "
        "`programmatic-iam:identity` tag. Unique in the file, ignoring case.",
    )
    environments: tuple[str, ...] | None = Field(
        default=None,
        strict=False,
        description="The names of the `[[environments]]` it is deployed to; not set: every environment.",
    )
    kind: Literal["user", "instance-profile"] | None = Field(default=None, description=_KIND_DESCRIPTION)
    naming: Layer = layer(
        "naming", "Any key of `naming` but `name` (the identity's `name` is its name).", refused=_IDENTITY_NAME_REFUSED
    )
    policy: Layer = layer(
        "policy",
        "Any key of `policy`. A policy source set here (`actions`, `file` or `template`) replaces the one it "
        "would inherit.",
    )
    user: Layer = layer("user", "Any key of `user`.")
    access_key: Layer = layer("access_key", "Any key of `access_key`.")
    tags: Layer = layer("tags", "Tags of this identity's resources, over the environment's and the top-level ones.")
    environment: dict[str, IdentityInEnvironment] = Field(
        default_factory=dict,
        description="`[identities.environment.<environment>]`: this identity's settings in one of its environments, "
        "over every other layer ([precedence](#precedence)).",
        json_schema_extra={KEYED_BY: "<environment>"},
    )


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The section model inside a field's type (``Naming``, ``tuple[Environment, ...]``), or ``None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = nested_model(argument)
        if found is not None:
            return found
    return None


def origin_key(origins: Mapping[tuple[str, ...], str] | None, *key: str | int) -> str:
    """The key where the value at ``key`` was written, by ``origins`` (effective key -> written key, ``key_path``
    form): the entry of ``key``, or of the nearest table or list holding it, with the rest of ``key`` after it;
    ``key`` itself when none has one. A part may be dotted (``"policy.hardening"``)."""
    parts = tuple(piece for part in key for piece in (part.split(".") if isinstance(part, str) else (part,)))
    if origins:
        for end in range(len(parts), 0, -1):
            head = parts[:end]
            if all(isinstance(part, str) for part in head) and head in origins:
                return key_path(origins[head], *parts[end:])  # type: ignore[index]
    return key_path(*parts)


def _default_environments() -> tuple[Environment, ...]:
    return (Environment(name="production", region="us-east-1"),)


class IdentityConfig(_Section):
    """Everything that decides what is synthesized. Built by :func:`programmatic_iam.config.load_config`."""

    kind: Literal["user", "instance-profile"] = Field(
        default="user",
        description="`user`: an IAM user with an access key (the guide's way). `instance-profile`: a role that EC2 "
        "instances assume through an instance profile of the same name, with the same policies and no key at "
        "all (docs/instance-profile.md).",
    )
    naming: Naming = Field(default_factory=Naming, description="Naming conventions.")
    policy: Policy = Field(default_factory=Policy, description="The permissions.")
    user: User = Field(default_factory=User, description="The IAM user.")
    environments: tuple[Environment, ...] = Field(
        default_factory=_default_environments,
        strict=False,
        description="One stack per environment.",
    )
    backend: Backend = Field(default_factory=Backend, description="Remote state.")
    cloud: Cloud | None = Field(
        default=None,
        description="HCP Terraform instead of the S3 `[backend]`: each stack plans and applies on its workspace "
        "(docs/terraform-workflows.md).",
    )
    access_key: AccessKeySettings = Field(
        default_factory=AccessKeySettings, description="Where the access key's secret is delivered."
    )
    terraform: Terraform = Field(default_factory=Terraform, description="Version constraints.")
    tags: Tags = Field(
        default_factory=dict,
        description="Default tags on every resource of every stack. IAM compares tag keys ignoring case, so keys "
        "that differ only in case (`Owner`, `owner`) are refused here and across `environments.tags` and `user.tags`. "
        "Besides these, every resource gets `programmatic-iam:identity` and `programmatic-iam:environment`, by which "
        "`keys status` finds the keys of removed environments (docs/key-rotation.md); keys with that prefix are "
        "refused here.",
    )
    identities: tuple[IdentityEntry, ...] = Field(
        default=(),
        strict=False,
        description="The identities of a fleet, each deployed to its environments with settings of its own over the "
        "top level's ([precedence](#precedence)). Not set: one identity, named by `naming.name`.",
    )

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _origin: str = PrivateAttr(default="<built-in default>")
    _environment_indices: tuple[int, ...] | None = PrivateAttr(default=None)
    """Each environment's index among the file's [[environments]] entries, when entries with problems were
    dropped before it (the loader sets it; ``None``: each is where it stands)."""
    _identity_indices: tuple[int, ...] | None = PrivateAttr(default=None)
    """Each identity's index among the file's [[identities]] entries, as ``_environment_indices``."""
    _dropped_environments: frozenset[str] = PrivateAttr(default=frozenset())
    """The names of the [[environments]] entries dropped for their own problems: an identity naming one is not
    blamed for it."""
    _origins: dict[tuple[str, ...], str] | None = PrivateAttr(default=None)
    """Where each value was written, by its key (config/fleet.py sets it on a stack's effective configuration;
    ``None``: every value is written where it stands)."""
    _identity: str | None = PrivateAttr(default=None)
    """The name of the [[identities]] entry this configuration is of (``None``: the file has no [[identities]])."""

    @property
    def base_dir(self) -> Path:
        """The folder that relative paths in the configuration are resolved against."""
        return self._base_dir

    @property
    def origin(self) -> str:
        """The configuration file as the user named it, or ``<built-in default>``."""
        return self._origin

    def environment_key(self, environment: Environment, *key: str) -> str:
        """A key of ``environment``'s entry as problems and warnings name it: ``environments[1].region``,
        the index counted in the file (entries dropped for their own problems included)."""
        names = [candidate.name for candidate in self.environments]
        if environment.name not in names:
            return key_path("environments", *key)
        position = names.index(environment.name)
        indices = self._environment_indices
        return key_path("environments", indices[position] if indices is not None else position, *key)

    def environment_index(self, position: int) -> int:
        """The index in the file of the environment at ``position`` in :attr:`environments`."""
        indices = self._environment_indices
        return indices[position] if indices is not None else position

    def identity_index(self, position: int) -> int:
        """The index in the file of the identity at ``position`` in :attr:`identities`."""
        indices = self._identity_indices
        return indices[position] if indices is not None else position

    def written_key(self, *key: str | int) -> str:
        """The key where the value at ``key`` was written, as problems name it (``key_path`` form).

        A stack's effective configuration (config/fleet.py) names the layer a value came from
        (``identities[1].environment.production.access_key.generation``); a table, the most specific layer that
        wrote into it; a value nobody wrote, its own key. Any other configuration names ``key`` itself.
        """
        return origin_key(self._origins, *key)

    def where(self, *key: str | int) -> str:
        """``origin: written key``: how a problem or a warning names the value at ``key``."""
        return f"{self.origin}: {self.written_key(*key)}"

    def rendered_where(self, key: str, environment: Environment) -> str:
        """How a problem names the template at ``key`` rendered for ``environment`` (and this identity)."""
        written = self.written_key(key)
        identity = self._identity if not written.startswith("identities[") else None
        return f"{self.origin}: {rendered_for(written, environment.name, identity)}"

    @field_validator("environments")
    @classmethod
    def _unique_environments(cls, environments: tuple[Environment, ...]) -> tuple[Environment, ...]:
        if not environments:
            raise ValueError("has no environments; add at least one [[environments]] entry with name and region")
        seen: dict[str, str] = {}
        for environment in environments:
            folded = environment.name.casefold()
            if folded in seen:
                raise ValueError(
                    f"lists the environment {environment.name!r} twice (names are compared ignoring case); "
                    "give each [[environments]] entry its own name"
                )
            seen[folded] = environment.name
        return environments

    @model_validator(mode="after")
    def _one_state_home(self) -> IdentityConfig:
        if self.cloud is not None and self.backend.model_fields_set:
            raise ValueError(
                f"sets both [cloud] and [backend] ({', '.join(sorted(self.backend.model_fields_set))}); a stack keeps "
                "its state in one place: remove [backend] to use HCP Terraform, or [cloud] to use S3"
            )
        return self
