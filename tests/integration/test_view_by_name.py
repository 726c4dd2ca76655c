"""ignition-view naming a guest of vmmd's, as `vmmctl view NAME` runs it.

The viewer asks vmmd where the guest's display is, opens a window onto it that
shows the scanout, and Ctrl+Alt+X in that window asks vmmd to stop the guest,
which then powers off through its own poweroff path."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from guest import REPO, require_assets
from test_viewer import XVFB_LOG, start_xvfb

VMMCTL = os.environ.get("IGNITION_VMMCTL", os.path.join(REPO, "build", "tools", "vmmctl", "vmmctl"))
HOME = tempfile.mkdtemp(prefix="ignition-view-name-")
NAME = "viewme"


def fail(message):
    print(f"FAIL: {message}")
    for leaf in ("worker.log", "console.log"):
        path = os.path.join(HOME, "guests", NAME, leaf)
        if os.path.exists(path):
            print(f"---- {leaf}")
            print(open(path, "rb").read()[-3000:].decode(errors="replace"))
    raise SystemExit(1)


def vmmctl(env, *args, ok=True):
    r = subprocess.run([VMMCTL, *args], env=env, capture_output=True, text=True, timeout=240)
    if ok and r.returncode != 0:
        fail(f"vmmctl {' '.join(args)}: {r.stderr.strip()}")
    return r


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    fail(f"timed out after {timeout}s waiting for {what}")


def find_window(env, proc):
    found = []

    def look():
        if proc.poll() is not None:
            out = proc.communicate()[0]
            if b"x11 not available" in out:
                print(f"X refused the viewer; Xvfb says: {open(XVFB_LOG.name).read()[-300:]!r}")
            fail(f"the viewer exited ({proc.returncode}): {out.decode(errors='replace')}")
        r = subprocess.run(["xdotool", "search", "--name", NAME], env=env, capture_output=True,
                           text=True)
        found.extend(r.stdout.split())
        return bool(found)

    wait_for("the viewer's window, titled with the guest's name", look, 60)
    return found[0]


def main():
    require_assets()
    for tool in ("Xvfb", "xdotool"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run tools/setup")
    xvfb, display = start_xvfb()
    env = dict(os.environ, IGNITION_HOME=HOME, DISPLAY=display, SDL_VIDEODRIVER="x11")
    viewer = None
    try:
        vmmctl(env, "start", NAME, "--mem", "512M")
        log = os.path.join(HOME, "guests", NAME, "console.log")
        wait_for("the guest's shell", lambda: b"GUEST: shell ready" in open(log, "rb").read(),
                 240)
        viewer = subprocess.Popen([VMMCTL, "view", NAME], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        win = find_window(env, viewer)
        geometry = subprocess.run(["xdotool", "getwindowgeometry", win], env=env,
                                  capture_output=True, text=True).stdout
        if "1280x800" not in geometry:
            fail(f"the window is not the scanout's size: {geometry}")
        time.sleep(1)
        subprocess.run(["xdotool", "windowfocus", "--sync", win], env=env, check=True)
        subprocess.run(["xdotool", "key", "--window", win, "ctrl+alt+x"], env=env, check=True)

        def stopped():
            st = json.loads(vmmctl(env, "--json", "status", NAME).stdout)
            return st["state"] == "stopped"

        wait_for("the guest to stop after Ctrl+Alt+X", stopped, 120)
        st = json.loads(vmmctl(env, "--json", "status", NAME).stdout)
        if st["exit_reason"] != "powered off":
            fail(f"Ctrl+Alt+X ended the guest as {st['exit_reason']!r}, not by powering off")
        if b"GUEST: power button: powering off" not in open(log, "rb").read():
            fail("the guest did not run its power-button path")
        # A viewer naming a guest that is not there says so in one line.
        r = subprocess.run([os.environ.get("IGNITION_VIEW", os.path.join(
            REPO, "build", "viewer", "ignition-view")), "nosuchguest"], env=env,
            capture_output=True, text=True, timeout=60)
        if r.returncode == 0 or "no guest named" not in r.stderr:
            fail(f"ignition-view nosuchguest: {r.returncode} {r.stderr!r}")
        print("PASS")
    finally:
        if viewer and viewer.poll() is None:
            viewer.send_signal(signal.SIGTERM)
            try:
                viewer.wait(10)
            except subprocess.TimeoutExpired:
                viewer.kill()
        subprocess.run([VMMCTL, "stop", "--force", NAME], env=env, capture_output=True)
        try:
            os.kill(int(open(os.path.join(HOME, "vmmd.lock")).read().split()[0]), signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            pass
        xvfb.terminate()
        xvfb.wait()


if __name__ == "__main__":
    main()
