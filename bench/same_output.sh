#!/usr/bin/env bash
# Checks that two builds of roster-export write the same bytes: the fixture district (--demo) and a
# synthetic district served by the sandbox, every scope, in every format and shape (CSV and JSON as
# a folder and as a zip, NDJSON). The sandbox is deterministic, so any difference is the writer's.
#   bench/same_output.sh OLD_BINARY NEW_BINARY [USERS]
# Exit 0 when every output is byte-identical; otherwise the differing files are listed.
set -euo pipefail

old=$1 new=$2 users=${3:-3000}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

SCOPES=(--scope roster.readonly --scope roster-demographics.readonly --scope gradebook.readonly --scope resource.readonly)

# Writes every output of binary $1 into folder $2.
outputs() {
  local bin=$1 out=$2 f log="$2/sandbox.log"
  mkdir -p "$out"
  for f in csv json; do
    "$bin" --demo "${SCOPES[@]}" --format $f --out "$out/demo-$f" --log-format json 2>/dev/null
    "$bin" --demo "${SCOPES[@]}" --format $f --out "$out/demo-$f.zip" --log-format json 2>/dev/null
  done
  "$bin" --demo "${SCOPES[@]}" --format ndjson --out "$out/demo.ndjson" --log-format json 2>/dev/null
  "$bin" sandbox --port 0 --users "$users" >"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    grep -q '^token URL' "$log" 2>/dev/null && break
    sleep 0.1
  done
  local base token
  base=$(sed -n 's/^base URL: *//p' "$log")
  token=$(sed -n 's/^token URL: *//p' "$log")
  for f in csv json ndjson; do
    local target="$out/synthetic-$f.zip"
    [ $f = ndjson ] && target="$out/synthetic.ndjson"
    ROSTER_EXPORT_CLIENT_SECRET=demo-secret "$bin" --base-url "$base" --token-url "$token" \
      --client-id demo-client "${SCOPES[@]}" --format $f --page-size 700 --rate 1000 \
      --out "$target" --log-format json 2>/dev/null
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  rm -f "$log" "$out"/.*.lock
}

outputs "$old" "$work/old"
outputs "$new" "$work/new"
if diff -r "$work/old" "$work/new" >"$work/diff"; then
  echo "same bytes: $(find "$work/new" -type f | wc -l) files"
else
  cat "$work/diff"
  exit 1
fi
