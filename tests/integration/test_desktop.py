#!/usr/bin/env python3
"""The desktop image (tools/build-guest --image desktop) on the emu backend, booted
once for every check: the guest's own init reports cage's first frame ("GUEST:
desktop ready"); a windowless viewer then sees foot's window (its configured
background, not the framebuffer console's black) filling a frame of the display's
size; keys typed through virtio-input run a command in foot's shell, whose output
reaches the serial console; and the serial console still gives a root shell."""

import os
import subprocess
import sys
import tempfile
import time
from collections import Counter

from guest import Guest, REPO, guest_dir

BOOT_TIMEOUT = 300
CLIENT = os.environ.get("IGNITION_DISPLAY_CLIENT",
                        os.path.join(REPO, "build", "tests", "integration", "display_client"))
# foot's background in the image (FOOT_BACKGROUND in tools/build-guest-desktop).
FOOT_BACKGROUND = bytes.fromhex("1d2733")


def client(g, sock, *args, timeout=120):
    r = subprocess.run([CLIENT, sock, *map(str, args)], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        g.fail(f"display_client {' '.join(map(str, args))} failed (status {r.returncode}):"
               f"\n{r.stdout}{r.stderr}")
    return r.stdout


def frame(g, sock, path):
    """The scanout as the viewer maps it: (width, height, most common colour, its share)."""
    client(g, sock, "dump", path)
    with open(path, "rb") as f:
        data = f.read()
    magic, size, maxval, pixels = data.split(b"\n", 3)
    width, height = map(int, size.split())
    if magic != b"P6" or maxval != b"255" or len(pixels) != width * height * 3:
        g.fail(f"display_client wrote a {len(data)}-byte dump that is not a {size} PPM")
    colours = Counter(pixels[i:i + 3] for i in range(0, len(pixels), 3 * 17))
    colour, count = colours.most_common(1)[0]
    return width, height, colour, count / sum(colours.values())


def wait_foot(g, sock, path, width, height, timeout=120):
    """Waits until foot's background fills most of a width x height frame."""
    deadline = time.monotonic() + timeout
    while True:
        w, h, colour, share = frame(g, sock, path)
        if (w, h) == (width, height) and colour == FOOT_BACKGROUND and share > 0.6:
            return
        if time.monotonic() > deadline:
            g.fail(f"no foot window on a {width}x{height} screen after {timeout}s: the "
                   f"frame is {w}x{h}, {share:.0%} of it #{colour.hex()}")
        time.sleep(1)


def main():
    disk = os.path.join(guest_dir(), "desktop.ext4")
    if not os.path.exists(disk):
        sys.exit(f"FAIL: {disk} missing; run tools/build-guest --image desktop")
    tmp = tempfile.mkdtemp(prefix="ignition-desktop-")
    os.chmod(tmp, 0o700)
    sock = os.path.join(tmp, "display.sock")
    dump = os.path.join(tmp, "frame.ppm")
    g = Guest("--disk", disk, "--socket", sock, append="console=ttyAMA0 quiet root=/dev/vda")
    try:
        g.expect(r"GUEST: desktop ready", BOOT_TIMEOUT)
        print(f"desktop ready {g.elapsed():.1f}s after vmmd started")

        wait_foot(g, sock, dump, 1280, 800)
        print(f"foot on the screen {g.elapsed():.1f}s after vmmd started")

        # Typed into foot through virtio-input; only foot's shell can have written
        # this line to the serial console (the text typed is not on it).
        client(g, sock, "type", "echo DESK-$((6*7)) > /dev/ttyAMA0")
        g.expect(r"DESK-42", 60)

        # The serial console's shell is root's, beside the desktop.
        g.shell("echo SERIAL-$(id -u)-$((2+3))", r"SERIAL-0-5")
        g.shell("pidof cage foot seatd | wc -w", r"\n3\r?\n")
        print(f"done {g.elapsed():.1f}s after vmmd started")
    finally:
        g.kill()
    print("PASS")


if __name__ == "__main__":
    main()
