"""Naming: rendering, namespace, delimiters, IAM's rules, and the examples in docs/naming.md."""

from __future__ import annotations

from pathlib import Path
import re

import pytest

from programmatic_iam.errors import ConfigError
from programmatic_iam.naming import name_problems, render_name, tidy_delimiters
from tests.support.helpers import REPO, blueprint_of

VARIABLES = {
    "namespace": "",
    "name": "streammanager",
    "environment": "production",
    "region": "us-east-1",
    "account_id": "",
}


def documented_examples() -> list[tuple[str, str, str]]:
    """(title, TOML, expected lines) for every example in docs/naming.md."""
    text = (REPO / "docs" / "naming.md").read_text(encoding="utf-8")
    pattern = re.compile(r"### (?P<title>.+?)\n\n```toml\n(?P<toml>.*?)```\n\n```text\n(?P<expected>.*?)```", re.S)
    return [(m["title"], m["toml"], m["expected"]) for m in pattern.finditer(text)]


TWO_ENVIRONMENTS = (
    '[[environments]]\nname = "staging"\nregion = "eu-west-1"\n'
    '[[environments]]\nname = "production"\nregion = "us-east-1"\n'
)


def documented_rejections() -> list[tuple[str, str]]:
    """(TOML, quoted error) for every row of the table under "What is rejected" in docs/naming.md."""
    text = (REPO / "docs" / "naming.md").read_text(encoding="utf-8").partition("## What is rejected")[2]
    rows = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) != 2 or cells[0] in ("input", "---"):
            continue
        setting = re.match(r"`([^`]+)`", cells[0])
        error = re.match(r"`([^`]+)`", cells[1])
        assert setting and error, line
        toml = "[naming]\n" + setting[1].replace("\\|", "|") + "\n"
        rows.append((toml + (TWO_ENVIRONMENTS if "two environments" in cells[0] else ""), error[1]))
    return rows


def test_the_naming_doc_lists_what_is_rejected() -> None:
    assert len(documented_rejections()) >= 7


@pytest.mark.parametrize(("toml", "error"), documented_rejections(), ids=lambda value: value[:40])
def test_documented_rejection(tmp_path: Path, toml: str, error: str) -> None:
    """The message the doc quotes is the one a user gets: each part around a `...` in it, in that order."""
    with pytest.raises(ConfigError) as caught:
        blueprint_of(toml, tmp_path)
    pattern = ".*".join(re.escape(part.strip()) for part in error.split("...") if part.strip())
    rendered = [p.render() for p in caught.value.problems]
    assert any(re.search(pattern, problem, re.S) for problem in rendered), rendered


def test_the_naming_doc_has_examples() -> None:
    assert len(documented_examples()) >= 5


@pytest.mark.parametrize(("title", "toml", "expected"), documented_examples(), ids=lambda v: v[:40])
def test_documented_example(tmp_path: Path, title: str, toml: str, expected: str) -> None:
    blueprint = blueprint_of(toml, tmp_path)
    got = "".join(
        f"{s.environment}: user {s.identity.principal.name}, policy {s.identity.policies[0].name}\n"
        for s in blueprint.stacks
    )
    assert got == expected, title


@pytest.mark.parametrize(
    ("template", "namespace", "delimiter", "expected"),
    [
        ("{{ environment }}-{{ name }}", "", "-", "production-streammanager"),
        ("{{ environment }}-{{ name }}", "acme", "-", "acme-production-streammanager"),
        ("{{ namespace }}-{{ environment }}-{{ name }}", "", "-", "production-streammanager"),
        ("{{ environment }}-{{ namespace }}-{{ name }}", "", "-", "production-streammanager"),
        ("{{ environment }}-{{ namespace }}-{{ name }}", "acme", "-", "production-acme-streammanager"),
        ("{{ name }}", "acme", "_", "acme_streammanager"),
        ("  {{ name }}  ", "", "-", "streammanager"),
        ("{{ name | upper }}", "", "-", "STREAMMANAGER"),
    ],
)
def test_render_name(template: str, namespace: str, delimiter: str, expected: str) -> None:
    name, problems = render_name(template, {**VARIABLES, "namespace": namespace}, delimiter, where="test")
    assert (name, problems) == (expected, [])


@pytest.mark.parametrize(
    ("name", "delimiter", "expected"),
    [("-a--b-", "-", "a-b"), ("a___b", "_", "a_b"), ("a--b", "_", "a--b"), ("..a.b..", ".", "a.b")],
)
def test_tidy_delimiters(name: str, delimiter: str, expected: str) -> None:
    assert tidy_delimiters(name, delimiter) == expected


@pytest.mark.parametrize(
    ("name", "limit", "reason"),
    [
        ("u" * 65, 64, "of 65 characters; IAM allows 1 to 64"),
        ("", 64, "of 0 characters"),
        ("stream manager", 64, "characters IAM does not allow: ' '"),
        ("prod/user", 64, "characters IAM does not allow: '/'"),
        ("naïve", 64, "characters IAM does not allow: 'ï'"),
        ('${file("/etc/hostname")}', 64, "characters IAM does not allow"),
    ],
)
def test_rejects_names_iam_would_refuse(name: str, limit: int, reason: str) -> None:
    (problem,) = [p for p in name_problems(name, kind="user", limit=limit, where="w", template="t") if reason in p.why]
    assert problem.where == "w"


@pytest.mark.parametrize("name", ["a", "u" * 64, "Prod+Sm=1,x.y@z_w-v"])
def test_accepts_names_iam_allows(name: str) -> None:
    assert name_problems(name, kind="user", limit=64, where="w", template="t") == []


def test_a_user_name_of_64_characters_is_accepted_and_one_of_65_refused(tmp_path: Path) -> None:
    """IAM's limit, through the configuration: "production-" and a name of 53 characters make 64."""
    (stack,) = blueprint_of(f'[naming]\nname = "{"n" * 53}"\n', tmp_path).stacks
    assert len(stack.identity.principal.name) == 64
    with pytest.raises(ConfigError) as caught:
        blueprint_of(f'[naming]\nname = "{"n" * 54}"\n', tmp_path)
    (problem,) = caught.value.problems
    assert problem.where == "iam.toml: naming.user (environment 'production')"
    assert problem.why.endswith("of 65 characters; IAM allows 1 to 64")


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            '[naming]\nuser = "{{ envirnment }}-{{ name }}"\n',
            "iam.toml: naming.user (environment 'production'): '{{ envirnment }}-{{ name }}' uses the unknown "
            "variable 'envirnment'; did you mean 'environment'?",
        ),
        (
            '[naming]\nname = "' + "x" * 60 + '"\n',
            "renders the user name 'production-" + "x" * 60 + "' of 71 characters",
        ),
        ('[naming]\nuser = "{{ name }} {{ environment }}"\n', "characters IAM does not allow: ' '"),
        (
            '[naming]\nname = "stream manager"\n',
            "iam.toml: naming.name: 'stream manager' has characters IAM does not allow in names: ' '",
        ),
        (
            '[naming]\nnamespace = "Acme Corp"\n',
            "iam.toml: naming.namespace: 'Acme Corp' has characters IAM does not allow in names: ' '",
        ),
        ('[naming]\nuser = "{{ name"\n', "is not a valid jinja2 template"),
        ("[naming]\nuser = \"{{ ''.__class__.__mro__ }}\"\n", "failed to render at line 1 (SecurityError"),
        ('[naming]\nuser = "{{ namespace }}"\n', "renders the user name '' of 0 characters"),
        (
            '[naming]\nuser = "{{ name }}"\n[[environments]]\nname = "a"\nregion = "us-east-1"\n'
            '[[environments]]\nname = "b"\nregion = "us-east-1"\n',
            "environments 'a' and 'b' both get this user name",
        ),
    ],
)
def test_rejects_bad_naming(tmp_path: Path, toml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        blueprint_of(toml, tmp_path)
    rendered = [p.render() for p in caught.value.problems]
    assert any(expected in p for p in rendered), rendered


def test_rejects_names_equal_ignoring_case(tmp_path: Path) -> None:
    toml = (
        '[naming]\nuser = "{{ environment | lower }}-x"\n[[environments]]\nname = "Prod"\nregion = "us-east-1"\n'
        '[[environments]]\nname = "prod"\nregion = "us-east-1"\n'
    )
    with pytest.raises(ConfigError, match="environment 'prod' twice"):
        blueprint_of(toml, tmp_path)


@pytest.mark.parametrize(
    "toml",
    [
        '[naming]\nnamespace = "Acme Corp"\n',
        '[naming]\nnamespace = "Acme Corp"\n[user]\nattach_policies_to = "group"\n'
        '[[environments]]\nname = "a"\nregion = "us-east-1"\n[[environments]]\nname = "b"\nregion = "us-east-1"\n',
    ],
)
def test_rejects_a_bad_namespace_once_naming_the_namespace(tmp_path: Path, toml: str) -> None:
    with pytest.raises(ConfigError) as caught:
        blueprint_of(toml, tmp_path)
    (problem,) = caught.value.problems
    assert problem.where == "iam.toml: naming.namespace"
    assert problem.given == "'Acme Corp'"


def test_an_unused_group_template_is_not_checked(tmp_path: Path) -> None:
    blueprint = blueprint_of('[naming]\ngroup = "{{ nope }} and spaces"\n', tmp_path)
    assert blueprint.stacks[0].identity.attachment.group_name == ""


def test_rejects_a_bad_group_template_when_a_group_is_used(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        blueprint_of('[naming]\ngroup = "{{ name }} x"\n[user]\nattach_policies_to = "group"\n', tmp_path)
    (problem,) = caught.value.problems
    assert problem.where == "iam.toml: naming.group (environment 'production')"
    assert "has characters IAM does not allow: ' '" in problem.why
