#!/usr/bin/env python3
"""Boots the console image under the kvm backend inside an emulated arm64 host
with /dev/kvm (tools/kvm-host), with the vCPUs given (1 or 2), and checks what
the guest itself reports: its milestones, the CPUs it brought online (PSCI
CPU_ON in KVM), arithmetic by its shell, and a power-off that ends vmmd, and
so kvm-host, with status 0. With one vCPU the root is the ext4 image on
virtio-blk (a copy shrunk to 40M, so that the emulated host's initramfs stays
small): a file written there is still there after a reset (a new VM in the
same worker, the same copy-on-write layer) boots it again.

    test_kvm_boot.py CPUS [BACKEND]

BACKEND is kvm (default) or auto, which must pick kvm there and say so."""

import os
import shutil
import subprocess
import sys
import tempfile

from guest import REPO, Guest, guest_dir

BOOT_TIMEOUT = 300  # a nested guest on a loaded 2-core machine; a quiet one boots in ~25 s
ROOT_DISK = "/root/rootfs.ext4"
MARK = "kept-across-reset-5081"


def small_root_disk(tmp):
    """The guest's ext4 root image, shrunk: the emulated host's initramfs
    holds every byte of it (cpio keeps no holes)."""
    path = os.path.join(tmp, "rootfs.ext4")
    shutil.copyfile(os.path.join(guest_dir(), "rootfs.ext4"), path)
    subprocess.run(["e2fsck", "-fy", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    subprocess.run(["resize2fs", path, "40M"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    os.truncate(path, 40 << 20)
    return path


def main():
    cpus = int(sys.argv[1])
    backend = sys.argv[2] if len(sys.argv) > 2 else "kvm"
    kvm_host = os.environ.get("IGNITION_KVM_HOST", os.path.join(REPO, "tools", "kvm-host"))
    tmp = tempfile.mkdtemp(prefix="kvm-boot.")
    launcher, extra, append = [kvm_host, "--cpus", "2"], [], "console=ttyAMA0 quiet"
    if cpus == 1:
        launcher += ["--add", f"{small_root_disk(tmp)}:{ROOT_DISK}"]
        extra = ["--disk", f"{ROOT_DISK},serial=ignition-root", "--instance", "/root/instance"]
        append += " root=/dev/vda"
    try:
        run(cpus, backend, Guest("--backend", backend, "--cpus", str(cpus), "--no-gpu", *extra,
                                 mem="512M", append=append, launcher=launcher + ["--"],
                                 vmmd="vmmd", assets="/ignition/guest"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(cpus, backend, g):
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
        # The root is the virtio disk; what the guest writes there and syncs
        # survives a PSCI SYSTEM_RESET, after which the worker builds the
        # machine again (a new KVM VM) on the same copy-on-write layer.
        g.shell("grep ' / ' /proc/mounts | cut -d' ' -f1,3", r"\r?\n/dev/vda ext4\r?\n", 60)
        g.shell(f"echo {MARK} > /root/kept; sync; echo synced-$((1+1))", r"synced-2", 60)
        g.type("reboot\n")
        g.expect(r"GUEST: init started", BOOT_TIMEOUT)
        g.expect(r"GUEST: shell ready", BOOT_TIMEOUT)
        g.expect(r"ignition:[^\n]*# ", 60)
        g.shell("echo $((6*7))", r"\r?\n42\r?\n", 60)
        g.shell("cat /root/kept", rf"\r?\n{MARK}\r?\n", 60)
        print(f"booted again after a reset at {g.elapsed():.1f}s, the root disk's file kept")
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
