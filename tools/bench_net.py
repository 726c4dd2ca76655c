"""tools/bench net: TCP throughput each way and the round trip of a small request,
ignition's virtio-net on libslirp beside QEMU's -netdev user, the same guest, the
same loopback servers on this machine (nothing leaves it).

- host -> guest: the guest's wget fetches 64 MiB from an HTTP server on the
  host's 127.0.0.1 through 10.0.2.2 into /dev/null;
- guest -> host: the guest's nc sends 64 MiB (dd from /dev/zero) to a listener
  on the host's 127.0.0.1 through 10.0.2.2;
- round trip: through a published port (ignition --publish, QEMU hostfwd) the
  host sends one byte at a time to an echo (nc with a fifo) in the guest and
  waits for it back; median and p90 of 200.
Both run a guest under emulation (emu / TCG): the figures are the CPU
emulator's as much as the network's. Runs alternate, so drift hits both.
Beside each rate, the VMM process's own CPU time (all threads) for the same
work: on a shared machine the wall-clock rates move with the load, the CPU
time much less."""

import http.server
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

SIZE_MIB = 64
ROUND_TRIPS = 200


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Blob(http.server.BaseHTTPRequestHandler):
    body = b"\0" * (SIZE_MIB << 20)

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def sink(listener, done):
    while True:
        conn, _ = listener.accept()
        n = 0
        with conn:
            while True:
                b = conn.recv(1 << 20)
                if not b:
                    break
                n += len(b)
        done.append(n)


def commands(bench, echo_port):
    cmds = bench.vmm_commands()
    ign = cmds["ignition"]
    ign[ign.index("--net") + 1] = "user,host-loopback"
    ign += ["--publish", f"127.0.0.1:{echo_port}:7777"]
    cmds["qemu"] += ["-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{echo_port}-:7777",
                     "-device", "virtio-net-device,netdev=n0"]
    return cmds


def round_trips(port):
    deadline = time.monotonic() + 60
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"x")
            if s.recv(1) == b"x":
                break
            s.close()
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the guest's echo did not answer")
        time.sleep(1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    with s:
        for _ in range(ROUND_TRIPS):
            t0 = time.monotonic()
            s.sendall(b"y")
            if s.recv(1) != b"y":
                raise RuntimeError("the echo answered something else")
            times.append((time.monotonic() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


def cpu_timed(bench, pid, fn, *args):
    """Runs fn(*args) and returns its result with the CPU seconds process pid
    used meanwhile."""
    before = bench.cpu_seconds(pid)
    result = fn(*args)
    return result, bench.cpu_seconds(pid) - before


def once(bench, name, cmd, http_port, sink_port, echo_port, received):
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    con = bench.Console(name, proc)
    try:
        con.wait_for(rb"GUEST: network eth0 10\.0\.2\.15")
        con.wait_for(rb"ignition:[^\n]*# ")
        time.sleep(1)
        t, down_cpu = cpu_timed(bench, proc.pid, con.timed,
                                f"wget -q -O /dev/null http://10.0.2.2:{http_port}/blob", 0)
        down = SIZE_MIB / t
        before = len(received)
        t, up_cpu = cpu_timed(
            bench, proc.pid, con.timed,
            f"dd if=/dev/zero bs=1M count={SIZE_MIB} 2>/dev/null | nc 10.0.2.2 {sink_port}", 1)
        up = SIZE_MIB / t
        deadline = time.monotonic() + 30
        while len(received) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        if len(received) == before or received[-1] != SIZE_MIB << 20:
            raise RuntimeError(f"{name}: the host received {received[before:]} bytes")
        con.timed("mkfifo /tmp/f; (cat /tmp/f | nc -l -p 7777 >/tmp/f &)", 2)
        (median, p90), rtt_cpu = cpu_timed(bench, proc.pid, round_trips, echo_port)
        # per round trip, in ms (the warm-up connection's few trips included)
        return down, up, median, p90, down_cpu, up_cpu, rtt_cpu * 1000 / ROUND_TRIPS
    finally:
        proc.kill()
        proc.wait()


def run(args):
    bench = sys.modules["__main__"]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Blob)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    received = []
    threading.Thread(target=sink, args=(listener, received), daemon=True).start()
    results = {"ignition": [], "qemu": []}
    for run_no in range(args.runs):
        for name in results:
            echo_port = free_port()
            cmd = commands(bench, echo_port)[name]
            r = once(bench, name, cmd, httpd.server_address[1], listener.getsockname()[1],
                     echo_port, received)
            results[name].append(r)
            print(f"run {run_no + 1} {name:8s} down {r[0]:.1f} MiB/s up {r[1]:.1f} MiB/s "
                  f"round trip {r[2]:.2f} ms (p90 {r[3]:.2f}); VMM CPU down {r[4]:.2f} s "
                  f"up {r[5]:.2f} s, {r[6]:.2f} ms per round trip", file=sys.stderr)
    rows = [(f"TCP host -> guest, {SIZE_MIB} MiB (MiB/s)", 0),
            (f"TCP guest -> host, {SIZE_MIB} MiB (MiB/s)", 1),
            (f"round trip of 1 byte, median of {ROUND_TRIPS} (ms)", 2),
            (f"round trip of 1 byte, p90 (ms)", 3),
            (f"VMM CPU time: TCP host -> guest, {SIZE_MIB} MiB (s)", 4),
            (f"VMM CPU time: TCP guest -> host, {SIZE_MIB} MiB (s)", 5),
            ("VMM CPU time per round trip (ms)", 6)]
    if args.markdown:
        print(f"| measure (median of {args.runs}) | ignition (emu) | QEMU TCG | ignition/QEMU |")
        print("| --- | ---: | ---: | ---: |")
    for label, i in rows:
        a = statistics.median(r[i] for r in results["ignition"])
        b = statistics.median(r[i] for r in results["qemu"])
        if args.markdown:
            print(f"| {label} | {a:.2f} | {b:.2f} | {a / b:.2f} |")
        else:
            print(f"{label:52s} {a:9.2f} {b:9.2f} {a / b:7.2f}")
    httpd.shutdown()
