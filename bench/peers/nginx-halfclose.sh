#!/usr/bin/env bash
# nginx as the harness runs it (peers/nginx.sh), plus `proxy_half_close on`: nginx's stream
# module by default closes both connections at the first FIN, dropping whatever the origin
# still sends after a client's half-close; Spectra and HAProxy pass the half-close on, which
# costs a shutdown, a wake-up and a read per connection. This peer pays the same.
#   usage: nginx-halfclose.sh WORKERS   (foreground; LISTEN_PORT/ORIGIN_PORT/UDP_* from env)
set -e
PEERS=$(cd "$(dirname "$0")/../.harness/peers" && pwd)
D=$(mktemp -d /tmp/bench-nginx-halfclose.XXXX)
# The harness's script renders the template beside it: a copy of both, the template amended.
cp "$PEERS/nginx.sh" "$D/"
sed 's/proxy_timeout 10m;/proxy_timeout 10m;\n        proxy_half_close on;/' "$PEERS/nginx.conf.tmpl" > "$D/nginx.conf.tmpl"
grep -q "proxy_half_close on" "$D/nginx.conf.tmpl" || { echo "nginx-halfclose: template changed" >&2; exit 1; }
exec "$D/nginx.sh" "${1:-1}"
