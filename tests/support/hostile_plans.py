"""Plans whose every value that reaches the review comment is chosen by the test, and the comment read back
as GitHub reads it (cmark-gfm, GitHub's own Markdown parser), to prove that no value escapes its code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
import json
from pathlib import Path
import re
from typing import Any

import cmarkgfm
from cmarkgfm.cmark import Options

FIELDS = (
    "user_address",
    "user_module_address",
    "user_previous_address",
    "old_user_name",
    "user_name",
    "attribute_name",
    "policy_address",
    "policy_name",
    "second_policy_name",
    "effect",
    "sid",
    "action",
    "resource",
    "condition_operator",
    "condition_key",
    "condition_value",
    "key_replace_path",
    "attachment_policy",
    "other_type",
    "other_name",
    "other_address",
    "drifted_address",
    "folder_label",
    "import_id",
    "output_name",
    "key_id",
)
"""Every value of a plan that the comment shows, each given its own value by the test."""

INLINE = frozenset(FIELDS) - {"sid", "resource", "condition_operator", "condition_key", "condition_value"}
"""Fields shown as inline code; the others are shown inside the statement diff (a fenced block)."""

PREFIXES = {"action": "ec2:", "attachment_policy": ""}
"""What a value needs before it to stay what it is (an IAM action has a service prefix)."""


def values_with(payload: str) -> dict[str, str]:
    """Each field's value: a marker of its own (``Hx03x``) and ``payload``. ``""`` gives the benign twin."""
    values = {name: f"{PREFIXES.get(name, '')}Hx{index:02d}x{payload}" for index, name in enumerate(FIELDS)}
    # A folder name cannot hold a slash or NUL; an ARN's last part (the policy name) cannot hold a slash.
    for name in ("folder_label", "attachment_policy"):
        values[name] = values[name].replace("/", "÷").replace("\x00", "")
    return values


def twin_of(payload: str) -> str:
    """What the benign twin of ``payload`` holds: only its wildcards, which make an action a pattern."""
    return "".join(character for character in payload if character in "*?")


def write_plans(folder: Path, values: Mapping[str, str]) -> list[Path]:
    """Two stacks' plans: one named by its user (every kind of change), one by its folder (``plan.json``)."""
    first = folder / "first" / "plan.json"
    second = folder / values["folder_label"] / "plan.json"
    for path, plan in ((first, _identity_plan(values)), (second, _other_plan(values))):
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(plan, ensure_ascii=False), encoding="utf-8")
    return [first, second]


def _plan(changes: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "planned_values": {"root_module": {}},
        "resource_changes": changes,
        "configuration": {"root_module": {}},
        **more,
    }


def _change(address: str, kind: str, actions: list[str], before: Any, after: Any, **more: Any) -> dict[str, Any]:
    return {
        "address": address,
        "mode": "managed",
        "type": kind,
        "name": "this",
        "change": {"actions": actions, "before": before, "after": after, "after_unknown": {}, **more.pop("change", {})},
        **more,
    }


def _document(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, ensure_ascii=False)


def _identity_plan(v: Mapping[str, str]) -> dict[str, Any]:
    scoped = {
        "Sid": v["sid"],
        "Effect": v["effect"],
        "Action": [v["action"], "ec2:DescribeInstances"],
        "Resource": v["resource"],
        "Condition": {v["condition_operator"]: {v["condition_key"]: v["condition_value"]}},
    }
    moving = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    user_before = {"name": v["old_user_name"], "path": "/", v["attribute_name"]: "a"}
    user_after = {"name": v["user_name"], "path": "/", v["attribute_name"]: "b"}
    return _plan(
        [
            _change(
                v["user_address"],
                "aws_iam_user",
                ["update"],
                user_before,
                user_after,
                module_address=v["user_module_address"],
                previous_address=v["user_previous_address"],
            ),
            _change(
                v["policy_address"],
                "aws_iam_policy",
                ["update"],
                {
                    "name": v["policy_name"],
                    "policy": _document([dict(moving, Action=["s3:GetObject", "ec2:StopInstances"])]),
                },
                {"name": v["policy_name"], "policy": _document([scoped])},
            ),
            _change(
                "aws_iam_policy.second",
                "aws_iam_policy",
                ["update"],
                {"name": v["second_policy_name"], "policy": _document([])},
                {"name": v["second_policy_name"], "policy": _document([moving])},
            ),
            _change(
                "aws_iam_access_key.key",
                "aws_iam_access_key",
                ["delete", "create"],
                {"user": v["user_name"], "status": "Active"},
                {"user": v["user_name"], "status": "Active"},
                change={"replace_paths": [[v["key_replace_path"]]]},
            ),
            _change(
                "aws_iam_user_policy_attachment.attachment",
                "aws_iam_user_policy_attachment",
                ["delete"],
                {"user": v["user_name"], "policy_arn": f"arn:aws:iam::123456789012:policy/{v['attachment_policy']}"},
                None,
            ),
            _change(v["other_address"], v["other_type"], ["create"], None, {"name": v["other_name"]}),
        ],
        resource_drift=[
            {
                "address": v["drifted_address"],
                "mode": "managed",
                "type": "aws_iam_user",
                "change": {"actions": ["update"], "before": {"path": "/"}, "after": {"path": "/drifted/"}},
            }
        ],
        relevant_attributes=[{"resource": v["drifted_address"], "attribute": ["path"]}],
    )


def _other_plan(v: Mapping[str, str]) -> dict[str, Any]:
    """A stack named by its folder: an import, an output, and a rotation's second step (the old key deactivated)."""
    current = {"user": "other-user", "status": "Active", "id": "AKIACURRENTKEY000001"}
    return _plan(
        [
            _change("null_resource.other", v["other_type"], ["create"], None, {"triggers": None}),
            _change(
                "aws_iam_policy.adopted",
                "aws_iam_policy",
                ["no-op"],
                {},
                {},
                change={"importing": {"id": v["import_id"]}},
            ),
            _change("aws_iam_access_key.access_key_2", "aws_iam_access_key", ["no-op"], current, current),
            _change(
                "aws_iam_access_key.access_key",
                "aws_iam_access_key",
                ["update"],
                {"user": "other-user", "status": "Active", "id": v["key_id"]},
                {"user": "other-user", "status": "Inactive", "id": v["key_id"]},
            ),
        ],
        output_changes={
            v["output_name"]: {"actions": ["create"], "before": None, "after": "x"},
            "access_key_id": {"actions": ["no-op"], "before": current["id"], "after": current["id"]},
        },
    )


# ---------------------------------------------------------------------------------------------------------------------
# The comment as GitHub reads it
# ---------------------------------------------------------------------------------------------------------------------


@dataclass
class Rendered:
    """A comment as HTML elements, and its text inside and outside code."""

    structure: list[str] = field(default_factory=list)
    """Every tag, comment and piece of text outside code, in order (numbers as ``0``: sizes depend on values)."""
    code: list[str] = field(default_factory=list)
    """The text of each code element (inline code, and the code of fenced blocks)."""
    outside: list[str] = field(default_factory=list)
    """Every piece of text outside code."""


def read_as_github(markdown: str) -> Rendered:
    """``markdown`` rendered by cmark-gfm (raw HTML kept, so that any that leaked shows as an element)."""
    html = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.rendered


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rendered = Rendered()
        self.in_code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.rendered.structure.append(f"<{tag} {sorted(attrs)}>")
        if tag == "code":
            self.in_code += 1
            self.rendered.code.append("")

    def handle_endtag(self, tag: str) -> None:
        self.rendered.structure.append(f"</{tag}>")
        if tag == "code":
            self.in_code -= 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.rendered.structure.append(f"<{tag} {sorted(attrs)}/>")

    def handle_comment(self, data: str) -> None:
        self.rendered.structure.append(f"<!--{data}-->")

    def handle_data(self, data: str) -> None:
        if self.in_code:
            self.rendered.code[-1] += data
        else:
            self.rendered.outside.append(data)
            self.rendered.structure.append(re.sub(r"\d[\d,]*", "0", data))
