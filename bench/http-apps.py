#!/usr/bin/env python3
"""HTTP and TLS apps against HAProxy and nginx, on loopback, in the same run, each proxy pinned
to CPU 1 (one worker/thread), the load generator (wrk) and the origin (nginx, static files)
on CPU 0:

  1. an `http` app: HTTP/1.1 keep-alive requests per second (wrk, 64 connections) with p50 and
     p99 latency; HAProxy `mode http` (http-reuse always), nginx `proxy_pass` to a keep-alive
     upstream;
  2. new TLS connections per second (TLS 1.3, ECDSA P-256, one request each: wrk with
     `Connection: close`) through a `tls: flexible` app; HAProxy `mode tcp` with `ssl crt`,
     nginx `stream` with `ssl`;
  3. bulk Gbit/s of one 256 MiB download over TLS through the same.

    bench/http-apps.py [ROUNDS=3] [SECONDS=10]    (run `cargo build --release` first; needs wrk,
                                             haproxy, nginx with libnginx-mod-stream, curl)
"""
import os, re, shutil, statistics, subprocess, sys, tempfile

from benchlib import api, edge_certificate, free_port, spectra, stop, wait_port

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
SECONDS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
PROXY_CPU, LOAD_CPU = "1", "0"


def start_origin(tmp):
    root = os.path.join(tmp, "www")
    os.makedirs(root, mode=0o755)
    open(os.path.join(root, "index.html"), "wb").write(b"x" * 1024)
    with open(os.path.join(root, "big"), "wb") as f:
        f.write(os.urandom(1 << 20) * 256)
    port = free_port()
    conf = os.path.join(tmp, "origin.conf")
    open(conf, "w").write(f"""worker_processes 1; daemon off; pid {tmp}/origin.pid; error_log /dev/null;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{port}; root {root}; }} }}
""")
    proc = subprocess.Popen(["taskset", "-c", LOAD_CPU, "nginx", "-c", conf, "-p", tmp],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def start_spectra(tmp, cert, key, origin):
    certs = os.path.join(tmp, "certs")
    os.makedirs(certs, exist_ok=True)
    shutil.copy(cert, os.path.join(certs, "bench.example.com.crt"))
    shutil.copy(key, os.path.join(certs, "bench.example.com.key"))
    proc, base, zone, token = spectra(tmp, ["--tls-cert-dir", certs, "--max-connections-per-client", "1000000"],
                                      cpu=PROXY_CPU)
    http_port, tls_port = free_port(), free_port()
    for port, extra in ((http_port, {"traffic_type": "http"}), (tls_port, {"tls": "flexible"})):
        api(base, token, "POST", f"/zones/{zone}/spectrum/apps", {
            "protocol": f"tcp/{port}", "dns": {"type": "ADDRESS", "name": "bench.example.com"},
            "origin_direct": [f"tcp://127.0.0.1:{origin}"], "edge_ips": {"type": "static", "ips": ["127.0.0.1"]}, **extra})
    wait_port(http_port)
    wait_port(tls_port)
    return proc, http_port, tls_port


def start_haproxy(tmp, cert, key, origin):
    http_port, tls_port = free_port(), free_port()
    pem = os.path.join(tmp, "haproxy.pem")
    open(pem, "w").write(open(cert).read() + open(key).read())
    cfg = os.path.join(tmp, "haproxy.cfg")
    open(cfg, "w").write(f"""global
  nbthread 1
  maxconn 8000
defaults
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend web
  mode http
  bind 127.0.0.1:{http_port}
  default_backend web
backend web
  mode http
  http-reuse always
  server o 127.0.0.1:{origin}
frontend tls
  mode tcp
  bind 127.0.0.1:{tls_port} ssl crt {pem}
  default_backend plain
backend plain
  mode tcp
  server o 127.0.0.1:{origin}
""")
    proc = subprocess.Popen(["taskset", "-c", PROXY_CPU, "haproxy", "-db", "-f", cfg],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(http_port)
    wait_port(tls_port)
    return proc, http_port, tls_port


def start_nginx(tmp, cert, key, origin):
    http_port, tls_port = free_port(), free_port()
    d = tempfile.mkdtemp(dir=tmp)
    conf = os.path.join(d, "nginx.conf")
    open(conf, "w").write(f"""load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1; daemon off; pid {d}/nginx.pid; error_log /dev/null;
events {{ worker_connections 8192; }}
http {{ access_log off; keepalive_requests 1000000;
  upstream origin {{ server 127.0.0.1:{origin}; keepalive 64; }}
  server {{ listen 127.0.0.1:{http_port};
    location / {{ proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; }} }} }}
stream {{ server {{ listen 127.0.0.1:{tls_port} ssl; ssl_certificate {cert}; ssl_certificate_key {key};
  proxy_pass 127.0.0.1:{origin}; }} }}
""")
    proc = subprocess.Popen(["taskset", "-c", PROXY_CPU, "nginx", "-c", conf, "-p", d],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(http_port)
    wait_port(tls_port)
    return proc, http_port, tls_port


def ms(text):
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def wrk(url, connections, extra=()):
    out = subprocess.run(["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{SECONDS}s", "--latency",
                          *extra, url], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p50, p99, int(errors.group(1)) if errors else 0


def bulk(port):
    out = subprocess.run(["taskset", "-c", LOAD_CPU, "curl", "-k", "-s", "-o", "/dev/null", "-w", "%{speed_download}",
                          f"https://127.0.0.1:{port}/big"], capture_output=True, text=True).stdout
    return float(out) * 8 / 1e9


def main():
    tmp = tempfile.mkdtemp(prefix="spectra-http-bench-")
    os.chmod(tmp, 0o755)  # nginx's workers (nobody) read the origin's files
    origin = None
    try:
        origin, origin_port = start_origin(tmp)
        cert, key = edge_certificate(tmp, "bench.example.com")
        peers = (("spectra", start_spectra), ("haproxy", start_haproxy), ("nginx", start_nginx))
        runs = {name: {"rps": [], "p50": [], "p99": [], "hs": [], "gbit": []} for name, _ in peers}
        for _ in range(ROUNDS):
            for name, start in peers:
                proc, http_port, tls_port = start(tmp, cert, key, origin_port)
                try:
                    rps, p50, p99, bad = wrk(f"http://127.0.0.1:{http_port}/", 64)
                    hs, _, _, bad_tls = wrk(f"https://127.0.0.1:{tls_port}/", 16, ("-H", "Connection: close"))
                    gbit = bulk(tls_port)
                finally:
                    stop(proc)
                r = runs[name]
                r["rps"].append(rps), r["p50"].append(p50), r["p99"].append(p99), r["hs"].append(hs), r["gbit"].append(gbit)
                print(f"  {name:8} http {rps:9.0f} req/s p50 {p50:.3f} ms p99 {p99:.3f} ms (non-2xx {bad})   "
                      f"tls {hs:7.0f} conn/s (non-2xx {bad_tls})   bulk {gbit:.2f} Gbit/s", flush=True)
        print(f"\nmedians of {ROUNDS} rounds, {SECONDS} s each, proxy on one core:")
        print(f"  {'':8} {'http req/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'TLS conn/s':>11} {'Gbit/s':>7}")
        for name, r in runs.items():
            m = {k: statistics.median(v) for k, v in r.items()}
            print(f"  {name:8} {m['rps']:11.0f} {m['p50']:8.3f} {m['p99']:8.3f} {m['hs']:11.0f} {m['gbit']:7.2f}")
    finally:
        if origin:
            stop(origin)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
