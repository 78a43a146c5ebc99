// Fills the SDS environment template in for a sandbox serving the fixture district.
// Usage: node environment.js TEMPLATE FIXTURE_DIR ORIGIN TOKEN_URL > env.json
// The ids come from the fixture: its first class, that class's school, first term, first active
// teacher and student, and first line item, so the requests that run before the collection sets
// them itself (`Get School by ID` is second) ask for records that exist.
"use strict";
const fs = require("fs");
const path = require("path");

const [template, fixtures, origin, tokenUrl] = process.argv.slice(2);
if (!tokenUrl) {
  console.error("usage: node environment.js TEMPLATE FIXTURE_DIR ORIGIN TOKEN_URL");
  process.exit(2);
}
const read = (name) => JSON.parse(fs.readFileSync(path.join(fixtures, `${name}.json`)))[name];
const bySourcedId = (records, id) => records.find((r) => r.sourcedId === id);

const classes = read("classes");
const cls = classes[0];
const enrollments = read("enrollments").filter(
  (e) => e.class.sourcedId === cls.sourcedId && e.status === "active",
);
const member = (role) => enrollments.find((e) => e.role === role).user.sourcedId;
const users = read("users");
const teacher = bySourcedId(users, member("teacher"));
const term = bySourcedId(read("academicSessions"), cls.terms[0].sourcedId);
const lineItem = read("lineItems").find((l) => l.class.sourcedId === cls.sourcedId);

const values = {
  OneRosterHost: origin,
  Oauth2TokenAddress: tokenUrl,
  OneRosterConsumerKey: "demo-client",
  OneRosterConsumerSecret: "demo-secret",
  SchoolYear: term.schoolYear,
  Scopes: "",
  school_id: cls.school.sourcedId,
  class_id: cls.sourcedId,
  student_id: member("student"),
  teacher_id: teacher.sourcedId,
  teacher_email_address: teacher.email,
  term_id: term.sourcedId,
  lineitem_id: lineItem.sourcedId,
};
const env = JSON.parse(fs.readFileSync(template));
for (const v of env.values) {
  if (v.key in values) {
    v.value = values[v.key];
    delete values[v.key];
  }
}
for (const [key, value] of Object.entries(values)) {
  env.values.push({ key, value, enabled: true });
}
process.stdout.write(JSON.stringify(env, null, 1));
