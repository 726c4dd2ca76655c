"""virtio-vsock as the real guest sees it, through vmmd and vmmctl. All traffic
is on Unix sockets of this machine.

1. A guest started by vmmctl has vsock CID 3 (the first free one) and its
   socket RUN/NAME.vsock, as `vmmctl status` (and --json) says; the guest's
   own `ignition-vsock cid` says 3 too.
2. Host to guest: through "CONNECT 5000\\n" on that socket a host process
   gets "OK <port>\\n" and the guest's echo listener answers; 4 MiB of random
   bytes go to a guest listener that runs sha256sum, whose sum comes back over
   the same stream and matches. A port nobody listens on closes the socket.
3. Guest to host: the guest's `ignition-vsock connect 6000` reaches the
   test's listener at RUN/NAME.vsock_6000; 4 MiB of guest random bytes arrive
   with the SHA-256 the guest printed. Both 4 MiB transfers are 16 times the
   credit a side offers, so credit updates must flow for them to finish.
4. A snapshot taken while a guest-to-host connection is open, restored as a
   clone: the clone has CID 4 and its own socket, its copy of that connection
   fails with "Connection reset" at once (VIRTIO_VSOCK_EVENT_TRANSPORT_RESET)
   instead of hanging, and its echo listener, inherited from the snapshot,
   answers on the new CID. A fan-out of two more clones gives CIDs 5 and 6."""

import hashlib
import json
import os
import re
import socket
import time

import test_vmmctl as t
from guest import require_assets

TRANSFER = 4 << 20


def connect(path, port, timeout=60):
    """A host process's connection to a guest port: the OK line, then the stream."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(f"CONNECT {port}\n".encode())
    line = b""
    while not line.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            s.close()
            return None, line
        line += chunk
    return s, line


def recv_all(s, limit=1 << 30):
    data = b""
    while len(data) < limit:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def type_in(name, command):
    t.vmmctl("console", name, stdin=command + "\r")


def echo_round_trip(path, what):
    s, line = connect(path, 5000)
    if not s or not line.startswith(b"OK ") or not line[3:-1].isdigit():
        t.fail(f"{what}: CONNECT 5000 answered {line!r}")
    s.sendall(b"ping through vsock\n")
    s.shutdown(socket.SHUT_WR)
    back = recv_all(s)
    s.close()
    if back != b"ping through vsock\n":
        t.fail(f"{what}: the guest's echo sent back {back!r}")
    return int(line[3:-1])


def host_to_guest(path):
    blob = os.urandom(TRANSFER)
    s, line = connect(path, 5001)
    if not s:
        t.fail(f"CONNECT 5001 answered {line!r}")
    start = time.monotonic()
    s.sendall(blob)
    s.shutdown(socket.SHUT_WR)
    answer = recv_all(s).decode(errors="replace").split()
    s.close()
    if not answer or answer[0] != hashlib.sha256(blob).hexdigest():
        t.fail(f"the guest's sha256sum of {TRANSFER} bytes is {answer}, not the host's")
    return time.monotonic() - start


def guest_to_host(name, path):
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path + "_6000")
    listener.listen(1)
    listener.settimeout(120)
    type_in(name, f"head -c {TRANSFER} /dev/urandom >/tmp/blob && "
            "echo SUM-$(sha256sum </tmp/blob | cut -d' ' -f1)-END && "
            "ignition-vsock connect 6000 </tmp/blob; echo SENT-$?")
    conn, _ = listener.accept()
    conn.settimeout(120)
    start = time.monotonic()
    data = recv_all(conn)
    took = time.monotonic() - start
    conn.close()
    listener.close()
    t.wait_log(name, "SENT-0", timeout=60)
    want = re.search(r"SUM-([0-9a-f]{64})-END", t.console_log(name)).group(1)
    if len(data) != TRANSFER or hashlib.sha256(data).hexdigest() != want:
        t.fail(f"{len(data)} bytes from the guest, SHA-256 {hashlib.sha256(data).hexdigest()}, "
               f"not the {TRANSFER} with {want} it sent")
    return took


def check_identity(name, cid):
    st = t.status(name)
    if st["vsock_cid"] != cid or not st["vsock_socket"].endswith(f"/{name}.vsock"):
        t.fail(f"{name}: status says CID {st['vsock_cid']}, socket {st['vsock_socket']!r}")
    text = t.vmmctl("status", name).stdout
    if f"vsock:    CID {cid}, {st['vsock_socket']}" not in text:
        t.fail(f"{name}: `vmmctl status` does not show the vsock: {text!r}")
    marker = f"CID-OF-{name}"
    type_in(name, f"echo {marker}-$(ignition-vsock cid)-")
    t.wait_log(name, f"{marker}-{cid}-", timeout=60)
    return st["vsock_socket"]


def main():
    require_assets()
    try:
        t.vmmctl("start", "vs", "--image", "console", "--no-gui", "--mem", "512M",
                 "--net", "none", timeout=t.BOOT_TIMEOUT)
        t.wait_log("vs", "GUEST: shell ready")
        path = check_identity("vs", 3)
        type_in("vs", "ignition-vsock listen 5000 & ignition-vsock listen 5001 sha256sum & "
                "sleep 1; echo LISTEN$((1+1))")
        t.wait_log("vs", "LISTEN2", timeout=60)
        port = echo_round_trip(path, "vs")
        s, line = connect(path, 5999)  # nobody listens: the guest resets, we close
        if s or line:
            t.fail(f"CONNECT to a port without a listener answered {line!r}")
        print(f"ok: vs has CID 3; host to guest echo through {path} (host port {port})")
        took = host_to_guest(path)
        print(f"ok: {TRANSFER >> 20} MiB host to guest, SHA-256 matched ({took:.1f} s)")
        took = guest_to_host("vs", path)
        print(f"ok: {TRANSFER >> 20} MiB guest to host, SHA-256 matched ({took:.1f} s)")

        # A connection open across the snapshot: the clone's copy must fail.
        held = socket.socket(socket.AF_UNIX)
        held.bind(path + "_6001")
        held.listen(1)
        held.settimeout(60)
        type_in("vs", "sleep 100000 | (ignition-vsock connect 6001; echo RELAY-END-$?) &")
        conn, _ = held.accept()
        t.vmmctl("snapshot", "vs", "vsnap", timeout=300)
        t.vmmctl("restore", "vsnap", "--name", "vs2", timeout=300)
        t.wait_log("vs2", "RELAY-END-1", timeout=60)
        # Linux's reset closes the socket: its read fails, ENOTCONN or ECONNRESET.
        if not re.search(r"read from the connection: (Connection reset|Transport endpoint is "
                         r"not connected)", t.console_log("vs2")):
            t.fail("the clone's pre-snapshot connection ended without a reset")
        path2 = check_identity("vs2", 4)
        if path2 == path:
            t.fail("the clone shares its snapshot's vsock socket")
        echo_round_trip(path2, "vs2")
        if re.search(r"RELAY-END-\d", t.console_log("vs")):
            t.fail("the original guest's connection ended when its clone was made")
        conn.close()
        held.close()
        print("ok: the clone vs2 has CID 4, its pre-snapshot connection was reset, and its "
              "echo listener answers on its own socket")

        # A fan-out: each clone its own CID, the next free ones, as the guest sees it too.
        r = t.vmmctl("--json", "fanout", "vsnap", "2", timeout=300)
        clones = [g["name"] for g in json.loads(r.stdout)["guests"]]
        cids = sorted(t.status(name)["vsock_cid"] for name in clones)
        if cids != [5, 6]:
            t.fail(f"the fan-out's clones {clones} have CIDs {cids}, not 5 and 6")
        for name in clones:
            check_identity(name, t.status(name)["vsock_cid"])
        print(f"ok: fan-out clones {', '.join(clones)} have CIDs 5 and 6")
    finally:
        t.cleanup()
    t.passed()


if __name__ == "__main__":
    main()
