#!/usr/bin/env python3
"""Propagation across a fleet: 3 `spectra serve` nodes on one throwaway PostgreSQL cluster
(scripts/pg-cluster), then CHANGES API changes spread over the nodes (half creates, half
deletes, each through the next node in turn). For each change, the time from the API's answer
until it is live on every node: the app's port accepts on all 3 nodes' addresses (create), or
refuses on all 3 (delete). Prints p50/p99/max. Loopback only.

    bench/fleet.py [CHANGES=1000]     (builds nothing: run `cargo build --release` first)
"""
import json, os, socket, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SPECTRA_BIN", os.path.join(ROOT, "target/release/spectra"))
CHANGES = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
POOLS = ["127.95.1.0/24", "127.95.2.0/24", "127.95.3.0/24"]
EDGES = ["127.95.1.1", "127.95.2.1", "127.95.3.1"]


def cli(url, *args):
    out = subprocess.run([BIN, *args, "--store", url], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def api(base, token, method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def accepts(ip, port):
    s = socket.socket()
    s.settimeout(0.2)
    try:
        s.connect((ip, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_all(port, live, limit=5.0):
    start = time.monotonic()
    pending = set(EDGES)
    while pending and time.monotonic() - start < limit:
        pending = {ip for ip in pending if accepts(ip, port) != live}
        if pending:
            time.sleep(0.002)
    return time.monotonic() - start if not pending else float("inf")


def main():
    url, pgdir = subprocess.run([os.path.join(ROOT, "scripts/pg-cluster"), "start"], check=True,
                                capture_output=True, text=True).stdout.split()
    nodes = []
    try:
        zone = cli(url, "zone", "create", "fleet.example")
        token = cli(url, "token", "create", "--permission", "zone-settings-write")
        origin = socket.socket()
        origin.bind(("127.0.0.1", 0))
        origin.listen(1024)
        oport = origin.getsockname()[1]
        for i, pool in enumerate(POOLS):
            d = tempfile.mkdtemp(prefix="spectra-fleet-")
            p = subprocess.Popen([BIN, "serve", "--store", url, "--data-dir", d, "--node-name", f"n{i+1}",
                                  "--api-listen", "127.0.0.1:0", "--resolver", "127.0.0.1:9",
                                  "--edge-ipv4-pool", pool], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            base = p.stdout.readline().strip().removeprefix("Spectra API listening on ")
            nodes.append((p, base))
        times, ids = [], []
        creates = CHANGES // 2
        for i in range(creates):
            base = nodes[i % 3][1]
            port = 20000 + i
            r = api(base, token, "POST", f"/zones/{zone}/spectrum/apps", {
                "protocol": f"tcp/{port}", "dns": {"type": "CNAME", "name": "fleet.example"},
                "origin_direct": [f"tcp://127.0.0.1:{oport}"],
                "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}})
            ids.append((port, r["result"]["id"]))
            times.append(wait_all(port, True))
        for i, (port, app_id) in enumerate(ids):
            base = nodes[(i + 1) % 3][1]
            api(base, token, "DELETE", f"/zones/{zone}/spectrum/apps/{app_id}")
            times.append(wait_all(port, False))
        times.sort()
        ms = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000
        lost = sum(1 for t in times if t == float("inf"))
        print(f"{len(times)} changes over 3 nodes: live everywhere p50 {ms(0.5):.1f} ms, "
              f"p99 {ms(0.99):.1f} ms, max {times[-1]*1000:.1f} ms, not live within 5 s: {lost}")
    finally:
        for p, _ in nodes:
            p.terminate()
            p.wait()
        subprocess.run([os.path.join(ROOT, "scripts/pg-cluster"), "stop", pgdir])


if __name__ == "__main__":
    main()
