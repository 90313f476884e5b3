#!/usr/bin/env bash
# What recording analytics costs the data plane: the shared harness's TCP throughput, new
# connections and UDP tests through Spectra with analytics on (the default) and off
# (--no-analytics), in interleaved A/B rounds of the same run, then the medians and the
# on/off ratios of conn/s, Gbit/s per proxy core and proxy CPU ns per datagram.
#   usage: bench/analytics-cost.sh [ROUNDS=3]       (after bench/run built the harness once)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-3}
WORK=$ROOT/bench/.harness
OUT=$ROOT/bench/results/analytics-cost-$(date -u +%Y%m%d-%H%M%S)
[ -x "$WORK/tools/udpsink" ] || { echo "run bench/run first (it builds the harness tools)" >&2; exit 1; }
(cd "$ROOT" && cargo build --release -q)
mkdir -p "$OUT"
OLD_RANGE=$(sysctl -n net.ipv4.ip_local_port_range | tr -s '\t ' ' ')
trap 'sysctl -q -w net.ipv4.ip_local_port_range="$OLD_RANGE"' EXIT
sysctl -q -w net.ipv4.ip_local_port_range="16384 65535" net.ipv4.tcp_tw_reuse=2 || true
cd "$WORK"
for r in $(seq 1 "$ROUNDS"); do
  # Alternate which mode goes first, so drift over the run favours neither.
  if [ $((r % 2)) = 1 ]; then modes="on off"; else modes="off on"; fi
  for mode in $modes; do
    args=""; [ "$mode" = off ] && args="--no-analytics"
    SPECTRA_ARGS=$args ./bench.sh -n "analytics-$mode" -c "$ROOT/bench/spectra-peer.sh" -P 1 -u \
      -t tput,conn,udp -o "$OUT" -r "r$r" > /dev/null || echo "!! analytics-$mode failed" >&2
    sleep 2
  done
done
python3 - "$OUT" <<'PY'
import json, statistics, sys, pathlib
out = pathlib.Path(sys.argv[1])
def values(mode, metric):
    vals = []
    for line in open(out / f"analytics-{mode}.jsonl"):
        m = json.loads(line)
        if m["metric"] == metric and m["path"] == "proxy" and m["value"] is not None:
            vals.append(float(m["value"]))
    return vals
rows = [
    ("conn/s, 64 concurrent", "conn_c64_cps", True),
    ("conn/s, 1 at a time", "conn_c1_cps", True),
    ("proxy CPU us per connection (64)", "conn_c64_proxy_cpu_us_per_conn", False),
    ("Gbit/s per proxy core, 1 stream", "tput_p1_gbps_per_proxy_core", True),
    ("UDP proxy CPU ns per datagram, 64 B", "udp_s64_max_proxy_cpu_ns_per_pkt", False),
    ("UDP proxy CPU ns per datagram, 1200 B", "udp_s1200_max_proxy_cpu_ns_per_pkt", False),
]
print(f"| figure (medians of the rounds) | analytics on | analytics off | cost |")
print("|---|---|---|---|")
for name, metric, higher_better in rows:
    on, off = values("on", metric), values("off", metric)
    if not on or not off:
        print(f"| {name} | - | - | - |")
        continue
    a, b = statistics.median(on), statistics.median(off)
    cost = (b / a - 1) if higher_better else (a / b - 1)
    print(f"| {name} | {a:,.2f} | {b:,.2f} | {cost * 100:+.1f} % |")
PY
