#!/usr/bin/env bash
# Many tenants at once vs one after another, on this machine. Run by hand; not part of `cargo test`.
#   bench/fleet.sh                 # 50 tenants
#   TENANTS=20 USERS=300 bench/fleet.sh
# Each tenant is its own sandbox (its own host: 50 ms a response, pages capped at 100, a synthetic
# district of USERS users) and its own profile. Prints wall time, CPU seconds (user+sys) and peak
# RSS for the tenants run one after another (one process each) and together (--all-profiles) at
# several --tenants values.
set -euo pipefail
cd "$(dirname "$0")/.."

TENANTS=${TENANTS:-50}
USERS=${USERS:-500}
AT_ONCE=${AT_ONCE:-"8 16 32 50"}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"' EXIT

cargo build --release --quiet --bins
target=${CARGO_TARGET_DIR:-target}/release
bin=$target/roster-export
sandbox=$target/roster-sandbox
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

config=$work/config.toml
: >"$config"
for i in $(seq -w 1 "$TENANTS"); do
  log=$work/sandbox.$i
  "$sandbox" --port 0 --users "$USERS" --latency-ms 50 --page-cap 100 >"$log" 2>&1 &
done
for i in $(seq -w 1 "$TENANTS"); do
  log=$work/sandbox.$i
  for _ in $(seq 1 200); do grep -q '^token URL' "$log" 2>/dev/null && break; sleep 0.1; done
  base=$(sed -n 's/^base URL: *//p' "$log")
  token=$(sed -n 's/^token URL: *//p' "$log")
  [ -n "$base" ] || { cat "$log" >&2; exit 1; }
  cat >>"$config" <<TOML
[profiles.t$i]
base_url = "$base"
token_url = "$token"
client_id = "demo-client"
client_secret = "demo-secret"
scopes = ["roster.readonly"]
out = "$work/out/t$i.zip"

TOML
done
chmod 600 "$config"
mkdir -p "$work/out"

# Prints one row from /usr/bin/time -v's report.
row() {
  local name=$1 file=$2 code=$3
  awk -F': ' -v n="$name" -v c="$code" '
    /Elapsed \(wall clock\)/ { k=split($2,a,":"); w=0; for(i=1;i<=k;i++) w=w*60+a[i] }
    /User time/ { u=$2 } /System time/ { s=$2 } /Maximum resident set size/ { m=$2 }
    END { printf "%-28s %5d %9.2f %8.2f %9.1f\n", n, c, w, u+s, m/1024 }' "$file"
}

echo "## $TENANTS tenants, each its own host (50 ms a response, pages capped at 100, $USERS users, roster scope)"
printf '%-28s %5s %9s %8s %9s\n' run exit wall_s cpu_s peak_MiB
set +e
/usr/bin/time -v -o "$work/time.seq" bash -c '
  for p in $(seq -w 1 '"$TENANTS"'); do
    "'"$bin"'" --config "'"$config"'" --profile "t$p" --log-format json 2>>"'"$work"'/seq.log" || exit 1
  done'
code=$?
set -e
row "one after another" "$work/time.seq" "$code"
seq_wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { k=split($2,a,":"); w=0; for(i=1;i<=k;i++) w=w*60+a[i]; print w }' "$work/time.seq")
for n in $AT_ONCE; do
  rm -rf "$work/out" && mkdir -p "$work/out"
  set +e
  /usr/bin/time -v -o "$work/time.$n" "$bin" --config "$config" --all-profiles --tenants "$n" \
    --log-format json --summary-json "$work/summary.$n.json" 2>"$work/fleet.$n.log"
  code=$?
  set -e
  row "together, --tenants $n" "$work/time.$n" "$code"
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { k=split($2,a,":"); w=0; for(i=1;i<=k;i++) w=w*60+a[i]; print w }' "$work/time.$n")
  awk -v s="$seq_wall" -v w="$wall" -v n="$n" 'BEGIN { printf "%-28s %.1fx faster\n", "", s/w }'
done
