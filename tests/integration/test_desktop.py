#!/usr/bin/env python3
"""The desktop image (tools/build-guest --image desktop) on the emu backend, through
vmmctl, booted once for every check: `vmmctl start --image desktop`; the guest's
own init reports cage's first frame ("GUEST: desktop ready"); a windowless viewer
then sees foot's window (its configured background, not the framebuffer console's
black) fill a frame of the display's size; keys typed through virtio-input run a
command in foot's shell, whose output reaches the serial console; the serial
console still gives a root shell, and the image's DHCP client (busybox udhcpc,
run by the init it shares with the console image) got libslirp's lease. While
foot scrolls (every frame a page flip between cage's two buffers), a viewer gets
damage for each frame but only the one ScanoutInfo of its attach. Then the warm
desktop is snapshotted and restored twice: each restored desktop shows foot at
once, takes typing into its own foot on its own and, its link bounced for its
new MAC, asks DHCP again and gets a lease for that MAC. The tablet puts the
guest's pointer on the pixel a viewer names, each move a CursorMove of the
cursor plane and no damage. Then a window size of 1024x768 from a viewer
becomes the desktop's mode in place (cage presents at it, a viewer maps foot
at it, foot and a variable set in its shell live on); a German keyboard
layout (cage started again to take it) that AltGr and evdev codes are typed
through, and the US layout again. Last, ignition-view in an Xvfb window:
resizing the X window to 1280x800 makes that the desktop's mode (the guest
says so, viewers get a ScanoutInfo of that size, the window shows it pixel for
pixel); xdotool's typing reaches foot, and the window shows the desktop's
frame pixel for pixel; resized back to 1024x768, the desktop follows again;
and `vmmctl fanout --view` opens a window per clone of the warm desktop."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter

import test_vmmctl as t
from guest import guest_dir
from test_viewer import Viewer, start_xvfb, window_matches_scanout

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


def keycodes(name, *words):
    """Evdev codes as they are (display_client keycodes: N taps, +N presses,
    -N releases), whatever the guest's layout makes of them."""
    sock = t.status(name)["display_socket"]
    r = subprocess.run([t.DISPLAY_CLIENT, sock, "keycodes", *map(str, words)],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        t.fail(f"display_client keycodes: {r.stdout}{r.stderr}")


def run_typed_line(name, type_line, marker, timeout=60, attempts=3):
    """Types a line into foot (type_line()) that writes MARKER on the serial
    console; only foot's shell can have written it (what is typed is not on
    that console). On a host loaded well beyond its cores the compositor can
    read its keyboard so late that the guest kernel drops part of a burst of
    keys (SYN_DROPPED; seen at a load average of 15 on 2 cores): a line that
    did not run is dropped with Ctrl+C and typed again."""
    for attempt in range(attempts):
        type_line()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in t.console_log(name):
                return
            time.sleep(0.5)
        print(f"{name}: no {marker} {timeout}s after typing; Ctrl+C and again")
        keycodes(name, "+29", 46, "-29")
        time.sleep(2)
    t.fail(f"{name}: {marker!r} did not appear in the console log after {attempts} tries")


def type_into_foot(name, marker):
    run_typed_line(name, lambda: t.vmmctl("send-keys", name,
                                          f"echo {marker}-$((6*7)) > /dev/ttyAMA0\\n"),
                   f"{marker}-42")


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


def flips_announce_nothing(name):
    """Each of cage's frames is a SET_SCANOUT to its other buffer: viewers must
    see damage (only what changed), not a new ScanoutInfo and descriptor."""
    sock = t.status(name)["display_socket"]
    watcher = subprocess.Popen([t.DISPLAY_CLIENT, sock, "watch", "300"],
                               stdout=subprocess.PIPE, text=True)
    try:
        if watcher.stdout.readline().strip() != "attached":
            t.fail("a watching viewer could not attach")
        run_typed_line(name, lambda: t.vmmctl(
            "send-keys", name, "seq 1 300; echo FLIPS-$((6*7)) > /dev/ttyAMA0\\n"), "FLIPS-42")
        time.sleep(2)  # foot draws its last lines
    finally:
        watcher.send_signal(signal.SIGTERM)
        out = watcher.communicate(timeout=30)[0]
    print(f"while foot scrolled: {out.strip()}")
    m = re.search(r"damage (\d+) rects \d+ scanout-infos (\d+) pixels (\d+)", out)
    if not m:
        t.fail(f"display_client watch said {out!r}")
    notices, infos, pixels = map(int, m.groups())
    if notices < 10:
        t.fail(f"only {notices} damage notices while foot echoed and scrolled")
    if infos != 1:
        t.fail(f"{infos} ScanoutInfo messages for one attach: page flips re-announce the scanout")
    if pixels >= notices * 1280 * 800:
        t.fail(f"{pixels} pixels damaged in {notices} notices: every notice a whole frame")


def pointer_follows(name):
    """The tablet moves the guest's pointer to the very pixel the viewer names,
    and each move is a CursorMove: cage (wlroots 0.18) puts the pointer on
    virtio-gpu's cursor plane, so moving it redraws nothing (docs/DESKTOP.md)."""
    sock = t.status(name)["display_socket"]
    points = [200, 150, 1000, 620, 640, 400, 17, 790, 1270, 9, 333, 444]
    r = subprocess.run([t.DISPLAY_CLIENT, sock, "moves", "60", *map(str, points)],
                       capture_output=True, text=True, timeout=600)
    print(r.stdout.strip())
    if r.returncode != 0:
        t.fail(f"the guest did not show its pointer at every point: {r.stdout}{r.stderr}")
    m = re.search(r"moves (\d+) shown \d+ cursor-moves (\d+) damage-notices \d+ "
                  r"damage-pixels (\d+)", r.stdout)
    if not m:
        t.fail(f"display_client moves said {r.stdout!r}")
    moves, cursor_moves, pixels = map(int, m.groups())
    if r.stdout.count("cursor-move\n") != moves:
        t.fail("a pointer move was drawn into the frame, not put on the cursor plane")
    if cursor_moves < moves:
        t.fail(f"{cursor_moves} CursorMoves for {moves} moves of the pointer")
    # foot draws nothing for a pointer passing over it: a pointer drawn in
    # software would have damaged its old and new places at each move.
    if pixels > 0:
        t.fail(f"{pixels} pixels damaged while the pointer moved over a still foot")


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
    for clone in ("desk-a", "desk-b"):  # the rest is the first desktop's
        t.vmmctl("stop", clone, "--force")


def set_layout(name, layout):
    """The guest's keyboard layout (Debian's /etc/default/keyboard), written
    from the serial root shell; cage takes it when it starts, so cage is ended
    and the session starts it again (with a new foot) at the current mode."""
    mode = current_mode(name)
    ready = f"GUEST: desktop ready {mode}"
    before = t.console_log(name).count(ready)
    t.vmmctl("console", name, stdin=f"echo 'XKBLAYOUT=\"{layout}\"' > /etc/default/keyboard; "
             f"echo LAYOUT-$(grep -c '\"{layout}\"' /etc/default/keyboard)-{layout}; "
             "kill $(pidof cage)\r")
    t.wait_log(name, f"LAYOUT-1-{layout}", 60)
    deadline = time.monotonic() + 180
    while t.console_log(name).count(ready) == before:
        if time.monotonic() > deadline:
            t.fail(f"{name}: cage did not present again with the {layout} layout in 180s")
        time.sleep(0.5)
    wait_foot(name, *map(int, mode.split("x")))  # keys typed before foot is there are lost


def current_mode(name):
    """The mode the desktop last reported ready at (1280x800 at boot)."""
    modes = re.findall(r"GUEST: desktop ready (\d+x\d+)", t.console_log(name))
    return modes[-1] if modes else "1280x800"


# `echo altgr@€z > /dev/ttyAMA0` on a German layout, as evdev codes: AltGr
# (KEY_RIGHTALT) with Q and E gives @ and €, Y and Z trade places, > is
# Shift with the key beside the left Shift (KEY_102ND), / is Shift+7.
SHIFT, ALTGR = 42, 100
GERMAN_LINE = [18, 46, 35, 24, 57,                      # echo
               30, 38, 20, 34, 19,                      # altgr
               f"+{ALTGR}", 16, f"-{ALTGR}",            # @
               f"+{ALTGR}", 18, f"-{ALTGR}",            # €
               21, 57,                                  # z (KEY_Y)
               f"+{SHIFT}", 86, f"-{SHIFT}", 57,        # >
               f"+{SHIFT}", 8, f"-{SHIFT}", 32, 18, 47,  # /dev
               f"+{SHIFT}", 8, f"-{SHIFT}", 20, 20, 44,  # /tty (y: KEY_Z)
               f"+{SHIFT}", 30, 50, 30, f"-{SHIFT}", 11,  # AMA0
               28]                                      # Enter


def german_altgr(name):
    """On a German layout, AltGr and the keys that differ from US reach foot
    as that layout means them: the guest maps the codes, not the viewer."""
    run_typed_line(name, lambda: keycodes(name, *GERMAN_LINE), "altgr@€z")


def foot_pid(name):
    """foot's process id, asked for on the serial root shell."""
    marker = f"FOOT-PID-{time.monotonic_ns()}-"
    t.vmmctl("console", name, stdin=f"echo {marker}$(pidof foot)-END\r")
    pattern = re.compile(re.escape(marker) + r"(\d+)-END")
    deadline = time.monotonic() + 60
    while not (m := pattern.search(t.console_log(name))):
        if time.monotonic() > deadline:
            t.fail(f"{name}: no foot process")
        time.sleep(0.2)
    return int(m.group(1))


def resize(name, width, height):
    """A viewer's window size becomes the desktop's mode in place: the guest
    reports cage presenting at that size and a viewer's next mapping is foot
    at that size, while foot, its shell and a variable set in it before all
    live on (cage is not started again)."""
    sock = t.status(name)["display_socket"]
    mark = f"{width}{height}"
    run_typed_line(name, lambda: t.vmmctl(
        "send-keys", name, f"keep=$((6*7))-{mark}; echo SET-$keep > /dev/ttyAMA0\\n"),
        f"SET-42-{mark}")
    pid = foot_pid(name)
    r = subprocess.run([t.DISPLAY_CLIENT, sock, "resize", str(width), str(height)],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        t.fail(f"display_client resize {width} {height}: {r.stdout}{r.stderr}")
    t.wait_log(name, f"GUEST: desktop ready {width}x{height}", 180)
    wait_foot(name, width, height)
    run_typed_line(name, lambda: t.vmmctl(
        "send-keys", name, "echo KEPT-${keep:-lost} > /dev/ttyAMA0\\n"), f"KEPT-42-{mark}")
    if foot_pid(name) != pid:
        t.fail(f"foot was started again by the resize to {width}x{height}")
    print(f"resized to {width}x{height} in place: foot {pid} and its shell kept")


def window_shows_scanout(v, sock, what, timeout=30):
    """The viewer's window, captured, is the scanout pixel for pixel at 1:1
    (foot may still be drawing: a still screen is captured alike both ways)."""
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(2)
        same, why = window_matches_scanout(v, sock, TMP)
        if same:
            return
        if time.monotonic() > deadline:
            t.fail(f"{what}: the viewer's window is not the desktop's frame: {why}")


def resize_window(v, name, width, height):
    """Resizing the viewer's X window (no window manager: xdotool resizes it
    itself) makes the viewer ask for that size; the guest's desktop takes it as
    its mode (it says so on the serial console), viewers are told of a
    scanout of that size, and the window shows its frame at 1:1."""
    sock = t.status(name)["display_socket"]
    said = len(t.console_log(name))
    watcher = subprocess.Popen([t.DISPLAY_CLIENT, sock, "scanouts", "600"],
                               stdout=subprocess.PIPE, text=True)
    try:
        if watcher.stdout.readline().strip() != "attached":
            t.fail("a watching viewer could not attach")
        attach_info = watcher.stdout.readline().strip()
        v.xdotool("windowsize", v.win, str(width), str(height))
        deadline = time.monotonic() + 180
        while f"GUEST: desktop ready {width}x{height}" not in t.console_log(name)[said:]:
            if time.monotonic() > deadline:
                t.fail(f"{name}: the window resized to {width}x{height}, but the guest did not "
                       f"report its desktop at that size within 180 s")
            time.sleep(0.5)
        wait_foot(name, width, height)
    finally:
        watcher.send_signal(signal.SIGTERM)
        infos = watcher.communicate(timeout=30)[0].split()
    if f"{width}x{height}" not in infos:
        t.fail(f"no ScanoutInfo of {width}x{height} after the window's resize (attached to "
               f"{attach_info!r}, then {infos})")
    if v.geometry() != (width, height):
        t.fail(f"the window is {v.geometry()} after xdotool made it {width}x{height}")
    window_shows_scanout(v, sock, f"at {width}x{height}")
    print(f"the X window resized to {width}x{height}: the guest's desktop and scanout followed")


def viewer_on_desktop(name, width, height):
    """ignition-view in an X window (Xvfb on a display number of its own) on a
    desktop of width x height: resizing the window to 1280x800 makes that the
    desktop's mode; text typed into the window with xdotool reaches foot's
    shell, and the window, captured, is foot's frame pixel for pixel at 1:1;
    resized back, the desktop follows again."""
    for tool in ("Xvfb", "xdotool", "import"):
        if not shutil.which(tool):
            t.fail(f"{tool} is missing: run tools/setup")
    sock = t.status(name)["display_socket"]
    xvfb, display = start_xvfb()
    env = dict(os.environ, DISPLAY=display, SDL_VIDEODRIVER="x11")
    v = None
    try:
        v = Viewer(types.SimpleNamespace(fail=t.fail), sock, env)
        if v.geometry() != (width, height):
            t.fail(f"the viewer's window is {v.geometry()}, not the desktop's {width}x{height}")
        # The window exists hidden until the viewer has a frame to show, and X
        # refuses to focus an unmapped window (BadMatch).
        deadline = time.monotonic() + 60
        while v.win not in subprocess.run(
                ["xdotool", "search", "--onlyvisible", "--name", "^ignition"], env=env,
                capture_output=True, text=True).stdout.split():
            if time.monotonic() > deadline:
                t.fail("the viewer's window was not shown within 60 s")
            time.sleep(0.2)
        v.xdotool("windowfocus", "--sync", v.win)
        resize_window(v, name, 1280, 800)
        type_into_foot(name, "US-AGAIN")  # the layout set before is the one cage took

        def type_in_window():
            v.xdotool("type", "--window", v.win, "--delay", "30",
                      "echo VIEW-$((6*7)) > /dev/ttyAMA0")
            v.xdotool("key", "--window", v.win, "Return")
        run_typed_line(name, type_in_window, "VIEW-42")
        window_shows_scanout(v, sock, "after typing", timeout=20)
        w, h, colour, share = frame(name)
        if colour != FOOT_BACKGROUND or share < 0.6:
            t.fail(f"the window matched a frame that is not foot's: {share:.0%} #{colour.hex()}")
        print("ignition-view under Xvfb: typing reached foot; the window is foot's frame")
        resize_window(v, name, width, height)
        v.close()
        v = None
        fanout_with_windows(env)
    finally:
        if v:
            v.close()
        xvfb.terminate()
        xvfb.wait()


def fanout_with_windows(env):
    """`vmmctl fanout warm 2 --view`: two clones of the warm desktop, each in a
    window of its own (titled with its name)."""
    r = subprocess.run([t.VMMCTL, "fanout", "warm", "2", "--prefix", "fan", "--view"],
                       env=dict(t.ENV, **{k: env[k] for k in ("DISPLAY", "SDL_VIDEODRIVER")}),
                       capture_output=True, text=True, timeout=300)
    names = re.findall(r"guest (\S+) is running", r.stdout)
    if r.returncode != 0 or len(names) != 2:
        t.fail(f"vmmctl fanout warm 2 --view: {r.stdout}{r.stderr}")
    pids = []
    try:
        for name in names:
            deadline = time.monotonic() + 60
            while True:
                found = subprocess.run(["xdotool", "search", "--name", name], env=env,
                                       capture_output=True, text=True).stdout.split()
                if found:
                    pid = subprocess.run(["xdotool", "getwindowpid", found[0]], env=env,
                                         capture_output=True, text=True).stdout.strip()
                    pids.append(int(pid))
                    break
                if time.monotonic() > deadline:
                    t.fail(f"no window for {name} 60 s after vmmctl fanout --view")
                time.sleep(0.5)
        print(f"fanout --view: windows for {', '.join(names)}")
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        for name in names:
            t.vmmctl("stop", name, "--force")


def main():
    disk = os.path.join(guest_dir(), "desktop.ext4")
    if not os.path.exists(disk):
        sys.exit(f"FAIL: {disk} missing; run tools/build-guest --image desktop")
    try:
        desk_mac = boot()
        flips_announce_nothing("desk")
        snapshot_and_restore_twice(desk_mac)
        pointer_follows("desk")
        resize("desk", 1024, 768)
        set_layout("desk", "de")  # cage and foot start again, at 1024x768
        german_altgr("desk")
        set_layout("desk", "us")
        viewer_on_desktop("desk", 1024, 768)  # the window takes it back to 1280x800 and again
    finally:
        t.cleanup()
        shutil.rmtree(TMP, ignore_errors=True)
    t.passed()


if __name__ == "__main__":
    main()
