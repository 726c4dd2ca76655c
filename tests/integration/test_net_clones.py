#!/usr/bin/env python3
"""Clones differ on the network. A guest with `--net user,host-loopback` gets a
DHCP lease and is snapshotted; three clones restored from it at once, each
under its own name, each see their link go down and up, take a MAC of their own
(none the snapshot's, all different: derived from each name and the host's
secret), get their own lease from their own libslirp, keep the snapshot's
network mode (host-loopback) and fetch a token page from a test server on the
host's 127.0.0.1 at the same time. Restored under the snapshot's own guest
name it keeps its MAC and announces itself (GUEST_ANNOUNCE) instead, and a TCP
connection it held when the snapshot was taken is reset cleanly. All traffic
stays on this machine's loopback."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest import Guest, vmmd_path  # noqa: E402
from test_net import BOOT_TIMEOUT, TokenServer  # noqa: E402
from test_snapshot import ENVELOPE_GUEST, take_snapshot  # noqa: E402

LEASE = r"GUEST: network eth0 (10\.0\.2\.\d+) ([0-9a-f:]{17})"
CLONES = 3


class Clone(Guest):
    """`vmmd run --restore` under a name, in the shared state directory."""

    def __init__(self, snapshot, instance, name):
        self.args = [vmmd_path(), "run", "--restore", snapshot, "--instance", instance,
                     "--guest", name]
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, env=dict(os.environ),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.log = b""
        self.seen = 0
        self.started = time.monotonic()


class HeldConnection:
    """A TCP connection from the guest's nc to a listener on the host's
    127.0.0.1, open when the snapshot is taken; the shell keeps nc's input (a
    fifo) on its descriptor 3, so a restored shell can write to it again."""

    def __init__(self, g):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.received = b""
        threading.Thread(target=self._serve, daemon=True).start()
        port = self.listener.getsockname()[1]
        g.shell(f"mkfifo /tmp/held; (nc 10.0.2.2 {port} </tmp/held; "
                "echo HELD-EXIT-$? >/dev/console) & exec 3>/tmp/held; echo first >&3; "
                "echo HELD-$((2*2))", r"\nHELD-4", 60)
        deadline = time.monotonic() + 30
        while b"first" not in self.received and time.monotonic() < deadline:
            time.sleep(0.1)
        if b"first" not in self.received:
            g.fail("the held connection did not carry its first line to the host")

    def _serve(self):
        conn, _ = self.listener.accept()
        with conn:
            while True:
                b = conn.recv(4096)
                if not b:
                    break
                self.received += b


def same_guest_restored(snap, instance, source_mac, server, guests, held):
    """The snapshot restored under its own guest's name keeps that guest's MAC:
    no link bounce, the guest is asked to announce itself (GUEST_ANNOUNCE) and
    does, and it reaches the host through the new libslirp. The connection it
    held when the snapshot was taken is reset cleanly: its next write gets a
    TCP reset (the new libslirp knows no such connection; the guest's
    EstabResets counter moves), nc ends, and nothing reaches the host."""
    g = Clone(snap, instance, "net-source")
    guests.append(g)
    g.expect(r"virtio-net: the guest announced itself", 120)
    g.shell("cat /sys/class/net/eth0/address; echo MAC-DONE",
            rf"\n{source_mac}\r?\nMAC-DONE", 60)
    g.shell(f"wget -q -O - http://10.0.2.2:{server.port}/token; echo FETCH-DONE",
            rf"\n{server.token}\r?\n[\s\S]*?FETCH-DONE", 120)
    if b"link down" in g.log:
        g.fail("the same guest restored had its link bounced")
    resets = "awk '/^Tcp: [0-9]/ {print \"RESETS=\" $9}' /proc/net/snmp"
    before = int(g.shell(resets, r"\nRESETS=(\d+)", 60).group(1))
    g.type("echo again >&3\n")
    m = g.expect(r"HELD-EXIT-(\d+)", 120)
    after = int(g.shell(resets, r"\nRESETS=(\d+)", 60).group(1))
    if after <= before or b"again" in held.received:
        g.fail(f"the held connection was not reset: the guest's TCP resets went {before} -> "
               f"{after}, the host received {held.received!r}")
    print(f"ok: restored under its own name the guest kept {source_mac}, announced itself "
          "and fetched the token; its connection from before the snapshot was reset "
          f"(the guest's TCP counted {after - before} reset, nc ended)")


def main():
    scratch = tempfile.mkdtemp(prefix="ignition-net-clones-")
    os.environ["IGNITION_HOME"] = os.path.join(scratch, "home")  # one host secret for all
    server = TokenServer()
    control = os.path.join(scratch, "control.sock")
    snap = os.path.join(scratch, "snap")
    guests = []
    try:
        src = Guest("--no-gpu", "--guest", "net-source", "--net", "user,host-loopback",
                    "--control-socket", control, mem="512M")
        guests.append(src)
        m = src.expect(LEASE, BOOT_TIMEOUT)
        source_mac = m.group(2).decode()
        src.shell("echo SHELL-UP", r"\nSHELL-UP", 60)
        held = HeldConnection(src)
        tag, body = take_snapshot(control, "net-source", snap)
        if tag != ENVELOPE_GUEST:
            src.fail(f"the snapshot was refused: {body!r}")
        src.kill()
        clones = [Clone(snap, os.path.join(scratch, f"c{i}"), f"net-clone-{i}")
                  for i in range(1, CLONES + 1)]
        guests += clones
        macs = []
        for c in clones:
            m = c.expect(LEASE, 180)
            ip, mac = m.group(1).decode(), m.group(2).decode()
            if ip != "10.0.2.15":
                c.fail(f"the clone's lease is {ip}, not 10.0.2.15")
            macs.append(mac)
        if source_mac in macs or len(set(macs)) != CLONES:
            clones[0].fail(f"clone MACs {macs} (snapshot's {source_mac}) are not all new "
                           "and distinct")
        print(f"ok: the snapshot's MAC {source_mac}; the clones' {', '.join(macs)}, "
              "each with its own lease")
        hits = server.hits
        for c in clones:  # all three fetch at the same time
            c.type(f"wget -q -O - http://10.0.2.2:{server.port}/token; echo FETCH-DONE\n")
        for c in clones:
            c.expect(rf"\n{server.token}\r?\n[\s\S]*?FETCH-DONE", 120)
        if server.hits < hits + CLONES:
            clones[0].fail(f"the server saw {server.hits - hits} requests, not {CLONES}")
        print(f"ok: {CLONES} clones fetched the host's token at once (host-loopback kept)")
        for c in clones:
            c.kill()
        same_guest_restored(snap, os.path.join(scratch, "again"), source_mac, server, guests,
                            held)
    finally:
        for g in guests:
            g.kill()
        server.close()
        shutil.rmtree(scratch, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    main()
