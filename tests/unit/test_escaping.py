"""Literal text in Terraform JSON: template sequences escaped, cdktf token markers refused."""

from __future__ import annotations

import pytest

from programmatic_iam.escaping import (
    escape_terraform_template,
    has_token_marker,
    literal_place_texts,
    literal_text,
    literal_tree,
    token_marker_problems,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("plain", "plain"),
        ("${aws:username}", "$${aws:username}"),
        ("%{ if true }x%{ endif }", "%%{ if true }x%%{ endif }"),
        ("$${already}", "$$${already}"),
        ("cost: $5 or 50%", "cost: $5 or 50%"),
        ('${file("/etc/hostname")}', '$${file("/etc/hostname")}'),
        ("{$}", "{$}"),
    ],
)
def test_escape_terraform_template(given: str, expected: str) -> None:
    assert escape_terraform_template(given) == expected


@pytest.mark.parametrize(
    ("given", "found"),
    [("${TfToken[TOKEN.1]}", True), ("#{TfToken[TOKEN.2]}", True), ("x TfToken[ y", True), ("${aws:username}", False)],
)
def test_has_token_marker(given: str, found: bool) -> None:
    assert has_token_marker(given) is found


def test_token_markers_are_found_in_nested_keys_and_values() -> None:
    data = {"naming": {"name": "ok"}, "tags": {"${TfToken[TOKEN.9]}": "v"}, "list": ["a", "${TfToken[TOKEN.1]}"]}
    assert [p.where for p in token_marker_problems(data, "iam.toml")] == [
        "iam.toml: tags.${TfToken[TOKEN.9]}",
        "iam.toml: list[1]",
    ]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("plain", "plain"),
        ("${aws:username}", "$${aws:username}"),
        ("${TfToken[TOKEN.1]}", "${TfToken[TOKEN.1]}"),
        ('{"Resource":["${TfToken[TOKEN.7]}/*"]}', '{"Resource":["${TfToken[TOKEN.7]}/*"]}'),
        ("${x}-${TfToken[TOKEN.1]}-%{y}", "$${x}-${TfToken[TOKEN.1]}-%%{y}"),
        ("#{TfToken[TOKEN.2]}", "#{TfToken[TOKEN.2]}"),
        # A '$' before one of our tokens turns it into an escape: our reference is lost, nothing becomes live.
        ("a$${TfToken[TOKEN.3]}", "a$${TfToken[TOKEN.3]}"),
    ],
)
def test_literal_text_escapes_all_but_our_tokens(given: str, expected: str) -> None:
    assert literal_text(given) == expected


@pytest.mark.parametrize("given", ["TfToken[", "${TfToken[TOKEN.1]} and TfToken[x", "${TfToken[bad key]}"])
def test_rejects_a_broken_token_marker(given: str) -> None:
    with pytest.raises(ValueError, match="broken cdktf token marker"):
        literal_text(given)


def test_literal_tree_escapes_every_string_once_and_leaves_the_rest() -> None:
    marker = object()
    given = {"${k}": ["${v}", ("%{t}", 1, None, True, marker)], "n": {"x": "${TfToken[TOKEN.4]}"}}
    assert literal_tree(given) == {
        "$${k}": ["$${v}", ("%%{t}", 1, None, True, marker)],
        "n": {"x": "${TfToken[TOKEN.4]}"},
    }


def test_rejects_a_map_key_that_cdktf_cannot_carry() -> None:
    with pytest.raises(ValueError, match="__proto__"):
        literal_tree({"tags": {"__proto__": "x"}})


def test_literal_place_texts_are_those_no_escape_can_keep_literal() -> None:
    given = {"bucket": "ok", "key": "a/${x}", "${k}": "v", "list": ["%{ if }", "fine", "${TfToken[TOKEN.1]}"]}
    assert list(literal_place_texts(given)) == ["a/${x}", "${k}", "%{ if }", "${TfToken[TOKEN.1]}"]
