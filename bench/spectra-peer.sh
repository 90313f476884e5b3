#!/usr/bin/env bash
# Spectra as a peer of the shared bench harness, in the foreground: two apps on the static edge
# IP 127.0.0.1, tcp/$LISTEN_PORT -> 127.0.0.1:$ORIGIN_PORT and udp/$UDP_LISTEN_PORT ->
# 127.0.0.1:$UDP_ORIGIN_PORT, created through the API like any user's apps. The harness kills
# the whole session when done.
set -euo pipefail
BIN=${SPECTRA_BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/spectra}
D=$(mktemp -d /tmp/bench-spectra.XXXX)
ZONE=$("$BIN" zone create bench.example --data-dir "$D" | tail -1)
TOKEN=$("$BIN" token create --permission zone-settings-write --data-dir "$D" | tail -1)
# Every bench client is 127.0.0.1: its share of the node is the whole node (binaries from before
# the per-client share have no such flag, for A/B runs). SPECTRA_ARGS adds flags (--no-analytics).
PER_CLIENT=()
"$BIN" serve --help | grep -q -- --max-connections-per-client && PER_CLIENT=(--max-connections-per-client 100000)
# The bench sends no names to resolve; --resolver keeps every query on loopback anyway.
# The limits hold the harness's 9,000 idle connections within 20,000 descriptors (a node
# lowers its limits to fit the descriptors it has; HAProxy's maxconn is 9500 too).
"$BIN" serve --data-dir "$D" ${SPECTRA_WORKERS:+--workers $SPECTRA_WORKERS} --api-listen 127.0.0.1:0 --resolver 127.0.0.1:9 \
  --max-connections 9500 --udp-max-flows 512 --api-max-connections 64 "${PER_CLIENT[@]}" ${SPECTRA_ARGS:-} > "$D/stdout" &
PID=$!
trap 'kill "$PID" 2>/dev/null' TERM INT EXIT
for _ in $(seq 100); do grep -q listening "$D/stdout" 2>/dev/null && break; sleep 0.05; done
API=$(sed -n 's/^Spectra API listening on //p' "$D/stdout")
app() { # TRANSPORT LISTEN_PORT ORIGIN_PORT
  curl -sf -H "Authorization: Bearer $TOKEN" "$API/zones/$ZONE/spectrum/apps" -d "{
    \"protocol\": \"$1/$2\", \"dns\": {\"type\": \"ADDRESS\", \"name\": \"bench.example\"},
    \"edge_ips\": {\"type\": \"static\", \"ips\": [\"127.0.0.1\"]},
    \"origin_direct\": [\"$1://127.0.0.1:$3\"]}" > /dev/null
}
app tcp "$LISTEN_PORT" "$ORIGIN_PORT"
app udp "${UDP_LISTEN_PORT:-$LISTEN_PORT}" "${UDP_ORIGIN_PORT:-$ORIGIN_PORT}"
wait "$PID"
