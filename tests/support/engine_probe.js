// Preloaded into every Node.js process the tests start (NODE_OPTIONS), directly or through Python and the CDK
// CLIs: a jsii kernel, which is what running cdktf or CDK Terrain means, notes itself in the file that the test
// worker names; tests/support/engine_use.py compares the file's size before and after each test.
"use strict";
const fs = require("fs");
const path = require("path");

const record = process.env.PROGRAMMATIC_IAM_TEST_ENGINE_PROBE;
const script = process.argv[1] ? path.basename(process.argv[1]) : "";
if (record && script === "jsii-runtime.js") {
  try {
    fs.appendFileSync(record, `${process.pid}\n`);
  } catch (error) {
    // The worker that named the file has ended; nobody is left to tell.
  }
}
