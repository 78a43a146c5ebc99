#!/usr/bin/env bash
# Whole-run benchmark of roster-export against its own sandbox, on this machine. Run by hand:
#   bench/run.sh            # all three scenarios (a few minutes)
#   bench/run.sh cpu        # one of: cpu latency rate
# Prints a table of figures. Not part of `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

SMALL_USERS=${SMALL_USERS:-10000}
LARGE_USERS=${LARGE_USERS:-200000}
# Pages per request in the latency scenario: hosts with slow responses often also cap pages low.
LATENCY_PAGE=${LATENCY_PAGE:-100}
which=${1:-all}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/roster-export
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

# Starts a sandbox with the given flags; sets SANDBOX_PID, BASE, TOKEN.
start_sandbox() {
  local log="$work/sandbox.$RANDOM"
  "$bin" sandbox --port 0 "$@" >"$log" 2>&1 &
  SANDBOX_PID=$!
  for _ in $(seq 1 100); do
    grep -q '^token URL' "$log" 2>/dev/null && break
    sleep 0.1
  done
  BASE=$(sed -n 's/^base URL: *//p' "$log")
  TOKEN=$(sed -n 's/^token URL: *//p' "$log")
  [ -n "$BASE" ] || { cat "$log" >&2; exit 1; }
}

stop_sandbox() { kill "$SANDBOX_PID" 2>/dev/null || true; wait "$SANDBOX_PID" 2>/dev/null || true; }

# CPU seconds (user+system) a process has used so far.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}

# Runs one export; prints "wall_s rss_kib records requests retries".
export_run() {
  local out=$1; shift
  rm -rf "$out"
  ROSTER_EXPORT_CLIENT_SECRET=demo-secret /usr/bin/time -v -o "$work/time" \
    "$bin" --base-url "$BASE" --token-url "$TOKEN" --client-id demo-client \
    --log-format json --out "$out" "$@" 2>"$work/log" || { tail -5 "$work/log" >&2; exit 1; }
  local wall rss summary
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time")
  summary=$(grep '"wrote ' "$work/log" | tail -1)
  local records requests retries
  records=$(echo "$summary" | sed -n 's/.*"records":\([0-9]*\).*/\1/p')
  requests=$(echo "$summary" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p')
  retries=$(echo "$summary" | sed -n 's/.*"retries":\([0-9]*\).*/\1/p')
  echo "$wall $rss $records $requests $retries"
}

cpu_bound() {
  echo "## CPU-bound: no latency, no rate limit (all scopes; --rate 100000 --concurrency 4 --page-size 5000)"
  printf '%-8s %-7s %10s %9s %12s %10s %22s\n' district format records wall_s records/s peak_MiB "sandbox records/cpu-s"
  for users in "$SMALL_USERS" "$LARGE_USERS"; do
    start_sandbox --users "$users"
    for format in csv ndjson; do
      local out="$work/out.$format"
      [ "$format" = csv ] && out="$work/out"
      local before after
      before=$(cpu_seconds "$SANDBOX_PID")
      read -r wall rss records _ _ < <(export_run "$out" --format "$format" --rate 100000 --concurrency 4 --page-size 5000 \
        --scope roster.readonly --scope roster-demographics.readonly --scope gradebook.readonly --scope resource.readonly)
      after=$(cpu_seconds "$SANDBOX_PID")
      awk -v u="$users" -v f="$format" -v r="$records" -v w="$wall" -v m="$rss" -v b="$before" -v a="$after" \
        'BEGIN { printf "%-8s %-7s %10d %9.2f %12.0f %10.1f %22.0f\n", u, f, r, w, r/w, m/1024, r/((a-b)>0?(a-b):1e-9) }'
    done
    stop_sandbox
  done
}

latency_bound() {
  echo
  echo "## Latency-bound: 50 ms per response, no rate limit ($SMALL_USERS users, --only users,enrollments --page-size $LATENCY_PAGE)"
  printf '%-12s %9s %9s %10s %8s\n' concurrency requests wall_s pages/s ratio
  start_sandbox --users "$SMALL_USERS" --latency-ms 50
  local base_rate=""
  for c in 1 4 16 32; do
    read -r wall _ _ requests _ < <(export_run "$work/out" --format csv --rate 100000 --burst 64 --concurrency "$c" \
      --page-size "$LATENCY_PAGE" --scope roster.readonly --only users,enrollments)
    local rate
    rate=$(awk -v r="$requests" -v w="$wall" 'BEGIN { printf "%.2f", r/w }')
    [ -n "$base_rate" ] || base_rate=$rate
    awk -v c="$c" -v r="$requests" -v w="$wall" -v p="$rate" -v b="$base_rate" \
      'BEGIN { printf "%-12s %9d %9.2f %10.2f %7.1fx\n", c, r, w, p, p/b }'
  done
  stop_sandbox
}

rate_bound() {
  echo
  echo "## Rate-bound: the sandbox allows 20 requests/s; --rate 20 (users at --page-size 100: ~600 requests)"
  printf '%10s %9s %11s %12s %8s\n' requests wall_s achieved/s "of allowed" "429s"
  start_sandbox --users 60000 --rate-limit 20
  read -r wall _ _ requests retries < <(export_run "$work/out" --format csv --rate 20 --burst 1 --concurrency 4 \
    --page-size 100 --scope roster.readonly --only users)
  awk -v r="$requests" -v w="$wall" -v t="$retries" \
    'BEGIN { printf "%10d %9.2f %11.2f %11.1f%% %8d\n", r, w, r/w, 100*(r/w)/20, t }'
  stop_sandbox
}

case $which in
  cpu) cpu_bound ;;
  latency) latency_bound ;;
  rate) rate_bound ;;
  all) cpu_bound; latency_bound; rate_bound ;;
  *) echo "usage: $0 [cpu|latency|rate|all]" >&2; exit 2 ;;
esac
