"""A guest stopped while the disk under vmmd's state directory is full.

The state directory is a small tmpfs (in a mount namespace of the test's own,
so nothing outlives it). A guest boots to its shell, the disk is filled, and
`vmmctl status` must say the disk is full; the guest is stopped: vmmd must
record a stop, not a crash, in its answer, in guest.json on disk, and after a
restart of vmmd (which reads guest.json back)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from guest import REPO, require_assets

VMMCTL = os.environ.get("IGNITION_VMMCTL", os.path.join(REPO, "build", "tools", "vmmctl", "vmmctl"))
BOOT_TIMEOUT = 240
INSIDE = "IGNITION_FULL_DISK_NAMESPACE"


def enter_namespace():
    """Runs this test again in a private mount namespace (as root, or as root
    of a user namespace of its own), where it mounts its tmpfs."""
    cmd = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        cmd.append("--map-root-user")
    r = subprocess.run(cmd + [sys.executable, os.path.abspath(__file__)],
                       env=dict(os.environ, **{INSIDE: "1"}))
    sys.exit(r.returncode)


HOME = ""
ENV = {}


def vmmctl(*args, ok=True, timeout=120):
    r = subprocess.run([VMMCTL, *args], env=ENV, capture_output=True, text=True,
                       timeout=timeout)
    if ok and r.returncode != 0:
        fail(f"vmmctl {' '.join(args)} exited {r.returncode}: {r.stderr.strip()}")
    return r


def status(name):
    return json.loads(vmmctl("--json", "status", name).stdout)


def pid_in(path):
    try:
        return int(open(path).read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def cleanup():
    for pid in (pid_in(os.path.join(HOME, "guests", "full", "worker.lock")),
                pid_in(os.path.join(HOME, "vmmd.lock"))):
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    time.sleep(0.3)
    subprocess.run(["umount", "-l", HOME], capture_output=True)
    shutil.rmtree(HOME, ignore_errors=True)


def fail(message):
    print(f"FAIL: {message}")
    for leaf in ("vmmd.log", "guests/full/worker.log", "guests/full/guest.json"):
        path = os.path.join(HOME, leaf)
        if os.path.exists(path):
            print(f"---- {leaf}")
            print(open(path, errors="replace").read()[-3000:])
    cleanup()
    sys.exit(1)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    fail(f"timed out waiting for {what}")


def console_has(text):
    path = os.path.join(HOME, "guests", "full", "console.log")
    return os.path.exists(path) and text.encode() in open(path, "rb").read()


def fill_disk():
    """Writes a file until the tmpfs has no byte left."""
    with open(os.path.join(HOME, "filler"), "wb", buffering=0) as f:
        for size in (1 << 20, 4096, 1):
            chunk = b"\0" * size
            try:
                while True:
                    f.write(chunk)
            except OSError:
                pass
    free = os.statvfs(HOME)
    return free.f_bavail * free.f_frsize


def record_on_disk():
    return json.load(open(os.path.join(HOME, "guests", "full", "guest.json")))


def main():
    global HOME, ENV
    require_assets()
    if not os.environ.get(INSIDE):
        enter_namespace()
    HOME = tempfile.mkdtemp(prefix="ignition-full-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", HOME],
                   check=True)
    ENV = dict(os.environ, IGNITION_HOME=HOME)
    ENV.pop(INSIDE)

    r = vmmctl("start", "full", "--image", "console", "--mem", "512M", "--no-gui",
                timeout=BOOT_TIMEOUT)
    if "is running" not in r.stdout:
        fail(f"start: {r.stdout!r}")
    wait_for(lambda: console_has("GUEST: shell ready"), BOOT_TIMEOUT, "the guest's shell")

    left = fill_disk()
    print(f"disk filled: {left} bytes free")
    wait_for(lambda: "full" in status("full").get("storage_warning", ""), 5,
             "status to say the disk is full")
    text = vmmctl("status", "full").stdout
    if "warning:" not in text or "is full" not in text:
        fail(f"status does not say the disk is full:\n{text}")

    r = vmmctl("stop", "full", ok=False, timeout=120)
    print(f"stop: {r.stdout.strip()} {r.stderr.strip()}")
    s = status("full")
    if s["state"] != "stopped":
        fail(f"a stop asked on a full disk ended as {s['state']}: {s['exit_reason']}")
    on_disk = record_on_disk()
    if on_disk["state"] != "stopped":
        fail(f"guest.json says {on_disk['state']} after the stop")

    # A new vmmd reads guest.json back: still a stop.
    os.kill(pid_in(os.path.join(HOME, "vmmd.lock")), signal.SIGKILL)
    time.sleep(0.3)
    s = status("full")
    if s["state"] != "stopped":
        fail(f"after vmmd restarted the guest is {s['state']}: {s['exit_reason']}")
    print(f"recorded: {s['state']} ({s['exit_reason']})")
    cleanup()
    print("PASS")


if __name__ == "__main__":
    main()
