"""Helpers the Python benchmarks share: free loopback ports, a `spectra serve` with its zone
and token, the API, an ECDSA P-256 edge certificate, and stopping what a run started."""
import json, os, signal, socket, subprocess, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SPECTRA_BIN", os.path.join(ROOT, "target/release/spectra"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, tries=200):
    for _ in range(tries):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def api(base, token, method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def spectra(tmp, args, cpu=None):
    """A `spectra serve` on a new data dir in `tmp` with zone example.com and a zone-settings
    token: (process, API base URL, zone id, token)."""
    data = tempfile.mkdtemp(dir=tmp)
    cli = lambda *a: subprocess.run([BIN, *a, "--data-dir", data], check=True, capture_output=True, text=True).stdout.split()[-1]
    zone = cli("zone", "create", "example.com")
    token = cli("token", "create", "--permission", "zone-settings-write")
    pin = ["taskset", "-c", cpu] if cpu else []
    proc = subprocess.Popen([*pin, BIN, "serve", "--data-dir", data, "--api-listen", "127.0.0.1:0",
                             "--resolver", "127.0.0.1:9", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base = proc.stdout.readline().split()[-1]
    return proc, base, zone, token


def edge_certificate(tmp, name):
    """A self-signed ECDSA P-256 certificate for `name` and its key (openssl): their paths."""
    cert, key = os.path.join(tmp, "edge.crt"), os.path.join(tmp, "edge.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "30", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=DNS:{name}"], check=True, capture_output=True)
    return cert, key
