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
import time

import pytest

from programmatic_iam.cdk.engine import LAZY_PROVIDER_HOOK, PLAIN_LOAD_VARIABLE, with_preload
from tests.support.engine_use import PROBE_NODE_OPTION
from tests.support.engines import RUN_ENGINE
from tests.support.helpers import REPO, base_environment, synth_cases_arguments

# This run's engine's bindings, found on disk (cdktf's names may be an alias of CDK Terrain's).
_BINDINGS = importlib.machinery.PathFinder.find_spec(RUN_ENGINE.aws)
TARBALL = next(Path(_BINDINGS.origin).parent.glob("_jsii/*.jsii.tgz"), None) if _BINDINGS and _BINDINGS.origin else None
# The last line of the hook's rewrite of an index: the helper that turns each submodule into a getter.
LAZY_HELPER_START = "function lazy(name, load) {"
CONFIGS = ["default", "ssm-parameters", "secrets-manager", "instance-profile", "group-attachment", "multi-environment"]


# Started from a fresh interpreter: a child's peak RSS counts the process it was forked from until its exec, and the
# pytest worker that would otherwise be that process may hold a loaded engine of its own (about 750 MiB).
PEAK_OF_TREE = """
import os, subprocess, sys
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_app(folder: Path, command: list[str], *, plain: bool, jsii_cache: Path | None = None) -> int:
    """Run ``command`` (Python's arguments) in ``folder`` with the fast load on or off; the peak RSS (KiB) of its tree."""
    # Not this process's NODE_OPTIONS, which holds the hook since the engine was loaded here; only the probe.
    env = {**base_environment(), "PYTHONPATH": str(REPO / "modules"), "NODE_OPTIONS": PROBE_NODE_OPTION}
    if plain:
        env[PLAIN_LOAD_VARIABLE] = "1"
    if jsii_cache is not None:
        env["JSII_RUNTIME_PACKAGE_CACHE_ROOT"] = str(jsii_cache)
    peak_file = folder.parent / f"{folder.name}.peak-rss"
    # wait4 in the launcher: the largest process of the tree that the app waited for, the Node jsii kernel included.
    finished = subprocess.run(
        [sys.executable, "-c", PEAK_OF_TREE, str(peak_file), sys.executable, *command],
        cwd=folder,
        env=env,
        capture_output=True,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr.decode(errors="replace")
    return int(peak_file.read_text())


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
def test_the_first_synth_on_an_empty_jsii_cache_is_already_the_fast_one(tmp_path: Path) -> None:
    """jsii's runtime index is built before the kernel would parse the assembly: the first run on an empty cache takes
    the fast path, writes the index, and writes what the plain load writes on an empty cache of its own."""
    cache = tmp_path / "jsii-cache"
    first, first_peak = synth(tmp_path / "first", "default", plain=False, jsii_cache=cache)
    second, second_peak = synth(tmp_path / "second", "default", plain=False, jsii_cache=cache)
    plain, plain_peak = synth(tmp_path / "plain", "default", plain=True, jsii_cache=tmp_path / "plain-jsii-cache")
    assert first == second == plain
    assert list(cache.rglob(".jsii.runtime.v1.json")), "no runtime index in the fresh cache"
    # The plain load on an empty cache: every module, the assembly parsed twice (about 1.5 GiB). The first run's
    # largest process is now the index builder (cdktf's: about 0.45 of that; CDK Terrain's larger assembly: about
    # 0.55), the next run's the lazy kernel (about 150 MiB). docs/performance.md has the figures against the plain app.
    assert first_peak < plain_peak * 0.6 and second_peak < first_peak / 2, (first_peak, second_peak, plain_peak)


@pytest.mark.engine
def test_the_warm_up_of_make_setup_makes_the_first_synth_fast(tmp_path: Path) -> None:
    """``make setup``'s last step on an empty cache: the first synth after it already takes the fast path."""
    cache = tmp_path / "jsii-cache"
    (tmp_path / "warm-up").mkdir()
    run_app(tmp_path / "warm-up", ["-m", "programmatic_iam.warm_up"], plain=False, jsii_cache=cache)
    assert not list((tmp_path / "warm-up").iterdir()), "the warm-up wrote into the folder it was run from"
    first, first_peak = synth(tmp_path / "first", "default", plain=False, jsii_cache=cache)
    plain, plain_peak = synth(tmp_path / "plain", "default", plain=True)
    assert first == plain
    assert first_peak < plain_peak / 2, (first_peak, plain_peak)


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


def compiled_by_the_hook(index: Path, *, pin_digest: bool = False) -> str:
    """What Node compiles for ``index`` with the hook loaded: the file as it is (the plain load) or a lazy rewrite.

    Node's own compiler is replaced by a recorder before the hook wraps it, so nothing is run. ``pin_digest`` first
    makes the hook's checked digest for the package that of ``index``, as adding a new version's entry would: only
    the line-by-line check stands between that file and the rewrite then.
    """
    script = f"""
const crypto = require("crypto");
const fs = require("fs");
const Module = require("module");
const path = require("path");
const file = {json.dumps(str(index))};
const content = fs.readFileSync(file, "utf8");
let compiled = null;
const compile = Module.prototype._compile;
Module.prototype._compile = function (source, filename) {{
  if (filename !== file) return compile.call(this, source, filename);
  compiled = source;
}};
const hook = require({json.dumps(str(LAZY_PROVIDER_HOOK))});
if ({json.dumps(pin_digest)}) {{
  const manifest = JSON.parse(fs.readFileSync(path.join(file, "..", "..", "package.json"), "utf8"));
  hook.CHECKED[`${{manifest.name}}@${{manifest.version}}`].sha256 = crypto.createHash("sha256").update(content).digest("hex");
}}
Module.prototype._compile.call(new Module(file), content, file);
process.stdout.write(JSON.stringify(compiled));
"""
    output = node_output(script)
    compiled = json.loads(output)
    assert isinstance(compiled, str), output[:200]
    return compiled


def node_output(script: str) -> str:
    """What ``script`` prints, run by Node without this process's NODE_OPTIONS (whose preloaded hook would already have
    wrapped Node's compiler and ``fs`` before the script's own code)."""
    environment = {name: value for name, value in os.environ.items() if name != "NODE_OPTIONS"}
    return subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True, env=environment).stdout


def is_lazy(compiled: str, index: Path) -> bool:
    """Whether the hook rewrote ``index``: each eager require a getter, and the helper that makes them appended."""
    last_line = compiled.removesuffix("\n").rpartition("\n")[2]
    return compiled != index.read_text(encoding="utf-8") and last_line.startswith(LAZY_HELPER_START)


ES_MODULE_LINE = 'Object.defineProperty(exports, "__esModule", { value: true });'


def insert_line(index: Path, line: str) -> None:
    """``line`` as a line of its own, right after the ``__esModule`` line: among the lines the hook checks one by one
    (CDK Terrain's TypeScript helpers above it are pinned by the digest alone; the end is a comment)."""
    lines = index.read_text(encoding="utf-8").split("\n")
    lines.insert(lines.index(ES_MODULE_LINE) + 1, line)
    index.write_text("\n".join(lines), encoding="utf-8")


def test_the_hook_rewrites_only_the_index_it_was_checked_against(provider_index: Path, tmp_path: Path) -> None:
    assert is_lazy(compiled_by_the_hook(provider_index), provider_index)
    # A line it understands (a blank one) changes only the digest: pinned as a new version's would be, it is rewritten.
    # So pinning works, and the `line` case below falls back because of its line, not of its digest.
    package = tmp_path / "package"
    shutil.copytree(provider_index.parent.parent, package)
    index = package / "lib" / "index.js"
    insert_line(index, "")
    assert is_lazy(compiled_by_the_hook(index, pin_digest=True), index)


@pytest.mark.parametrize("change", ["digest", "line", "version", "name", "no-runtime-index", "file-name"])
def test_anything_unexpected_falls_back_to_the_plain_load(provider_index: Path, tmp_path: Path, change: str) -> None:
    """Each check of the hook alone: the file Node compiles is the plain index, unchanged."""
    package = tmp_path / "package"
    shutil.copytree(provider_index.parent.parent, package)
    index = package / "lib" / "index.js"
    manifest = json.loads((package / "package.json").read_text(encoding="utf-8"))
    if change == "digest":
        # Only the digest tells: a blank line is one the line-by-line check understands.
        insert_line(index, "")
    elif change == "line":
        # Only the line-by-line check tells: the digest is pinned to this very file.
        insert_line(index, "exports.extra = 1;")
    elif change in ("version", "name"):
        manifest["version" if change == "version" else "name"] = "21.23.0" if change == "version" else "other"
        (package / "package.json").write_text(json.dumps(manifest), encoding="utf-8")
    elif change == "no-runtime-index":
        (package / ".jsii.runtime.v1.json").unlink()
    else:
        index = index.rename(index.with_name("main.js"))
    assert compiled_by_the_hook(index, pin_digest=change == "line") == index.read_text(encoding="utf-8")


def built_first(package: Path, builder: str | None, read: str = ".jsii.runtime.v1.json") -> bool:
    """``buildIndexFirst`` on ``package``'s missing file ``read`` (its runtime index unless said), with ``builder`` as
    jsii's index builder script: whether it returned true and the runtime index is there."""
    kernel = package.parent / "jsii" / "lib" / "program.js"
    kernel.parent.mkdir(parents=True)
    if builder is not None:
        (kernel.parent / "runtime-index-worker.js").write_text(builder, encoding="utf-8")
    manifest = package / ".jsii.runtime.v1.json"
    script = f"""
const hook = require({json.dumps(str(LAZY_PROVIDER_HOOK))});
process.stdout.write(JSON.stringify(hook.buildIndexFirst({json.dumps(str(package / read))}, {json.dumps(str(kernel))})));
"""
    return bool(json.loads(node_output(script))) and manifest.exists()


# A stand-in for jsii's builder, which only works in a worker thread: writes the manifest from the data it is given.
WRITES_THE_INDEX = """
const { isMainThread, workerData } = require("worker_threads");
if (!isMainThread) require("fs").writeFileSync(workerData.packageDir + "/.jsii.runtime.v1.json",
  JSON.stringify(workerData.supportedFeatures));
"""


@pytest.mark.parametrize(
    ("change", "builder", "built"),
    [
        ("none", WRITES_THE_INDEX, True),
        ("none", "throw new Error('no index');", False),
        ("none", "process.exit(3);", False),
        ("none", None, False),
        ("name", WRITES_THE_INDEX, False),
        ("version", WRITES_THE_INDEX, False),
        ("no-package-json", WRITES_THE_INDEX, False),
        ("another-file", WRITES_THE_INDEX, False),
    ],
)
def test_the_runtime_index_is_built_first_only_for_a_checked_package(
    provider_index: Path, tmp_path: Path, change: str, builder: str | None, built: bool
) -> None:
    package = tmp_path / "package"
    shutil.copytree(provider_index.parent.parent, package)
    (package / ".jsii.runtime.v1.json").unlink()
    manifest = json.loads((package / "package.json").read_text(encoding="utf-8"))
    if change in ("name", "version"):
        manifest[change] = "other" if change == "name" else "21.23.0"
        (package / "package.json").write_text(json.dumps(manifest), encoding="utf-8")
    elif change == "no-package-json":
        (package / "package.json").unlink()
    read = "missing.json" if change == "another-file" else ".jsii.runtime.v1.json"
    assert built_first(package, builder, read) is built
    assert list(package.rglob(".jsii.runtime.v1.json")) == ([package / ".jsii.runtime.v1.json"] if built else [])
    if built:  # given the kernel's supported features, which jsii's builder checks the assembly against
        assert json.loads((package / ".jsii.runtime.v1.json").read_text(encoding="utf-8")) == [
            "intersection-types",
            "class-covariant-overrides",
        ]


# The kernel's unpacking of a tarball into its cache, as the hook sees it (jsii 1.142 reads the tarball with
# fs.openSync and writes each file with fs.openSync, fs.writeSync and fs.closeSync, the `.jsii` first), then its look
# for the runtime index. Run as the kernel's own program file, whose folder holds the builder.
UNPACK_THEN_LOOK = """
const fs = require("fs");
const path = require("path");
const [hookFile, tarball, packageDir, packageJson, written, look, waitFor] = process.argv.slice(2);
const hook = require(hookFile);
const reading = fs.openSync(tarball, "r");
for (const name of [written, "LICENSE"]) {
  const fd = fs.openSync(path.join(packageDir, name), "w");
  fs.writeSync(fd, "{}");
  fs.closeSync(fd);
}
const begun = hook.backgroundBuilds.size;
const manifest = path.join(packageDir, ".jsii.runtime.v1.json");
const pause = new Int32Array(new SharedArrayBuffer(4));
// The rest of the unpacking, until the index is there (or the builder has started, for a builder that writes none).
const awaited = waitFor === "index" ? manifest : path.join(packageDir, "..", "builder-runs");
for (let waited = 0; begun > 0 && !fs.existsSync(awaited) && waited < 20000; waited += 20) Atomics.wait(pause, 0, 0, 20);
const builtWhileUnpacking = fs.existsSync(manifest);
fs.copyFileSync(packageJson, path.join(packageDir, "package.json"));
fs.closeSync(reading);
const started = Date.now();
if (look === "look") hook.buildIndexFirst(manifest, process.argv[1]);
const found = fs.existsSync(manifest);
process.stdout.write(JSON.stringify({ begun, builtWhileUnpacking, found, lookSeconds: (Date.now() - started) / 1000 }));
"""

# Stand-ins for jsii's builder (a worker thread's script), each noting its run and process id beside the package.
BUILDER_RUNS = """
const { isMainThread, workerData } = require("worker_threads");
const fs = require("fs");
if (!isMainThread) {
  fs.appendFileSync(workerData.packageDir + "/../builder-runs", process.pid + "\\n");
  %s
}
"""
BUILDS = BUILDER_RUNS % 'fs.writeFileSync(workerData.packageDir + "/.jsii.runtime.v1.json", "{}");'
FAILS = BUILDER_RUNS % "process.exit(3);"
IS_KILLED = BUILDER_RUNS % 'process.kill(process.pid, "SIGKILL");'
BUILDS_SLOWLY = BUILDER_RUNS % (
    "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);"
    'fs.writeFileSync(workerData.packageDir + "/.jsii.runtime.v1.json", "{}");'
)
NEVER_ENDS = BUILDER_RUNS % "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);"


def unpack_then_look(
    provider_index: Path, tmp_path: Path, *, tarball: str, builder: str, written: str = ".jsii", look: bool = True
) -> tuple[dict[str, object], list[int]]:
    """UNPACK_THEN_LOOK with ``builder``: what it printed, and the process id of each run of the builder."""
    kernel = tmp_path / "jsii" / "lib" / "program.js"
    kernel.parent.mkdir(parents=True)
    kernel.write_text(UNPACK_THEN_LOOK, encoding="utf-8")
    (kernel.parent / "runtime-index-worker.js").write_text(builder, encoding="utf-8")
    package, temporary = tmp_path / "cache" / "package", tmp_path / "tmp"
    package.mkdir(parents=True)
    temporary.mkdir()
    (tmp_path / tarball).write_bytes(b"")
    environment = {name: value for name, value in os.environ.items() if name != "NODE_OPTIONS"}
    arguments = [str(LAZY_PROVIDER_HOOK), str(tmp_path / tarball), str(package)]
    arguments += [str(provider_index.parent.parent / "package.json"), written, "look" if look else "end"]
    arguments.append("index" if builder == BUILDS else "builder")
    output = subprocess.run(
        ["node", str(kernel), *arguments],
        capture_output=True,
        text=True,
        check=True,
        env={**environment, "TMPDIR": str(temporary)},
    ).stdout
    # Nothing of the hook's own is left behind in the temporary folder, whatever became of the build.
    assert not list(temporary.iterdir())
    runs = tmp_path / "cache" / "builder-runs"
    return json.loads(output), [int(pid) for pid in runs.read_text().split()] if runs.exists() else []


@pytest.fixture
def checked_tarball() -> str:
    """The name of this run's provider tarball, as the bindings ship it and the hook checks it."""
    assert TARBALL is not None
    return TARBALL.name


def test_the_index_is_built_while_the_rest_of_the_tarball_unpacks(
    provider_index: Path, tmp_path: Path, checked_tarball: str
) -> None:
    printed, runs = unpack_then_look(provider_index, tmp_path, tarball=checked_tarball, builder=BUILDS)
    assert printed["begun"] == 1 and printed["builtWhileUnpacking"] is True and printed["found"] is True, printed
    assert len(runs) == 1, runs  # the kernel's look waited for that build and started none of its own


def test_a_look_during_the_background_build_waits_for_it(
    provider_index: Path, tmp_path: Path, checked_tarball: str
) -> None:
    printed, runs = unpack_then_look(provider_index, tmp_path, tarball=checked_tarball, builder=BUILDS_SLOWLY)
    assert printed["begun"] == 1 and printed["builtWhileUnpacking"] is False and printed["found"] is True, printed
    assert len(runs) == 1, runs


@pytest.mark.parametrize(
    ("tarball", "written"),
    [("another-provider@1.0.0.jsii.tgz", ".jsii"), ("checked", "index.js"), ("checked-with-another-version", ".jsii")],
)
def test_nothing_is_built_in_the_background_for_another_tarball_or_file(
    provider_index: Path, tmp_path: Path, checked_tarball: str, tarball: str, written: str
) -> None:
    name = {"checked": checked_tarball, "checked-with-another-version": checked_tarball.replace("@", "@9")}
    printed, runs = unpack_then_look(
        provider_index, tmp_path, tarball=name.get(tarball, tarball), builder=BUILDS, written=written
    )
    assert printed["begun"] == 0 and printed["builtWhileUnpacking"] is False, printed
    # the look of a checked package then builds the index as before
    assert printed["found"] is True and len(runs) == 1, (printed, runs)


@pytest.mark.parametrize("builder", [FAILS, IS_KILLED], ids=["fails", "is-killed"])
def test_a_failed_background_build_leaves_the_look_to_build_it(
    provider_index: Path, tmp_path: Path, checked_tarball: str, builder: str
) -> None:
    printed, runs = unpack_then_look(provider_index, tmp_path, tarball=checked_tarball, builder=builder)
    # the look tried again and failed too, at once rather than after the five minutes a build is given
    assert printed["begun"] == 1 and printed["found"] is False and len(runs) == 2, (printed, runs)
    assert isinstance(printed["lookSeconds"], float | int) and printed["lookSeconds"] < 30, printed


def test_a_kernel_that_never_looks_leaves_no_builder_running(
    provider_index: Path, tmp_path: Path, checked_tarball: str
) -> None:
    printed, runs = unpack_then_look(provider_index, tmp_path, tarball=checked_tarball, builder=NEVER_ENDS, look=False)
    assert printed["begun"] == 1 and len(runs) == 1, (printed, runs)
    for _ in range(100):  # stopped when the kernel ended; reaped (or a zombie) soon after
        if not is_running(runs[0]):
            break
        time.sleep(0.05)
    assert not is_running(runs[0]), "the background builder outlived the kernel"


def is_running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_the_hook_is_added_to_node_options_once_and_quoted() -> None:
    hook = Path("/example/a b/lazy.js")
    once = with_preload("--max-http-header-size=16384", hook)
    assert once == '--max-http-header-size=16384 --require "/example/a b/lazy.js"'
    assert with_preload(once, hook) == once
