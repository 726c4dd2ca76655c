"""Ctrl+Alt+S and Ctrl+Alt+R in a viewer of a guest of vmmd's.

A guest without a snapshot cannot be relaunched: `vmmctl relaunch` says so and
the guest runs on, untouched. Ctrl+Alt+S then snapshots it under an automatic
name (GUEST-YYYYmmdd-HHMMSS), which `vmmctl snapshots` lists and `vmmctl
status` reports as its last snapshot; the guest runs on. A file made after the
snapshot is gone once Ctrl+Alt+R has relaunched the guest, a file made before
it is there, and the same viewer, still running, attached to the new worker
by itself. Closing a plain viewer leaves its guest running; closing the window
of a disposable clone (`restore --rm --view`) removes the clone, and so does
Ctrl+Alt+X in it, after which the viewer says the clone is gone and ends
without an error."""

import json
import os
import re
import signal
import subprocess
import time

from guest import require_assets

import viewed_guest as v
from viewed_guest import VMMCTL, fail, find_window, view, vmmctl, wait_for

NAME = "relaunchme"
ATTACHED = re.compile(r"viewer ignition-view \(fd \d+\) attached")


def guest_file(leaf):
    path = os.path.join(v.HOME, "guests", NAME, leaf)
    return open(path, "rb").read().decode(errors="replace") if os.path.exists(path) else ""


def status(env):
    return json.loads(vmmctl(env, "--json", "status", NAME).stdout)


def type_on_console(env, line, expect):
    """Types line on the serial console and waits for expect in its log. The
    arithmetic in the lines keeps the echoed command from matching."""
    vmmctl(env, "console", NAME, stdin=line + "\r")
    wait_for(f"{expect!r} on the console", lambda: expect in guest_file("console.log"), 60)


def press(env, win, keys):
    subprocess.run(["xdotool", "windowfocus", "--sync", win], env=env, check=True)
    subprocess.run(["xdotool", "key", "--window", win, keys], env=env, check=True)


def no_snapshot_no_relaunch(env):
    pid = status(env)["pid"]
    r = vmmctl(env, "relaunch", NAME, ok=False)
    if r.returncode != 1 or f"{NAME} has no snapshot" not in r.stderr:
        fail(f"relaunch without a snapshot: exit {r.returncode}, said {r.stderr!r}")
    st = status(env)
    if st["state"] != "running" or st["pid"] != pid:
        fail(f"a refused relaunch touched the guest: {st['state']}, pid {st['pid']} (was {pid})")


def snapshot_by_chord(env, win):
    press(env, win, "ctrl+alt+s")
    taken = []

    def listed():
        snaps = json.loads(vmmctl(env, "--json", "snapshots").stdout)["snapshots"]
        taken[:] = [s["name"] for s in snaps if re.fullmatch(NAME + r"-\d{8}-\d{6}", s["name"])]
        return bool(taken)

    wait_for("Ctrl+Alt+S's snapshot in vmmctl snapshots", listed, 120)
    st = status(env)
    if st["state"] != "running" or st["last_snapshot"] != taken[0]:
        fail(f"after Ctrl+Alt+S: {st['state']}, last snapshot {st['last_snapshot']!r}, "
             f"snapshots {taken}")
    return taken[0]


def relaunch_by_chord(env, win, viewer):
    old_pid = status(env)["pid"]
    attached = len(ATTACHED.findall(guest_file("worker.log")))
    press(env, win, "ctrl+alt+r")

    def relaunched():
        st = status(env)
        return st["state"] == "running" and st["pid"] not in (0, old_pid)

    wait_for("the guest to run again after Ctrl+Alt+R", relaunched, 120)
    wait_for("the viewer to attach to the new worker",
             lambda: len(ATTACHED.findall(guest_file("worker.log"))) > attached, 60)
    if viewer.poll() is not None:
        fail(f"the viewer exited ({viewer.returncode}) after Ctrl+Alt+R")


def disposable_clone_in_window(env, snap, clone):
    """`vmmctl restore --rm --view`: the clone, its instance directory and the
    viewer process (vmmctl execs it) with its window."""
    proc = subprocess.Popen([VMMCTL, "restore", snap, "--name", clone, "--rm", "--view"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_for("the disposable clone to run", lambda: vmmctl(
        env, "status", clone, ok=False).returncode == 0, 120)
    st = json.loads(vmmctl(env, "--json", "status", clone).stdout)
    if not st["disposable"] or not os.path.isdir(st["instance_dir"]):
        fail(f"restore --rm: disposable {st['disposable']}, instance {st['instance_dir']}")
    win = find_window(env, proc, clone)
    time.sleep(1)
    return proc, win, st["instance_dir"]


def removed(env, clone, instance_dir):
    wait_for(f"{clone} and its instance directory to be removed",
             lambda: vmmctl(env, "status", clone, ok=False).returncode == 1
             and not os.path.exists(instance_dir), 30)
    if status(env)["state"] != "running":
        fail(f"ending {clone} stopped the guest it was restored from")


def window_closes_disposable_clone(env, snap):
    """Closing the window of a disposable clone (SDL's quit, which SIGTERM
    also makes) removes the clone with its instance directory, while the
    guest it came from runs on."""
    clone = NAME + "-rm"
    proc, _, instance_dir = disposable_clone_in_window(env, snap, clone)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=60)[0].decode(errors="replace")
    if proc.returncode != 0 or f"guest {clone} stopped" not in out:
        fail(f"closing the clone's window: exit {proc.returncode}, said {out!r}")
    removed(env, clone, instance_dir)
    print(f"closing the window of disposable clone {clone} removed it")


def ctrl_alt_x_discards_disposable_clone(env, snap):
    """Ctrl+Alt+X in a disposable clone's window powers it off, vmmd removes
    it, and the viewer, finding it gone, says so and ends with status 0: the
    session ended as asked (it used to end with "no guest named" and 1)."""
    clone = NAME + "-x"
    proc, win, instance_dir = disposable_clone_in_window(env, snap, clone)
    press(env, win, "ctrl+alt+x")
    out = proc.communicate(timeout=120)[0].decode(errors="replace")
    if proc.returncode != 0 or f"guest {clone} is gone" not in out:
        fail(f"Ctrl+Alt+X in the clone's window: exit {proc.returncode}, said {out!r}")
    removed(env, clone, instance_dir)
    print(f"Ctrl+Alt+X in the window of disposable clone {clone} removed it")


def main():
    require_assets()
    env, xvfb = v.setup("ignition-relaunch-", NAME)
    viewer = None
    try:
        vmmctl(env, "start", NAME, "--image", "console", "--mem", "512M")
        wait_for("the guest's shell", lambda: "GUEST: shell ready" in guest_file("console.log"),
                 240)
        no_snapshot_no_relaunch(env)
        type_on_console(env, "echo SNAPSTATE-$((40+2)) > /tmp/before; echo WROTE-$((1+2))",
                        "WROTE-3")
        viewer, win = view(env, NAME)
        time.sleep(1)
        snap = snapshot_by_chord(env, win)
        type_on_console(env, "touch /tmp/after; test -e /tmp/after && echo AFTER-$((1+1))",
                        "AFTER-2")
        relaunch_by_chord(env, win, viewer)
        type_on_console(env, "test -e /tmp/after || echo NOAFTER-$((2+2)); cat /tmp/before",
                        "NOAFTER-4")
        wait_for("the file made before the snapshot",
                 lambda: "SNAPSTATE-42" in guest_file("console.log"), 30)
        st = status(env)
        if st["last_snapshot"] != snap or not st["restore_from"].endswith("/" + snap):
            fail(f"after the relaunch: last snapshot {st['last_snapshot']!r}, restores "
                 f"{st['restore_from']!r}; wanted {snap}")
        shot = os.path.join(v.HOME, "after.png")
        vmmctl(env, "screenshot", NAME, shot)
        if os.path.getsize(shot) < 100:
            fail("the relaunched guest's screenshot is empty")
        viewer.send_signal(signal.SIGTERM)
        out = viewer.communicate(timeout=30)[0].decode(errors="replace")
        if f"snapshot {snap} taken" not in out or f"relaunched from snapshot {snap}" not in out:
            fail(f"the viewer did not say how its requests went: {out!r}")
        viewer = None
        if vmmctl(env, "--json", "status", NAME).returncode != 0:
            fail("closing a plain viewer stopped its guest")
        window_closes_disposable_clone(env, snap)
        ctrl_alt_x_discards_disposable_clone(env, snap)
        print("PASS")
    finally:
        v.teardown(env, viewer, xvfb)


if __name__ == "__main__":
    main()
