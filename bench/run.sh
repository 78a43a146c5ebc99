#!/usr/bin/env bash
# Whole-run benchmarks of roster-export against its own sandbox (the roster-sandbox binary), on
# this machine. Run by hand; not part of `cargo test`. Prints one table per scenario.
#   bench/run.sh            # every scenario (about ten minutes)
#   bench/run.sh pacing     # one of: pacing latency cpu
#   CPU_RUNS=5 bench/run.sh cpu   # each format five times (default three), and the medians
# Figures: wall time, requests, 429s, records, CPU seconds (user+sys) and peak RSS of the export
# (from /usr/bin/time -v).
set -euo pipefail
cd "$(dirname "$0")/.."

CPU_USERS=${CPU_USERS:-200000}
CPU_RUNS=${CPU_RUNS:-3}
which=${1:-all}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --quiet --bins
target=${CARGO_TARGET_DIR:-target}/release
bin=$target/roster-export
sandbox=$target/roster-sandbox
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

ALL_SCOPES=(--scope roster.readonly --scope roster-demographics.readonly --scope gradebook.readonly --scope resource.readonly)

# Starts a sandbox with the given flags; sets SANDBOX_PID, BASE, TOKEN.
start_sandbox() {
  local log="$work/sandbox.$RANDOM"
  "$sandbox" --port 0 "$@" >"$log" 2>&1 &
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

# Runs one export; sets WALL RSS_KIB CPU RECORDS REQUESTS LIMITED CODE and HOST (the pacer's line).
export_run() {
  local out=$1; shift
  rm -rf "$out"
  set +e
  ROSTER_EXPORT_CLIENT_SECRET=demo-secret /usr/bin/time -v -o "$work/time" \
    "$bin" --base-url "$BASE" --token-url "$TOKEN" --client-id demo-client \
    --log-format json --out "$out" "$@" 2>"$work/log"
  CODE=$?
  set -e
  WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time")
  RSS_KIB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time")
  CPU=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u+s}' "$work/time")
  local summary
  summary=$(grep '"wrote ' "$work/log" | tail -1 || true)
  RECORDS=$(echo "$summary" | sed -n 's/.*"records":\([0-9]*\).*/\1/p')
  REQUESTS=$(echo "$summary" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p')
  LIMITED=$(echo "$summary" | sed -n 's/.*"rate_limited":\([0-9]*\).*/\1/p')
  HOST=$(grep '"asked_to_slow_down"' "$work/log" | grep -v '/token' | tail -1 | sed -n 's/.*"message":"\([^"]*\)".*/\1/p')
  if [ "$CODE" != 0 ]; then tail -3 "$work/log" >&2; fi
}

pacing() {
  # The sandbox flags of each case are those of tests/it/pacing.rs, at 20 requests/s instead of 40
  # and with windows of 10 s instead of 1 s: a silent bucket bursts 5; an announced one bursts a
  # second's worth, so the policy its headers state (q requests per w whole seconds) is 20/s.
  echo "## Pacing: a host that allows 20 requests/s; users only, 60000 users, pages capped at 100 (~600 requests)"
  printf '%-56s %5s %9s %6s %7s %9s %10s  %s\n' scenario exit requests 429s wall_s "ok/s" "of 20/s" "what the pacer found"
  local case
  for case in "unannounced, burst 5|defaults|--rate-limit 20 --rate-burst 5|" \
              "unannounced, burst 5|--rate 1000 --concurrency 16|--rate-limit 20 --rate-burst 5|--rate 1000 --concurrency 16" \
              "announced (IETF RateLimit)|defaults|--rate-limit 20 --rate-headers ietf|" \
              "announced (RateLimit-*)|defaults|--rate-limit 20 --rate-headers legacy|" \
              "announced (X-RateLimit-*)|defaults|--rate-limit 20 --rate-headers x|" \
              "fixed window 200 per 10 s|defaults|--rate-limit 200 --rate-window 10|" \
              "fixed window 200 per 10 s (X-RateLimit-*)|defaults|--rate-limit 200 --rate-window 10 --rate-headers x|"; do
    IFS='|' read -r host flags limit extra <<<"$case"
    # shellcheck disable=SC2086
    start_sandbox --users 60000 --page-cap 100 $limit
    # shellcheck disable=SC2086
    export_run "$work/out" --page-size 100 --scope roster.readonly --only users $extra
    awk -v n="$host, $flags" -v c="$CODE" -v r="$REQUESTS" -v l="${LIMITED:-0}" -v w="$WALL" -v h="$HOST" \
      'BEGIN { ok=(r-l)/w; printf "%-56s %5d %9d %6d %7.2f %9.2f %9.1f%%  %s\n", n, c, r, l, w, ok, 100*ok/20, h }'
    stop_sandbox
  done
}

latency() {
  echo
  echo "## Latency: no limit, 50 ms a response, pages capped at 100; roster scope of a 9000-user district"
  printf '%-36s %5s %7s %8s %10s %10s\n' run exit pages wall_s "floor_s" "wall/floor"
  start_sandbox --users 9000 --page-cap 100 --latency-ms 50
  local tuned_wall="" flags
  for flags in "--rate 1000 --concurrency 16" ""; do
    # shellcheck disable=SC2086
    export_run "$work/out" --page-size 100 --scope roster.readonly $flags
    # Pages × 50 ms / 16 in flight: what 16 at a time cannot beat.
    awk -v n="${flags:-defaults (auto)}" -v c="$CODE" -v p="$REQUESTS" -v w="$WALL" \
      'BEGIN { f=p*0.05/16; printf "%-36s %5d %7d %8.2f %10.2f %9.2fx\n", n, c, p, w, f, w/f }'
    [ -n "$tuned_wall" ] || tuned_wall=$WALL
  done
  awk -v a="$WALL" -v t="$tuned_wall" 'BEGIN { printf "defaults / tuned: %.2fx\n", a/t }'
  stop_sandbox
}

cpu() {
  echo
  echo "## CPU per record: $CPU_USERS users, every scope, no latency or limit (--page-size 5000), $CPU_RUNS runs a format"
  printf '%-8s %4s %10s %8s %8s %12s %9s\n' format run records wall_s cpu_s "us/record" peak_MiB
  start_sandbox --users "$CPU_USERS"
  local format out run rows="$work/cpu.rows"
  : >"$rows"
  # The formats alternate, so a change in the machine's speed falls on both.
  for run in $(seq 1 "$CPU_RUNS"); do
    for format in csv ndjson; do
      out="$work/out.zip"; [ "$format" = ndjson ] && out="$work/out.ndjson"
      export_run "$out" --format "$format" --page-size 5000 "${ALL_SCOPES[@]}"
      awk -v f="$format" -v n="$run" -v r="$RECORDS" -v w="$WALL" -v c="$CPU" -v m="$RSS_KIB" \
        'BEGIN { printf "%-8s %4d %10d %8.2f %8.2f %12.2f %9.1f\n", f, n, r, w, c, 1e6*c/r, m/1024 }' | tee -a "$rows"
    done
  done
  # The median of each column over the runs (a neighbour's burst moves one run, not the middle).
  for format in csv ndjson; do
    awk -v f="$format" 'BEGIN { n = 0 } $1 == f { for (i = 3; i <= 7; i++) v[i, n] = $i; n++ }
      END {
        for (i = 3; i <= 7; i++) {
          for (a = 0; a < n; a++) col[a] = v[i, a]
          for (a = 1; a < n; a++) for (b = a; b > 0 && col[b-1] > col[b]; b--) { t = col[b]; col[b] = col[b-1]; col[b-1] = t }
          m[i] = n % 2 ? col[(n-1)/2] : (col[n/2-1] + col[n/2]) / 2
        }
        printf "%-8s %4s %10d %8.2f %8.2f %12.2f %9.1f\n", f, "med", m[3], m[4], m[5], m[6], m[7]
      }' "$rows"
  done
  stop_sandbox
}

case $which in
  pacing) pacing ;;
  latency) latency ;;
  cpu) cpu ;;
  all) pacing; latency; cpu ;;
  *) echo "usage: $0 [pacing|latency|cpu|all]" >&2; exit 2 ;;
esac
