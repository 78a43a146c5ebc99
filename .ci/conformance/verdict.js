// Compares the failed assertions of a newman JSON report with the expected ones.
// Usage: node verdict.js REPORT EXPECTED_FILE
// EXPECTED_FILE holds one `request name :: assertion` per line. Exits 0 when exactly those failed,
// 1 otherwise, saying which failed unexpectedly and which expected failures passed.
"use strict";
const fs = require("fs");

const [reportFile, expectedFile] = process.argv.slice(2);
const report = JSON.parse(fs.readFileSync(reportFile));
const expected = fs
  .readFileSync(expectedFile, "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l !== "");

let total = 0;
const failed = [];
for (const run of report.run.executions) {
  for (const a of run.assertions || []) {
    total += 1;
    if (a.error) {
      failed.push(`${run.item.name} :: ${a.assertion}`);
    }
  }
}
const requestErrors = report.run.failures.filter((f) => f.error && f.error.name !== "AssertionError");
const unexpected = failed.filter((f) => !expected.includes(f));
const missing = expected.filter((e) => !failed.includes(e));

console.log(`assertions: ${total}, failed: ${failed.length} (${expected.length} expected)`);
for (const f of failed) console.log(`  failed${expected.includes(f) ? " (expected)" : ""}: ${f}`);
for (const e of requestErrors) console.log(`  request error: ${e.source && e.source.name}: ${e.error.message}`);
for (const m of missing) console.log(`  expected to fail but passed: ${m}`);
process.exit(unexpected.length === 0 && missing.length === 0 && requestErrors.length === 0 ? 0 : 1);
