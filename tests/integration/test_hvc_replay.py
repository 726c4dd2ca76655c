#!/usr/bin/env python3
"""hvc0 keeps what the guest wrote while nobody had its terminal open.

The guest writes 2000 numbered lines (about 110 KiB, more than a
pseudo-terminal buffers and more than the worker keeps) to /dev/hvc0 with
nobody attached; whoever opens the terminal next gets the newest 64 KiB of
them, in order up to the last line, after a note of how much was not kept,
then live output. After that reader closes, what the guest writes meanwhile
reaches the next one."""

import os
import re
import select
import time

from guest import Guest

BOOT_TIMEOUT = 420
LINES = 2000
KEPT = 64 << 10


def read_for(fd, seconds, until=None):
    out = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if until and until in out:
                break
    return out


def main():
    g = Guest("--no-gpu")
    hvc_path = g.expect(r"second console \(hvc0\) on (\S+)", 60).group(1).decode()
    g.expect(r"GUEST: shell ready", BOOT_TIMEOUT)
    g.expect(r"ignition:[^\n]*# ", 120)

    g.shell(f"i=0; while [ $i -lt {LINES} ]; do echo \"hvc line $i of the time nobody "
            f"was attached\"; i=$((i+1)); done > /dev/hvc0; echo WROTE-$((6*7))",
            r"WROTE-42", 120)
    time.sleep(1)
    hvc = os.open(hvc_path, os.O_RDWR | os.O_NOCTTY)
    out = read_for(hvc, 20, until=f"hvc line {LINES - 1} ".encode())
    numbers = [int(n) for n in re.findall(rb"hvc line (\d+) of", out)]
    line_bytes = len(b"hvc line 1234 of the time nobody was attached\r\n")
    if not numbers or numbers != list(range(numbers[0], LINES)) \
            or len(numbers) < KEPT // line_bytes - 2:
        g.fail(f"the first reader got lines {numbers[:3]}...{numbers[-3:]} "
               f"({len(numbers)} of {LINES}, {len(out)} bytes): not the newest "
               f"{KEPT} bytes in order up to line {LINES - 1}")
    if not re.search(rb"\[ignition: \d+ earlier bytes of output were not kept\]", out):
        g.fail(f"the first reader was not told output was dropped: {out[:200]!r}")

    g.shell("echo live-$((2+3)) > /dev/hvc0; echo SENT", r"SENT", 60)
    live = read_for(hvc, 10, until=b"live-5")
    if b"live-5" not in live:
        g.fail(f"an attached reader did not get live output: {live!r}")
    os.close(hvc)
    time.sleep(1)  # the worker sees the reader go

    g.shell("echo while-away-$((3*3)) > /dev/hvc0; echo SENT2", r"SENT2", 60)
    time.sleep(1)
    hvc = os.open(hvc_path, os.O_RDWR | os.O_NOCTTY)
    again = read_for(hvc, 10, until=b"while-away-9")
    os.close(hvc)
    if b"while-away-9" not in again or b"hvc line" in again or b"live-5" in again:
        g.fail(f"the second reader got {again!r}: not just what was written while away")

    g.type("poweroff\n")
    status = g.wait_exit(120)
    if status != 0:
        g.fail(f"vmmd exited with status {status} after poweroff")
    print(f"ok: of {LINES} lines written with nobody attached the newest {len(numbers)} "
          "reached the next reader, then live output, then what was written while away")


if __name__ == "__main__":
    main()
