"""The engine seam: which CDK for Terraform runs the cdk layer, chosen once, and what loading it takes."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
import importlib
import importlib.util
import os
import sys
import types

ENGINE_VARIABLE = "PROGRAMMATIC_IAM_ENGINE"
"""Names the engine (``cdktf`` or ``cdktn``); unset, the first one installed, in :data:`ENGINES` order."""


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
    - jsii prints a large end-of-life banner on Node 20 at every run, which says nothing about our output.
    """
    environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    if engine.core != CORE_MODULE and CORE_MODULE not in modules:
        modules[CORE_MODULE] = importlib.import_module(engine.core)
    if AWS_MODULE in modules:
        return
    spec = importlib.util.find_spec(engine.aws)
    if spec is None or spec.submodule_search_locations is None:
        raise EngineError(f"{engine.aws} is not installed; run the setup command in README.md")
    stand_in = types.ModuleType(AWS_MODULE)
    stand_in.__path__ = list(spec.submodule_search_locations)
    stand_in.__spec__ = spec
    modules[AWS_MODULE] = stand_in


def load_chosen_engine() -> Engine:
    """Choose the engine from the process environment and load it; what :mod:`.bindings` calls."""
    engine = choose_engine(os.environ)
    load_engine(engine, sys.modules, os.environ)
    return engine
