#!/usr/bin/env python3
"""Memory per idle UDP flow: RSS growth of `spectra serve` while N client sockets each hold one
flow open (one datagram each, no replies), divided by N. Loopback only.
usage: bench/udp-idle-flows.py [N=5000]"""
import json, os, re, socket, subprocess, sys, tempfile, time, urllib.request

N = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SPECTRA_BIN", os.path.join(ROOT, "target/release/spectra"))
data = tempfile.mkdtemp(prefix="spectra-udp-mem-")

def cli(*args):
    out = subprocess.run([BIN, *args, "--data-dir", data], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]

zone = cli("zone", "create", "bench.example")
token = cli("token", "create", "--permission", "zone-settings-write")
origin = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # never reads: flows stay one-way
origin.bind(("127.0.0.1", 0))
server = subprocess.Popen([BIN, "serve", "--data-dir", data, "--api-listen", "127.0.0.1:0",
                           "--resolver", "127.0.0.1:9", "--udp-max-flows", str(N + 10)],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
api = server.stdout.readline().strip().removeprefix("Spectra API listening on ")
body = {"protocol": "udp/12053", "dns": {"type": "ADDRESS", "name": "bench.example"},
        "edge_ips": {"type": "static", "ips": ["127.0.0.1"]},
        "origin_direct": [f"udp://127.0.0.1:{origin.getsockname()[1]}"]}
request = urllib.request.Request(f"{api}/zones/{zone}/spectrum/apps", data=json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}"})
urllib.request.urlopen(request).read()
time.sleep(0.5)

def rss_kib():
    with open(f"/proc/{server.pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

def one_flow():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", ("127.0.0.1", 12053))
    return s

warm = [one_flow() for _ in range(200)]  # let allocator arenas and the runtime settle
time.sleep(1)
before = rss_kib()
clients = [one_flow() for _ in range(N)]
time.sleep(2)
after = rss_kib()
print(json.dumps({"flows": N, "rss_before_kib": before, "rss_after_kib": after,
                  "rss_kib_per_flow": round((after - before) / N, 3)}))
server.terminate()
server.wait()
