#!/usr/bin/env python3
"""Boots the console image under the kvm backend inside an emulated arm64 host
with /dev/kvm (tools/kvm-host), with the vCPUs given (1 or 2), and checks what
the guest itself reports: its milestones, the CPUs it brought online (PSCI
CPU_ON in KVM), arithmetic by its shell, with one vCPU a reset (a new VM in
the same worker) that boots it again, and a power-off that ends vmmd, and so
kvm-host, with status 0.

    test_kvm_boot.py CPUS [BACKEND]

BACKEND is kvm (default) or auto, which must pick kvm there and say so."""

import os
import sys

from guest import REPO, Guest

BOOT_TIMEOUT = 300  # a nested guest on a loaded 2-core machine; a quiet one boots in ~25 s


def main():
    cpus = int(sys.argv[1])
    backend = sys.argv[2] if len(sys.argv) > 2 else "kvm"
    kvm_host = os.environ.get("IGNITION_KVM_HOST", os.path.join(REPO, "tools", "kvm-host"))
    g = Guest("--backend", backend, "--cpus", str(cpus), "--no-gpu", mem="512M",
              launcher=[kvm_host, "--cpus", "2", "--"], vmmd="vmmd", assets="/ignition/guest")
    if backend == "auto":
        g.expect(r"backend auto: using kvm\b", 120)
    g.expect(r"GUEST: init started", BOOT_TIMEOUT)
    g.expect(r"GUEST: shell ready", BOOT_TIMEOUT)
    print(f"shell ready after {g.elapsed():.1f}s")
    g.expect(r"ignition:[^\n]*# ", 60)

    online = "0" if cpus == 1 else f"0-{cpus - 1}"
    g.shell("nproc; cat /sys/devices/system/cpu/online",
            rf"\r?\n{cpus}\r?\n{online}\r?\n", 60)
    g.shell("echo $((6*7))", r"\r?\n42\r?\n", 60)
    if cpus == 1:
        # PSCI SYSTEM_RESET: the worker builds the machine again, a new KVM VM.
        g.type("reboot\n")
        g.expect(r"GUEST: init started", BOOT_TIMEOUT)
        g.expect(r"GUEST: shell ready", BOOT_TIMEOUT)
        g.expect(r"ignition:[^\n]*# ", 60)
        g.shell("echo $((6*7))", r"\r?\n42\r?\n", 60)
        print(f"booted again after a reset at {g.elapsed():.1f}s")
    if cpus > 1:
        # Work on the second CPU: the scheduler uses it, its timer ticks.
        g.shell("taskset -c 1 sh -c 'echo on-cpu-1; cat /proc/self/stat' | "
                "awk 'NR==2 { print \"ran-on\", $39 }'", r"\r?\nran-on 1\r?\n", 60)

    g.type("poweroff\n")
    status = g.wait_exit(120)
    if status != 0:
        g.fail(f"kvm-host exited {status} after the guest powered off, not 0")
    print(f"PASS: {cpus} vCPU(s) under {backend} in {g.elapsed():.1f}s")


if __name__ == "__main__":
    main()
