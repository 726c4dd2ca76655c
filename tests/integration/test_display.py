#!/usr/bin/env python3
"""The display path end to end, with a windowless viewer (display_client): the
guest's fbcon on virtio-gpu reaches a read-only shared mapping in another
process; keys typed through virtio-input reach the tty1 shell; tablet clicks and
scrolls show up in the guest's evdev records; a window size becomes the guest's
preferred mode; two viewers watch at once; attaching and detaching 20 times
leaves vmmd's descriptors and heap as they were; a broken peer is refused and
dropped while the guest carries on."""

import os
import re
import subprocess
import sys
import tempfile
import time

from guest import Guest, REPO

BOOT_TIMEOUT = 420
CLIENT = os.environ.get("IGNITION_DISPLAY_CLIENT",
                        os.path.join(REPO, "build", "tests", "integration", "display_client"))


def client(g, sock, *args, timeout=120):
    r = subprocess.run([CLIENT, sock, *map(str, args)], capture_output=True, text=True,
                       timeout=timeout)
    print(f"display_client {' '.join(map(str, args))}: {r.returncode}\n{r.stdout}{r.stderr}",
          end="")
    if r.returncode != 0:
        g.fail(f"display_client {args[0]} failed (status {r.returncode})")
    return r.stdout


def main():
    tmp = tempfile.mkdtemp(prefix="ignition-display-")
    os.chmod(tmp, 0o700)
    sock = os.path.join(tmp, "display.sock")
    g = Guest("--socket", sock)
    g.expect(r"display socket " + re.escape(sock), 60)
    st = os.stat(sock)
    if st.st_mode & 0o777 != 0o600:
        g.fail(f"the display socket has mode {st.st_mode & 0o777:o}, not 600")
    g.expect(r"GUEST: /dev/fb0 present", BOOT_TIMEOUT)
    g.expect(r"GUEST: input devices (\d+)", 60)
    g.expect(r"GUEST: shell ready", BOOT_TIMEOUT)
    g.expect(r"ignition:[^\n]*# ", 120)

    # fbcon's text (the tty1 shell's prompt) through the shared mapping.
    out = client(g, sock, "check", 120)
    if "scanout 1280x800" not in out:
        g.fail("the scanout is not the 1280x800 mode the guest was offered")

    # Two viewers at once both see damage while keys typed through virtio-input
    # run a command in the tty1 shell.
    watchers = [subprocess.Popen([CLIENT, sock, "watch", "25"], stdout=subprocess.PIPE,
                                 text=True) for _ in range(2)]
    for w in watchers:
        if w.stdout.readline().strip() != "attached":
            g.fail("a watching viewer could not attach")
    client(g, sock, "type", "echo TYPED-$((6*7)) > /dev/ttyAMA0")
    g.expect(r"TYPED-42", 120)
    for w in watchers:
        out = w.communicate(timeout=60)[0]
        print(f"watcher: {out.strip()}")
        m = re.search(r"damage (\d+)", out)
        if not m or int(m.group(1)) < 2:
            g.fail(f"a second viewer saw no damage while the guest drew: {out!r}")

    # The tablet: which event device it is, then its records as the guest reads
    # them (24-byte struct input_event: time, type, code, value).
    g.capture_tablet(9)  # move (x, y, syn), press (+syn), release (+syn), wheel (+syn)
    client(g, sock, "tablet", 640, 400)
    events = g.tablet_events(stop=False)
    print(f"tablet events: {events}")
    x, y = (2 * 640 + 1) * 32768 // (2 * 1280), (2 * 400 + 1) * 32768 // (2 * 800)
    expected = [(3, 0, x), (3, 1, y), (0, 0, 0), (1, 0x110, 1), (0, 0, 0), (1, 0x110, 0),
                (0, 0, 0), (2, 8, 1), (0, 0, 0)]
    if events != expected:
        g.fail(f"the guest read {events}, expected {expected}")

    # A viewer's window size becomes the mode the guest prefers.
    client(g, sock, "resize", 1024, 768)
    g.wait_preferred_mode("1024x768")

    # Attach and detach 20 times: vmmd ends with what it started with.
    before = g.descriptors_and_heap()
    client(g, sock, "churn", 20)
    time.sleep(1)
    after = g.descriptors_and_heap()
    print(f"vmmd fds/RssAnon kB before {before}, after {after}")
    if after[0] != before[0]:
        g.fail(f"vmmd holds {after[0] - before[0]} more descriptors after 20 viewers came and went")
    if after[1] - before[1] > 4096:
        g.fail(f"vmmd's heap grew by {after[1] - before[1]} kB over 20 attachments")

    # A peer sending garbage (a frame announcing 4 GiB) gets an Error and is
    # dropped; the guest does not notice.
    r = subprocess.run([CLIENT, sock, "raw"], input=b"\xff\xff\xff\xff" + b"x" * 16,
                       capture_output=True, timeout=60)
    print(r.stdout.decode(), r.stderr.decode())
    if b"error " not in r.stdout or b"closed yes" not in r.stdout:
        g.fail("a peer sending an oversized frame was not refused and dropped")
    g.shell("echo still-$((20+22))", r"still-42")

    g.type("poweroff\n")
    if g.wait_exit(120) != 0:
        g.fail("vmmd did not exit 0 after poweroff")
    if os.path.exists(sock):
        g.fail("the display socket is left behind after vmmd exited")
    print("display: ok")


if __name__ == "__main__":
    sys.exit(main())
