#!/usr/bin/env python3
"""On a terminal, Ctrl-A x quits `vmmd run` at once with status 0 and gives the
terminal back in the mode it was in (the console runs it raw)."""

import os
import pty
import select
import subprocess
import sys
import termios
import time

from guest import guest_dir, require_assets, vmmd_path


def main():
    require_assets()
    controller, terminal = pty.openpty()
    before = termios.tcgetattr(terminal)
    d = guest_dir()
    proc = subprocess.Popen(
        [vmmd_path(), "run", "--kernel", os.path.join(d, "Image"),
         "--initrd", os.path.join(d, "initramfs.cpio.gz"), "--append", "console=ttyAMA0"],
        stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True)
    log = b""
    deadline = time.monotonic() + 120
    while b"Booting Linux" not in log:
        if time.monotonic() > deadline or proc.poll() is not None:
            sys.exit(f"FAIL: no kernel output on the console:\n{log.decode(errors='replace')}")
        ready, _, _ = select.select([controller], [], [], 1.0)
        if ready:
            log += os.read(controller, 65536)
    raw = termios.tcgetattr(terminal)
    os.write(controller, b"\x01x")
    try:
        status = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        sys.exit("FAIL: vmmd still running 30 s after Ctrl-A x")
    after = termios.tcgetattr(terminal)
    if status != 0:
        sys.exit(f"FAIL: vmmd exited {status} after Ctrl-A x, want 0")
    if raw[3] & termios.ECHO:
        sys.exit("FAIL: the console did not put the terminal in raw mode")
    if after != before:
        sys.exit("FAIL: the terminal was not restored after quitting")
    print("ok: Ctrl-A x quit with status 0 and restored the terminal")


if __name__ == "__main__":
    main()
