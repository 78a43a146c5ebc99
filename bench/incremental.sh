#!/usr/bin/env bash
# An incremental night vs a full pull, on this machine. Run by hand; not part of `cargo test`.
#   bench/incremental.sh                    # 200k users, 200 changes
#   USERS=20000 CHANGES=50 bench/incremental.sh
# A full pull (the first --incremental run) of the synthetic district, then CHANGES changes of
# every kind through the sandbox's admin endpoint, then the incremental run, then a fresh full
# pull to compare bytes with. Prints requests, seconds and records of each, with the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-200000}
CHANGES=${CHANGES:-200}
SCOPES=(--scope roster.readonly --scope roster-demographics.readonly --scope gradebook.readonly --scope resource.readonly)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --quiet --bins
target=${CARGO_TARGET_DIR:-target}/release
bin=$target/roster-export
sandbox=$target/roster-sandbox

"$sandbox" --port 0 --users "$USERS" ${SANDBOX_FLAGS:-} >"$work/sandbox.log" 2>&1 &
for _ in $(seq 1 300); do grep -q '^token URL' "$work/sandbox.log" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^base URL: *//p' "$work/sandbox.log")
token=$(sed -n 's/^token URL: *//p' "$work/sandbox.log")
origin=${base%/ims/oneroster/v1p1}
[ -n "$base" ] || { cat "$work/sandbox.log" >&2; exit 1; }

run() {
  local summary=$1; shift
  ROSTER_EXPORT_CLIENT_SECRET=demo-secret "$bin" --base-url "$base" --token-url "$token" \
    --client-id demo-client "${SCOPES[@]}" --log-format json --summary-json "$summary" "$@" \
    2>>"$work/export.log"
}
figures() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["mode"], d["requests"], d["seconds"], d["records"])' "$1"
}

run "$work/full.json" --out "$work/out.zip" --incremental --state "$work/state.json"
curl -fsS -X POST "$origin/admin/churn" -H 'content-type: application/json' \
  -d "{\"count\": $CHANGES, \"seed\": 7}" >/dev/null
run "$work/inc.json" --out "$work/out.zip" --incremental --state "$work/state.json"
run "$work/check.json" --out "$work/check.zip"

echo "## $USERS users, every scope; $CHANGES changes between the runs"
printf '%-22s %-12s %9s %9s %10s\n' run mode requests seconds records
read -r mode req sec rec < <(figures "$work/full.json")
printf '%-22s %-12s %9d %9.2f %10d\n' "first (full)" "$mode" "$req" "$sec" "$rec"
full_req=$req full_sec=$sec
read -r mode req sec rec < <(figures "$work/inc.json")
printf '%-22s %-12s %9d %9.2f %10d\n' "after the changes" "$mode" "$req" "$sec" "$rec"
awk -v a="$req" -v b="$full_req" -v s="$sec" -v t="$full_sec" \
  'BEGIN { printf "incremental / full: %.2f%% of the requests, %.2f%% of the time\n", 100*a/b, 100*s/t }'
if cmp -s "$work/out.zip" "$work/check.zip"; then
  echo "the incremental bundle is byte-identical to a fresh full pull"
else
  echo "DIFFERS from a fresh full pull" >&2
  exit 1
fi
