"""vmmd out of file descriptors: it idles, and serves again once they are free.

vmmd runs with a small descriptor limit; idle connections to its control
socket use up its descriptors, and one more waits in the socket's backlog.
accept() then fails with EMFILE while the waiting connection keeps the socket
readable, so a vmmd that listened again at once would spin. Its CPU time over
two seconds must stay low; once the idle connections close, the waiting one
and a new `vmmctl list` are served."""

import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from guest import REPO, vmmd_path

VMMCTL = os.environ.get("IGNITION_VMMCTL", os.path.join(REPO, "build", "tools", "vmmctl", "vmmctl"))
HOME = tempfile.mkdtemp(prefix="ignition-fds-")
ENV = dict(os.environ, IGNITION_HOME=HOME)
SOCKET = os.path.join(HOME, "run", "vmmd.sock")
FD_LIMIT = 40
WINDOW_S = 2.0
# A spinning vmmd burns most of a core even on a busy machine; an idle one
# wakes ten times a second.
MAX_CPU_S = 0.25
CLK_TCK = os.sysconf("SC_CLK_TCK")

vmmd = None


def fail(message):
    print(f"FAIL: {message}")
    log = os.path.join(HOME, "vmmd.out")
    if os.path.exists(log):
        print("---- vmmd's output")
        print(open(log, errors="replace").read()[-3000:])
    stop_vmmd()
    sys.exit(1)


def stop_vmmd():
    if vmmd and vmmd.poll() is None:
        vmmd.kill()
        vmmd.wait()


def cpu_seconds(pid):
    """utime + stime of the process, from /proc (fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def small_fd_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    fail(f"timed out waiting for {what}")


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(SOCKET)
    return s


def main():
    global vmmd
    out = open(os.path.join(HOME, "vmmd.out"), "w")
    vmmd = subprocess.Popen([vmmd_path()], env=ENV, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, preexec_fn=small_fd_limit)
    wait_for(lambda: os.path.exists(SOCKET) or vmmd.poll() is not None, 30, "vmmd's socket")
    if vmmd.poll() is not None:
        fail("vmmd exited at start")

    # Idle clients (no Hello: vmmd waits 5 s for one) until vmmd has no
    # descriptor left, then one more that stays in the backlog.
    idle = []
    for _ in range(FD_LIMIT):
        idle.append(connect())
        if open_fds(vmmd.pid) >= FD_LIMIT:
            break
    wait_for(lambda: open_fds(vmmd.pid) >= FD_LIMIT, 5, "vmmd to use up its descriptors")
    waiting = connect()
    time.sleep(0.2)  # vmmd has seen the waiting connection and failed to take it

    before = cpu_seconds(vmmd.pid)
    time.sleep(WINDOW_S)
    used = cpu_seconds(vmmd.pid) - before
    print(f"vmmd out of descriptors: {used:.2f} s of CPU in {WINDOW_S:.0f} s")
    if used > MAX_CPU_S:
        fail(f"vmmd used {used:.2f} s of CPU in {WINDOW_S:.0f} s while out of descriptors "
             f"(at most {MAX_CPU_S} expected): it spins on its listening socket")
    if "out of file descriptors" not in open(os.path.join(HOME, "vmmd.out")).read():
        fail("vmmd did not say it ran out of file descriptors")

    # Recovery: the idle clients leave; the waiting one gets its Welcome and a
    # new vmmctl is answered.
    for s in idle:
        s.close()
    hello = bytes([0x0a, 0x06, 0x08, 0x01, 0x12, 0x02, 0x66, 0x64])  # Envelope{hello{1, "fd"}}
    waiting.sendall(len(hello).to_bytes(4, "little") + hello)
    waiting.settimeout(5)
    try:
        reply = waiting.recv(4096)
    except socket.timeout:
        fail("the connection that waited was not served once descriptors were free")
    if len(reply) < 5 or reply[4] != 0x12:  # Envelope field 2: Welcome
        fail(f"the connection that waited got {reply[:16]!r}, not a Welcome")
    waiting.close()
    r = subprocess.run([VMMCTL, "list"], env=ENV, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        fail(f"vmmctl list failed after the shortage: {r.stderr.strip()}")
    if vmmd.poll() is not None:
        fail("vmmd exited")
    stop_vmmd()
    shutil.rmtree(HOME, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    main()
