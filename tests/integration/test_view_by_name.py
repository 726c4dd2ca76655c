"""ignition-view naming a guest of vmmd's, as `vmmctl view NAME` runs it.

The viewer asks vmmd where the guest's display is, opens a window onto it that
shows the scanout, and Ctrl+Alt+X in that window asks vmmd to stop the guest,
which then powers off through its own poweroff path."""

import json
import os
import subprocess
import time

from guest import REPO, require_assets

import viewed_guest as v
from viewed_guest import fail, view, vmmctl, wait_for

NAME = "viewme"


def main():
    require_assets()
    env, xvfb = v.setup("ignition-view-name-", NAME)
    viewer = None
    try:
        vmmctl(env, "start", NAME, "--image", "console", "--mem", "512M")
        log = os.path.join(v.HOME, "guests", NAME, "console.log")
        wait_for("the guest's shell", lambda: b"GUEST: shell ready" in open(log, "rb").read(),
                 240)
        viewer, win = view(env, NAME)
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
        v.teardown(env, viewer, xvfb)


if __name__ == "__main__":
    main()
