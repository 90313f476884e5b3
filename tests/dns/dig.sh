#!/usr/bin/env bash
# End to end with dig (Debian's dnsutils), as a resolver sees Spectra's DNS: `spectra serve
# --dns-listen`, apps made through the API, then A/AAAA by connectivity, static addresses,
# NXDOMAIN with the SOA, REFUSED outside the zones, ANY (RFC 8482), truncation over UDP and the
# retry over TCP, and an update and a delete showing within a second. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${SPECTRA_BIN:-$PWD/target/debug/spectra}"
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

fail() { echo "not ok - $*"; echo "--- spectra's log:"; tail -20 "$tmp/err"; exit 1; }
ok() { echo "ok - $*"; }

zone=$("$BIN" zone create example.com --data-dir "$tmp" | tail -1)
token=$("$BIN" token create --permission zone-settings-write --data-dir "$tmp" | tail -1)
"$BIN" serve --data-dir "$tmp" --api-listen 127.0.0.1:0 --resolver 127.0.0.1:9 \
  --edge-ipv4-pool 127.63.0.0/24 --edge-static-allow 127.63.0.0/16 \
  --dns-listen 127.0.0.1:0 --dns-ttl 42 >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do grep -q "DNS listening" "$tmp/out" && break; sleep 0.1; done
base=$(sed -n 's/^Spectra API listening on //p' "$tmp/out")
dns=$(sed -n 's/^Spectra DNS listening on //p' "$tmp/out")
[ -n "$dns" ] || fail "serve did not start"
port=${dns##*:}
q() { dig @127.0.0.1 -p "$port" +tries=1 +time=2 "$@"; }
api() { curl -sf -X "$1" -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
  "$base/zones/$zone/spectrum/apps$2" ${3:+-d "$3"}; }
app_id() { python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["id"])'; }
# Polls until `q +short NAME TYPE` prints WANT (sorted, one line), for up to 1 s.
within_a_second() {
  local name=$1 type=$2 want=$3 got
  for _ in $(seq 50); do
    got=$(q +short "$name" "$type" | sort | paste -sd' ')
    [ "$got" = "$want" ] && return 0
    sleep 0.02
  done
  fail "$name $type: \"$got\", not \"$want\", after 1 s"
}

id=$(api POST "" '{"protocol":"tcp/2301","dns":{"type":"CNAME","name":"ssh.example.com"},
  "origin_direct":["tcp://127.0.0.1:9"],"edge_ips":{"type":"dynamic","connectivity":"all"}}' | app_id)
within_a_second ssh.example.com A 127.63.0.1 && ok "A of a dynamic app (connectivity all)"
within_a_second ssh.example.com AAAA ::1 && ok "AAAA of the same app"
ips=$(python3 -c 'import json; print(json.dumps(["127.63.1.%d" % i for i in range(1, 101)]))')
api POST "" '{"protocol":"tcp/2302","dns":{"type":"ADDRESS","name":"big.example.com"},
  "origin_direct":["tcp://127.0.0.1:9"],"edge_ips":{"type":"static","ips":'"$ips"'}}' >/dev/null
api POST "" '{"protocol":"tcp/2303","dns":{"type":"ADDRESS","name":"one.example.com"},
  "origin_direct":["tcp://127.0.0.1:9"],"edge_ips":{"type":"static","ips":["127.63.2.7"]}}' >/dev/null
within_a_second one.example.com A 127.63.2.7 && ok "A of a static app"

answer=$(q ssh.example.com A +norecurse)
grep -q "flags: qr aa;" <<<"$answer" || fail "authoritative, no recursion: $answer"
grep -qE "ssh.example.com.\s+42\s+IN\s+A\s+127.63.0.1" <<<"$answer" || fail "TTL 42: $answer"
ok "authoritative answer, no recursion available, --dns-ttl"

answer=$(q nope.example.com A)
grep -q "status: NXDOMAIN" <<<"$answer" || fail "NXDOMAIN: $answer"
grep -qE "^example.com.\s+42\s+IN\s+SOA" <<<"$answer" || fail "SOA with NXDOMAIN: $answer"
ok "NXDOMAIN with the zone's SOA"

grep -q "status: REFUSED" <<<"$(q example.org A)" || fail "a name outside every zone is refused"
ok "REFUSED outside the zones"

grep -q 'HINFO\s*"RFC8482"' <<<"$(q ssh.example.com ANY)" || fail "ANY: $(q ssh.example.com ANY)"
ok "ANY answered minimally (RFC 8482)"

answer=$(q big.example.com A +ignore +noedns)
grep -qE "flags: qr aa tc[ ;]" <<<"$answer" || fail "100 A records over UDP without EDNS: $answer"
answer=$(q big.example.com A +ignore)
grep -qE "flags: qr aa tc[ ;]" <<<"$answer" || fail "100 A records over UDP with EDNS (1232 bytes): $answer"
ok "truncated over UDP"
answer=$(q big.example.com A)
grep -q "ANSWER: 100," <<<"$answer" || fail "dig's retry over TCP: $answer"
grep -q "(TCP)" <<<"$answer" || fail "answered over TCP: $answer"
ok "dig retries over TCP and gets all 100"

api PUT "/$id" '{"protocol":"tcp/2301","dns":{"type":"CNAME","name":"shell.example.com"},
  "origin_direct":["tcp://127.0.0.1:9"],"edge_ips":{"type":"dynamic","connectivity":"ipv4"}}' >/dev/null
within_a_second shell.example.com A 127.63.0.1
grep -q "status: NXDOMAIN" <<<"$(q ssh.example.com A)" || fail "the old name is gone"
ok "an update shows within a second"
api DELETE "/$id" >/dev/null
for _ in $(seq 50); do grep -q "status: NXDOMAIN" <<<"$(q shell.example.com A)" && break; sleep 0.02; done
grep -q "status: NXDOMAIN" <<<"$(q shell.example.com A)" || fail "a delete shows within a second"
ok "a delete shows within a second"
