"""Literal text in Terraform JSON: template sequences escaped, cdktf token markers refused."""

from __future__ import annotations

import pytest

from programmatic_iam.escaping import escape_terraform_template, has_token_marker, token_marker_problems


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
