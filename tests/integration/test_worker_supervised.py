#!/usr/bin/env python3
"""A guest worker run the way the supervisor runs it: no terminal, its serial
console on a Unix socket and in a log file, a lock, an exit file and a ready
descriptor. Checks that "ready" arrives, that two console clients both see a
command's answer, that the log holds the same output, that a second worker is
refused the lock, that SIGTERM makes the guest power off through its power
button (exit status 0, exit file "poweroff"), and that a worker killed with
SIGKILL leaves no exit file and frees its lock."""

import fcntl
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

from guest import guest_dir, require_assets, vmmd_path

BOOT_TIMEOUT = 420  # a loaded 2-core CI machine; a quiet one boots in under a minute
NAME = "demo"


class Worker:
    """One `vmmd run` with the supervised options, its files in a fresh directory."""

    def __init__(self, home):
        self.run_dir = os.path.join(home, "run")
        self.gdir = os.path.join(home, "guests", NAME)
        os.makedirs(self.gdir, exist_ok=True)
        self.console_socket = os.path.join(self.run_dir, NAME + ".console")
        self.console_log = os.path.join(self.gdir, "console.log")
        self.lock = os.path.join(self.gdir, "worker.lock")
        self.exit_file = os.path.join(self.gdir, "exit")
        self.worker_log = os.path.join(self.gdir, "worker.log")
        self.proc = None

    def args(self, ready_fd):
        d = guest_dir()
        return [vmmd_path(), "run", "--guest", NAME,
                "--kernel", os.path.join(d, "Image"),
                "--initrd", os.path.join(d, "initramfs.cpio.gz"),
                "--append", "console=ttyAMA0 quiet", "--mem", "1G", "--no-gpu",
                "--console-socket", self.console_socket, "--console-log", self.console_log,
                "--lock", self.lock, "--exit-file", self.exit_file,
                "--ready-fd", str(ready_fd)]

    def start(self):
        """Starts the worker as a supervisor would and waits for its "ready"."""
        ready_r, ready_w = os.pipe()
        with open(self.worker_log, "ab") as log:
            self.proc = subprocess.Popen(self.args(ready_w), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, pass_fds=(ready_w,),
                                         start_new_session=True)
        os.close(ready_w)
        said = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not select.select([ready_r], [], [], 1.0)[0]:
                continue
            chunk = os.read(ready_r, 64)
            if not chunk:
                break  # closed: by the worker after "ready", or by its exit
            said += chunk
        os.close(ready_r)
        if said != b"ready emu\n":
            self.fail(f"the ready descriptor said {said!r}, not b'ready emu\\n'")

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"the worker is still running {timeout}s later")

    def file(self, path):
        with open(path, "rb") as f:
            return f.read()

    def fail(self, why):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for title, path in (("worker log", self.worker_log), ("console log", self.console_log)):
            if os.path.exists(path):
                sys.stderr.write(f"---- {title} ----\n")
                sys.stderr.write(self.file(path).decode(errors="replace"))
                sys.stderr.write(f"\n---- end of {title} ----\n")
        sys.exit(f"FAIL: {why}")


class ConsoleClient:
    """A raw client of the console socket, as `vmmctl console` is."""

    def __init__(self, worker):
        self.worker = worker
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(worker.console_socket)
        self.out = b""
        self.seen = 0

    def expect(self, pattern, timeout):
        rx = re.compile(pattern.encode())
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.out, self.seen)
            if m:
                self.seen = m.end()
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                self.worker.fail(f"timed out after {timeout}s waiting for {pattern!r} on the "
                                 f"console socket; it said: {self.out[-2000:]!r}")
            if select.select([self.sock], [], [], min(left, 1.0))[0]:
                chunk = self.sock.recv(65536)
                if not chunk:
                    self.worker.fail(f"the console socket closed while waiting for {pattern!r}")
                self.out += chunk

    def type(self, text):
        self.sock.sendall(text.encode())

    def close(self):
        self.sock.close()


def lock_is_free(path):
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
        return True


def check_second_worker_refused(w):
    without_ready_fd = w.args(0)[:-2]
    second = subprocess.run(without_ready_fd, stdin=subprocess.DEVNULL, capture_output=True,
                            timeout=60)
    expected = f"guest {NAME} is already running (pid {w.proc.pid})"
    if second.returncode != 1 or expected.encode() not in second.stderr:
        w.fail(f"a second worker with the same lock exited {second.returncode} saying "
               f"{second.stderr!r}; expected status 1 and {expected!r}")
    if not os.path.exists(w.console_socket):
        w.fail("the refused worker took the running one's console socket away")


def boot_and_converse(w):
    a = ConsoleClient(w)
    a.expect(r"GUEST: init started", BOOT_TIMEOUT)
    a.expect(r"GUEST: input devices 1", BOOT_TIMEOUT)  # the keyboard, for the power button
    a.expect(r"GUEST: shell ready", BOOT_TIMEOUT)
    a.expect(r"ignition:[^\n]*# ", 120)
    b = ConsoleClient(w)
    a.type("echo $((6*7))\n")
    # The shell echoes the command line; the answer is a line of its own.
    a.expect(r"\r?\n42\r?\n", 60)
    b.expect(r"\r?\n42\r?\n", 60)
    b.type("echo from-b-$((3+4))\n")
    a.expect(r"\r?\nfrom-b-7\r?\n", 60)
    log = w.file(w.console_log)
    for line in (b"GUEST: init started", b"GUEST: shell ready", b"\n42\r\n", b"\nfrom-b-7\r\n"):
        if line not in log:
            w.fail(f"the console log lacks {line!r}")
    return a, b


def power_off_with_sigterm(w, a):
    w.proc.send_signal(signal.SIGTERM)
    a.expect(r"GUEST: power button: powering off", 120)
    status = w.wait_exit(180)
    if status != 0:
        w.fail(f"the worker exited with status {status} after SIGTERM, expected 0")
    if w.file(w.exit_file) != b"poweroff\n":
        w.fail(f"the exit file says {w.file(w.exit_file)!r}, expected b'poweroff\\n'")
    log = w.file(w.console_log)
    button = log.find(b"GUEST: power button: powering off")
    power_down = log.find(b"reboot: Power down")
    if button < 0 or power_down < button:
        w.fail("the console log lacks the power button line followed by the kernel's "
               "'reboot: Power down'")
    if b"asked the guest to power off" not in w.file(w.worker_log):
        w.fail("the worker log does not say it asked the guest to power off")
    if not lock_is_free(w.lock):
        w.fail("the lock is still held after the worker exited")


def sigkill_leaves_no_exit_file(w):
    w.start()  # over the last run's exit file and stale console socket
    if os.path.exists(w.exit_file):
        w.fail("the worker did not remove the last run's exit file at start")
    ConsoleClient(w).expect(r"GUEST: init started", BOOT_TIMEOUT)
    w.proc.kill()
    w.proc.wait()
    if os.path.exists(w.exit_file):
        w.fail(f"a worker killed by SIGKILL left an exit file: {w.file(w.exit_file)!r}")
    if not lock_is_free(w.lock):
        w.fail("the lock is still held after the worker was killed")


def main():
    require_assets()
    home = tempfile.mkdtemp(prefix="ignition-home-")
    w = Worker(home)
    with open(w.exit_file, "w") as f:
        f.write("stopped\n")  # a stale one, from a run before
    w.start()
    if os.path.exists(w.exit_file):
        w.fail("the worker did not remove the stale exit file at start")
    check_second_worker_refused(w)
    a, b = boot_and_converse(w)
    power_off_with_sigterm(w, a)
    a.close()
    b.close()
    sigkill_leaves_no_exit_file(w)
    print("ok: ready reported, two console clients answered, the log matched, the lock "
          "refused a second worker, SIGTERM powered the guest off through its power button "
          "(exit 0, 'poweroff'), SIGKILL left no exit file and a free lock")


if __name__ == "__main__":
    main()
