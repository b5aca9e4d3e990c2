"""No configuration text becomes live Terraform: every string of every synthesized stack, read as Terraform reads it.

Terraform evaluates the strings of its JSON as templates; the cdk layer escapes whatever it is given (cdk/door.py).
These tests generate configurations with hostile text in every key and scan each synthesized stack with a
small reader of Terraform's template syntax: the only live ``${...}`` are our own references, where our code
puts them; there is no live ``%{...}`` at all.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
import json
from pathlib import Path
import re
import tempfile
from typing import Any

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
import pytest

from programmatic_iam.blueprint import build_blueprint
from programmatic_iam.cli.bootstrap import synthesize_bootstrap
from programmatic_iam.config import parse_config
from programmatic_iam.config.model import IdentityConfig
from programmatic_iam.errors import ConfigError
from programmatic_iam.spec import Blueprint, StackSpec
from programmatic_iam.spec.state_bucket import bootstrap_spec
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.helpers import REPO, run_cli, synth, synth_blueprint, write_config
from tests.support.terraform import Terraform

# ------------------------------------------------------------------------------------------------------------
# Terraform's template syntax, as it reads a string of its JSON
# ------------------------------------------------------------------------------------------------------------


def read_template(text: str) -> tuple[str, list[str]]:
    """What Terraform makes of ``text``: its literal characters (``$${`` read as ``${``, ``%%{`` as ``%{``), and
    each live ``${...}`` or ``%{...}`` whole (to the end of ``text`` when it is never closed).

    As hcl's scanner does: a ``$`` or ``%`` directly before ``${`` / ``%{`` makes an escape, any other
    ``$`` or ``%`` is a plain character.
    """
    literal: list[str] = []
    live: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char in "$%" and text.startswith(char * 2 + "{", index):
            literal.append(char + "{")
            index += 3
        elif char in "$%" and text.startswith(char + "{", index):
            end = _closing_brace(text, index + 2)
            live.append(text[index : end + 1])
            index = end + 1
        else:
            literal.append(char)
            index += 1
    return "".join(literal), live


def _closing_brace(text: str, index: int) -> int:
    """Where the expression starting at ``index`` ends (its ``}``), skipping brackets and quoted strings."""
    depth = 0
    while index < len(text):
        char = text[index]
        if char == '"':
            index = _after_quoted(text, index + 1)
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                return index
            depth -= 1
        index += 1
    return len(text) - 1


def _after_quoted(text: str, index: int) -> int:
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
        elif char == '"':
            return index + 1
        elif char in "$%" and text.startswith(char * 2 + "{", index):
            index += 3
        elif char in "$%" and text.startswith(char + "{", index):
            index = _closing_brace(text, index + 2) + 1
        else:
            index += 1
    return index


@pytest.mark.parametrize(
    ("text", "literal", "live"),
    [
        ("plain", "plain", []),
        ("$${x}", "${x}", []),
        ("%%{x}", "%{x}", []),
        ("$$${x}", "$${x}", []),
        ("$$$${x}", "$$${x}", []),
        ("a$", "a$", []),
        ("$", "$", []),
        ("%", "%", []),
        ("${x}", "", ["${x}"]),
        ("%{ if x }y%{ endif }", "y", ["%{ if x }", "%{ endif }"]),
        ("$%{x}", "$", ["%{x}"]),
        ("%${x}", "%", ["${x}"]),
        ("${", "", ["${"]),
        ('${f("}")}-', "-", ['${f("}")}']),
        ('${jsonencode({"a" = b.c.d})}', "", ['${jsonencode({"a" = b.c.d})}']),
        ("$${aws:username}/${a.b.c}", "${aws:username}/", ["${a.b.c}"]),
    ],
)
def test_read_template(text: str, literal: str, live: list[str]) -> None:
    assert read_template(text) == (literal, live)


LITERALS = ["$${x}", "%%{x}", "$$${x}", "$$$${x}", "%%%{x}", "a$", "a%", "$", "%%", "$ {", "}{", "$%", "%$", "$$", "$}"]


@pytest.mark.terraform
def test_the_reader_agrees_with_terraform(terraform_without_providers: Terraform, tmp_path: Path) -> None:
    outputs = {f"v{index}": {"value": text} for index, text in enumerate(LITERALS)}
    (tmp_path / "main.tf.json").write_text(json.dumps({"output": outputs}), encoding="utf-8")
    terraform_without_providers.apply(tmp_path)
    got = terraform_without_providers.outputs(tmp_path)
    assert {text: got[f"v{index}"] for index, text in enumerate(LITERALS)} == {
        text: read_template(text)[0] for text in LITERALS
    }


# ------------------------------------------------------------------------------------------------------------
# Our own interpolations: where the cdk layer writes a reference, and which
# ------------------------------------------------------------------------------------------------------------

_REFERENCE = re.compile(r"\b(aws_[a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_-]*)\.([a-z_]+)\b")
_KEY_DATE = '${parseint(formatdate("YYYYMMDDhhmmss", aws_iam_access_key.*.create_date), 10)}'
_OURS: dict[tuple[str, str], frozenset[str]] = {
    place: frozenset(shapes)
    for place, shapes in {
        ("aws_iam_access_key", "user"): ["${aws_iam_user.*.name}"],
        ("aws_iam_group_policy_attachment", "group"): ["${aws_iam_group.*.name}"],
        ("aws_iam_group_policy_attachment", "policy_arn"): ["${aws_iam_policy.*.arn}"],
        ("aws_iam_instance_profile", "role"): ["${aws_iam_role.*.name}"],
        ("aws_iam_role_policy_attachment", "policy_arn"): ["${aws_iam_policy.*.arn}"],
        ("aws_iam_role_policy_attachment", "role"): ["${aws_iam_role.*.name}"],
        ("aws_iam_user_group_membership", "groups"): ["${aws_iam_group.*.name}"],
        ("aws_iam_user_group_membership", "user"): ["${aws_iam_user.*.name}"],
        ("aws_iam_user_policy_attachment", "policy_arn"): ["${aws_iam_policy.*.arn}"],
        ("aws_iam_user_policy_attachment", "user"): ["${aws_iam_user.*.name}"],
        ("aws_secretsmanager_secret_version", "secret_id"): ["${aws_secretsmanager_secret.*.id}"],
        ("aws_secretsmanager_secret_version", "secret_string_wo"): [
            '${jsonencode({"access_key_id" = aws_iam_access_key.*.id, '
            '"secret_access_key" = aws_iam_access_key.*.secret})}'
        ],
        ("aws_secretsmanager_secret_version", "secret_string_wo_version"): [_KEY_DATE],
        ("aws_ssm_parameter", "value"): ["${aws_iam_access_key.*.id}"],
        ("aws_ssm_parameter", "value_wo"): ["${aws_iam_access_key.*.secret}"],
        ("aws_ssm_parameter", "value_wo_version"): [_KEY_DATE],
        ("aws_s3_bucket_versioning", "bucket"): ["${aws_s3_bucket.*.bucket}"],
        ("aws_s3_bucket_server_side_encryption_configuration", "bucket"): ["${aws_s3_bucket.*.bucket}"],
        ("aws_s3_bucket_public_access_block", "bucket"): ["${aws_s3_bucket.*.bucket}"],
        ("aws_s3_bucket_ownership_controls", "bucket"): ["${aws_s3_bucket.*.bucket}"],
        ("aws_s3_bucket_policy", "bucket"): ["${aws_s3_bucket.*.bucket}"],
        ("aws_s3_bucket_policy", "policy"): ["${aws_s3_bucket.*.arn}"],
        ("output", "value"): [
            f"${{{kind}.*.{attribute}}}"
            for kind, attribute in [
                ("aws_iam_user", "name"),
                ("aws_iam_user", "arn"),
                ("aws_iam_role", "name"),
                ("aws_iam_role", "arn"),
                ("aws_iam_instance_profile", "name"),
                ("aws_iam_instance_profile", "arn"),
                ("aws_iam_policy", "arn"),
                ("aws_iam_access_key", "id"),
                ("aws_iam_access_key", "secret"),
                ("aws_iam_access_key", "encrypted_secret"),
                ("aws_iam_access_key", "key_fingerprint"),
                ("aws_secretsmanager_secret", "arn"),
                ("aws_ssm_parameter", "name"),
                ("aws_s3_bucket", "bucket"),
                ("aws_s3_bucket", "arn"),
                ("aws_dynamodb_table", "name"),
            ]
        ],
    }.items()
}
"""(resource type or ``output``, argument) -> the interpolations our code writes there, resource names as ``*``."""


def _place(path: list[str]) -> tuple[str, str] | None:
    if len(path) >= 4 and path[0] == "resource":
        return path[1], path[3]
    if len(path) >= 3 and path[0] == "output" and path[2] == "value":
        return "output", "value"
    return None


def foreign_interpolations(stack: dict[str, Any]) -> list[str]:
    """Every live ``${...}`` or ``%{...}`` in ``stack`` (keys and values) that is not one of our own where it is,
    or that refers to a resource the stack does not have."""
    resources = {f"{kind}.{name}" for kind, named in stack.get("resource", {}).items() for name in named}

    def ours(path: list[str], sequence: str) -> bool:
        place = _place(path)
        shape = _REFERENCE.sub(lambda match: f"{match[1]}.*.{match[3]}", sequence)
        known = all(f"{match[1]}.{match[2]}" in resources for match in _REFERENCE.finditer(sequence))
        return place is not None and known and shape in _OURS.get(place, frozenset())

    found: list[str] = []
    for path, text, is_key in _strings(stack, []):
        found += [
            f"{'.'.join(path)}{' (a key)' if is_key else ''}: {sequence}"
            for sequence in read_template(text)[1]
            if is_key or not ours(path, sequence)
        ]
    return found


def _strings(value: Any, path: list[str]) -> Iterator[tuple[list[str], str, bool]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield path, key, True
            yield from _strings(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, [*path, str(index)])
    elif isinstance(value, str):
        yield path, value, False


def test_the_scanner_finds_a_reference_where_it_does_not_belong() -> None:
    stack = {
        "resource": {
            "aws_iam_user": {"user": {"name": "n", "tags": {"t": "${aws_iam_user.user.arn}"}}},
            "aws_iam_access_key": {"access_key": {"user": "${aws_iam_user.user.name}"}},
            "aws_iam_user_policy_attachment": {"a": {"user": "${aws_iam_user.other.name}", "policy_arn": "x"}},
        },
        "import": [{"id": '$${file("x")}-${file("x")}', "to": "aws_iam_user.user"}],
        "output": {"o": {"value": "${aws_iam_user.user.name}", "description": "%{ if true }"}},
    }
    assert foreign_interpolations(stack) == [
        "resource.aws_iam_user.user.tags.t: ${aws_iam_user.user.arn}",
        "resource.aws_iam_user_policy_attachment.a.user: ${aws_iam_user.other.name}",
        'import.0.id: ${file("x")}',
        "output.o.description: %{ if true }",
    ]


# ------------------------------------------------------------------------------------------------------------
# The door: no binding writes text it was given without escaping or checking it
# ------------------------------------------------------------------------------------------------------------


def test_every_binding_that_writes_json_goes_through_a_door() -> None:
    from programmatic_iam.cdk import bindings
    from programmatic_iam.cdk.door import DOOR

    doors = {name: getattr(getattr(bindings, name), DOOR, None) for name in bindings.__all__}
    assert [name for name, door in doors.items() if (door is None) != (name in bindings.WITHOUT_DOOR)] == []
    assert set(doors.values()) == {None, "evaluated", "read_as_written", "functions"}


@pytest.mark.engine
def test_a_binding_escapes_whatever_it_is_given(tmp_path: Path) -> None:
    from programmatic_iam.cdk.bindings import (
        App,
        AwsProvider,
        AwsProviderDefaultTags,
        IamUser,
        TerraformOutput,
        TerraformStack,
    )

    app = App(outdir=str(tmp_path))
    stack = TerraformStack(app, "door")
    AwsProvider(stack, "aws", region="us-east-1", default_tags=[AwsProviderDefaultTags(tags={"${k}": "%{v}"})])
    user = IamUser(stack, "user", name='${file("/etc/hostname")}', tags={"a$": "{b}"})
    user.import_from("${id}")
    user.add_override("path", "/${p}/")
    TerraformOutput(stack, "name", value=user.name)
    TerraformOutput(stack, "text", value="${x}")
    app.synth()
    written = json.loads((tmp_path / "stacks" / "door" / "cdk.tf.json").read_text(encoding="utf-8"))
    assert foreign_interpolations(written) == []
    assert written["provider"]["aws"][0]["default_tags"] == [{"tags": {"$${k}": "%%{v}"}}]
    assert {key: written["resource"]["aws_iam_user"]["user"][key] for key in ("name", "tags", "path")} == {
        "name": '$${file("/etc/hostname")}',
        "tags": {"a$": "{b}"},
        "path": "/$${p}/",
    }
    assert written["import"] == [{"id": "$${id}", "to": "aws_iam_user.user"}]
    assert (written["output"]["name"]["value"], written["output"]["text"]["value"]) == (
        "${aws_iam_user.user.name}",
        "$${x}",
    )


@pytest.mark.engine
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda b, stack: b.S3Backend(stack, bucket="b", key="${k}", region="us-east-1"), id="backend"),
        pytest.param(lambda b, stack: b.NamedCloudWorkspace("%{w}"), id="workspace"),
        pytest.param(lambda b, stack: stack.add_override("terraform.required_version", ">= ${v}"), id="version"),
        pytest.param(lambda b, stack: b.TerraformOutput(stack, "o", value="v", description="${d}"), id="description"),
        pytest.param(lambda b, stack: b.Fn.formatdate('YYYY"${x}', "t"), id="function-quote"),
        pytest.param(lambda b, stack: b.Fn.jsonencode({"k%{x}": "v"}), id="function-key"),
    ],
)
def test_rejects_text_where_no_escape_keeps_it_literal(tmp_path: Path, make: Any) -> None:
    from programmatic_iam.cdk import bindings
    from programmatic_iam.cdk.door import UnescapableTextError

    stack = bindings.TerraformStack(bindings.App(outdir=str(tmp_path)), "door")
    with pytest.raises(UnescapableTextError):
        make(bindings, stack)


# ------------------------------------------------------------------------------------------------------------
# The case: an adopted policy's path
# ------------------------------------------------------------------------------------------------------------

ACCOUNT = "123456789012"  # the emulator's
SEED_POLICY = REPO / "tests" / "fixtures" / "seed-console-policy.json"
HOSTILE_PATH = '/${replace(file("/proc/self/environ"),"\\u0000","_")}/'


def adopting(path: str, *, policy: str = "") -> str:
    """A configuration adopting a hand-made user and policy, the policy at ``path``; ``policy``: more [policy] keys."""
    return f"""
        [user]
        adopt = true

        [policy]
        path = {json.dumps(path)}
        {policy}

        [[environments]]
        name = "production"
        region = "us-east-1"
        account_id = "{ACCOUNT}"
        """


@pytest.mark.engine
def test_an_adopted_policy_path_reaches_the_import_ids_literally(tmp_path: Path) -> None:
    write_config(tmp_path, adopting(HOSTILE_PATH))
    assert run_cli(tmp_path, "check")[0] == 0  # IAM allows the path: it must be written, and written literally
    (stack,) = synth(adopting(HOSTILE_PATH), tmp_path).values()
    assert foreign_interpolations(stack) == []
    arn = f"arn:aws:iam::{ACCOUNT}:policy{HOSTILE_PATH}production-streammanager-programmatic-access"
    assert [read_template(block["id"]) for block in stack["import"]] == [
        ("production-streammanager", []),
        (arn, []),
        (f"production-streammanager/{arn}", []),
    ]


# ------------------------------------------------------------------------------------------------------------
# Every key, every kind of hostile text, adoption and every delivery
# ------------------------------------------------------------------------------------------------------------

FRAGMENTS = [
    "${",
    "%{",
    "$${",
    "%%{",
    "$$${",
    "%%%{",
    "$",
    "%",
    "{",
    "}",
    '${file("/etc/hostname")}',
    "${aws_iam_access_key.access_key.secret}",
    "%{ if true }x%{ endif }",
    "${aws:username}",
    "\\",
    '"',
    "'",
    "\n",
    "ü",
    "☃",
    "{{ name }}",
    "{% raw %}",
    "{{",
    "}}",
    "{#",
    "TfToken[",
    "${TfToken[TOKEN.1]}",
    "__proto__",
    "..",
    ".",
    "/",
    " ",
    "a",
    "-",
    ":",
]
hostile = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=2), min_size=1, max_size=5).map("".join)
"""Text built of the pieces that break templates, JSON, jinja2 and cdktf, with a little of anything between."""
_PRINTABLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
hostile_printable = st.lists(
    st.sampled_from([f for f in FRAGMENTS if all(0x21 <= ord(c) <= 0x7E for c in f)]) | st.text(_PRINTABLE, max_size=2),
    min_size=1,
    max_size=5,
).map("".join)
"""Hostile text of printable ASCII only, as IAM paths and ARNs allow it."""


def _rendering(text: str) -> st.SearchStrategy[str]:
    """Jinja2 sources that render ``text``: as it is, raw, or as a string literal."""
    return st.sampled_from([text, f"{{% raw %}}{text}{{% endraw %}}", f"{{{{ {text!r} }}}}"])


hostile_template = hostile.flatmap(_rendering)
PGP_KEY = base64.b64encode(b"\xc6\x01\x04" + bytes(range(32))).decode()  # a public-key packet's header: enough
KMS_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0f3b2c1a-1111-4222-8333-123456789abc"

# Each key a configuration can set, with a value that passes and a way to make it hostile.
KEYS: dict[str, tuple[Any, st.SearchStrategy[Any]]] = {
    "naming.namespace": ("acme", hostile),
    "naming.name": ("app", hostile),
    "naming.user": ("{{ environment }}-{{ name }}", hostile_template.map(lambda t: "{{ environment }}" + t)),
    "naming.policy": ("{{ environment }}-{{ name }}-access", hostile_template.map(lambda t: "{{ name }}" + t)),
    "naming.group": ("{{ environment }}-{{ name }}-group", hostile_template.map(lambda t: "{{ name }}" + t)),
    "policy.description": ("Access for {{ name }} in {{ environment }}", hostile_template),
    "policy.path": ("/app/", hostile_printable.map(lambda t: f"/{t}/")),
    "policy.resources": (["arn:aws:s3:::data/$${aws:username}/*"], st.lists(hostile, min_size=1, max_size=2)),
    "policy.hardening.tag_key": ("Application", hostile),
    "policy.hardening.tag_value": ("app", hostile),
    "user.path": ("/app/", hostile_printable.map(lambda t: f"/{t}/")),
    "user.permissions_boundary": (
        f"arn:aws:iam::{ACCOUNT}:policy/boundary",
        hostile_printable.map(lambda t: f"arn:aws:iam::{ACCOUNT}:policy/{t}"),
    ),
    "user.tags": ({"Team": "platform"}, st.dictionaries(hostile, hostile, min_size=1, max_size=2)),
    "tags": ({"Owner": "ops"}, st.dictionaries(hostile, hostile, min_size=1, max_size=2)),
    "environments.0.name": ("production", hostile),
    "environments.0.region": ("us-east-1", hostile),
    "environments.0.account_id": (ACCOUNT, hostile),
    "environments.0.tags": ({"Stage": "prod"}, st.dictionaries(hostile, hostile, min_size=1, max_size=2)),
    "environments.0.assume_role.role_arn": (
        f"arn:aws:iam::{ACCOUNT}:role/deployer",
        hostile.map(lambda t: f"arn:aws:iam::{ACCOUNT}:role/{t}"),
    ),
    "environments.0.assume_role.session_name": ("deploying", hostile),
    "environments.0.assume_role.external_id": ("external-1", hostile),
    "backend.bucket": ("state-bucket", hostile),
    "backend.key": ("{{ user }}/terraform.tfstate", hostile_template.map(lambda t: "{{ user }}/" + t)),
    "backend.dynamodb_table": ("locks", hostile),
    "backend.kms_key_id": (KMS_KEY, hostile),
    "cloud.organization": ("acme", hostile),
    "cloud.workspace": ("{{ user }}", hostile_template.map(lambda t: "{{ user }}" + t)),
    "cloud.project": ("Identities", hostile),
    "cloud.hostname": ("tfe.example.com", hostile),
    "access_key.secret_name": ("{{ user }}/access-key", hostile_template.map(lambda t: "{{ user }}/" + t)),
    "access_key.parameter_path": ("/{{ user }}/access-key", hostile_template.map(lambda t: "/{{ user }}/" + t)),
    "access_key.kms_key_id": (KMS_KEY, hostile),
    "access_key.pgp_key": (PGP_KEY, hostile),
    "terraform.required_version": (">= 1.11.0", hostile),
    "terraform.provider_version": (">= 5.100.0, < 7.0.0", hostile),
    "document": ("arn:aws:s3:::data/*", hostile),
}
"""``document``: the Resource and a condition value of a policy file or template the configuration names."""
# Keys that accept text with '$', '{' or '%', and so put the escaping to work when they are hostile.
LENIENT = [
    "policy.description",
    "policy.path",
    "policy.resources",
    "user.path",
    "user.permissions_boundary",
    "document",
]


def _put(config: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node: Any = config
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[last] = value


VARIANTS = {
    "output-adopted": ("user", "output", "user", True),
    "secretsmanager-adopted": ("user", "secretsmanager", "user", True),
    "ssm-adopted": ("user", "ssm", "user", True),
    "pgp-adopted": ("user", "pgp", "user", True),
    "group": ("user", "output", "group", False),
    "instance-profile": ("instance-profile", "output", "user", False),
}
"""(kind, access_key.delivery, user.attach_policies_to, user.adopt): each delivery, adoption, a group, a role."""


@st.composite
def configurations(
    draw: st.DrawFn, kind: str, delivery: str, attach: str, adopt: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """A configuration of the variant with every other part on that can be (a role to assume, a policy file or
    template, cloud or S3), some of its keys hostile; and the files it names."""
    source = draw(st.sampled_from(["actions", "file", "template", "hardened"]))
    state = draw(st.sampled_from(["backend", "cloud"]))
    hostile_keys = draw(st.sets(st.sampled_from(LENIENT), min_size=1, max_size=3))
    hostile_keys |= draw(st.sets(st.sampled_from(sorted(KEYS)), max_size=1))
    if adopt and draw(st.booleans()):  # the case: the policy's path in the import ids
        hostile_keys.add("policy.path")
    value = {key: draw(KEYS[key][1]) if key in hostile_keys else KEYS[key][0] for key in KEYS}

    config: dict[str, Any] = {"kind": kind, "environments": [{}]}
    skipped = {"document"}
    skipped |= {k for k in KEYS if k.startswith("backend." if state == "cloud" else "cloud.")}
    if kind != "user":
        skipped |= {"naming.group", "access_key.secret_name", "access_key.parameter_path", "access_key.pgp_key"}
    skipped |= {"access_key.kms_key_id"} if delivery not in ("secretsmanager", "ssm") else set()
    skipped |= {"access_key.pgp_key"} if delivery != "pgp" else set()
    skipped |= {"policy.resources"} if source != "actions" else set()
    # Only the hardened template tests the tag: elsewhere the tag settings are refused as doing nothing.
    skipped |= {"policy.hardening.tag_key", "policy.hardening.tag_value"} if source != "hardened" else set()
    for key in KEYS:
        if key not in skipped:
            _put(config, key, value[key])
    _put(config, "access_key.delivery", delivery)
    _put(config, "user.attach_policies_to", attach)
    _put(config, "user.adopt", adopt)
    files: dict[str, str] = {}
    resource, condition = value["document"], value["document"]
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [resource],
                "Condition": {"StringLike": {"s3:prefix": [condition]}},
            }
        ],
    }
    if source == "actions":
        _put(config, "policy.actions", ["s3:GetObject", "s3:ListBucket"])
    elif source == "file":
        files["policy.json"] = json.dumps(document)
        _put(config, "policy.file", "policy.json")
    elif source == "template":
        files["policy.json.j2"] = "{% raw %}" + json.dumps(document) + "{% endraw %}"
        _put(config, "policy.template", "policy.json.j2")
    else:
        _put(config, "policy.template", "stream-manager-2.0-hardened")
    if kind == "instance-profile":
        for key in ("access_key", "user.attach_policies_to", "user.adopt"):
            _drop(config, key)
    return config, files


def _drop(config: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    node = config
    for part in parents:
        node = node[part]
    node.pop(last, None)


def _blueprint(config: dict[str, Any], files: dict[str, str], folder: Path) -> tuple[IdentityConfig, Blueprint] | None:
    """The configuration's blueprint, or ``None`` when it is refused (with problems, never anything else)."""
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    try:
        loaded = parse_config(config, origin="iam.toml", base_dir=folder)
        return loaded, build_blueprint(loaded)
    except ConfigError as error:
        refused = error
    problems = refused.problems
    assert problems and all(problem.where and problem.why and problem.fix for problem in problems)
    return None


EXAMPLES = 15
"""Per variant. With its seed, 4 to 9 of them pass the checks (the rest put hostile text in a key that refuses
it) and are synthesized, about 0.2 s each: some 12 s for all six variants (measured on 2 shared cores)."""


@pytest.mark.engine
@pytest.mark.parametrize("variant", VARIANTS)
def test_no_configuration_text_becomes_live_terraform(variant: str) -> None:
    accepted: Counter[str] = Counter()

    # A fixed seed per variant: reproducible in CI, and each variant draws its own values.
    @seed(sorted(VARIANTS).index(variant))
    @settings(max_examples=EXAMPLES, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(configurations(*VARIANTS[variant]))
    def synthesizes_no_live_text(drawn: tuple[dict[str, Any], dict[str, str]]) -> None:
        config, files = drawn
        with tempfile.TemporaryDirectory() as temporary:
            folder = Path(temporary)
            built = _blueprint(config, files, folder)
            if built is None:
                return
            loaded, blueprint = built
            accepted["configurations"] += 1
            stacks = synth_blueprint(blueprint, folder / "out")
            if loaded.cloud is None:
                bootstrap = synthesize_bootstrap(bootstrap_spec(loaded, "s3"), folder / "bootstrap")
                stacks["bootstrap"] = json.loads((bootstrap / "cdk.tf.json").read_text(encoding="utf-8"))
            for name, stack in stacks.items():
                assert foreign_interpolations(stack) == [], name
            for spec in blueprint.stacks:
                _assert_written_literally(spec, stacks[spec.stack_id])

    synthesizes_no_live_text()
    # A generator whose every configuration is refused would test nothing.
    assert accepted["configurations"] >= EXAMPLES // 4, f"only {accepted['configurations']} of {EXAMPLES} accepted"


def _assert_written_literally(spec: StackSpec, stack: dict[str, Any]) -> None:
    """The policies and import ids read back, unescaped, as exactly what the spec holds: escaped once, not twice."""
    written = {
        (read_template(policy["name"])[0], read_template(policy["path"])[0], read_template(policy["policy"])[0])
        for policy in stack["resource"]["aws_iam_policy"].values()
    }
    assert written == {(policy.name, policy.path, policy.document_json) for policy in spec.identity.policies}
    if spec.identity.adoption is not None:
        ids = {read_template(block["id"])[0] for block in stack["import"]}
        arns = {spec.identity.adoption.policy_arn(policy) for policy in spec.identity.policies}
        assert ids == {spec.identity.principal.name} | arns | {f"{spec.identity.principal.name}/{arn}" for arn in arns}


# ------------------------------------------------------------------------------------------------------------
# The rendered values the checks must refuse, and the door's own refusals
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "where", "why"),
    [
        (
            "[policy]\ndescription = \"x {{ '$' ~ '{' }}TfToken[TOKEN.1]}\"\n",
            "policy.description",
            "with a cdktf token marker",
        ),
        ("[backend]\nkey = \"{{ user }}/{{ 'TfToken' }}[x\"\n", "backend.key", "with a cdktf token marker"),
        ('[tags]\n__proto__ = "x"\n', "tags", "cdktf cannot pass on"),
        ('[user.tags]\n__proto__ = "x"\n', "user.tags", "cdktf cannot pass on"),
        ('[naming]\nuser = ".."\n', "naming.user", "names the stack's folder"),
        ('[naming]\nuser = "."\n', "naming.user", "names the stack's folder"),
        ('[naming]\nuser = ".{{ name }}"\n', "naming.user", "names the stack's folder"),
    ],
)
def test_rejects_what_would_break_synthesis_or_hide_a_stack(tmp_path: Path, config: str, where: str, why: str) -> None:
    write_config(tmp_path, config)
    code, _, stderr = run_cli(tmp_path, "check")
    assert code == 2, stderr
    assert f"iam.toml: {where}" in stderr and why in stderr
    assert "Traceback" not in stderr


# ------------------------------------------------------------------------------------------------------------
# The real Terraform: the hostile path stays literal through a plan
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.engine
@pytest.mark.terraform
def test_terraform_imports_by_the_literal_path_and_reads_no_file(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY-4f1d", encoding="utf-8")
    path = f'/${{file("{canary}")}}/'
    user, policy_name = "production-streammanager", "production-streammanager-programmatic-access"
    iam = aws.client("iam")
    iam.create_user(UserName=user)
    made = iam.create_policy(PolicyName=policy_name, Path=path, PolicyDocument=SEED_POLICY.read_text())["Policy"]
    iam.attach_user_policy(UserName=user, PolicyArn=made["Arn"])
    aws.client("s3").create_bucket(Bucket="terraform-state")

    (tmp_path / "policy.json").write_text(SEED_POLICY.read_text(encoding="utf-8"), encoding="utf-8")
    source = 'file = "policy.json"\n        description = ""'
    synth(adopting(path, policy=source) + "\n[access_key]\ncreate = false\n", tmp_path)
    stack_dir = tmp_path / "cdktf.out" / "stacks" / user
    emulated_terraform.init(stack_dir)
    shown = emulated_terraform.run(["plan", "-input=false", "-no-color", "-out=adopt.tfplan"], stack_dir).stdout
    plan = json.loads(emulated_terraform.run(["show", "-json", "adopt.tfplan"], stack_dir).stdout)
    changes = {change["type"]: change["change"] for change in plan["resource_changes"]}
    # Imported by their literal ids; the user and the policy then only gain the tool's tags (docs/adopting.md).
    assert {kind: (change["actions"], change["importing"]["id"]) for kind, change in changes.items()} == {
        "aws_iam_user": (["update"], user),
        "aws_iam_policy": (["update"], made["Arn"]),
        "aws_iam_user_policy_attachment": (["no-op"], f"{user}/{made['Arn']}"),
    }
    assert {change["after"]["path"] for kind, change in changes.items() if kind == "aws_iam_policy"} == {path}
    assert path in made["Arn"]
    assert "CANARY" not in shown and "CANARY" not in json.dumps(plan)
