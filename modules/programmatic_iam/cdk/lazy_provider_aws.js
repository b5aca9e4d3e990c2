// Preloaded into the jsii kernel (node --require, set up by engine.py): loads the AWS provider bindings'
// submodules on first use instead of all at once (docs/performance.md), for cdktf's @cdktf/provider-aws
// and CDK Terrain's @cdktn/provider-aws (docs/engines.md).
//
// The package's lib/index.js eagerly requires every submodule (2,212 in cdktf's, 267 MB of JavaScript,
// ~2 s and ~600 MB; 2,433 in CDK Terrain's); the kernel only ever reads `closure.<submodule>.<Type>`
// (its _findSymbol), so a getter per submodule gives the same objects. Only the index.js files we have
// checked are rewritten; any other file, version or shape compiles unchanged (the plain, eager load).
//
// The lazy load needs jsii's runtime index of the package (an index of the assembly's types, written into the
// package cache): without it the kernel parses the whole assembly (131 MB for cdktf's) on every run. On an
// empty package cache the kernel would parse the assembly, load every module and parse the assembly again in a
// worker to write that index, all at once (about 1.5 GiB). So when the kernel looks for the index of a checked
// package and it is missing, it is built first, by jsii's own index builder in a Node process of its own; the
// kernel then finds it, never parses the assembly, and loads lazily from the first run on. If the build fails,
// nothing changes: the kernel parses the assembly and writes the index as before, and that run stays eager
// (a short lazy run would end before jsii's worker has written the index).
//
// The build need not wait for the whole package: the `.jsii` is the first file of the provider's tarball, and the
// rest (4,000 and more files) takes the kernel a second or more to unpack. So when the kernel, unpacking a checked
// provider tarball into its cache, has written the `.jsii`, the builder starts at once in the background, and the
// kernel's look for the index waits for that build instead of starting its own (docs/performance.md).
"use strict";
const childProcess = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const Module = require("module");
const os = require("os");
const path = require("path");

const RUNTIME_INDEX = ".jsii.runtime.v1.json"; // jsii 1.142's index manifest, written into the package cache
// jsii 1.142's index builder, a worker script next to the kernel's lib/program.js, and the assembly features its
// kernel supports (ASSEMBLY_SUPPORTED_FEATURES), which the builder checks the assembly against.
const INDEX_BUILDER = "runtime-index-worker.js";
const SUPPORTED_FEATURES = ["intersection-types", "class-covariant-overrides"];
const INDEX_BUILD_TIMEOUT_MS = 300000;
// Run with `node -e`: the builder works only in a worker thread, and reports a failure as a message.
const BUILD_INDEX = `
const { Worker } = require("worker_threads");
const [builder, packageDir, features] = process.argv.slice(1);
const worker = new Worker(builder, { workerData: { packageDir, supportedFeatures: JSON.parse(features) } });
worker.on("message", (message) => { if (message && message.error) process.exitCode = 1; });
worker.on("error", () => { process.exitCode = 1; });
`;
// The same in the background, leaving its exit code in the file of its fourth argument: the kernel's event loop is
// blocked while it unpacks and looks for the index, so the kernel learns the build has ended from that file alone.
const BUILD_INDEX_IN_BACKGROUND = `${BUILD_INDEX}
process.on("exit", (code) => { try { require("fs").writeFileSync(process.argv[4], String(code)); } catch {} });
`;
// Each checked index.js, by package and version: its digest, and the shape of its eager lines (the
// submodule's name and the require's argument). CDK Terrain's, compiled by a newer TypeScript, wraps each
// require in TypeScript's __importStar helper, defined above the __esModule line; for a module that is
// itself an ES module (every submodule is) that helper returns the module unchanged.
const CHECKED = {
  "@cdktf/provider-aws@21.22.1": {
    sha256: "c7b884b3ec7353cf45e05e399552880a4dda52916d3d79fc12993d7986e804ac",
    eager: /^exports\.([A-Za-z_$][\w$]*) = require\("(\.\/[a-z0-9-]+)"\);$/,
    load: (target) => `require(${target})`,
    helpers: false,
  },
  "@cdktn/provider-aws@25.8.1": {
    sha256: "248f527690f500d9f0f104d7b53e7cb1371f3c2c64704d9392b6af81f07b98a0",
    eager: /^exports\.([A-Za-z_$][\w$]*) = __importStar\(require\("(\.\/[a-z0-9-]+\/index)"\)\);$/,
    load: (target) => `__importStar(require(${target}))`,
    helpers: true,
  },
};
// Each checked package's tarball as jsii's Python bindings ship it (`provider-aws@21.22.1.jsii.tgz`).
const CHECKED_TARBALLS = new Set(Object.keys(CHECKED).map((key) => `${key.split("/").pop()}.jsii.tgz`));
const ES_MODULE = 'Object.defineProperty(exports, "__esModule", { value: true });';
// Every other line of those index.js files: the directive, comments, __esModule and the `exports.a = ... = void 0;` chains.
const INERT = /^("use strict";|\/\*\*| \*.*|\/\/.*|Object\.defineProperty\(exports, "__esModule", \{ value: true \}\);|(exports\.[A-Za-z_$][\w$]* = )+void 0;|)$/;

function lazySource(content, filename) {
  if (path.basename(filename) !== "index.js" || path.basename(path.dirname(filename)) !== "lib") return null;
  let manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(filename, "..", "..", "package.json"), "utf8"));
  } catch {
    return null;
  }
  const checked = CHECKED[`${manifest.name}@${manifest.version}`];
  if (checked === undefined) return null;
  // Without its runtime index (it could not be built first) the kernel parses the 131 MB .jsii and builds the
  // index in a worker thread that its exit kills: a short lazy run would never let it finish, so that run stays eager.
  if (!fs.existsSync(path.join(filename, "..", "..", RUNTIME_INDEX))) return null;
  if (crypto.createHash("sha256").update(content).digest("hex") !== checked.sha256) return null;
  const lines = content.split("\n");
  // TypeScript's helpers come before the __esModule line; the digest has pinned their text.
  const first = checked.helpers ? lines.indexOf(ES_MODULE) : 0;
  if (first < 0) return null;
  let eager = 0;
  for (const [index, line] of lines.entries()) {
    if (index < first) continue;
    const match = checked.eager.exec(line);
    if (match) {
      lines[index] = `lazy(${JSON.stringify(match[1])}, () => ${checked.load(JSON.stringify(match[2]))});`;
      eager += 1;
    } else if (!INERT.test(line)) {
      return null; // a line we do not understand: keep the eager index
    }
  }
  if (eager === 0) return null;
  // Replaces the data property the `= void 0` chain made, in place, so the key order is unchanged;
  // the first read turns it back into the plain data property the eager index would have made.
  const lazy =
    "function lazy(name, load) { Object.defineProperty(exports, name, { enumerable: true, configurable: true," +
    " get() { const value = load(); Object.defineProperty(exports, name, { value, enumerable: true," +
    " writable: true, configurable: true }); return value; }," +
    " set(value) { Object.defineProperty(exports, name, { value, enumerable: true, writable: true, configurable: true }); } }); }";
  return lines.join("\n") + "\n" + lazy + "\n";
}

function checkedPackage(packageDir) {
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(packageDir, "package.json"), "utf8"));
    return CHECKED[`${manifest.name}@${manifest.version}`] !== undefined;
  } catch {
    return false;
  }
}

// Called with the path of every file the kernel reads; builds the runtime index when `file` is the missing
// manifest of a checked package (see the top of this file), or waits for its build begun in the background. True
// when it built one or waited for one that did.
function buildIndexFirst(file, kernelProgram) {
  if (typeof file !== "string" || path.basename(file) !== RUNTIME_INDEX || fs.existsSync(file)) return false;
  const packageDir = path.dirname(file);
  if (!checkedPackage(packageDir)) return false;
  if (awaitBackgroundBuild(packageDir) && fs.existsSync(file)) return true;
  childProcess.spawnSync(process.execPath, ["-e", BUILD_INDEX, indexBuilder(kernelProgram), packageDir, JSON.stringify(SUPPORTED_FEATURES)], {
    stdio: "ignore",
    timeout: INDEX_BUILD_TIMEOUT_MS,
  });
  return fs.existsSync(file);
}

function indexBuilder(kernelProgram) {
  return path.join(path.dirname(kernelProgram), INDEX_BUILDER);
}

// The builds begun while the kernel unpacks, by the real path of their package; and what the kernel has open: the
// checked tarballs it reads, and the `.jsii` files it writes while it reads one.
const backgroundBuilds = new Map();
const openTarballs = new Set();
const assembliesBeingWritten = new Map();

function noteOpened(fd, file, flags) {
  if (typeof file !== "string") return;
  const name = path.basename(file);
  if ((flags === undefined || flags === "r") && CHECKED_TARBALLS.has(name)) {
    openTarballs.add(fd);
  } else if (name === ".jsii" && openTarballs.size > 0 && flags !== undefined && flags !== "r") {
    assembliesBeingWritten.set(fd, file);
  }
}

function noteClosed(fd, kernelProgram) {
  openTarballs.delete(fd);
  const assembly = assembliesBeingWritten.get(fd);
  if (assembly === undefined) return;
  assembliesBeingWritten.delete(fd);
  startBackgroundBuild(path.dirname(assembly), kernelProgram);
}

// Starts jsii's builder on the `.jsii` just written into `packageDir`, in a Node process of its own; its package.json
// is not there yet, and is checked when the kernel looks for the index.
function startBackgroundBuild(packageDir, kernelProgram) {
  const key = fs.realpathSync(packageDir);
  if (backgroundBuilds.has(key) || fs.existsSync(path.join(packageDir, RUNTIME_INDEX))) return;
  const marks = fs.mkdtempSync(path.join(os.tmpdir(), "programmatic-iam-index-"));
  const exitCode = path.join(marks, "exit-code");
  const args = ["-e", BUILD_INDEX_IN_BACKGROUND, indexBuilder(kernelProgram), packageDir, JSON.stringify(SUPPORTED_FEATURES), exitCode];
  const builder = childProcess.spawn(process.execPath, args, { stdio: "ignore" });
  builder.on("error", () => {}); // could not start: the kernel's look for the index builds it as before
  builder.unref();
  if (builder.pid === undefined) {
    fs.rmSync(marks, { recursive: true, force: true });
    return;
  }
  backgroundBuilds.set(key, { pid: builder.pid, exitCode, marks });
}

const PAUSE = new Int32Array(new SharedArrayBuffer(4));

// Waits for the background build of `packageDir`'s index, if there is one, for as long as a build of its own may
// take. True when there was one.
function awaitBackgroundBuild(packageDir) {
  const key = fs.realpathSync(packageDir);
  const build = backgroundBuilds.get(key);
  if (build === undefined) return false;
  backgroundBuilds.delete(key);
  const deadline = Date.now() + INDEX_BUILD_TIMEOUT_MS;
  while (!fs.existsSync(build.exitCode) && isRunning(build.pid) && Date.now() < deadline) Atomics.wait(PAUSE, 0, 0, 10);
  stopBackgroundBuild(build);
  return true;
}

// A builder killed before its exit handler ran leaves no exit code; until the kernel's event loop runs again, it is a
// zombie, which Linux shows in /proc and signal 0 does not tell from a live process.
function isRunning(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z /s.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true; // no /proc: the exit code or the deadline ends the wait
  }
}

function stopBackgroundBuild(build) {
  if (!fs.existsSync(build.exitCode) && isRunning(build.pid)) {
    try {
      process.kill(build.pid, "SIGKILL");
    } catch {
      // it has ended meanwhile
    }
  }
  fs.rmSync(build.marks, { recursive: true, force: true });
}

// A kernel that ends before it looks for the index (its unpacking failed) leaves no builder behind.
process.on("exit", () => {
  for (const build of backgroundBuilds.values()) stopBackgroundBuild(build);
  backgroundBuilds.clear();
});

const compile = Module.prototype._compile;
Module.prototype._compile = function (content, filename) {
  let source = null;
  try {
    source = lazySource(content, filename);
  } catch {
    source = null;
  }
  return compile.call(this, source ?? content, filename);
};

// The kernel reads the manifest with fs.readFileSync, and unpacks with fs.openSync and fs.closeSync, each looked up on
// the module at each call.
const readFileSync = fs.readFileSync;
fs.readFileSync = function (file, ...rest) {
  try {
    buildIndexFirst(file, process.argv[1] ?? "");
  } catch {
    // the kernel's own path: it reads what is there
  }
  return readFileSync.call(this, file, ...rest);
};

const openSync = fs.openSync;
fs.openSync = function (file, flags, ...rest) {
  const fd = openSync.call(this, file, flags, ...rest);
  try {
    noteOpened(fd, file, flags);
  } catch {
    // nothing is begun early; the kernel's look for the index builds it
  }
  return fd;
};

const closeSync = fs.closeSync;
fs.closeSync = function (fd, ...rest) {
  const closed = closeSync.call(this, fd, ...rest);
  try {
    noteClosed(fd, process.argv[1] ?? "");
  } catch {
    // as above
  }
  return closed;
};

// For the tests (tests/test_fast_load.py), which check every fallback with node itself; CHECKED so that they
// can pin a changed index's digest, as a new version's entry would, and reach the line-by-line check behind it;
// backgroundBuilds so that they can tell whether a build was begun while the kernel unpacked.
module.exports = { lazySource, buildIndexFirst, CHECKED, backgroundBuilds };
