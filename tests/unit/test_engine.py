"""The engine seam: choosing cdktf or CDK Terrain, and what loading one changes (without starting Node)."""

from __future__ import annotations

import importlib
import json
import sys
import types

import pytest

from programmatic_iam.cdk.engine import (
    AWS_MODULE,
    CORE_MODULE,
    ENGINES,
    LAZY_PROVIDER_HOOK,
    AliasFinder,
    Engine,
    choose_engine,
    load_engine,
)
from programmatic_iam.errors import EngineError
from tests.support.engines import OTHER_ENGINES, RUN_ENGINE


def test_unnamed_the_engine_installed_is_chosen_even_once_another_engines_names_are_aliased(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert choose_engine({}) == RUN_ENGINE  # each environment has exactly one engine installed
    # A loaded engine answers imports of cdktf's names: that must not make cdktf look installed.
    monkeypatch.setattr(sys, "meta_path", [AliasFinder({"cdktf": "json", "cdktn": "json"}), *sys.meta_path])
    assert choose_engine({}) == RUN_ENGINE
    assert choose_engine({"PROGRAMMATIC_IAM_ENGINE": RUN_ENGINE.name}) == RUN_ENGINE


@pytest.mark.parametrize("other", OTHER_ENGINES, ids=lambda engine: engine.name)
def test_an_engine_named_but_not_installed_here_says_how_to_get_it(other: Engine) -> None:
    with pytest.raises(EngineError) as raised:
        choose_engine({"PROGRAMMATIC_IAM_ENGINE": other.name})
    assert str(raised.value) == (
        f"$PROGRAMMATIC_IAM_ENGINE is {other.name!r}, but {other.name} is not installed in this Python environment "
        f"({sys.prefix}); run make with ENGINE={other.name}, which installs and uses its environment (docs/engines.md)"
    )


def test_rejects_an_unknown_engine() -> None:
    with pytest.raises(
        EngineError, match=r"\$PROGRAMMATIC_IAM_ENGINE is 'cdk', which is not an engine; use one of cdktf, cdktn"
    ):
        choose_engine({"PROGRAMMATIC_IAM_ENGINE": "cdk"})


ONLY_WITH_CDKTF = pytest.mark.skipif(
    RUN_ENGINE.name != "cdktf", reason="cdktf's own loading: cdktf is not installed in this engine's environment"
)


@ONLY_WITH_CDKTF
def test_loading_registers_only_a_stand_in_for_the_aws_bindings_and_silences_jsii() -> None:
    modules: dict[str, types.ModuleType] = {}
    environ: dict[str, str] = {}
    load_engine(ENGINES["cdktf"], modules, environ, [])
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
    load_engine(RUN_ENGINE, {}, environ, [])
    assert environ["NODE_OPTIONS"] == "--max-http-header-size=16384"
    environ = {"NODE_OPTIONS": "--max-http-header-size=16384"}
    load_engine(RUN_ENGINE, {}, environ, [])
    assert environ["NODE_OPTIONS"].startswith("--max-http-header-size=16384 --require ")


def test_loading_keeps_what_is_already_loaded() -> None:
    loaded = types.ModuleType(AWS_MODULE)
    modules = {AWS_MODULE: loaded}
    environ = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "0"}
    load_engine(ENGINES["cdktf"], modules, environ, [])
    assert modules == {AWS_MODULE: loaded}
    assert environ == {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "0"}


def test_another_engine_is_loaded_as_an_alias_of_cdktfs_names_without_a_stand_in() -> None:
    modules: dict[str, types.ModuleType] = {}
    finders: list[AliasFinder] = []
    load_engine(ENGINES["cdktn"], modules, {}, finders)
    assert modules == {}  # CDK Terrain's bindings import their resource modules on first use already
    assert [finder.aliases for finder in finders] == [{CORE_MODULE: "cdktn", AWS_MODULE: "cdktn_provider_aws"}]
    load_engine(ENGINES["cdktn"], modules, {}, finders)
    assert len(finders) == 1  # once only


def test_an_alias_imports_the_very_same_module_objects_and_keeps_their_own_spec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json.decoder

    aliases = {"alias_of_json": "json", "alias_of_nothing": "no_such_engine_installed"}
    monkeypatch.setattr(sys, "meta_path", [AliasFinder(aliases), *sys.meta_path])
    try:
        from alias_of_json import decoder  # type: ignore[import-not-found]

        assert importlib.import_module("alias_of_json") is json
        assert decoder is json.decoder
        assert (json.__spec__.name, json.decoder.__spec__.name) == ("json", "json.decoder")
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module("alias_of_jsonx")
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module("alias_of_json.no_such_module")  # a missing submodule is not a missing engine
        with pytest.raises(EngineError, match=r"^no_such_engine_installed is not installed; run the setup command"):
            importlib.import_module("alias_of_nothing.iam_user")
    finally:
        for name in [name for name in sys.modules if name.partition(".")[0] == "alias_of_json"]:
            del sys.modules[name]
