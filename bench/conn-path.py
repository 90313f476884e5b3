#!/usr/bin/env python3
"""Where a short TCP connection's proxy CPU goes, Spectra against HAProxy and nginx (with and
without half-close), each pinned to CPU 1 with the load generator and origin on CPU 0:

  1. CPU per connection (user and kernel, from /proc) and connections/s at 64 concurrent,
     ROUNDS rounds interleaved across the peers, medians;
  2. system calls per connection (`strace -c -f` over 20,000 connections, 64 concurrent);
  3. kernel time per connection inside each system call (`perf record -g`, inclusive time of
     each `__x64_sys_*`), plus the time outside any.

  usage: bench/conn-path.py [ROUNDS=3]     (after `bench/run` has made bench/.harness)
         PROBES=1 bench/conn-path.py       also the runtime probes (bench/runtime-probe)

Installs strace and linux-perf from Debian's packages when missing. Every byte stays on
127.0.0.1. Prints Markdown tables; docs/performance.md quotes them."""
import json, os, re, shutil, signal, statistics, subprocess, sys, tempfile, time
from benchlib import wait_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H = os.path.join(ROOT, "bench/.harness")
PORTS = {"LISTEN_PORT": "24100", "ORIGIN_PORT": "24101", "UDP_LISTEN_PORT": "24102", "UDP_ORIGIN_PORT": "24103"}
PEERS = [
    ("spectra", [os.path.join(ROOT, "bench/spectra-peer.sh")]),
    ("haproxy-nbt1", [os.path.join(H, "peers/haproxy.sh"), "1"]),
    ("nginx-w1", [os.path.join(H, "peers/nginx.sh"), "1"]),
    ("nginx-w1-halfclose", [os.path.join(ROOT, "bench/peers/nginx-halfclose.sh"), "1"]),
]
# PROBES=1: also the same minimal relay on three runtimes (bench/runtime-probe): tokio with a task
# per connection, a lean mio loop (no task, no deregistration) and io_uring (monoio).
PROBE = os.path.join(ROOT, "bench/runtime-probe/target/release/runtime-probe")
if os.environ.get("PROBES"):
    PEERS += [(f"probe-{e}", [PROBE, e, "127.0.0.1:" + PORTS["LISTEN_PORT"], "127.0.0.1:" + PORTS["ORIGIN_PORT"]])
              for e in ("tokio", "mio", "uring")]
TICK = os.sysconf("SC_CLK_TCK")
SYSCALLS = {"syscall_64", "accept4", "close", "connect", "epoll_ctl", "epoll_wait", "fcntl", "getsockopt",
            "ioctl", "read", "recvfrom", "sendto", "setsockopt", "shutdown", "socket", "write", "writev",
            "readv", "futex", "clock_gettime", "splice"}


def tool(name):
    return os.path.join(H, "tools", name)


class Peer:
    """A peer on CPU 1 with an echo origin on CPU 0, until closed."""

    def __init__(self, cmd):
        env = {**os.environ, **PORTS}
        self.origin = subprocess.Popen(["taskset", "-c", "0", tool("echod"), "-p", PORTS["ORIGIN_PORT"], "-t", "600"])
        self.proc = subprocess.Popen(["taskset", "-c", "1", *cmd], env=env, start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(int(PORTS["LISTEN_PORT"]))
        time.sleep(0.5)
        connrate(2000)  # warm-up

    def pids(self):
        out = subprocess.run(["pgrep", "-s", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def cpu_ticks(self):
        user = system = 0
        for pid in self.pids():
            try:
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            user += int(fields[11])
            system += int(fields[12])
        return user, system

    def close(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait()
        self.origin.kill()
        self.origin.wait()
        time.sleep(1)


def connrate(n, secs=30):
    out = subprocess.run(["taskset", "-c", "0", tool("connrate"), "-p", PORTS["LISTEN_PORT"], "-c", "64",
                          "-n", str(n), "-t", str(secs)], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def cpu_round(peer):
    u0, s0 = peer.cpu_ticks()
    r = connrate(100000, 5)
    u1, s1 = peer.cpu_ticks()
    per = lambda ticks: ticks / TICK / r["conns"] * 1e6
    return {"cps": r["cps"], "cpu": per(u1 - u0 + s1 - s0), "user": per(u1 - u0), "kernel": per(s1 - s0)}


def syscalls(peer):
    out = tempfile.mktemp()
    args = [a for pid in peer.pids() for a in ("-p", str(pid))]
    st = subprocess.Popen(["strace", "-c", "-f", "-o", out, *args], stderr=subprocess.DEVNULL)
    time.sleep(1)
    r = connrate(20000)
    time.sleep(0.5)
    st.send_signal(signal.SIGINT)
    st.wait()
    calls = {}
    for line in open(out):
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", line)
        if m and m.group(2) != "total":
            calls[m.group(2)] = int(m.group(1)) / r["conns"]
    os.unlink(out)
    return calls


def kernel_profile(peer):
    out = tempfile.mktemp()
    args = ["-p", ",".join(str(p) for p in peer.pids())]
    rec = subprocess.Popen(["perf", "record", "-F", "2000", "-g", "-o", out, *args, "--", "sleep", "6"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    r = connrate(1000000, 5)
    rec.wait()
    report = subprocess.run(["perf", "report", "-i", out, "--stdio", "-n", "--children", "--sort", "sym", "-g", "none"],
                            capture_output=True, text=True).stdout
    samples = len(subprocess.run(["perf", "script", "-i", out, "-F", "period"], capture_output=True, text=True).stdout.splitlines())
    us_per_conn = samples * 500 / r["conns"]  # 2000 Hz: 500 µs per sample
    per = {}
    for line in report.splitlines():
        # A system call's entry point, or the function it is inlined into (`writev`: do_writev).
        m = re.match(r"\s*([\d.]+)%\s+[\d.]+%\s+\d+\s+\[k\]\s+(?:__x64_sys_|do_|ksys_)(\w+)$", line)
        if m and m.group(2) in SYSCALLS:
            us = float(m.group(1)) / 100 * us_per_conn
            per[m.group(2)] = max(per.get(m.group(2), 0), us)
    per["(all)"] = us_per_conn
    os.unlink(out)
    return per


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    if not os.path.exists(tool("connrate")):
        raise SystemExit("bench/.harness is missing: run bench/run first (it builds the harness's tools)")
    if not (shutil.which("strace") and shutil.which("perf")):
        subprocess.run(["apt-get", "install", "-y", "-qq", "strace", "linux-perf"], check=True)
    subprocess.run(["cargo", "build", "--release", "-p", "spectra"], cwd=ROOT, check=True)
    if os.environ.get("PROBES"):
        subprocess.run(["cargo", "build", "--release", "--manifest-path", "bench/runtime-probe/Cargo.toml"],
                       cwd=ROOT, check=True)
    cpu = {name: [] for name, _ in PEERS}
    for _ in range(rounds):
        for name, cmd in PEERS:
            peer = Peer(cmd)
            try:
                cpu[name].append(cpu_round(peer))
            finally:
                peer.close()
    calls, kernel = {}, {}
    for name, cmd in PEERS:
        peer = Peer(cmd)
        try:
            calls[name] = syscalls(peer)
        finally:
            peer.close()
        peer = Peer(cmd)
        try:
            kernel[name] = kernel_profile(peer)
        finally:
            peer.close()
    names = [n for n, _ in PEERS]
    med = lambda name, k: statistics.median(r[k] for r in cpu[name])
    print(f"CPU per connection, 64 concurrent ({rounds} rounds, medians):\n")
    print("| peer | conn/s | CPU µs/conn | user | kernel | system calls/conn |")
    print("|---|---|---|---|---|---|")
    for n in names:
        print(f"| {n} | {med(n, 'cps'):,.0f} | {med(n, 'cpu'):.1f} | {med(n, 'user'):.1f} | {med(n, 'kernel'):.1f} | "
              f"{sum(v for k, v in calls[n].items() if k != 'futex'):.1f} |")
    print("\nPer system call: calls per connection / kernel µs per connection (perf, inclusive):\n")
    print("| system call | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    keys = {k for n in names for k in calls[n] if calls[n][k] >= 0.05 and k != "futex"}
    keys |= {k for n in names for k in kernel[n] if kernel[n][k] >= 0.3}
    keys = sorted(keys - {"syscall_64", "(all)"}, key=lambda k: -max(kernel[n].get(k, 0) for n in names))
    for k in keys:
        print(f"| {k} | " + " | ".join(f"{calls[n].get(k, 0):.2f} / {kernel[n].get(k, 0):.2f}" for n in names) + " |")
    print("| all system calls (µs) | " + " | ".join(f"{kernel[n].get('syscall_64', 0):.1f}" for n in names) + " |")
    print("| everything sampled (µs) | " + " | ".join(f"{kernel[n]['(all)']:.1f}" for n in names) + " |")


if __name__ == "__main__":
    main()
