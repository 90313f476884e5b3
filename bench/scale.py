#!/usr/bin/env python3
"""Scale: APPS apps in ZONES zones on SQLite and on PostgreSQL (a throwaway cluster). For each
store: writing them (through the store alone), a node's start until every app listens, API
list and create latency p50/p99, the store's size; for PostgreSQL also 2 more nodes (their own
pools) taking the apps up, and a new app's propagation to all 3. Loopback only.

    cargo build --release -p spectra --bin spectra --example populate
    bench/scale.py [APPS=10000] [ZONES=200]
"""
import json, os, socket, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/spectra")
POPULATE = os.path.join(ROOT, "target/release/examples/populate")
APPS = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
ZONES = int(sys.argv[2]) if len(sys.argv) > 2 else 200
PER_ZONE = APPS // ZONES


def q(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))] * 1000


def api(base, token, method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def all_zones(base, token):
    """Every zone, page by page: (id, name)."""
    out, page = [], 1
    while True:
        r = api(base, token, "GET", f"/zones?per_page=50&page={page}")
        out += [(z["id"], z["name"]) for z in r["result"]]
        if len(r["result"]) < 50:
            return out
        page += 1


def accepts(addr):
    s = socket.socket()
    s.settimeout(0.2)
    try:
        s.connect(addr)
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait(addr, limit=600):
    start = time.monotonic()
    while not accepts(addr):
        if time.monotonic() - start > limit:
            return float("inf")
        time.sleep(0.01)
    return time.monotonic() - start


def bound_on(base, token, zone_id, app_id, limit=60):
    """Seconds until the node at `base` reports the app's listeners bound."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        st = api(base, token, "GET", f"/zones/{zone_id}/spectrum/apps/{app_id}/status")["result"]
        if st["listeners"] and all(l["state"] == "bound" for l in st["listeners"]):
            return time.monotonic() - start
        time.sleep(0.002)
    return float("inf")


def node(store_args, pool, name):
    d = tempfile.mkdtemp(prefix="spectra-scale-")
    t0 = time.monotonic()
    p = subprocess.Popen([BIN, "serve", *store_args(d), "--node-name", name, "--api-listen", "127.0.0.1:0",
                          "--resolver", "127.0.0.1:9", "--edge-ipv4-pool", pool],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base = p.stdout.readline().strip().removeprefix("Spectra API listening on ")
    return p, base, t0


def last_address():
    """Where the last zone's last app listens on the first node (as `populate` placed it)."""
    z = ZONES - 1
    return (f"127.96.{z // 250}.{z % 250 + 1}", 10000 + PER_ZONE - 1)


def measure(label, store_args, target, size):
    t = time.monotonic()
    out = subprocess.run([POPULATE, target, str(ZONES), str(APPS)], check=True, capture_output=True, text=True)
    print(f"[{label}] {out.stdout.strip()}")
    token = subprocess.run([BIN, "token", "create", "--permission", "zone-settings-write", *store_args(None)],
                           check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    p, base, t0 = node(store_args, "127.96.0.0/16", "s1")
    wait(last_address())
    print(f"[{label}] node start until all {APPS} apps listen: {time.monotonic() - t0:.2f} s")
    zones = all_zones(base, token)
    lists = []
    for zid, _ in zones:
        t = time.monotonic()
        api(base, token, "GET", f"/zones/{zid}/spectrum/apps?per_page=50")
        lists.append(time.monotonic() - t)
    creates = []
    for i in range(50):
        zid, zname = zones[i % len(zones)]
        t = time.monotonic()
        api(base, token, "POST", f"/zones/{zid}/spectrum/apps", {
            "protocol": f"tcp/{30000 + i}", "dns": {"type": "CNAME", "name": f"new{i}.{zname}"},
            "origin_direct": ["tcp://127.0.0.1:9"], "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}})
        creates.append(time.monotonic() - t)
    print(f"[{label}] API list ({PER_ZONE} apps) p50 {q(lists, .5):.1f} ms p99 {q(lists, .99):.1f} ms; "
          f"create p50 {q(creates, .5):.1f} ms p99 {q(creates, .99):.1f} ms; store size {size()}")
    return p, base, token


def main():
    d = tempfile.mkdtemp(prefix="spectra-scale-sqlite-")
    p, _, _ = measure("sqlite", lambda _d: ["--data-dir", d], d,
                      lambda: f"{os.path.getsize(os.path.join(d, 'spectra.db')) / 1e6:.1f} MB")
    p.terminate()
    p.wait()

    url, pgdir = subprocess.run([os.path.join(ROOT, "scripts/pg-cluster"), "start"], check=True,
                                capture_output=True, text=True).stdout.split()
    procs = []
    try:
        pg = lambda node_dir: ["--store", url] + (["--data-dir", node_dir] if node_dir else [])
        size = lambda: subprocess.run(["psql", url, "-Atc", "select pg_size_pretty(pg_database_size(current_database()))"],
                                      capture_output=True, text=True).stdout.strip() or "?"
        p, base, token = measure("postgres", pg, url, size)
        procs.append(p)
        t0 = time.monotonic()
        others = []
        for i, prefix in enumerate(["127.97", "127.98"]):
            p2, b2, _ = node(pg, f"{prefix}.0.0/16", f"s{i + 2}")
            procs.append(p2)
            others.append(b2)
        zones = {name: zid for zid, name in all_zones(base, token)}
        # The newest app of 20 zones, bound on both new nodes.
        for z in range(0, ZONES, max(1, ZONES // 20)):
            zid = zones[f"zone{z}.example"]
            newest = api(base, token, "GET", f"/zones/{zid}/spectrum/apps?order=created_on&direction=desc&per_page=1")
            for b in others:
                bound_on(b, token, zid, newest["result"][0]["id"])
        print(f"[postgres] 2 more nodes take the apps up on their own pools: {time.monotonic() - t0:.2f} s")
        times = []
        for i in range(100):
            z = i % ZONES
            zid = zones[f"zone{z}.example"]
            created = api(base, token, "POST", f"/zones/{zid}/spectrum/apps", {
                "protocol": f"tcp/{40000 + i}", "dns": {"type": "CNAME", "name": f"zone{z}.example"},
                "origin_direct": ["tcp://127.0.0.1:9"], "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}})
            t = time.monotonic()
            for b in [base, *others]:
                bound_on(b, token, zid, created["result"]["id"], limit=30)
            times.append(time.monotonic() - t)
        print(f"[postgres] a new app bound on all 3 nodes, after the API's answer: "
              f"p50 {q(times, .5):.1f} ms p99 {q(times, .99):.1f} ms")
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        subprocess.run([os.path.join(ROOT, "scripts/pg-cluster"), "stop", pgdir])


if __name__ == "__main__":
    main()
