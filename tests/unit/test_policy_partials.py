"""Policy templates may include and import partials from templates/ and the configuration's folder, nothing else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.helpers import run_cli, write_config

READ = (
    '{"Effect": "Allow", "Action": {{ ["ec2:DescribeInstances"] | tojson }}, "Resource": "*", '
    '"Condition": {"StringEquals": {"aws:RequestedRegion": {{ region | tojson }}}}}'
)
MACROS = (
    '{% macro allow(actions) %}{"Effect": "Allow", "Action": {{ actions | tojson }}, "Resource": "*"}{% endmacro %}'
)
TEMPLATE = (
    '{% import "partials/macros.j2" as m %}\n'
    '{"Version": "2012-10-17", "Statement": [{% include "INCLUDED" %}, {{ m.allow(["ec2:StartInstances"]) }}]}\n'
)


def check(folder: Path, included: str = "partials/read.json.j2") -> tuple[int, str, str]:
    write_config(folder, '[policy]\ntemplate = "mine.json.j2"\n')
    (folder / "mine.json.j2").write_text(TEMPLATE.replace("INCLUDED", included), encoding="utf-8")
    return run_cli(folder, "synth")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "partials").mkdir()
    (tmp_path / "partials" / "read.json.j2").write_text(READ, encoding="utf-8")
    (tmp_path / "partials" / "macros.j2").write_text(MACROS, encoding="utf-8")
    return tmp_path


@pytest.mark.engine
def test_includes_and_imports_partials_beside_the_configuration(folder: Path) -> None:
    code, _, stderr = check(folder)
    assert (code, stderr) == (0, "")
    stack = (folder / "cdktf.out" / "stacks" / "production-streammanager" / "cdk.tf.json").read_text(encoding="utf-8")
    assert "ec2:DescribeInstances" in stack and "ec2:StartInstances" in stack and "us-east-1" in stack


def test_includes_a_shipped_template_by_its_path_under_templates(folder: Path) -> None:
    write_config(folder, '[policy]\ntemplate = "mine.json.j2"\n')
    (folder / "mine.json.j2").write_text('{% include "policies/stream-manager-2.0.json.j2" %}', encoding="utf-8")
    code, stdout, _ = run_cli(folder, "report", "--format", "json")
    assert code == 0
    assert '"ec2:TerminateInstances"' in stdout


@pytest.mark.parametrize(
    ("included", "why"),
    [
        ("../outside.json.j2", "loads the template '../outside.json.j2', which is not a file under"),
        ("/etc/passwd", "loads the template '/etc/passwd', which is not a file under"),
        ("partials/missing.j2", "loads the template 'partials/missing.j2', which is not a file under"),
        ("partials/escape.j2", "loads the template 'partials/escape.j2', which is not a file under"),
    ],
)
def test_rejects_a_partial_outside_the_two_folders(folder: Path, included: str, why: str) -> None:
    (folder.parent / "outside.json.j2").write_text(READ, encoding="utf-8")
    os.symlink(folder.parent / "outside.json.j2", folder / "partials" / "escape.j2")
    code, stdout, stderr = check(folder, included)
    assert code == 2
    assert why in stderr
    assert "fix: name a partial by its path relative to one of those folders" in stderr
    assert "Traceback" not in stderr + stdout
    assert not (folder / "cdktf.out").exists()


def test_rejects_a_partial_with_a_syntax_error_naming_its_file_and_line(folder: Path) -> None:
    (folder / "partials" / "read.json.j2").write_text(READ + "\n{% if %}\n", encoding="utf-8")
    code, _, stderr = check(folder)
    assert code == 2
    assert f"{folder.resolve() / 'partials' / 'read.json.j2'}: is not a valid jinja2 template" in stderr
    assert "line 2)" in stderr


def test_rejects_an_unknown_variable_in_a_partial_naming_its_file_and_line(folder: Path) -> None:
    (folder / "partials" / "read.json.j2").write_text(READ.replace("region", "regoin"), encoding="utf-8")
    code, _, stderr = check(folder)
    assert code == 2
    assert f"failed to render at line 1 of {folder.resolve() / 'partials' / 'read.json.j2'}" in stderr
    assert "(UndefinedError: 'regoin' is undefined)" in stderr
    assert "sees only account_id, environment, hardening, name, namespace, region" in stderr


def test_rejects_output_that_is_not_json(folder: Path) -> None:
    (folder / "partials" / "read.json.j2").write_text(READ + " trailing", encoding="utf-8")
    code, _, stderr = check(folder)
    assert code == 2
    assert "policy template 'mine.json.j2': is not valid JSON" in stderr


def test_an_unknown_variable_inside_tojson_is_named_in_a_name_template_too(tmp_path: Path) -> None:
    write_config(tmp_path, '[naming]\nuser = "{{ [regoin] | tojson }}"\n')
    code, _, stderr = run_cli(tmp_path, "check")
    assert code == 2
    assert "regoin" in stderr and "Traceback" not in stderr


def test_a_name_template_still_loads_nothing(tmp_path: Path) -> None:
    (tmp_path / "partials").mkdir()
    (tmp_path / "partials" / "name.j2").write_text("evil", encoding="utf-8")
    write_config(tmp_path, "[naming]\nuser = \"{% include 'partials/name.j2' %}\"\n")
    code, _, stderr = run_cli(tmp_path, "check")
    assert code == 2
    assert "but templates cannot load other templates" in stderr
