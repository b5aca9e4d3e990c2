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
"use strict";
const childProcess = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const Module = require("module");
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
// manifest of a checked package (see the top of this file). True when it built one.
function buildIndexFirst(file, kernelProgram) {
  if (typeof file !== "string" || path.basename(file) !== RUNTIME_INDEX || fs.existsSync(file)) return false;
  const packageDir = path.dirname(file);
  if (!checkedPackage(packageDir)) return false;
  const builder = path.join(path.dirname(kernelProgram), INDEX_BUILDER);
  childProcess.spawnSync(process.execPath, ["-e", BUILD_INDEX, builder, packageDir, JSON.stringify(SUPPORTED_FEATURES)], {
    stdio: "ignore",
    timeout: INDEX_BUILD_TIMEOUT_MS,
  });
  return fs.existsSync(file);
}

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

// The kernel reads the manifest with fs.readFileSync, looked up on the module at each call.
const readFileSync = fs.readFileSync;
fs.readFileSync = function (file, ...rest) {
  try {
    buildIndexFirst(file, process.argv[1] ?? "");
  } catch {
    // the kernel's own path: it reads what is there
  }
  return readFileSync.call(this, file, ...rest);
};

// For the tests (tests/test_fast_load.py), which check every fallback with node itself; CHECKED so that they
// can pin a changed index's digest, as a new version's entry would, and reach the line-by-line check behind it.
module.exports = { lazySource, buildIndexFirst, CHECKED };
