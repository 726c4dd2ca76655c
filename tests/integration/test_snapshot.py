#!/usr/bin/env python3
"""Snapshots of a running guest through the worker's control socket, and
restores from them: a guest booted from its root disk runs a counter loop on
its serial console and writes a file; a snapshot is taken while it runs; a
second worker restored from the snapshot under a new instance directory
continues the count where the snapshot left it (not from 1) and finds the
file, and a viewer attached to it gets, pixel for pixel, the screen the first
guest showed just before the snapshot; the first guest runs on unaffected. A
snapshot with a flipped byte in its manifest, or with its memory cut short, is
refused with one clear line."""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

from guest import REPO, Guest, guest_dir, require_assets, vmmd_path

# A sanitizer build reports at exit what leaked; Unicorn's own leftovers are
# the project's known exception.
os.environ.setdefault("LSAN_OPTIONS", f"suppressions={os.path.join(REPO, 'tests', 'lsan.supp')}")

DISPLAY_CLIENT = os.environ.get("IGNITION_DISPLAY_CLIENT",
                                os.path.join(REPO, "build", "tests", "integration", "display_client"))
BOOT_TIMEOUT = 420
PROMPT = r"ignition:[^\n]*# "
MEM = "512M"
ENVELOPE_ERROR, ENVELOPE_WELCOME, ENVELOPE_SNAPSHOT, ENVELOPE_GUEST = 3, 2, 27, 30


# ---- a small control-socket client: frames of a 4-byte LE length + protobuf ---------

def varint(n):
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        out += bytes([low | (0x80 if n else 0)])
        if not n:
            return out


def field(number, payload):
    """One length-delimited protobuf field (a message or a string)."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def frame(body):
    return struct.pack("<I", len(body)) + body


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("the worker closed the control socket")
        out += chunk
    return out


def recv_envelope(s):
    (n,) = struct.unpack("<I", recv_exact(s, 4))
    body = recv_exact(s, n)
    tag = body[0] >> 3 if body else None  # every Envelope field number here is < 16
    return tag, body


def take_snapshot(control_path, name, path):
    """Returns (envelope field of the answer, its bytes)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(120)
    s.connect(control_path)
    s.sendall(frame(field(1, b"\x08\x01" + field(2, b"snapshot-test"))))
    tag, body = recv_envelope(s)
    if tag != ENVELOPE_WELCOME:
        s.close()
        sys.exit(f"FAIL: the control socket answered Hello with {body!r}")
    request = field(1, name.encode()) + field(2, path.encode())
    s.sendall(frame(varint(ENVELOPE_SNAPSHOT << 3 | 2) + varint(len(request)) + request))
    answer = recv_envelope(s)
    s.close()
    return answer


# ---- guests --------------------------------------------------------------------------

class RestoredGuest(Guest):
    """`vmmd run --restore`: the machine's config is the snapshot's."""

    def __init__(self, snapshot, instance, *extra):
        self.args = [vmmd_path(), "run", "--restore", snapshot, "--instance", instance, *extra]
        env = dict(os.environ)
        env["IGNITION_HOME"] = tempfile.mkdtemp(prefix="ignition-state-")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.log = b""
        self.seen = 0
        self.started = time.monotonic()


def boot_counting(scratch):
    root = os.path.join(guest_dir(), "rootfs.ext4")
    control = os.path.join(scratch, "run", "control.sock")
    g = Guest("--disk", f"{root},serial=ignition-root",
              "--instance", os.path.join(scratch, "first"), "--control-socket", control,
              "--socket", os.path.join(scratch, "run", "first.display"),
              append="console=ttyAMA0 quiet root=/dev/vda", mem=MEM)
    g.expect(r"GUEST: shell ready", BOOT_TIMEOUT)
    g.expect(PROMPT, 120)
    g.type("i=0; while :; do i=$((i+1)); echo TICK $i; sleep 0.2; done &\n")
    g.expect(r"TICK 10\r?\n", 120)
    # A still screen (no cursor blink on tty1), so two captures can be compared.
    g.type("echo 0 > /sys/class/graphics/fbcon/cursor_blink; echo before > /root/mark; sync; "
           "echo MARKED-$((6*7))\n")
    g.expect(r"MARKED-42", 120)
    return g, control


def ticks(log):
    return [int(n) for n in re.findall(rb"TICK (\d+)\r?\n", log)]


def snapshot_running_guest(g, control, snap):
    tag, body = take_snapshot(control, "first", snap)
    if tag != ENVELOPE_GUEST:
        g.fail(f"the snapshot was refused: {body!r}")
    # What the guest printed before the answer came is what the snapshot holds
    # at most; read the pipe up to now.
    while g._read(0.2):
        pass
    timing = re.search(rb"snapshot \S+: save .*total [\d.]+ ms", g.log)
    if not timing:
        g.fail("the worker did not log how long the snapshot's phases took")
    print(timing.group(0).decode())
    seen = ticks(g.log)
    if not seen:
        g.fail("no TICK before the snapshot")
    names = sorted(os.listdir(snap))
    if "manifest" not in names or "memory" not in names or \
            not any(n.startswith("disk0.") for n in names):
        g.fail(f"the snapshot directory holds {names}")
    return seen[-1]


def dump_screen(socket_path, out):
    """The scanout as the worker publishes it, as a PPM (display_client dump)."""
    subprocess.run([DISPLAY_CLIENT, socket_path, "dump", out], check=True, capture_output=True,
                   timeout=120)
    return open(out, "rb").read()


def restored_continues(snap, scratch, last):
    r = RestoredGuest(snap, os.path.join(scratch, "second"),
                      "--socket", os.path.join(scratch, "run", "second.display"))
    m = r.expect(r"TICK (\d+)\r?\n", 120)
    first = int(m.group(1))
    # The loop's next number, give or take the ticks printed between the save
    # and the answer: never a count that started again.
    if not last - 5 <= first <= last + 5:
        r.fail(f"the restored guest counts from {first}; the snapshot was taken at {last}")
    r.expect(rf"TICK {first + 5}\r?\n", 60)
    r.type("cat /root/mark; echo MARK-READ\n")
    r.expect(r"\nbefore\r?\n(.*\n)*?MARK-READ", 60)
    return r, first


def corrupted_refused(snap, scratch):
    for case in ("manifest", "memory"):
        copy = os.path.join(scratch, f"bad-{case}")
        subprocess.run(["cp", "-r", "--sparse=always", snap, copy], check=True)
        if case == "manifest":
            with open(os.path.join(copy, "manifest"), "r+b") as f:
                f.seek(100)
                byte = f.read(1)
                f.seek(100)
                f.write(bytes([byte[0] ^ 0x40]))
        else:
            path = os.path.join(copy, "memory")
            os.truncate(path, os.path.getsize(path) - 4096)
        out = subprocess.run([vmmd_path(), "run", "--restore", copy, "--instance",
                              os.path.join(scratch, f"inst-{case}")],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=60)
        lines = [l for l in out.stderr.splitlines() + out.stdout.splitlines() if l.strip()]
        errors = [l for l in lines if "error" in l.lower()]
        if out.returncode != 1 or len(errors) != 1 or case not in errors[0] or \
                "cannot restore" not in errors[0]:
            sys.exit(f"FAIL: a snapshot with a damaged {case}: exit {out.returncode}, "
                     f"said {lines!r}")
        print(f"damaged {case} refused: {errors[0]}")


def stopped_cleanly(guest):
    """SIGINT stops a worker at once (128 + 2); under the sanitizers it also
    reports what the snapshot or restore leaked or broke."""
    guest.proc.send_signal(signal.SIGINT)
    status = guest.wait_exit(60)
    if status != 130 or re.search(rb"Sanitizer|runtime error", guest.log):
        guest.fail(f"the worker ended with status {status} after SIGINT")


def main():
    require_assets()
    if not os.path.exists(os.path.join(guest_dir(), "rootfs.ext4")):
        sys.exit("FAIL: rootfs.ext4 missing; run tools/build-guest")
    scratch = tempfile.mkdtemp(prefix="ignition-snap-")
    os.chmod(scratch, 0o700)
    g = r = None
    try:
        g, control = boot_counting(scratch)
        snap = os.path.join(scratch, "snap")
        time.sleep(1)
        before = dump_screen(os.path.join(scratch, "run", "first.display"),
                             os.path.join(scratch, "before.ppm"))
        if len(set(before.split(b"\n", 3)[3])) < 2:  # the pixels after the PPM header
            g.fail("the screen before the snapshot is blank: nothing to compare")
        last = snapshot_running_guest(g, control, snap)
        print(f"snapshot taken after TICK {last}")
        r, first = restored_continues(snap, scratch, last)
        print(f"the restored guest continued at TICK {first}")
        after = dump_screen(os.path.join(scratch, "run", "second.display"),
                            os.path.join(scratch, "after.ppm"))
        if after != before:
            differ = sum(1 for a, b in zip(after, before) if a != b)
            r.fail(f"the restored guest's first frame differs from the screen before the "
                   f"snapshot ({len(after)} vs {len(before)} bytes, {differ} differ)")
        print("a viewer of the restored guest sees the screen of before the snapshot, "
              "pixel for pixel")
        # The first guest goes on counting, on its own.
        g.expect(rf"TICK {last + 10}\r?\n", 60)
        corrupted_refused(snap, scratch)
        for guest in (g, r):
            stopped_cleanly(guest)
        print("PASS")
    finally:
        for guest in (g, r):
            if guest:
                guest.kill()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
