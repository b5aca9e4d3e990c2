"""The construct used as a library: the example in docs/examples synthesizes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from programmatic_iam import ConfigError, identity_spec, load_config
from tests.support.helpers import REPO, resources, write_config


@pytest.mark.engine
def test_the_library_example_synthesizes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("own_stack", REPO / "docs" / "examples" / "own_stack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    write_config(tmp_path, '[naming]\nname = "sm"\n')
    module.main(outdir=str(tmp_path / "out"), config_dir=tmp_path)

    stack = json.loads((tmp_path / "out" / "stacks" / "media-platform" / "cdk.tf.json").read_text(encoding="utf-8"))
    assert [u["name"] for u in resources(stack, "aws_iam_user")] == ["production-sm"]
    assert len(resources(stack, "aws_iam_policy")) == len(resources(stack, "aws_iam_access_key")) == 1
    assert stack["output"]["stream_manager_secret"]["sensitive"] is True
    assert stack["terraform"]["required_providers"]["aws"] == {
        "source": "hashicorp/aws",
        "version": ">= 5.100.0, < 7.0.0",
    }


def test_identity_spec_rejects_an_unknown_environment(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'staging' is not a configured environment"):
        identity_spec(load_config({}, cwd=tmp_path), "staging")
