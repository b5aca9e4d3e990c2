"""Hostile and malformed input: each is a problem that names the key to fix, never a traceback, never accepted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from programmatic_iam.cli.inputs import load_blueprint
from programmatic_iam.errors import ConfigError

DEEP_JSON = "[" * 5000 + "]" * 5000
HUGE_NUMBER = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": '
    + "9" * 5000
    + "}]}"
)
WITH_NAN = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*",'
    ' "Condition": {"NumericLessThan": {"s3:max-keys": NaN}}}]}'
)
ESCAPED_EURO = '{"Version": "2012-10-17", "Statement": [{"Effect": "allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b-\\u20ac/*"}]}'


def problems_of(tmp_path: Path, toml: str, files: dict[str, str] | None = None) -> list[str]:
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "iam.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_blueprint({}, tmp_path)
    return [problem.render() for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("toml", "files", "expected"),
    [
        pytest.param(
            '[naming]\nuser = "{{ name | nosuchfilter }}"\n',
            {},
            "naming.user (environment 'production'): '{{ name | nosuchfilter }}' is not a valid jinja2 template "
            "(No filter named 'nosuchfilter'",
            id="unknown-filter",
        ),
        pytest.param(
            "[naming]\nuser = \"{{ 'a' * 10**9 }}\"\n",
            {},
            "failed to render at line 1 (SecurityError: the result would be over 100000 items long)",
            id="huge-string",
        ),
        pytest.param('[naming]\nuser = "{{ 2 ** 100000 }}"\n', {}, "is too large for a template", id="huge-power"),
        pytest.param(
            '[policy]\nfile = "p.json"\n', {"p.json": DEEP_JSON}, "p.json: is not JSON that IAM accepts", id="deep-json"
        ),
        pytest.param(
            '[policy]\nfile = "p.json"\n',
            {"p.json": HUGE_NUMBER},
            "p.json: is not JSON that IAM accepts",
            id="huge-number",
        ),
        pytest.param(
            '[policy]\nfile = "p.json"\n',
            {"p.json": WITH_NAN},
            "is not JSON that IAM accepts (NaN is not a JSON value)",
            id="nan",
        ),
        pytest.param(
            '[policy]\nfile = "p\\u0000.json"\n', {}, "iam.toml: policy.file: 'p\\x00.json' cannot be read", id="nul"
        ),
        pytest.param(
            f'[policy]\ntemplate = "{"t" * 5000}"\n', {}, "iam.toml: policy.template: ", id="long-template-name"
        ),
        pytest.param(
            "name = " + "[" * 600 + "]" * 600 + "\n",
            {},
            "iam.toml: the file nests arrays or tables too deeply",
            id="deep-toml",
        ),
        pytest.param(
            '[[environments]]\nname = "a"\nregion = "us-east-1\\n"\n',
            {},
            "iam.toml: environments[0].region: 'us-east-1\\n' is not an AWS region",
            id="region-newline",
        ),
        pytest.param(
            '[backend]\nbucket = "state\\n"\n',
            {},
            "iam.toml: backend.bucket: 'state\\n' is not an S3 bucket name",
            id="bucket-newline",
        ),
        pytest.param(
            '[terraform]\nprovider_version = "banana"\n',
            {},
            "iam.toml: terraform.provider_version: 'banana' is not a Terraform version constraint",
            id="version",
        ),
        pytest.param(
            '[terraform]\nrequired_version = "${v}"\n',
            {},
            "iam.toml: terraform.required_version: '${v}' is not a Terraform version constraint",
            id="version-template",
        ),
        pytest.param(
            '[policy]\nactions = ["s3:GetObject"]\nresources = ["", "*"]\n',
            {},
            "iam.toml: policy.resources: ['', '*'] has an empty resource",
            id="empty-resource",
        ),
        pytest.param(
            '[policy]\nactions = ["s3:GetObject"]\nresources = ["arn:aws:s3:::\\u20ac"]\n',
            {},
            "has characters outside Latin-1 ('€')",
            id="resource-euro",
        ),
        pytest.param(
            '[tags]\nowner = "a\\nb"\n',
            {},
            "iam.toml: tags: has 'a\\nb', with characters AWS tags do not allow",
            id="tag-newline",
        ),
        pytest.param(
            '[[naming]]\nname = "x"\n',
            {},
            "iam.toml: naming: is a list of tables ([[naming]]), but a single table is expected\n    fix: write [naming] (single brackets), once",
            id="double-brackets",
        ),
        pytest.param(
            "[naming]\nname = true\n", {}, "iam.toml: naming.name: true should be text in quotes", id="toml-words"
        ),
        pytest.param(
            '[policy]\nfile = "folder"\n', {}, "iam.toml: policy.file: 'folder' is a folder", id="policy-folder"
        ),
    ],
)
def test_rejects_hostile_input_with_a_problem_at_its_key(
    tmp_path: Path, toml: str, files: dict[str, str], expected: str
) -> None:
    (tmp_path / "folder").mkdir()
    problems = problems_of(tmp_path, toml, files)
    assert any(expected in problem for problem in problems), problems


def test_a_non_latin1_character_does_not_hide_the_other_problems_of_a_policy_file(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, '[policy]\nfile = "p.json"\n', {"p.json": ESCAPED_EURO})
    assert any("are characters outside Latin-1" in p for p in problems), problems
    assert any("Statement[0].Effect: 'allow' must be exactly" in p for p in problems), problems


@pytest.mark.parametrize("make", [lambda p: p.mkdir(), lambda p: p.symlink_to(p.with_name("missing.toml"))])
def test_rejects_an_iam_toml_that_is_not_a_file(tmp_path: Path, make: Callable[[Path], None]) -> None:
    make(tmp_path / "iam.toml")
    with pytest.raises(ConfigError) as caught:
        load_blueprint({}, tmp_path)
    (problem,) = caught.value.problems
    assert problem.render().startswith("iam.toml: is a folder or a broken link, not a file")


def test_rejects_an_iam_config_that_names_a_folder(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    with pytest.raises(ConfigError) as caught:
        load_blueprint({"IAM_CONFIG": "conf"}, tmp_path)
    (problem,) = caught.value.problems
    assert problem.render().startswith("$IAM_CONFIG: 'conf' is a folder, not a file")


@pytest.mark.parametrize("constraint", [">= 5.100.0, < 7.0.0", "~> 1.10", "1.11.4", "= 6.0.0-beta1", ">=5,<7"])
def test_accepts_terraform_version_constraints(tmp_path: Path, constraint: str) -> None:
    (tmp_path / "iam.toml").write_text(f'[terraform]\nprovider_version = "{constraint}"\n', encoding="utf-8")
    (stack,) = load_blueprint({}, tmp_path).stacks
    assert stack.provider_version == constraint


def test_a_long_rendered_name_is_shown_shortened(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, f'[naming]\nname = "{"x" * 5000}"\n')
    assert problems and all(len(problem) < 1000 for problem in problems), [len(p) for p in problems]
