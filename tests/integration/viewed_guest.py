"""What the tests of ignition-view on a guest of vmmd's share: one guest NAME
under a state directory HOME of its own, vmmctl, waiting, the viewer's window
(found by its title, the guest's name) and the teardown that leaves nothing
running. A test calls setup() first."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from guest import REPO
from test_viewer import XVFB_LOG, start_xvfb

VMMCTL = os.environ.get("IGNITION_VMMCTL", os.path.join(REPO, "build", "tools", "vmmctl", "vmmctl"))
HOME = None
NAME = None


def setup(prefix, name):
    """Makes the state directory and an X server; returns the environment
    for vmmctl and the viewer, and the X server to give to teardown."""
    global HOME, NAME
    HOME, NAME = tempfile.mkdtemp(prefix=prefix), name
    for tool in ("Xvfb", "xdotool"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run tools/setup")
    xvfb, display = start_xvfb()
    return dict(os.environ, IGNITION_HOME=HOME, DISPLAY=display, SDL_VIDEODRIVER="x11"), xvfb


def fail(message):
    print(f"FAIL: {message}")
    for leaf in ("worker.log", "console.log"):
        path = os.path.join(HOME, "guests", NAME, leaf)
        if os.path.exists(path):
            print(f"---- {leaf}")
            print(open(path, "rb").read()[-3000:].decode(errors="replace"))
    raise SystemExit(1)


def vmmctl(env, *args, ok=True, stdin=None):
    r = subprocess.run([VMMCTL, *args], env=env, capture_output=True, text=True, timeout=240,
                       input=stdin)
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


class XRefused(Exception):
    """SDL_Init found x11 not available: XOpenDisplay failed with Xvfb silent,
    which happens now and then on a loaded machine (test_viewer.py)."""


def find_window(env, proc, name=None):
    """The viewer's window, titled with the guest's name (NAME unless name
    is given)."""
    found = []

    def look():
        if proc.poll() is not None:
            out = proc.communicate()[0]
            if b"x11 not available" in out:
                print(f"X refused the viewer; Xvfb says: {open(XVFB_LOG.name).read()[-300:]!r}")
                raise XRefused()
            fail(f"the viewer exited ({proc.returncode}): {out.decode(errors='replace')}")
        r = subprocess.run(["xdotool", "search", "--name", name or NAME], env=env,
                           capture_output=True, text=True)
        found.extend(r.stdout.split())
        return bool(found)

    wait_for("the viewer's window, titled with the guest's name", look, 60)
    return found[0]


def view(env, name):
    """`vmmctl view NAME` and its window: (process, window). A start X refused
    (XRefused) is tried again, at most three times in all; any other failure
    fails the test."""
    for attempt in range(3):
        proc = subprocess.Popen([VMMCTL, "view", name], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        try:
            return proc, find_window(env, proc)
        except XRefused:
            print(f"starting the viewer again (attempt {attempt + 2})")
    fail("X refused the viewer three times")


def teardown(env, viewer, xvfb):
    """The viewer, the guest, vmmd and the X server, whatever state they are in."""
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
