"""The engine seam: choosing cdktf or CDK Terrain, and what loading one changes (without starting Node)."""

from __future__ import annotations

import json
import types

import pytest

from programmatic_iam.cdk.engine import (
    AWS_MODULE,
    ENGINES,
    LAZY_PROVIDER_HOOK,
    EngineError,
    choose_engine,
    load_engine,
)


def test_the_installed_default_is_cdktf() -> None:
    assert choose_engine({}) == ENGINES["cdktf"]
    assert choose_engine({"PROGRAMMATIC_IAM_ENGINE": "cdktf"}) == ENGINES["cdktf"]


def test_rejects_an_unknown_engine() -> None:
    with pytest.raises(EngineError, match=r"\$PROGRAMMATIC_IAM_ENGINE is 'cdk'; use one of cdktf, cdktn"):
        choose_engine({"PROGRAMMATIC_IAM_ENGINE": "cdk"})


def test_loading_registers_only_a_stand_in_for_the_aws_bindings_and_silences_jsii() -> None:
    modules: dict[str, types.ModuleType] = {}
    environ: dict[str, str] = {}
    load_engine(ENGINES["cdktf"], modules, environ)
    assert list(modules) == [AWS_MODULE]
    stand_in = modules[AWS_MODULE]
    assert next(iter(stand_in.__path__)).endswith("cdktf_cdktf_provider_aws")
    assert not hasattr(stand_in, "iam_user")  # the ~2,200 submodules are not imported
    assert environ == {
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "NODE_OPTIONS": f"--require {json.dumps(str(LAZY_PROVIDER_HOOK))}",
    }


def test_the_plain_load_asked_for_adds_no_preload_and_others_node_options_stay() -> None:
    environ = {"PROGRAMMATIC_IAM_PLAIN_LOAD": "1", "NODE_OPTIONS": "--max-http-header-size=16384"}
    load_engine(ENGINES["cdktf"], {}, environ)
    assert environ["NODE_OPTIONS"] == "--max-http-header-size=16384"
    environ = {"NODE_OPTIONS": "--max-http-header-size=16384"}
    load_engine(ENGINES["cdktf"], {}, environ)
    assert environ["NODE_OPTIONS"].startswith("--max-http-header-size=16384 --require ")


def test_loading_keeps_what_is_already_loaded() -> None:
    loaded = types.ModuleType(AWS_MODULE)
    modules = {AWS_MODULE: loaded}
    environ = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "0"}
    load_engine(ENGINES["cdktf"], modules, environ)
    assert modules == {AWS_MODULE: loaded}
    assert environ == {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "0"}
