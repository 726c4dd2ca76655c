#!/usr/bin/env python3
"""virtio-blk under the guest's own drivers: boot with the ext4 image as the root
disk (switch_root from the initramfs), write a file and power off; read it back
on the host from the instance's copy-on-write layer with e2fsprogs' debugfs;
boot again from the same base with a fresh instance and find the file absent
(the base is never written). A second disk, read-only, is offered with
VIRTIO_BLK_F_RO: the guest's kernel marks it read-only and refuses writes to
it, and the image stays unchanged. (A 6.x kernel keeps a disk the device
marked read-only read-only even against BLKROSET, so no write request reaches
the device from here; the device's own IOERR for writes to a read-only disk is
covered by tests/unit/test_virtio_blk.c with crafted requests.)"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

from guest import Guest, guest_dir, vmmd_path

BOOT_TIMEOUT = 420
PROMPT = r"ignition:[^\n]*# "
MARK = "written-by-the-guest-4729"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def debugfs():
    for d in ("/sbin", "/usr/sbin", "/opt/homebrew/opt/e2fsprogs/sbin",
              "/usr/local/opt/e2fsprogs/sbin"):
        p = os.path.join(d, "debugfs")
        if os.access(p, os.X_OK):
            return p
    p = shutil.which("debugfs")
    if not p:
        sys.exit("FAIL: debugfs (e2fsprogs) not found; tools/setup installs it")
    return p


def boot_from_disk(instance, *extra, root=None):
    root = root or os.path.join(guest_dir(), "rootfs.ext4")
    g = Guest("--disk", f"{root},serial=ignition-root", "--instance", instance, *extra,
              append="console=ttyAMA0 quiet root=/dev/vda")
    g.expect(r"GUEST: switching root to /dev/vda", BOOT_TIMEOUT)
    g.expect(r"GUEST: root mounted /dev/vda", BOOT_TIMEOUT)
    g.expect(r"GUEST: shell ready", BOOT_TIMEOUT)
    g.expect(PROMPT, 120)
    return g


def run(g, command, answer, timeout=120):
    g.type(command + "\n")
    return g.expect(answer, timeout)


def first_boot_writes(instance, ro_image):
    g = boot_from_disk(instance, "--disk", f"{ro_image},ro")
    m = re.search(rb"disk 0: \S+, copy-on-write \((clone|overlay)\) in (\S+)", g.log)
    if not m:
        g.fail("vmmd did not say where disk 0's copy-on-write layer is")
    layer = m.group(2)
    # The root really is the virtio disk, with the serial we gave it.
    run(g, "grep ' / ' /proc/mounts | cut -d' ' -f1-3", r"\r?\n/dev/vda / ext4\r?\n")
    run(g, "cat /sys/block/vda/serial; echo", r"\r?\nignition-root\r?\n")
    run(g, "cat /sys/block/vdb/ro", r"\r?\n1\r?\n")
    # The read-only disk: readable, and the kernel refuses to write it.
    run(g, "od -An -tx1 -N4 /dev/vdb", r"\r?\n 5a 5a 5a 5a\r?\n")
    run(g, "dd if=/dev/zero of=/dev/vdb bs=4096 count=1 2>&1 | head -n 1",
        r"(Operation not permitted|Read-only file system)")
    run(g, f"echo {MARK} > /root/note.txt && sync && cat /root/note.txt",
        rf"\r?\n{MARK}\r?\n")
    g.type("poweroff\n")
    status = g.wait_exit(180)
    if status != 0:
        g.fail(f"vmmd exited {status} after poweroff")
    return g, layer.decode()


def read_back_on_host(g, layer, scratch):
    flat = os.path.join(scratch, "root-as-seen.raw")
    subprocess.run([vmmd_path(), "disk", "export", layer, flat], check=True)
    out = subprocess.run([debugfs(), "-R", "cat /root/note.txt", flat],
                         capture_output=True, text=True)
    if MARK not in out.stdout:
        g.fail(f"the file written in the guest is not in its layer {layer}: "
               f"{out.stdout!r} {out.stderr!r}")


def second_boot_is_fresh(instance):
    g = boot_from_disk(instance)
    run(g, "ls /root/note.txt 2>&1 | head -n 1", r"No such file or directory")
    g.type("poweroff\n")
    if g.wait_exit(180) != 0:
        g.fail("vmmd did not exit 0 after poweroff")


def main():
    root = os.path.join(guest_dir(), "rootfs.ext4")
    if not os.path.exists(root):
        sys.exit(f"FAIL: {root} missing; run tools/build-guest")
    base_before = sha256(root)
    with tempfile.TemporaryDirectory(prefix="ignition-disk-") as scratch:
        ro_image = os.path.join(scratch, "data.img")
        with open(ro_image, "wb") as f:
            f.write(b"\x5a" * (1 << 20))
        ro_before = sha256(ro_image)
        g, layer = first_boot_writes(os.path.join(scratch, "first"), ro_image)
        read_back_on_host(g, layer, scratch)
        if sha256(root) != base_before:
            sys.exit(f"FAIL: the base image {root} changed")
        if sha256(ro_image) != ro_before:
            sys.exit("FAIL: the read-only disk changed")
        second_boot_is_fresh(os.path.join(scratch, "second"))
    print("disk: root on virtio-blk, copy-on-write layer read back, base unchanged")


if __name__ == "__main__":
    main()
