"""The real Terraform: every synthesized stack validates, and escaped text reaches Terraform literally."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from programmatic_iam.blueprint import build_blueprint
from programmatic_iam.config import load_config_file
from programmatic_iam.escaping import escape_terraform_template
from tests.support.helpers import EXAMPLES, synth, synth_blueprint
from tests.support.terraform import GO_GARBAGE_COLLECTION, Terraform, error_diagnostics, render_diagnostics

pytestmark = pytest.mark.terraform

CONFIGS = [
    pytest.param(None, id="built-in-default"),
    *(pytest.param(path, id=path.stem) for path in sorted(EXAMPLES.glob("*.toml"))),
]


@pytest.mark.engine
@pytest.mark.parametrize("config", CONFIGS)
def test_synthesized_stacks_validate(config: Path | None, terraform: Terraform, tmp_path: Path) -> None:
    if config is None:
        stacks = synth(None, tmp_path)
    else:  # loaded in place, so that relative paths such as policy.file resolve against the example's folder
        stacks = synth_blueprint(build_blueprint(load_config_file(config)), tmp_path / "cdktf.out")
    assert stacks, "synthesis produced no stacks"
    for stack_id in stacks:
        result = terraform.init_and_validate(tmp_path / "cdktf.out" / "stacks" / stack_id)
        assert result["valid"] is True, render_diagnostics(result)
        assert error_diagnostics(result) == [], render_diagnostics(result)


LITERALS = [
    "${aws:username}",
    "arn:aws:iam::*:user/${aws:username}",
    "%{ if true }x%{ endif }",
    "%{if true}x%{endif}",
    "$${already}",
    "%%{already}",
    "$$${x}",
    "a$b{c}",
    '${file("/etc/hostname")}',
    "${",
    "%{",
    "$${",
    "}",
    "ends with $",
    "ends with %",
    "$",
    "%",
    "$$",
    "%%",
    "$ {x} % {y}",
    "${}${}%{}",
    "{{ jinja }} and {% raw %}",
    'quote " backslash \\ newline \n tab \t',
    "naïve ☃ ${ü}",
    "",
]


def test_escaped_literals_survive_terraform(terraform_without_providers: Terraform, tmp_path: Path) -> None:
    outputs = {f"v{index}": {"value": escape_terraform_template(text)} for index, text in enumerate(LITERALS)}
    (tmp_path / "main.tf.json").write_text(json.dumps({"output": outputs}, indent=2), encoding="utf-8")
    terraform_without_providers.apply(tmp_path)
    got = terraform_without_providers.outputs(tmp_path)
    wrong = {text: got.get(f"v{index}") for index, text in enumerate(LITERALS) if got.get(f"v{index}") != text}
    assert wrong == {}, "original text -> what Terraform made of its escaped form"


def test_the_tests_run_terraform_with_the_garbage_collection_their_timings_assume(terraform: Terraform) -> None:
    # docs/development.md's figures were measured with it: without it each Terraform command takes a fifth more CPU.
    assert terraform.env.get(GO_GARBAGE_COLLECTION[0]) == GO_GARBAGE_COLLECTION[1]
