"""Another node of a fleet, taking writes while the SDK suite runs against its peer: starts
`spectra serve` on the PostgreSQL store given, then creates and deletes apps in a zone of its
own through that node until it is stopped (SIGTERM) or 10 minutes pass; prints what it did and
exits non-zero if any write failed.

    python tests/sdk/fleet_writer.py POSTGRES_URL
"""
import json, os, signal, subprocess, sys, tempfile, time, urllib.request

SPECTRA = os.environ["SPECTRA_BIN"]
URL = sys.argv[1]
stop = False


def on_term(*_):
    global stop
    stop = True


def cli(*args):
    out = subprocess.run([SPECTRA, *args, "--store", URL], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def main():
    signal.signal(signal.SIGTERM, on_term)
    node = subprocess.Popen(
        [SPECTRA, "serve", "--store", URL, "--data-dir", tempfile.mkdtemp(prefix="spectra-writer-"),
         "--api-listen", "127.0.0.1:0", "--resolver", "127.0.0.1:9", "--node-name", "writer-node",
         "--edge-ipv4-pool", "127.98.1.0/24"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base = node.stdout.readline().strip().removeprefix("Spectra API listening on ")
    zone = cli("zone", "create", "writer.example")
    token = cli("token", "create", "--permission", "zone-settings-write", "--zone", "writer.example")
    # Ready: the suite may start.
    print("ready", flush=True)

    def call(method, path, body=None):
        req = urllib.request.Request(base + path, method=method,
                                     data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    writes, failed, started = 0, 0, time.monotonic()
    i = 0
    while not stop and time.monotonic() - started < 600:
        try:
            app = call("POST", f"/zones/{zone}/spectrum/apps", {
                "protocol": f"tcp/{20000 + i % 1000}", "dns": {"type": "CNAME", "name": "w.writer.example"},
                "origin_direct": ["tcp://127.0.0.1:9"], "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}})
            call("DELETE", f"/zones/{zone}/spectrum/apps/{app['result']['id']}")
            writes += 2
        except Exception as error:  # noqa: BLE001 - counted and reported
            failed += 1
            print(f"write failed: {error}", file=sys.stderr, flush=True)
        i += 1
        time.sleep(0.02)
    node.terminate()
    node.wait()
    print(f"writer: {writes} writes through the other node, {failed} failed", flush=True)
    sys.exit(1 if failed or not writes else 0)


if __name__ == "__main__":
    main()
