#!/usr/bin/env bash
# nginx as the harness renders it (peers/nginx.sh), plus `proxy_half_close on`: nginx's stream
# module by default closes both connections at the first FIN, dropping whatever the origin
# still sends after a client's half-close; Spectra and HAProxy pass the half-close on, which
# costs a shutdown, a wake-up and a read per connection. This peer pays the same.
#   usage: nginx-halfclose.sh WORKERS   (foreground; LISTEN_PORT/ORIGIN_PORT/UDP_* from env)
set -e
W=${1:-1}
TEMPLATE=$(cd "$(dirname "$0")/../.harness/peers" && pwd)/nginx.conf.tmpl
D=$(mktemp -d /tmp/bench-nginx.XXXX)
sed -e "s/@WORKERS@/$W/" -e "s#@DIR@#$D#g" -e "s/@LISTEN_PORT@/$LISTEN_PORT/" \
    -e "s/@ORIGIN_PORT@/$ORIGIN_PORT/" -e "s/@UDP_LISTEN_PORT@/${UDP_LISTEN_PORT:-$LISTEN_PORT}/" \
    -e "s/@UDP_ORIGIN_PORT@/${UDP_ORIGIN_PORT:-$ORIGIN_PORT}/" \
    -e "s/proxy_timeout 10m;/proxy_timeout 10m;\n        proxy_half_close on;/" \
    "$TEMPLATE" > "$D/nginx.conf"
grep -q "proxy_half_close on" "$D/nginx.conf" || { echo "nginx-halfclose: template changed" >&2; exit 1; }
exec nginx -e stderr -p "$D" -c "$D/nginx.conf"
