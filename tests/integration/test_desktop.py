#!/usr/bin/env python3
"""The desktop image (tools/build-guest --image desktop) on the emu backend, through
vmmctl, booted once for every check: `vmmctl start --image desktop`; the guest's
own init reports cage's first frame ("GUEST: desktop ready"); a windowless viewer
then sees foot's window (its configured background, not the framebuffer console's
black) fill a frame of the display's size; keys typed through virtio-input run a
command in foot's shell, whose output reaches the serial console; the serial
console still gives a root shell, and the image's DHCP client (busybox udhcpc,
run by the init it shares with the console image) got libslirp's lease. Then
the warm desktop is snapshotted and restored twice: each restored desktop shows
foot at once, takes typing into its own foot on its own, and, its link bounced
for its new MAC, asks DHCP again and gets a lease for that MAC. Last, a window size of 1024x768 from a viewer
becomes the desktop's mode (cage presents at it, a viewer maps foot at it), and
1280x800 again."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter

import test_vmmctl as t
from guest import guest_dir

# foot's background in the image (FOOT_BACKGROUND in tools/build-guest-desktop).
FOOT_BACKGROUND = bytes.fromhex("1d2733")
TMP = tempfile.mkdtemp(prefix="ignition-desktop-")


def frame(name):
    """The guest's scanout as a viewer maps it: (width, height, most common colour,
    its share of the pixels)."""
    sock = t.status(name)["display_socket"]
    path = os.path.join(TMP, f"{name}.ppm")
    r = subprocess.run([t.DISPLAY_CLIENT, sock, "dump", path], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        t.fail(f"display_client dump of {name} failed: {r.stdout}{r.stderr}")
    with open(path, "rb") as f:
        data = f.read()
    magic, size, maxval, pixels = data.split(b"\n", 3)
    width, height = map(int, size.split())
    if magic != b"P6" or maxval != b"255" or len(pixels) != width * height * 3:
        t.fail(f"display_client wrote a {len(data)}-byte dump that is not a {size} PPM")
    colours = Counter(pixels[i:i + 3] for i in range(0, len(pixels), 3 * 17))
    colour, count = colours.most_common(1)[0]
    return width, height, colour, count / sum(colours.values())


def shows_foot(name, width=1280, height=800):
    w, h, colour, share = frame(name)
    return (w, h) == (width, height) and colour == FOOT_BACKGROUND and share > 0.6, \
        f"{w}x{h}, {share:.0%} of it #{colour.hex()}"


def wait_foot(name, width=1280, height=800, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        ok, seen = shows_foot(name, width, height)
        if ok:
            return
        if time.monotonic() > deadline:
            t.fail(f"{name}: no foot window on a {width}x{height} screen after {timeout}s: "
                   f"{seen}")
        time.sleep(1)


def type_into_foot(name, marker):
    """Types a command into foot that writes MARKER-42 on the serial console;
    only foot's shell can have written it (what is typed is not on that console)."""
    t.vmmctl("send-keys", name, f"echo {marker}-$((6*7)) > /dev/ttyAMA0\\n")
    t.wait_log(name, f"{marker}-42", 60)


LEASE = re.compile(r"GUEST: network eth0 (10\.0\.2\.\d+) ([0-9a-f:]{17})")


def lease(name, not_mac=None, timeout=120):
    """The (address, MAC) of the guest's DHCP lease line, one for a MAC other
    than not_mac."""
    deadline = time.monotonic() + timeout
    while True:
        for m in LEASE.finditer(t.console_log(name)):
            if m.group(2) != not_mac:
                return m.group(1), m.group(2)
        if time.monotonic() > deadline:
            t.fail(f"{name}: no DHCP lease{' for a new MAC' if not_mac else ''} in "
                   f"{timeout}s")
        time.sleep(0.5)


def boot():
    started = time.monotonic()
    r = t.vmmctl("start", "desk", "--image", "desktop", timeout=t.BOOT_TIMEOUT)
    if "is running" not in r.stdout:
        t.fail(f"start desk: {r.stdout!r}")
    disks = t.status("desk")["config"]["disks"]
    if not disks or not disks[0].endswith("/desktop.ext4"):
        t.fail(f"--image desktop gave the disks {disks}")
    t.wait_log("desk", "GUEST: desktop ready")
    print(f"desktop ready {time.monotonic() - started:.1f}s after vmmctl start")
    wait_foot("desk")
    print(f"foot on the screen {time.monotonic() - started:.1f}s after vmmctl start")
    type_into_foot("desk", "DESK")
    # The serial console's shell is root's, beside the desktop.
    t.vmmctl("console", "desk", stdin="echo SERIAL-$(id -u)-$((2+3)); pidof cage foot seatd\r")
    t.wait_log("desk", "SERIAL-0-5")
    ip, mac = lease("desk")
    if ip != "10.0.2.15":
        t.fail(f"the desktop's lease is {ip}, not 10.0.2.15")
    print(f"desktop lease {ip} for {mac}")
    return mac


def snapshot_and_restore_twice(desk_mac):
    t.vmmctl("snapshot", "desk", "warm", timeout=300)
    for clone in ("desk-a", "desk-b"):
        t.vmmctl("restore", "warm", "--name", clone, timeout=300)
        # At once: the picture is the snapshot's before anything new is drawn.
        ok, seen = shows_foot(clone)
        if not ok:
            t.fail(f"{clone} does not show foot right after the restore: {seen}")
    type_into_foot("desk-a", "CLONE-A")
    type_into_foot("desk-b", "CLONE-B")
    if "CLONE-B-42" in t.console_log("desk-a") or "CLONE-A-42" in t.console_log("desk-b"):
        t.fail("typing into one restored desktop reached the other")
    macs = [lease(clone, not_mac=desk_mac)[1] for clone in ("desk-a", "desk-b")]
    if macs[0] == macs[1]:
        t.fail(f"the two restored desktops share the MAC {macs[0]}")
    print(f"restored desktops asked DHCP again: {', '.join(macs)}")


def resize(name, width, height):
    """A viewer's window size becomes the desktop's mode: the guest reports cage
    presenting at that size, and a viewer's next mapping is foot at that size."""
    sock = t.status(name)["display_socket"]
    r = subprocess.run([t.DISPLAY_CLIENT, sock, "resize", str(width), str(height)],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        t.fail(f"display_client resize {width} {height}: {r.stdout}{r.stderr}")
    t.wait_log(name, f"GUEST: desktop ready {width}x{height}", 180)
    wait_foot(name, width, height)


def main():
    disk = os.path.join(guest_dir(), "desktop.ext4")
    if not os.path.exists(disk):
        sys.exit(f"FAIL: {disk} missing; run tools/build-guest --image desktop")
    try:
        desk_mac = boot()
        snapshot_and_restore_twice(desk_mac)
        resize("desk", 1024, 768)
        resize("desk", 1280, 800)
    finally:
        t.cleanup()
        shutil.rmtree(TMP, ignore_errors=True)
    t.passed()


if __name__ == "__main__":
    main()
