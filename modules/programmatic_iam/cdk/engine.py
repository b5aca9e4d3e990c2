"""The engine seam: which CDK for Terraform runs the cdk layer, chosen once, and what loading it takes."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
import importlib
import importlib.util
import json
import os
from pathlib import Path
import sys
import types

ENGINE_VARIABLE = "PROGRAMMATIC_IAM_ENGINE"
"""Names the engine (``cdktf`` or ``cdktn``); unset, the first one installed, in :data:`ENGINES` order."""
PLAIN_LOAD_VARIABLE = "PROGRAMMATIC_IAM_PLAIN_LOAD"
"""Set to ``1``: Node loads every provider module, as a plain cdktf app does (the tests compare the two)."""
LAZY_PROVIDER_HOOK = Path(__file__).with_name("lazy_provider_aws.js")


@dataclass(frozen=True, slots=True)
class Engine:
    """A CDK for Terraform and its prebuilt AWS provider bindings, by Python module name."""

    name: str
    core: str
    aws: str


ENGINES = {
    "cdktf": Engine("cdktf", core="cdktf", aws="cdktf_cdktf_provider_aws"),
    # CDK Terrain, cdktf's maintained continuation: the same API and the same submodule names.
    "cdktn": Engine("cdktn", core="cdktn", aws="cdktn_provider_aws"),
}
DEFAULT_ENGINE = "cdktf"
# The names the cdk layer imports (bindings.py); another engine's modules are registered under them.
CORE_MODULE = ENGINES[DEFAULT_ENGINE].core
AWS_MODULE = ENGINES[DEFAULT_ENGINE].aws


class EngineError(ImportError):
    """The chosen engine is unknown or not installed."""


def choose_engine(environ: Mapping[str, str]) -> Engine:
    """The engine ``$PROGRAMMATIC_IAM_ENGINE`` names, else the first installed one."""
    named = environ.get(ENGINE_VARIABLE, "")
    if named:
        if named not in ENGINES:
            raise EngineError(f"${ENGINE_VARIABLE} is {named!r}; use one of {', '.join(ENGINES)}")
        return ENGINES[named]
    for engine in ENGINES.values():
        if importlib.util.find_spec(engine.core) is not None:
            return engine
    raise EngineError(f"neither {' nor '.join(ENGINES)} is installed; run the setup command in README.md")


def load_engine(
    engine: Engine, modules: MutableMapping[str, types.ModuleType], environ: MutableMapping[str, str]
) -> None:
    """Make ``engine`` what ``import cdktf`` and ``import cdktf_cdktf_provider_aws.<submodule>`` load.

    Called once, by :mod:`.bindings`, before its imports (``modules`` is ``sys.modules``, ``environ``
    is ``os.environ``). Both changes are what loading the engine needs, nothing more:

    - the AWS bindings' ``__init__`` imports all ~2,200 resource modules (12-15 s, up to 1.6 GB); an empty
      stand-in package with the real ``__path__`` lets the cdk layer import only the few it uses, with
      identical output;
    - jsii prints a large end-of-life banner on Node 20 at every run, which says nothing about our output;
    - in Node, the bindings' ``index.js`` requires all ~2,200 modules too (2 s, 600 MB): a preload hook
      (:data:`LAZY_PROVIDER_HOOK`, through ``NODE_OPTIONS``, which the jsii kernel inherits) makes it load
      each on first use, for the one version it was checked against, with identical output; anything
      else loads as before. ``$PROGRAMMATIC_IAM_PLAIN_LOAD=1`` turns it off.
    """
    environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    if engine.core != CORE_MODULE and CORE_MODULE not in modules:
        modules[CORE_MODULE] = importlib.import_module(engine.core)
    if AWS_MODULE in modules:
        return
    if environ.get(PLAIN_LOAD_VARIABLE) != "1" and LAZY_PROVIDER_HOOK.is_file():
        environ["NODE_OPTIONS"] = with_preload(environ.get("NODE_OPTIONS", ""), LAZY_PROVIDER_HOOK)
    spec = importlib.util.find_spec(engine.aws)
    if spec is None or spec.submodule_search_locations is None:
        raise EngineError(f"{engine.aws} is not installed; run the setup command in README.md")
    stand_in = types.ModuleType(AWS_MODULE)
    stand_in.__path__ = list(spec.submodule_search_locations)
    stand_in.__spec__ = spec
    modules[AWS_MODULE] = stand_in


def with_preload(node_options: str, script: Path) -> str:
    """``node_options`` with ``--require script`` added once (quoted: Node splits NODE_OPTIONS on spaces)."""
    option = f"--require {json.dumps(str(script))}"
    return node_options if option in node_options else f"{node_options} {option}".strip()


def load_chosen_engine() -> Engine:
    """Choose the engine from the process environment and load it; what :mod:`.bindings` calls."""
    engine = choose_engine(os.environ)
    load_engine(engine, sys.modules, os.environ)
    return engine
