#!/usr/bin/env bash
# Conformance: runs Microsoft's SDS V2 OneRoster v1.1 Postman collection (.ci/conformance/, MIT)
# with newman 6 against the roster-sandbox binary serving the fixture district on a loopback port.
# Fails when any assertion fails other than the expected ones below, when one of those passes
# after all (so the list stays honest), or when a request errors. KEEP_CONFORMANCE=DIR keeps the
# environment and newman's report there.
#
# Expected failures: assertions no host but Microsoft's own test tenant can pass.
#   - "Get Users - Student of Contact" reads `users/a1`, an id hard-coded in the collection
#     (it is meant to be a student named by the preceding guardian request; the collection stores
#     that id but then asks for `a1` anyway). Every other host answers 404.
set -euo pipefail
cd "$(dirname "$0")/.."

expected_failures=(
  "Get Users - Student of Contact :: user (student) success response/ 200"
)

suite=.ci/conformance
target=${CARGO_TARGET_DIR:-target}
newman_dir="$target/newman"
work=$(mktemp -d)
sandbox_pid=
cleanup() {
  if [ -n "$sandbox_pid" ]; then kill "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true; fi
  [ -n "${KEEP_CONFORMANCE:-}" ] && cp -r "$work" "$KEEP_CONFORMANCE"; rm -rf "$work"
}
trap cleanup EXIT

if ! command -v npm >/dev/null && command -v apt-get >/dev/null; then
  echo "== installing node and npm"
  apt-get install -y -qq nodejs npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
fi
command -v node >/dev/null && command -v npm >/dev/null || { echo "conformance: needs node and npm" >&2; exit 1; }
if [ ! -x "$newman_dir/node_modules/.bin/newman" ]; then
  echo "== installing newman 6 into $newman_dir"
  timeout 10m npm install --prefix "$newman_dir" --no-audit --no-fund --loglevel=error newman@6
fi

cargo build --locked --quiet -p roster-sandbox
"$target/debug/roster-sandbox" --host 127.0.0.1 --port 0 >"$work/banner" 2>"$work/sandbox.log" &
sandbox_pid=$!
for _ in $(seq 1 100); do
  grep -q '^token URL' "$work/banner" 2>/dev/null && break
  sleep 0.1
done
base=$(sed -n 's/^base URL: *//p' "$work/banner")
token=$(sed -n 's/^token URL: *//p' "$work/banner")
[ -n "$base" ] && [ -n "$token" ] || { echo "conformance: the sandbox did not start" >&2; cat "$work/sandbox.log" >&2; exit 1; }
origin=${base%/ims/oneroster/v1p1}

node "$suite/environment.js" "$suite/sds-oneroster.postman_environment.template.json" \
  crates/roster-sandbox/fixtures/district "$origin" "$token" >"$work/env.json"
printf '%s\n' "${expected_failures[@]}" >"$work/expected"

# newman exits non-zero on any failed assertion; the verdict below decides.
timeout 10m "$newman_dir/node_modules/.bin/newman" run "$suite/sds-v2-oneroster-v1p1.postman_collection.json" \
  -e "$work/env.json" --reporters json --reporter-json-export "$work/report.json" \
  --timeout-request 30000 >"$work/newman.log" 2>&1 || true
[ -s "$work/report.json" ] || { echo "conformance: newman wrote no report" >&2; cat "$work/newman.log" >&2; exit 1; }
node "$suite/verdict.js" "$work/report.json" "$work/expected"
