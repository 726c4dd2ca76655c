#!/usr/bin/env python3
"""Boots Debian's arm64 kernel and our initramfs under the emu backend, then
checks what the guest itself reports: its milestones, arithmetic done by its
shell, the year from its RTC, and a clean power-off that makes vmmd exit 0."""

import os
import select
import time

from guest import Guest

BOOT_TIMEOUT = 420  # a loaded 2-core CI machine; a quiet one boots in under a minute


def main():
    g = Guest()
    hvc_path = g.expect(r"second console \(hvc0\) on (\S+)", 60).group(1).decode()
    # Only its user may write into the guest's console (not the tty group).
    mode = os.stat(hvc_path).st_mode & 0o777
    if mode != 0o600:
        g.fail(f"hvc0's terminal {hvc_path} has mode {mode:04o}, want 0600")
    g.expect(r"GUEST: init started", BOOT_TIMEOUT)
    g.expect(r"GUEST: modules loaded (\d+)", BOOT_TIMEOUT)
    g.expect(r"GUEST: shell ready", BOOT_TIMEOUT)
    print(f"shell ready after {g.elapsed():.1f}s")
    g.expect(r"ignition:[^\n]*# ", 120)

    g.type("echo $((6*7))\n")
    # The shell echoes the command line; the answer is a line of its own.
    g.expect(r"\r?\n42\r?\n", 60)

    # A paste far larger than the UART's 4 KiB buffer arrives whole.
    lines = 120
    g.type("cat > /tmp/paste\n")
    g.type("".join(f"{i:04d}" + "x" * 95 + "\n" for i in range(lines)))
    g.type("\x04")
    g.type("wc -c < /tmp/paste; tail -n 1 /tmp/paste | cut -c1-4\n")
    g.expect(r"\r?\n%d\r?\n%04d\r?\n" % (lines * 100, lines - 1), 180)

    # virtio-rng through the guest's own virtio_mmio and virtio_rng drivers.
    g.type("cat /sys/class/misc/hw_random/rng_current\n")
    g.expect(r"\r?\nvirtio_rng\.0\r?\n", 60)
    g.type("dd if=/dev/hwrng bs=32 count=1 2>/dev/null | od -An -v -tx1 | tr -d ' \\n'; echo\n")
    m = g.expect(r"\r?\n([0-9a-f]{64})\r?\n", 60)
    if len(set(m.group(1)[i:i + 2] for i in range(0, 64, 2))) < 8:
        g.fail(f"/dev/hwrng gave implausible bytes: {m.group(1)}")

    # hvc0 (virtio-console): a line typed into its host end arrives in the guest,
    # and what the guest writes there comes out.
    hvc = os.open(hvc_path, os.O_RDWR | os.O_NOCTTY)
    g.type('read line < /dev/hvc0; echo "hvc0 said: $line"; echo from-guest > /dev/hvc0\n')
    time.sleep(2)  # let the guest open hvc0 before the line is sent
    os.write(hvc, b"typed into hvc0\n")
    g.expect(r"hvc0 said: typed into hvc0", 60)
    out, deadline = b"", time.monotonic() + 60
    while b"from-guest" not in out and time.monotonic() < deadline:
        if select.select([hvc], [], [], 1.0)[0]:
            out += os.read(hvc, 4096)
    os.close(hvc)
    if b"from-guest" not in out:
        g.fail(f"the guest's hvc0 output never reached {hvc_path}: {out!r}")

    year = time.strftime("%Y", time.gmtime())
    g.type("date -u +%Y\n")
    g.expect(r"\r?\n" + year + r"\r?\n", 60)

    g.type("poweroff\n")
    status = g.wait_exit(120)
    if status != 0:
        g.fail(f"vmmd exited with status {status} after poweroff, expected 0")
    print("ok: shell answered 42, a 12000-byte paste arrived whole, /dev/hwrng gave bytes, hvc0 carried a line each way, "
          "RTC year", year, "and poweroff exited 0")


if __name__ == "__main__":
    main()
