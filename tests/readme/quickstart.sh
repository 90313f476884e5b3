#!/usr/bin/env bash
# The README's first set-up command and its quick start, as written: the first command's server
# in the background, then the quick-start block pasted into a fresh shell (`env -i`). Only the
# data dir is moved (SPECTRA_DATA_DIR, which every command reads), so the repository's
# ./spectra-data is left alone. Needs ports 8080, 8000, 8001 and 8081 free on loopback.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=$(mktemp -d)
OUT=$(mktemp -d)
SERVE=$(awk '/^```sh$/{f=1;next} /^```$/{f=0} f' README.md | grep -m1 '^cargo run' | sed 's/ *#.*//')
[ -n "$SERVE" ] || { echo "no 'cargo run' command in the README" >&2; exit 1; }
awk '/<!-- quickstart -->/{f=1;next} /<!-- \/quickstart -->/{f=0} f' README.md | grep -v '^```' > "$OUT/quickstart.sh"
[ -s "$OUT/quickstart.sh" ] || { echo "no quick start block in the README" >&2; exit 1; }

cleanup() {
  [ -n "${SERVER:-}" ] && kill -- -"$SERVER" 2>/dev/null || true
  pkill -f "http.server 8081" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT
echo "== $SERVE   (SPECTRA_DATA_DIR=$DATA)"
SPECTRA_DATA_DIR=$DATA setsid bash -c "$SERVE" > "$OUT/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1200); do
  grep -q "Spectra API listening on http://127.0.0.1:8080/client/v4" "$OUT/serve.log" && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$OUT/serve.log"; echo "the server stopped" >&2; exit 1; }
  sleep 0.5
done
grep -q "listening on" "$OUT/serve.log" || { tail "$OUT/serve.log"; exit 1; }

echo "== the quick start, in a fresh shell"
env -i HOME="$HOME" PATH="$PATH" SPECTRA_DATA_DIR="$DATA" bash -e "$OUT/quickstart.sh" > "$OUT/out.txt" 2>&1 ||
  { cat "$OUT/out.txt"; echo "the quick start failed" >&2; exit 1; }
cat "$OUT/out.txt"
[ "$(grep -c '^hello from the origin$' "$OUT/out.txt")" = 2 ] || { echo "the origin was not reached twice" >&2; exit 1; }
grep -q 'web.example.com' "$OUT/out.txt" && grep -q '127.0.0.1:8000' "$OUT/out.txt" ||
  { echo "app list does not show the app listening" >&2; exit 1; }
grep -q '"api.example.com"' "$OUT/out.txt" || { echo "the API did not create the second app" >&2; exit 1; }
grep -Eq 'api\.example\.com +[0-9]+' "$OUT/out.txt" || { echo "analytics does not list the second app" >&2; exit 1; }
echo "quick start: ok"
