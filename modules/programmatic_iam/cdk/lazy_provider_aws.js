// Preloaded into the jsii kernel (node --require, set up by engine.py): loads @cdktf/provider-aws
// submodules on first use instead of all at once (docs/performance.md).
//
// The package's lib/index.js eagerly requires all 2,212 submodules (267 MB of JavaScript, ~2 s and
// ~600 MB); the kernel only ever reads `closure.<submodule>.<Type>` (its _findSymbol), so a getter per
// submodule gives the same objects. Only the one index.js we have checked is rewritten; any other file,
// version or shape compiles unchanged (the plain, eager load). It also stays eager while jsii's runtime
// index of the package is missing (an empty package cache): jsii writes that index in a worker that only
// an eager run lives long enough to finish, and without it every later run would parse the 131 MB assembly.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const Module = require("module");
const path = require("path");

const PACKAGE = "@cdktf/provider-aws";
const VERSION = "21.22.1";
const RUNTIME_INDEX = ".jsii.runtime.v1.json"; // jsii 1.142's index manifest, written into the package cache
const INDEX_SHA256 = "c7b884b3ec7353cf45e05e399552880a4dda52916d3d79fc12993d7986e804ac";
const EAGER = /^exports\.([A-Za-z_$][\w$]*) = require\("(\.\/[a-z0-9-]+)"\);$/;
// Every other line of that index.js: the directive, comments, __esModule and the `exports.a = ... = void 0;` chains.
const INERT = /^("use strict";|\/\*\*| \*.*|\/\/.*|Object\.defineProperty\(exports, "__esModule", \{ value: true \}\);|(exports\.[A-Za-z_$][\w$]* = )+void 0;|)$/;

function lazySource(content, filename) {
  if (path.basename(filename) !== "index.js" || path.basename(path.dirname(filename)) !== "lib") return null;
  let manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(filename, "..", "..", "package.json"), "utf8"));
  } catch {
    return null;
  }
  if (manifest.name !== PACKAGE || manifest.version !== VERSION) return null;
  // Without its runtime index (first run on an empty jsii package cache) the kernel parses the 131 MB
  // .jsii and builds the index in a worker thread that its exit kills: a short lazy run would never
  // let it finish, so that run stays eager.
  if (!fs.existsSync(path.join(filename, "..", "..", RUNTIME_INDEX))) return null;
  if (crypto.createHash("sha256").update(content).digest("hex") !== INDEX_SHA256) return null;
  const lines = content.split("\n");
  let eager = 0;
  for (const [index, line] of lines.entries()) {
    const match = EAGER.exec(line);
    if (match) {
      lines[index] = `lazy(${JSON.stringify(match[1])}, () => require(${JSON.stringify(match[2])}));`;
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

// For the tests (tests/test_fast_load.py), which check every fallback with node itself.
module.exports = { lazySource };
