#!/usr/bin/env python3
"""virtio-net on libslirp, as the real guest sees it. All traffic stays on this
machine's loopback.

1. A guest started with `--net user,host-loopback --publish 127.0.0.1:P:8080`
   gets a DHCP lease (its init prints "GUEST: network eth0 IP MAC"), fetches a
   page with a random token from a test HTTP server on the host's 127.0.0.1
   through 10.0.2.2 and prints it; then it serves a page of its own with
   busybox httpd on 8080 and the host fetches it from 127.0.0.1:P.
   64 MiB go each way (the host's HTTP server to the guest's wget, the guest's
   nc to a host listener), with SHA-256 sums compared on both ends.
   Over IPv6 the guest configures itself from libslirp's router advertisements
   (SLAAC, fec0::/64) and reaches a token server on the host's ::1 at fec0::2.
2. A guest started with plain `--net user` (no host-loopback) gets a lease too,
   but the same fetches through 10.0.2.2 and fec0::2 fail. The refusal comes
   at once, as from a router with a filter (an ICMP "administratively
   prohibited"), and the guest reports it itself: nc to a port the test
   listens on at 127.0.0.1, through 10.0.2.2 and through the DNS alias
   10.0.2.3, fails with "No route to host", nslookup's UDP to 10.0.2.2 too,
   nc to the host's ::1 through fec0::2 with "Permission denied", each well
   within REFUSAL_LIMIT_S, and the listeners see no connection.

The console image's busybox wget crashes on IPv6 literals (busybox 1.35
static), so the IPv6 requests are written by hand through busybox nc."""

import hashlib
import http.server
import os
import re
import secrets
import select
import socket
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest import Guest  # noqa: E402

BOOT_TIMEOUT = 240
TRANSFER = 64 << 20
# A refused connection fails at once (a second later, should the answer to
# the SYN come while the guest's connect() still holds the socket: see
# REFUSE_HOLD_US in net_user.c). A dropped SYN would be retried for about two
# minutes; nc gives up after NC_WAIT_S.
REFUSAL_LIMIT_S = 20
NC_WAIT_S = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TokenServer:
    """An HTTP server on 127.0.0.1 (or ::1) that answers /token with a random
    token (and /blob with TRANSFER random bytes, when made with a blob)."""

    def __init__(self, blob=b"", host="127.0.0.1"):
        self.token = "tok-" + secrets.token_hex(12)
        self.hits = 0
        token = self.token
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                body = blob if self.path == "/blob" else (token + "\n").encode()
                self.send_response(200 if self.path in ("/token", "/blob") else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        self.httpd = Server((host, 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def wait_lease(g):
    m = g.expect(r"GUEST: network eth0 (10\.0\.2\.\d+) ([0-9a-f:]{17})", BOOT_TIMEOUT)
    g.shell("echo SHELL-UP", r"\nSHELL-UP", 60)  # the shell started before or after the lease
    ip, mac = m.group(1).decode(), m.group(2).decode()
    if ip != "10.0.2.15":
        g.fail(f"DHCP gave {ip}, not libslirp's first address 10.0.2.15")
    first = int(mac.split(":")[0], 16)
    if not first & 2 or first & 1:
        g.fail(f"MAC {mac} is not a locally administered unicast address")
    return mac


def slaac_address(g):
    """The guest's address from libslirp's router advertisements."""
    deadline = time.monotonic() + 60
    while True:
        m = g.shell("ip -6 addr show dev eth0 scope site; echo ADDR6-$((2*3))",
                    r"\n((?:(?!ADDR6-6)[\s\S])*)ADDR6-6", 30)
        found = re.search(rb"inet6 (fec0:[0-9a-f:]+)/64 scope site dynamic", m.group(1))
        if found:
            return found.group(1).decode()
        if time.monotonic() > deadline:
            g.fail("the guest has no SLAAC address in fec0::/64")
        time.sleep(2)


def fetch6(g, server, what):
    """The guest asks fec0::2 (the host's ::1) for /token over TCP/IPv6; returns
    what it printed after the request."""
    start = len(g.log)
    g.shell(f"printf 'GET /token HTTP/1.0\\r\\n\\r\\n' | nc fec0::2 {server.port}; "
            f"echo {what}-DONE", rf"\n{what}-DONE", 120)
    return g.log[start:]


def fetch_from_host(port, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/page", timeout=10) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def receive_one(listener, out):
    """Accepts one connection and sums what it sends until it closes."""
    conn, _ = listener.accept()
    h, n = hashlib.sha256(), 0
    with conn:
        while True:
            b = conn.recv(1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
    out["sum"], out["bytes"] = h.hexdigest(), n


def transfers(g, server, blob_sum):
    """TRANSFER bytes host -> guest and guest -> host, sums compared."""
    t0 = time.monotonic()
    m = g.shell(f"wget -q -O - http://10.0.2.2:{server.port}/blob | sha256sum",
                r"\n([0-9a-f]{64}) ", 600)
    if m.group(1).decode() != blob_sum:
        g.fail("the guest's sum of the 64 MiB it fetched differs from the host's")
    t1 = time.monotonic()
    m = g.shell(f"dd if=/dev/urandom of=/tmp/blob bs=1M count={TRANSFER >> 20} 2>/dev/null && "
                "sha256sum /tmp/blob", r"\n([0-9a-f]{64}) ", 600)
    guest_sum = m.group(1).decode()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    got = {}
    reader = threading.Thread(target=receive_one, args=(listener, got), daemon=True)
    reader.start()
    t2 = time.monotonic()
    g.shell(f"nc 10.0.2.2 {listener.getsockname()[1]} </tmp/blob; echo SENT-$((1+1))",
            r"\nSENT-2", 600)
    reader.join(60)
    listener.close()
    if got.get("bytes") != TRANSFER or got.get("sum") != guest_sum:
        g.fail(f"the host got {got.get('bytes')} bytes summing {got.get('sum')}; the guest "
               f"sent {TRANSFER} summing {guest_sum}")
    print(f"ok: 64 MiB host -> guest in {t1 - t0:.1f}s, guest -> host in "
          f"{time.monotonic() - t2:.1f}s, sums equal")


def ipv6_with_host_loopback(g, server6):
    addr = slaac_address(g)
    out = fetch6(g, server6, "FETCH6")
    if server6.token.encode() not in out or server6.hits < 1:
        g.fail(f"over IPv6 the guest ({addr}) did not fetch the token from the host's ::1 "
               "at fec0::2")
    print(f"ok: SLAAC gave the guest {addr}; it fetched the token from the host's ::1 at "
          "fec0::2")


def ipv6_without_host_loopback(g, server6):
    slaac_address(g)
    hits = server6.hits
    out = fetch6(g, server6, "FETCH6")
    if server6.token.encode() in out or server6.hits != hits:
        g.fail("without host-loopback the guest still reached the host's ::1 at fec0::2")
    if b"can't connect" not in out:
        g.fail("without host-loopback nc to fec0::2 did not report a refused connection")
    print("ok: without host-loopback the IPv6 connection to fec0::2 is refused")


class Listener:
    """A TCP socket listening on the host's loopback that no one accepts from:
    a connection that reached it would wait in its backlog."""

    def __init__(self, host):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.bind((host, 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]

    def reached(self):
        ready, _, _ = select.select([self.sock], [], [], 0)
        return bool(ready)

    def close(self):
        self.sock.close()


def refused_at_once(g, command, message, what):
    """command fails in the guest with the guest's own message for the
    refusal, within REFUSAL_LIMIT_S; returns how long it took."""
    start = len(g.log)
    t0 = time.monotonic()
    m = g.shell(f"{command}; echo RC=$?", r"\nRC=(\d+)", NC_WAIT_S + 60)
    took = time.monotonic() - t0
    out = g.log[start:]
    if int(m.group(1)) == 0 or message.encode() not in out:
        g.fail(f"{what}: not refused with {message!r} ({took:.1f}s)")
    if took > REFUSAL_LIMIT_S:
        g.fail(f"{what}: refused after {took:.1f}s, not at once")
    return took


def refusals_at_once(g):
    """Without host-loopback each way to the host is refused at once, with the
    error the guest's own stack reports, and nothing reaches the host."""
    listener, listener6 = Listener("127.0.0.1"), Listener("::1")
    try:
        nc = f"nc -w {NC_WAIT_S}"
        took = [refused_at_once(g, f"{nc} 10.0.2.2 {listener.port} </dev/null",
                                "No route to host", "TCP to 10.0.2.2"),
                refused_at_once(g, f"{nc} 10.0.2.3 {listener.port} </dev/null",
                                "No route to host", "TCP to the DNS alias 10.0.2.3"),
                refused_at_once(g, "nslookup ignition.invalid 10.0.2.2", "No route to host",
                                "UDP to 10.0.2.2"),
                refused_at_once(g, f"{nc} fec0::2 {listener6.port} </dev/null",
                                "Permission denied", "TCP to fec0::2")]
        if listener.reached() or listener6.reached():
            g.fail("without host-loopback a connection reached the host's loopback")
    finally:
        listener.close()
        listener6.close()
    print("ok: refused at once without host-loopback: TCP to 10.0.2.2 in {:.1f}s, to 10.0.2.3 "
          "in {:.1f}s, UDP to 10.0.2.2 in {:.1f}s, TCP to fec0::2 in {:.1f}s; nothing reached "
          "the host".format(*took))


def with_host_loopback(server, blob_sum, server6):
    published = free_port()
    g = Guest("--no-gpu", "--net", "user,host-loopback",
              "--publish", f"127.0.0.1:{published}:8080", mem="1G")
    try:
        wait_lease(g)
        g.shell(f"wget -q -O - http://10.0.2.2:{server.port}/token; echo FETCH-DONE",
                rf"\n{server.token}\r?\n[\s\S]*?FETCH-DONE", 120)
        if server.hits < 1:
            g.fail("the guest printed the token but the server saw no request")
        ipv6_with_host_loopback(g, server6)
        transfers(g, server, blob_sum)
        page = "guest-" + secrets.token_hex(8)
        g.shell(f"mkdir -p /tmp/www && echo {page} >/tmp/www/page && "
                "httpd -p 8080 -h /tmp/www && echo HTTPD-UP", r"\nHTTPD-UP", 60)
        got = fetch_from_host(published)
        if got.strip() != page:
            g.fail(f"the host fetched {got!r} from 127.0.0.1:{published}, not {page!r}")
        print(f"ok: guest fetched the host's token via 10.0.2.2; host fetched the guest's "
              f"page from 127.0.0.1:{published}")
    finally:
        g.kill()


def without_host_loopback(server, server6):
    g = Guest("--no-gpu", "--net", "user")
    try:
        wait_lease(g)
        hits = server.hits
        start = len(g.log)
        m = g.shell(f"wget -q -T 10 -O - http://10.0.2.2:{server.port}/token; echo RC=$?",
                    r"\nRC=(\d+)", 120)
        rc = int(m.group(1))
        if rc == 0 or server.token.encode() in g.log[start:]:
            g.fail("without host-loopback the guest still reached the host's 127.0.0.1")
        if server.hits != hits:
            g.fail("without host-loopback the test server still saw a request")
        print(f"ok: without host-loopback the fetch fails (wget status {rc})")
        ipv6_without_host_loopback(g, server6)
        refusals_at_once(g)
    finally:
        g.kill()


def main():
    blob = os.urandom(TRANSFER)
    server = TokenServer(blob)
    server6 = TokenServer(host="::1")
    try:
        with_host_loopback(server, hashlib.sha256(blob).hexdigest(), server6)
        without_host_loopback(server, server6)
    finally:
        server.close()
        server6.close()
    print("PASS")


if __name__ == "__main__":
    main()
