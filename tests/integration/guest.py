"""Drives a real guest under `vmmd run` through its serial console.

Used by the integration tests: start the guest, wait for console lines, type
commands, and on failure show the whole console log so the cause is visible."""

import os
import re
import select
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def guest_dir():
    return os.environ.get("IGNITION_GUEST_DIR", os.path.join(REPO, "build", "guest"))


def vmmd_path():
    return os.environ.get("IGNITION_VMMD", os.path.join(REPO, "build", "vmmd", "vmmd"))


def require_assets():
    missing = [f for f in ("Image", "initramfs.cpio.gz")
               if not os.path.exists(os.path.join(guest_dir(), f))]
    if missing:
        sys.exit(f"guest assets missing in {guest_dir()}: {', '.join(missing)}; "
                 "run tools/build-guest")


class Guest:
    def __init__(self, *extra_args, append="console=ttyAMA0 quiet", mem="1G"):
        require_assets()
        d = guest_dir()
        self.args = [vmmd_path(), "run", "--kernel", os.path.join(d, "Image"),
                     "--initrd", os.path.join(d, "initramfs.cpio.gz"),
                     "--append", append, "--mem", mem, *extra_args]
        # Each guest keeps its state (display socket, default instance) apart
        # from the user's and from other tests'.
        env = dict(os.environ)
        env.setdefault("IGNITION_STATE_DIR", tempfile.mkdtemp(prefix="ignition-state-"))
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.log = b""
        self.seen = 0  # bytes of log already matched by expect()
        self.started = time.monotonic()

    def _read(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return False
        chunk = os.read(self.proc.stdout.fileno(), 65536)
        if not chunk:
            return None  # EOF: vmmd exited
        self.log += chunk
        return True

    def expect(self, pattern, timeout):
        """Waits for a regex (bytes) in console output after the last match."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log, self.seen)
            if m:
                self.seen = m.end()
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail(f"timed out after {timeout}s waiting for {rx.pattern!r}")
            if self._read(min(left, 1.0)) is None:
                self.fail(f"vmmd exited (status {self.proc.wait()}) while waiting "
                          f"for {rx.pattern!r}")

    def type(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def wait_exit(self, timeout):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.5)
        if self.proc.poll() is None:
            self.fail(f"vmmd still running {timeout}s after the guest was told to stop")
        while self._read(0.1):
            pass
        return self.proc.returncode

    def elapsed(self):
        return time.monotonic() - self.started

    def fail(self, why):
        self.kill()
        sys.stderr.write("---- console log ----\n")
        sys.stderr.write(self.log.decode(errors="replace"))
        sys.stderr.write("\n---- end of console log ----\n")
        sys.exit(f"FAIL: {why}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
