#!/usr/bin/env bash
# An incremental night vs a full pull, on this machine. Run by hand; not part of `cargo test`.
#   bench/incremental.sh                    # 200k users, 200 changes
#   USERS=20000 CHANGES=50 bench/incremental.sh
# A full pull (the first --incremental run) of the synthetic district, then two nights: CHANGES
# changes through the sandbox's admin endpoint (first with every removal marked tobedeleted, then
# with a tenth of them vanishing outright, which the count check catches), each followed by the
# incremental run and a fresh full pull to compare bytes with. Prints requests, seconds and records
# of each against the full pull.
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

# One night: CHANGES changes (outright removals or not: $1), the incremental run, a full pull to
# compare with. Prints the night's row and why any collection was pulled in full.
night() {
  local outright=$1 label=$2 from
  curl -fsS -X POST "$origin/admin/churn" -H 'content-type: application/json' \
    -d "{\"count\": $CHANGES, \"seed\": $RANDOM, \"outright\": $outright}" >/dev/null
  from=$(wc -l <"$work/export.log")
  run "$work/inc.json" --out "$work/out.zip" --incremental --state "$work/state.json"
  tail -n +"$((from + 1))" "$work/export.log" | grep -o '"message":"[^"]*in full[^"]*"' |
    sed 's/^"message":/  pulled in full: /' >"$work/why" || true
  run "$work/check.json" --out "$work/check.zip"
  read -r mode req sec rec < <(figures "$work/inc.json")
  awk -v n="$label" -v m="$mode" -v a="$req" -v s="$sec" -v r="$rec" -v b="$full_req" -v t="$full_sec" \
    'BEGIN { printf "%-34s %-12s %9d %9.2f %10d %8.1f%% %8.1f%%\n", n, m, a, s, r, 100*a/b, 100*s/t }'
  cat "$work/why"
  cmp -s "$work/out.zip" "$work/check.zip" || { echo "DIFFERS from a fresh full pull" >&2; exit 1; }
}

: >"$work/export.log"
run "$work/full.json" --out "$work/out.zip" --incremental --state "$work/state.json"
read -r mode full_req full_sec rec < <(figures "$work/full.json")
echo "## $USERS users, every scope; $CHANGES changes before each incremental run"
printf '%-34s %-12s %9s %9s %10s %9s %9s\n' run mode requests seconds records "req/full" "s/full"
printf '%-34s %-12s %9d %9.2f %10d\n' "first run (full)" "$mode" "$full_req" "$full_sec" "$rec"
night false "removals marked tobedeleted"
night true "a tenth of removals outright"
echo "each incremental bundle is byte-identical to a fresh full pull"
