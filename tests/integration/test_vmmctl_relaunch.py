"""`vmmctl relaunch` and vmmd's RelaunchRequest, without a window.

A guest with no snapshot is not relaunched: the command says so and the guest
runs on, untouched. After `vmmctl snapshot` its status names that snapshot,
and a relaunch replaces the running worker with the snapshot's guest under
the same name: a file made after the snapshot is gone, one made before it is
there. A stopped guest is relaunched too. A guest restored from a snapshot
relaunches from it, keeping the network it was restored with (the host's
loopback open, its --publish rules): a relaunch brings back the snapshot's
machine, not its network settings. A guest whose last snapshot was removed is
refused and keeps running."""

import os
import socket

import test_vmmctl as t
from guest import require_assets


def expect_error(args, text):
    r = t.vmmctl(*args, ok=False)
    if r.returncode != 1 or text not in r.stderr:
        t.fail(f"vmmctl {' '.join(args)}: exit {r.returncode}, said {r.stderr!r}; "
               f"wanted {text!r}")


def refused_and_untouched(name, text):
    pid = t.status(name)["pid"]
    expect_error(("relaunch", name), text)
    st = t.status(name)
    if st["state"] != "running" or st["pid"] != pid:
        t.fail(f"a refused relaunch touched {name}: {st['state']}, pid {st['pid']} (was {pid})")


def on_console(name, line, expect):
    """Types line on name's serial console and waits for expect in its log; the
    arithmetic in the lines keeps the echoed command from matching."""
    t.vmmctl("console", name, stdin=line + "\r")
    t.wait_log(name, expect, 60)


def relaunched(name, old_pid, snap):
    r = t.vmmctl("relaunch", name, timeout=300)
    if f"guest {name} is running" not in r.stdout or f"relaunched from {snap}" not in r.stdout:
        t.fail(f"relaunch {name}: {r.stdout!r}")
    st = t.status(name)
    if st["state"] != "running" or st["pid"] in (0, old_pid) or \
            not st["restore_from"].endswith("/snapshots/" + snap):
        t.fail(f"after relaunch: {st['state']}, pid {st['pid']} (was {old_pid}), "
               f"restores {st['restore_from']!r}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def same_network_after_relaunch(name, port):
    """The relaunched worker runs with the guest's own network, not the
    snapshot's: the host's loopback open, its port published."""
    net = t.status(name)["config"]
    if net["net"] != "user,host-loopback" or net["publish"] != [f"127.0.0.1:{port}:8080"]:
        t.fail(f"{name} relaunched with network {net['net']!r}, publish {net['publish']}")
    log = open(os.path.join(t.HOME, "guests", name, "worker.log")).read()
    if "host loopback at 10.0.2.2" not in log or f"127.0.0.1:{port}" not in log:
        t.fail(f"{name}'s relaunched worker did not take its network:\n{log[-2000:]}")


def main():
    require_assets()
    try:
        t.vmmctl("start", "base", "--image", "console", "--mem", "512M", timeout=t.BOOT_TIMEOUT)
        t.wait_log("base", "GUEST: shell ready")
        refused_and_untouched("base", "base has no snapshot: take one with Ctrl+Alt+S or "
                                      "vmmctl snapshot")
        expect_error(("relaunch", "nosuch"), "no guest named")
        on_console("base", "echo SNAPSTATE-$((40+2)) > /tmp/before; echo WROTE-$((1+2))",
                   "WROTE-3")
        t.vmmctl("snapshot", "base", "s1", timeout=300)
        if t.status("base")["last_snapshot"] != "s1":
            t.fail(f"status after a snapshot: {t.status('base')['last_snapshot']!r}")
        on_console("base", "touch /tmp/after; test -e /tmp/after && echo AFTER-$((1+1))",
                   "AFTER-2")
        relaunched("base", t.status("base")["pid"], "s1")
        on_console("base", "test -e /tmp/after || echo NOAFTER-$((2+2)); cat /tmp/before",
                   "NOAFTER-4")
        t.wait_log("base", "SNAPSTATE-42", 30)
        # Stopped: started again from the snapshot.
        t.vmmctl("stop", "--force", "base")
        relaunched("base", 0, "s1")
        # Restored: its snapshot is its last one from the start, and a relaunch
        # keeps the network it was restored with.
        port = free_port()
        t.vmmctl("restore", "s1", "--name", "clone", "--host-loopback", "--publish",
                 f"127.0.0.1:{port}:8080", timeout=300)
        if t.status("clone")["last_snapshot"] != "s1":
            t.fail(f"a restored guest's last snapshot: {t.status('clone')['last_snapshot']!r}")
        relaunched("clone", t.status("clone")["pid"], "s1")
        same_network_after_relaunch("clone", port)
        t.vmmctl("stop", "--force", "clone")
        t.vmmctl("rm", "clone")
        t.vmmctl("rm-snapshot", "s1")
        refused_and_untouched("base", "no snapshot named 's1'")
    finally:
        t.cleanup()
    t.passed()


if __name__ == "__main__":
    main()
