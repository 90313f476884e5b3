#!/usr/bin/env bash
# UDP through Spectra with many flows at once: FLOWS client sockets of one sender
# (bench/tools/udpflows.c: round-robin, 8 datagrams per socket per sendmmsg) send SIZE-byte
# datagrams for 3 s, flat out (RATE=0) or paced at RATE in all; the origin (the harness's
# udpsink) counts what arrives. Runs the
# direct path first, then through Spectra (on CPU 1; load and origin on CPU 0), and prints
# delivered datagrams/s, the ratio, the loss and Spectra's CPU per datagram as one JSON line.
#   usage: bench/udp-flows.sh [FLOWS=64] [SIZE=64] [RATE=0]   (after bench/run built the harness)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T=$ROOT/bench/.harness/tools
FLOWS=${1:-64}; SIZE=${2:-64}; RATE=${3:-0}; SECS=3
export LISTEN_PORT=12100 ORIGIN_PORT=12101 UDP_LISTEN_PORT=12100 UDP_ORIGIN_PORT=12101
[ -x "$T/udpsink" ] || { echo "run bench/run first (it builds the harness tools)" >&2; exit 1; }
cc -O2 -I "$T" -o "$T/udpflows" "$ROOT/bench/tools/udpflows.c"
TMP=$(mktemp -d)

# Sends from FLOWS sockets to PORT; prints "sent received".
blast() {
  taskset -c 0 "$T/udpsink" -p "$ORIGIN_PORT" -t $((SECS + 10)) > "$TMP/sink.json" 2>&1 & local sink=$!
  sleep 0.2
  taskset -c 0 "$T/udpflows" -p "$1" -f "$FLOWS" -s "$SIZE" -t "$SECS" -r "$RATE" > "$TMP/blast.json"
  wait "$sink"
  echo "$(jq -r .sent < "$TMP/blast.json") $(jq -r .received < "$TMP/sink.json")"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

read -r direct_sent direct_recv <<< "$(blast "$ORIGIN_PORT")"
setsid taskset -c 1 "$ROOT/bench/spectra-peer.sh" > "$TMP/peer.log" 2>&1 & PEER=$!
for _ in $(seq 100); do ss -Hlun "sport = :$UDP_LISTEN_PORT" | grep -q . && break; sleep 0.1; done
SPID=$(pgrep -f "spectra serve --data-dir /tmp/bench-spectra" | tail -1)
before=$(cpu_ticks "$SPID")
read -r proxy_sent proxy_recv <<< "$(blast "$UDP_LISTEN_PORT")"
after=$(cpu_ticks "$SPID")
kill -- -"$PEER" 2>/dev/null || kill "$PEER"
HZ=$(getconf CLK_TCK)
awk -v f="$FLOWS" -v s="$SIZE" -v secs="$SECS" -v ds="$direct_sent" -v dr="$direct_recv" \
    -v ps="$proxy_sent" -v pr="$proxy_recv" -v ticks=$((after - before)) -v hz="$HZ" 'BEGIN {
  printf "{\"flows\":%d,\"size\":%d,\"offered_pps\":%.0f,\"direct_pps\":%.0f,\"proxy_pps\":%.0f,\"ratio\":%.3f,", f, s, ps/secs, dr/secs, pr/secs, (dr ? pr/dr : 0)
  printf "\"direct_loss_pct\":%.2f,\"proxy_loss_pct\":%.2f,\"proxy_cpu_ns_per_pkt\":%.0f}\n", (ds ? 100*(ds-dr)/ds : 0), (ps ? 100*(ps-pr)/ps : 0), (pr ? ticks/hz*1e9/pr : 0)
}'
rm -rf "$TMP"
