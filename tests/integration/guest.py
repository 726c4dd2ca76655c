"""Drives a real guest under `vmmd run` through its serial console.

Used by the integration tests: start the guest, wait for console lines, type
commands, and on failure show the whole console log so the cause is visible."""

import os
import re
import select
import struct
import subprocess
import sys
import tempfile
import time

# What the guest's init writes to the console by itself, at any moment: the
# network milestone (after a restore the host bounces the link and DHCP's answer
# comes a little later) and the VM-generation notice. Each is one write, so it
# lands whole, but between any two writes of what a test reads from the shell.
ASYNC_PREFIX = re.compile(rb"GUEST: (?:network|new vm generation)")
ASYNC_LINE = re.compile(rb"GUEST: (?:network \S+ \S+ \S+|new vm generation)\r?\n")

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
    """launcher runs vmmd elsewhere: its words come before vmmd's, and vmmd
    and the guest assets are named as they are there (tools/kvm-host)."""

    async_seen = 0  # see _search; a class default for subclasses with their own __init__

    def __init__(self, *extra_args, append="console=ttyAMA0 quiet", mem="1G", launcher=(),
                 vmmd=None, assets=None):
        require_assets()
        d = assets or guest_dir()
        self.args = [*launcher, vmmd or vmmd_path(), "run", "--kernel", os.path.join(d, "Image"),
                     "--initrd", os.path.join(d, "initramfs.cpio.gz"),
                     "--append", append, "--mem", mem, *extra_args]
        # Each guest keeps its state (display socket, default instance) apart
        # from the user's and from other tests'.
        env = dict(os.environ)
        env.setdefault("IGNITION_HOME", tempfile.mkdtemp(prefix="ignition-state-"))
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

    def _search(self, rx):
        """rx in the log after the last match. Lines the guest's init writes on
        its own (ASYNC_LINE) may land between two writes of a command's output,
        even mid-line: unless rx asks for one of them, it is matched against the
        log without them. They stay in the log, and a pattern that asks for one
        is matched from the last such match, whatever shell output was read
        meanwhile."""
        if ASYNC_PREFIX.search(rx.pattern):
            m = rx.search(self.log, self.async_seen)
            if m:
                self.async_seen = m.end()
                self.seen = max(self.seen, m.end())
            return m
        text = self.log[self.seen:]
        kept, shifts, last = bytearray(), [], 0  # shifts: (kept length, raw length)
        for a in ASYNC_LINE.finditer(text):
            kept += text[last:a.start()]
            last = a.end()
            shifts.append((len(kept), a.end()))
        kept += text[last:]
        m = rx.search(bytes(kept))
        if m:
            raw_end = m.end()
            for kept_at, raw_at in shifts:
                if kept_at < m.end():  # an async line lay inside what matched
                    raw_end = m.end() - kept_at + raw_at
            self.seen += raw_end
        return m

    def expect(self, pattern, timeout):
        """Waits for a regex (bytes) in console output after the last match
        (see _search for the guest's own asynchronous lines)."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = self._search(rx)
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail(f"timed out after {timeout}s waiting for {rx.pattern!r}")
            if self._read(min(left, 1.0)) is None:
                self.fail(f"vmmd exited (status {self.proc.wait()}) while waiting "
                          f"for {rx.pattern!r}")

    def shell(self, command, answer, timeout=60):
        """Runs a command at the serial shell and waits for a regex answer."""
        self.type(command + "\n")
        return self.expect(answer, timeout)

    def capture_tablet(self, records):
        """Starts reading up to `records` evdev records of the tablet in the guest."""
        m = self.shell("for e in /sys/class/input/event*; do grep -q tablet $e/device/name "
                       "&& echo TABLET=${e##*/}; done", r"\nTABLET=(event\d+)")
        dev = m.group(1).decode()
        self.type(f"timeout 60 dd if=/dev/input/{dev} of=/tmp/ev bs=24 count={records} "
                  "2>/dev/null &\n")
        time.sleep(2)  # let dd open the device before input comes

    def tablet_events(self, stop):
        """What capture_tablet read, as (type, code, value) of each 24-byte struct
        input_event; stop=True ends the reading first instead of waiting for it."""
        kill = "kill %1 2>/dev/null; " if stop else ""
        m = self.shell(f"{kill}wait; od -An -v -tx1 /tmp/ev | tr -d ' \\n'; echo; echo EV-DONE",
                       r"\n([0-9a-f]*)\r?\nEV-DONE", 90)
        raw = bytes.fromhex(m.group(1).decode())
        return [struct.unpack_from("<HHi", raw, i + 16) for i in range(0, len(raw) - 23, 24)]

    def wait_preferred_mode(self, mode, timeout=30):
        """Waits until the guest's DRM connector lists `mode` (e.g. "1024x768") first."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.shell("head -n 1 /sys/class/drm/card0-Virtual-1/modes; echo MODES-DONE",
                           r"\n(\S*)\r?\nMODES-DONE")
            if m.group(1) == mode.encode():
                return
            if time.monotonic() > deadline:
                self.fail(f"the guest's preferred mode is {m.group(1)!r}, not {mode}")
            time.sleep(1)

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

    def descriptors_and_heap(self):
        """vmmd's open descriptors and RssAnon (kB): what leaks would grow."""
        pid = self.proc.pid
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        with open(f"/proc/{pid}/status") as f:
            anon = int(re.search(r"RssAnon:\s+(\d+)", f.read()).group(1))
        return fds, anon

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
            # A launcher gets to stop what it started.
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
