"""The engine seam: which CDK for Terraform runs the cdk layer, chosen once, and what loading it takes."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
import functools
import importlib
import importlib.abc
import importlib.machinery
import json
import os
from pathlib import Path
import sys
import types
import typing
from typing import Any

from ..errors import EngineError

ENGINE_VARIABLE = "PROGRAMMATIC_IAM_ENGINE"
"""Names the engine (``cdktf`` or ``cdktn``); unset, the first one installed, in :data:`ENGINES` order."""
PLAIN_LOAD_VARIABLE = "PROGRAMMATIC_IAM_PLAIN_LOAD"
"""Set to ``1``: Node loads every provider module, as a plain cdktf app does (the tests compare the two)."""
LAZY_PROVIDER_HOOK = Path(__file__).with_name("lazy_provider_aws.js")


@dataclass(frozen=True, slots=True)
class Engine:
    """A CDK for Terraform and its prebuilt AWS provider bindings, by Python module name.

    ``eager_aws`` says whether the bindings' ``__init__`` imports every resource module (cdktf's does;
    CDK Terrain's imports each on first use). ``reads_target_versions`` says whether it checks the Terraform
    features a stack uses against the stack's ``targetVersions`` context (CDK Terrain does; cdktf ignores it).
    """

    name: str
    core: str
    aws: str
    eager_aws: bool
    reads_target_versions: bool


ENGINES = {
    "cdktf": Engine("cdktf", core="cdktf", aws="cdktf_cdktf_provider_aws", eager_aws=True, reads_target_versions=False),
    # CDK Terrain, cdktf's maintained continuation: the same API and the same submodule names (docs/engines.md).
    "cdktn": Engine("cdktn", core="cdktn", aws="cdktn_provider_aws", eager_aws=False, reads_target_versions=True),
}
DEFAULT_ENGINE = "cdktf"
# The names the cdk layer imports (bindings.py); another engine's modules are registered under them.
CORE_MODULE = ENGINES[DEFAULT_ENGINE].core
AWS_MODULE = ENGINES[DEFAULT_ENGINE].aws


def choose_engine(environ: Mapping[str, str]) -> Engine:
    """The engine ``$PROGRAMMATIC_IAM_ENGINE`` names, else the first installed one."""
    named = environ.get(ENGINE_VARIABLE, "")
    if named:
        if named not in ENGINES:
            raise EngineError(
                f"${ENGINE_VARIABLE} is {named!r}, which is not an engine; use one of {', '.join(ENGINES)} "
                "(docs/engines.md)"
            )
        if not installed(ENGINES[named]):
            raise EngineError(
                f"${ENGINE_VARIABLE} is {named!r}, but {named} is not installed in this Python environment "
                f"({sys.prefix}); run make with ENGINE={named}, which installs and uses its environment (docs/engines.md)"
            )
        return ENGINES[named]
    for engine in ENGINES.values():
        if installed(engine):
            return engine
    raise EngineError(f"neither {' nor '.join(ENGINES)} is installed; run the setup command in README.md")


def installed(engine: Engine) -> bool:
    """Whether ``engine``'s core module is on ``sys.path``.

    The file system only: once an engine is loaded, its :class:`AliasFinder` answers for cdktf's names too.
    """
    return importlib.machinery.PathFinder.find_spec(engine.core) is not None


def load_engine(
    engine: Engine,
    modules: MutableMapping[str, types.ModuleType],
    environ: MutableMapping[str, str],
    finders: list[Any],
) -> None:
    """Make ``engine`` what ``import cdktf`` and ``import cdktf_cdktf_provider_aws.<submodule>`` load.

    Called once, by :mod:`.bindings`, before its imports (``modules`` is ``sys.modules``, ``environ``
    is ``os.environ``, ``finders`` is ``sys.meta_path``). Each change is what loading the engine needs,
    nothing more:

    - another engine's modules are what cdktf's names import: the very same module objects (an
      :class:`AliasFinder`), since jsii imports the bindings' submodules by their own names too;
    - cdktf's AWS bindings' ``__init__`` imports all ~2,200 resource modules (12-15 s, up to 1.6 GB); an
      empty stand-in package with the real ``__path__`` lets the cdk layer import only the few it uses,
      with identical output;
    - jsii prints a large end-of-life banner on Node 20 at every run, which says nothing about our output;
    - in Node, the bindings' ``index.js`` requires all ~2,200 modules too (2-6 s, 600 MB): a preload hook
      (:data:`LAZY_PROVIDER_HOOK`, through ``NODE_OPTIONS``, which the jsii kernel inherits) makes it load
      each on first use, for the versions it was checked against (cdktf's and CDK Terrain's), with
      identical output; anything else loads as before. ``$PROGRAMMATIC_IAM_PLAIN_LOAD=1`` turns it off.
    """
    environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    if AWS_MODULE in modules or any(isinstance(finder, AliasFinder) for finder in finders):
        return
    if environ.get(PLAIN_LOAD_VARIABLE) != "1" and LAZY_PROVIDER_HOOK.is_file():
        environ["NODE_OPTIONS"] = with_preload(environ.get("NODE_OPTIONS", ""), LAZY_PROVIDER_HOOK)
    if engine.core != CORE_MODULE:
        finders.insert(0, AliasFinder({CORE_MODULE: engine.core, AWS_MODULE: engine.aws}))
    if not engine.eager_aws:
        return
    spec = importlib.machinery.PathFinder.find_spec(engine.aws)
    if spec is None or spec.submodule_search_locations is None:
        raise EngineError(f"{engine.aws} is not installed; run the setup command in README.md")
    stand_in = types.ModuleType(AWS_MODULE)
    stand_in.__path__ = list(spec.submodule_search_locations)
    stand_in.__spec__ = spec
    modules[AWS_MODULE] = stand_in


class AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports of ``alias`` and ``alias.<submodule>`` give the module objects of ``real`` and ``real.<submodule>``.

    One object under both names, not a second copy: jsii registers each class once, and the bindings'
    own lookups (``cdktn_provider_aws.iam_user``) must find the classes the cdk layer built with.
    """

    def __init__(self, aliases: Mapping[str, str]) -> None:
        self.aliases = dict(aliases)
        self.real_specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def real_name(self, fullname: str) -> str | None:
        top, dot, rest = fullname.partition(".")
        real = self.aliases.get(top)
        return None if real is None else real + dot + rest

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        real = self.real_name(fullname)
        if real is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        real = self.real_name(spec.name)
        assert real is not None  # find_spec only answers for aliases
        try:
            module = importlib.import_module(real)
        except ModuleNotFoundError as error:
            if error.name != real.partition(".")[0]:
                raise
            raise EngineError(f"{error.name} is not installed; run the setup command in README.md") from error
        self.real_specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run, the real module is loaded; only its own ``__spec__`` is put back.

        The import system sets the alias's spec on whatever :meth:`create_module` returns.
        """
        alias_spec = module.__spec__
        assert alias_spec is not None  # the import system has just set it
        module.__spec__ = self.real_specs.pop(alias_spec.name)


def leave_type_checks_to_the_kernel(engine: Engine, modules: Mapping[str, types.ModuleType]) -> None:
    """Spare the engine's loaded Python modules the type checks that the jsii kernel makes again in Node.

    jsii's generated code checks the arguments of every constructor and struct with ``typeguard`` before
    sending them, calling ``typing.get_type_hints`` on the same stub function each time: with the checks,
    about 2.5 ms of Python per stack, the largest cost in Python after the round trips themselves. The kernel
    checks every value against the assembly's types when it receives it and refuses a wrong one, so those
    modules' ``check_type`` does nothing here, and their ``typing`` is this one's with a cached
    ``get_type_hints`` (the generated code still asks for the hints). Nothing else is changed.
    """
    cached = types.ModuleType("typing")
    cached.__dict__.update(typing.__dict__)
    cached.get_type_hints = functools.cache(typing.get_type_hints)  # type: ignore[attr-defined]
    prefixes = (engine.core, engine.aws, "constructs")
    for name, module in list(modules.items()):
        if name.partition(".")[0] in prefixes and getattr(module, "typing", None) is typing:
            module.typing = cached  # type: ignore[attr-defined]
            if callable(getattr(module, "check_type", None)):
                module.check_type = _checked_by_the_kernel  # type: ignore[attr-defined]


def _checked_by_the_kernel(argname: str = "", value: object = None, expected_type: object = None) -> None:
    """What jsii's generated ``check_type`` does once :func:`leave_type_checks_to_the_kernel` has run: nothing."""


def with_preload(node_options: str, script: Path) -> str:
    """``node_options`` with ``--require script`` added once (quoted: Node splits NODE_OPTIONS on spaces)."""
    option = f"--require {json.dumps(str(script))}"
    return node_options if option in node_options else f"{node_options} {option}".strip()


def load_chosen_engine() -> Engine:
    """Choose the engine from the process environment and load it; what :mod:`.bindings` calls."""
    engine = choose_engine(os.environ)
    load_engine(engine, sys.modules, os.environ, sys.meta_path)
    return engine
