"""The fast load of the provider bindings (cdk/lazy_provider_aws.js): the same output as the plain load, taken
when it should be (peak memory tells), surviving an empty jsii cache, and falling back on anything unexpected."""

from __future__ import annotations

import importlib.machinery
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tarfile

import pytest

from programmatic_iam.cdk.engine import LAZY_PROVIDER_HOOK, PLAIN_LOAD_VARIABLE, with_preload
from tests.support.engine_use import PROBE_NODE_OPTION
from tests.support.engines import RUN_ENGINE
from tests.support.helpers import REPO, base_environment, synth_cases_arguments

# This run's engine's bindings, found on disk (cdktf's names may be an alias of CDK Terrain's).
_BINDINGS = importlib.machinery.PathFinder.find_spec(RUN_ENGINE.aws)
TARBALL = next(Path(_BINDINGS.origin).parent.glob("_jsii/*.jsii.tgz"), None) if _BINDINGS and _BINDINGS.origin else None
CONFIGS = ["default", "ssm-parameters", "secrets-manager", "instance-profile", "group-attachment", "multi-environment"]


def run_app(folder: Path, command: list[str], *, plain: bool, jsii_cache: Path | None = None) -> int:
    """Run ``command`` (Python's arguments) in ``folder`` with the fast load on or off; the peak RSS (KiB) of its tree."""
    # Not this process's NODE_OPTIONS, which holds the hook since the engine was loaded here; only the probe.
    env = {**base_environment(), "PYTHONPATH": str(REPO / "modules"), "NODE_OPTIONS": PROBE_NODE_OPTION}
    if plain:
        env[PLAIN_LOAD_VARIABLE] = "1"
    if jsii_cache is not None:
        env["JSII_RUNTIME_PACKAGE_CACHE_ROOT"] = str(jsii_cache)
    process = subprocess.Popen(
        [sys.executable, *command], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    # wait4: the largest process of the tree that the app waited for, the Node jsii kernel included.
    _, status, usage = os.wait4(process.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, process.stderr.read() if process.stderr else ""
    return usage.ru_maxrss


def written(out: Path) -> dict[str, bytes]:
    """Every file under ``out``, by relative path."""
    return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


def synth(folder: Path, config: str, *, plain: bool, jsii_cache: Path | None = None) -> tuple[dict[str, bytes], int]:
    """Run the app (main.py) in ``folder``; every file it wrote (by relative path), and the peak RSS (KiB) of its tree."""
    folder.mkdir(parents=True)
    if config != "default":
        shutil.copyfile(REPO / "examples" / f"{config}.toml", folder / "iam.toml")
        shutil.copytree(REPO / "examples" / "policies", folder / "policies")
    peak = run_app(folder, [str(REPO / "main.py")], plain=plain, jsii_cache=jsii_cache)
    return written(folder / "cdktf.out"), peak


@pytest.mark.engine
def test_the_fast_load_writes_byte_for_byte_what_the_plain_load_writes(tmp_path: Path) -> None:
    # Every configuration in one process per load, as the app would run them one after the other: a module loaded
    # lazily for one configuration must serve the next just as the plain load's does.
    peaks = {}
    for load in ("fast", "plain"):
        (tmp_path / load).mkdir()
        peaks[load] = run_app(tmp_path / load, synth_cases_arguments(tmp_path / load, CONFIGS), plain=load == "plain")
    for config in CONFIGS:
        fast, plain = written(tmp_path / "fast" / config), written(tmp_path / "plain" / config)
        assert fast.keys() == plain.keys() and len(fast) > 1, config
        assert fast == plain, config
    # The fast path was taken: the kernel no longer holds every module (cdktf: about 150 MiB against 630 MiB).
    assert peaks["fast"] < peaks["plain"] / 2, peaks


@pytest.mark.engine
def test_the_fast_load_survives_an_empty_jsii_cache(tmp_path: Path) -> None:
    """The first run on an empty cache loads plainly, so that jsii writes its type index; the next one is fast."""
    cache = tmp_path / "jsii-cache"
    first, first_peak = synth(tmp_path / "first", "default", plain=False, jsii_cache=cache)
    second, second_peak = synth(tmp_path / "second", "default", plain=False, jsii_cache=cache)
    plain, plain_peak = synth(tmp_path / "plain", "default", plain=True)
    assert first == second == plain
    assert list(cache.rglob(".jsii.runtime.v1.json")), "jsii wrote no runtime index into the fresh cache"
    assert second_peak < plain_peak / 2 < first_peak, (first_peak, second_peak, plain_peak)


@pytest.fixture(scope="module")
def provider_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The provider package's ``package.json`` and ``lib/index.js``, as the jsii cache holds them, with its index."""
    assert TARBALL is not None, (
        f"the {RUN_ENGINE.aws} bindings have no jsii tarball; run make setup ENGINE={RUN_ENGINE.name}"
    )
    root = tmp_path_factory.mktemp("provider") / "package"
    with tarfile.open(TARBALL) as archive:
        for name in ("package/package.json", "package/lib/index.js"):
            member = archive.getmember(name)
            member.name = name.removeprefix("package/")
            archive.extract(member, root, filter="data")
    (root / ".jsii.runtime.v1.json").write_text("{}", encoding="utf-8")
    return root / "lib" / "index.js"


def lazy_source_is_used(index: Path) -> bool:
    """Whether the hook rewrites ``index`` (node runs its ``lazySource`` on the file as it is)."""
    script = (
        f"const {{ lazySource }} = require({json.dumps(str(LAZY_PROVIDER_HOOK))});"
        f"const file = {json.dumps(str(index))};"
        "process.stdout.write(String(lazySource(require('fs').readFileSync(file, 'utf8'), file) !== null));"
    )
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    return {"true": True, "false": False}[result.stdout]


def test_the_hook_rewrites_only_the_index_it_was_checked_against(provider_index: Path) -> None:
    assert lazy_source_is_used(provider_index)


@pytest.mark.parametrize("change", ["line", "version", "name", "no-runtime-index", "file-name"])
def test_anything_unexpected_falls_back_to_the_plain_load(provider_index: Path, tmp_path: Path, change: str) -> None:
    package = tmp_path / "package"
    shutil.copytree(provider_index.parent.parent, package)
    index = package / "lib" / "index.js"
    manifest = json.loads((package / "package.json").read_text(encoding="utf-8"))
    if change == "line":
        index.write_text(index.read_text(encoding="utf-8") + "exports.extra = 1;\n", encoding="utf-8")
    elif change in ("version", "name"):
        manifest["version" if change == "version" else "name"] = "21.23.0" if change == "version" else "other"
        (package / "package.json").write_text(json.dumps(manifest), encoding="utf-8")
    elif change == "no-runtime-index":
        (package / ".jsii.runtime.v1.json").unlink()
    else:
        index = index.rename(index.with_name("main.js"))
    assert not lazy_source_is_used(index)


def test_the_hook_is_added_to_node_options_once_and_quoted() -> None:
    hook = Path("/example/a b/lazy.js")
    once = with_preload("--max-http-header-size=16384", hook)
    assert once == '--max-http-header-size=16384 --require "/example/a b/lazy.js"'
    assert with_preload(once, hook) == once
