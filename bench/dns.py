#!/usr/bin/env python3
"""Authoritative DNS: queries per second of Spectra's embedded server (`--dns-listen`) against
BIND 9's `named` serving the same zone with the same records, one core each, in the same run,
driven by `dnsperf` (Debian's packages bind9 and dnsperf). Loopback only.

Spectra gets HOSTS app hostnames (example.com, each with its own edge address); their records
are read back from `GET /zones/{id}/dns_records` and written into BIND's zone file, with the
same SOA and NS. The query mix: every hostname's A (70 %), AAAA (10 %, empty answers), unknown
names (20 %, NXDOMAIN with the SOA).

  1. throughput: dnsperf (its own core) as fast as each server answers, ROUNDS alternating runs
     of SECONDS each: the median queries per second;
  2. latency: dnsperf at 80 % of the slower server's median rate, per-query latencies (-v),
     ROUNDS alternating runs: the median p50 and p99 of each server under the same load.

    bench/dns.py [ROUNDS=5] [SECONDS=10] [HOSTS=100]   (run `cargo build --release` first)
"""
import os, re, shutil, signal, statistics, subprocess, sys, tempfile, time

from benchlib import api, free_port, spectra

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
SECONDS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
HOSTS = int(sys.argv[3]) if len(sys.argv) > 3 else 100
SERVER_CPU, CLIENT_CPU = "0", "1"
NAMED = shutil.which("named") or "/usr/sbin/named"


def start_spectra(tmp):
    port = free_port()
    proc, base, zone, token = spectra(tmp, ["--workers", "1", "--edge-ipv4-pool", "127.97.0.0/16",
                                            "--dns-listen", f"127.0.0.1:{port}",
                                            "--dns-nameservers", "ns1.example.net,ns2.example.net"],
                                      cpu=SERVER_CPU)
    for i in range(HOSTS):
        api(base, token, "POST", f"/zones/{zone}/spectrum/apps", {
            "protocol": "tcp/22", "dns": {"type": "CNAME", "name": f"h{i}.example.com"},
            "origin_direct": ["tcp://127.0.0.1:9"], "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}})
    for _ in range(100):
        records = api(base, token, "GET", f"/zones/{zone}/dns_records?per_page=5000")["result"]
        if len(records) == HOSTS:
            break
        time.sleep(0.1)
    assert len(records) == HOSTS, f"{len(records)} records published of {HOSTS}"
    return proc, port, records


def start_bind(tmp, records):
    d = os.path.join(tmp, "bind")
    os.makedirs(d)
    port = free_port()
    soa = "@ 30 IN SOA ns1.example.net. hostmaster.example.com. 1 3600 600 604800 30"
    lines = ["$ORIGIN example.com.", soa, "@ 30 IN NS ns1.example.net.", "@ 30 IN NS ns2.example.net."]
    lines += [f"{r['name']}. {r['ttl']} IN {r['type']} {r['content']}" for r in records]
    open(os.path.join(d, "example.com.zone"), "w").write("\n".join(lines) + "\n")
    open(os.path.join(d, "named.conf"), "w").write(f"""
options {{ directory "{d}"; pid-file "{d}/named.pid"; listen-on port {port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }}; recursion no; dnssec-validation no; minimal-responses yes; }};
controls {{ }};
zone "example.com" {{ type primary; file "{d}/example.com.zone"; }};
""")
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, NAMED, "-g", "-n", "1", "-c", os.path.join(d, "named.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if subprocess.run(["dig", "+short", "+tries=1", "+time=1", "-p", str(port), "@127.0.0.1", "h0.example.com"],
                          capture_output=True, text=True).stdout.strip():
            return proc, port
        time.sleep(0.1)
    raise SystemExit("named did not start")


def query_file(tmp):
    path = os.path.join(tmp, "queries")
    with open(path, "w") as f:
        for i in range(HOSTS * 10):
            r = i % 10
            name = f"h{i % HOSTS}.example.com"
            if r < 7:
                f.write(f"{name} A\n")
            elif r == 7:
                f.write(f"{name} AAAA\n")
            else:
                f.write(f"nx{i}.example.com A\n")
    return path


def dnsperf(port, queries, seconds, rate=None, verbose=False):
    args = ["taskset", "-c", CLIENT_CPU, "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", queries,
            "-l", str(seconds), "-c", "8", "-T", "1", "-q", "500"]
    if rate:
        args += ["-Q", str(int(rate))]
    if verbose:
        args += ["-v"]
    out = subprocess.run(args, capture_output=True, text=True).stdout
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    lost = re.search(r"Queries lost:\s+(\d+)", out).group(1)
    latencies = sorted(float(m) for m in re.findall(r"^> \S+ .* ([\d.]+)$", out, re.M)) if verbose else []
    return qps, int(lost), latencies


def pct(xs, p):
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000 if xs else float("nan")


def main():
    tmp = tempfile.mkdtemp(prefix="spectra-dns-bench-")
    spectra = bind = None
    try:
        spectra, sport, records = start_spectra(tmp)
        bind, bport = start_bind(tmp, records)
        queries = query_file(tmp)
        rates = {"spectra": [], "bind": []}
        for _ in range(ROUNDS):
            for name, port in (("spectra", sport), ("bind", bport)):
                qps, lost, _ = dnsperf(port, queries, SECONDS)
                rates[name].append(qps)
                print(f"  {name:8} {qps:10.0f} q/s  lost {lost}", flush=True)
        med = {k: statistics.median(v) for k, v in rates.items()}
        load = 0.8 * min(med.values())
        print(f"\nthroughput, median of {ROUNDS} runs of {SECONDS} s, one core each:")
        for k in med:
            print(f"  {k:8} {med[k]:10.0f} q/s")
        print(f"  spectra/bind: {med['spectra'] / med['bind']:.2f}")
        print(f"\nlatency at {load:.0f} q/s (80 % of the slower median), {ROUNDS} alternating runs of {SECONDS} s:")
        lat = {"spectra": [], "bind": []}
        for _ in range(ROUNDS):
            for name, port in (("spectra", sport), ("bind", bport)):
                qps, lost, xs = dnsperf(port, queries, SECONDS, rate=load, verbose=True)
                lat[name].append((pct(xs, 0.5), pct(xs, 0.99)))
                print(f"  {name:8} p50 {pct(xs, 0.5):.3f} ms  p99 {pct(xs, 0.99):.3f} ms  ({len(xs)} answers, lost {lost})", flush=True)
        print("medians:")
        for name, runs in lat.items():
            print(f"  {name:8} p50 {statistics.median(r[0] for r in runs):.3f} ms  p99 {statistics.median(r[1] for r in runs):.3f} ms")
    finally:
        for p in (spectra, bind):
            if p:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
