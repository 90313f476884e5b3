#!/usr/bin/env python3
"""Memory per idle TLS connection: Spectra (a `tls: flexible` app) against HAProxy (`mode tcp`
with `ssl crt`, one thread) on the same ECDSA P-256 certificate, in the same run. For each
proxy: N TLS 1.3 connections are opened through it to an echo origin, each checked with one
round trip (so its origin connection exists), held for 3 s; the proxy's user-space memory
growth (VmRSS) over N is the figure. Loopback only; run as root for the file limits.

    bench/tls-idle.py [N=2000] [ROUNDS=3]    (run `cargo build --release` first; needs haproxy)
"""
import os, shutil, socket, ssl, statistics, subprocess, sys, tempfile, threading, time

from benchlib import api, edge_certificate, free_port, spectra, stop, wait_port

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def echo_origin():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4096)

    def serve(conn):
        try:
            while data := conn.recv(4096):
                conn.sendall(data)
        except OSError:
            pass

    def accept():
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return srv.getsockname()[1]


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measure(pid, port, name):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    time.sleep(0.5)
    before = rss_kib(pid)
    held = []
    for _ in range(N):
        raw = socket.create_connection(("127.0.0.1", port))
        s = ctx.wrap_socket(raw, server_hostname=name)
        s.sendall(b"x")
        assert s.recv(1) == b"x"
        held.append(s)
    time.sleep(3)
    after = rss_kib(pid)
    for s in held:
        s.close()
    return (after - before) / N


def start_haproxy(tmp, cert, key, origin):
    port = free_port()
    pem = os.path.join(tmp, "haproxy.pem")
    open(pem, "w").write(open(cert).read() + open(key).read())
    cfg = os.path.join(tmp, "haproxy.cfg")
    open(cfg, "w").write(f"""global
  nbthread 1
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend f
  bind 127.0.0.1:{port} ssl crt {pem}
  default_backend b
backend b
  server o 127.0.0.1:{origin}
""")
    proc = subprocess.Popen([HAPROXY, "-db", "-f", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def start_spectra(tmp, cert, key, origin):
    """A fresh node, one worker, with a tls: flexible app on the same certificate (--tls-cert-dir)."""
    certs = os.path.join(tmp, "certs")
    os.makedirs(certs, exist_ok=True)
    shutil.copy(cert, os.path.join(certs, "tls.example.com.crt"))
    shutil.copy(key, os.path.join(certs, "tls.example.com.key"))
    proc, base, zone, token = spectra(tmp, ["--workers", "1", "--tls-cert-dir", certs,
                                            "--max-connections-per-client", "1000000"])
    port = free_port()
    api(base, token, "POST", f"/zones/{zone}/spectrum/apps", {
        "protocol": f"tcp/{port}", "dns": {"type": "ADDRESS", "name": "tls.example.com"}, "tls": "flexible",
        "origin_direct": [f"tcp://127.0.0.1:{origin}"], "edge_ips": {"type": "static", "ips": ["127.0.0.1"]}})
    wait_port(port)
    return proc, port


def main():
    tmp = tempfile.mkdtemp(prefix="spectra-tls-idle-")
    try:
        origin = echo_origin()
        cert, key = edge_certificate(tmp, "tls.example.com")
        results = {"spectra": [], "haproxy": []}
        # A fresh process per run: memory freed by an earlier run would be reused, not measured.
        for _ in range(ROUNDS):
            for name, start in (("spectra", start_spectra), ("haproxy", start_haproxy)):
                proc, port = start(tmp, cert, key, origin)
                try:
                    results[name].append(measure(proc.pid, port, "tls.example.com"))
                finally:
                    stop(proc)
            print(f"  spectra {results['spectra'][-1]:.2f} KiB/conn   haproxy {results['haproxy'][-1]:.2f} KiB/conn", flush=True)
        s, h = statistics.median(results["spectra"]), statistics.median(results["haproxy"])
        print(f"idle TLS connection, user-space KiB (median of {ROUNDS}, {N} connections): spectra {s:.2f}, haproxy {h:.2f}, ratio {s / h:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
