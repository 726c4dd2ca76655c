#!/usr/bin/env python3
"""The clone kind of copy-on-write layer: on a filesystem that can reflink
(XFS with reflink=1, made in a loop-mounted image here), a writable disk's
layer is a FICLONE clone of the base. Boot with it as root, write a file,
power off; debugfs finds the file in the clone and the base is unchanged; boot
again with the same instance and the file is still there.

Needs root and loop devices to make the filesystem; without them the test
reports itself skipped (exit 77), never passed."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

from guest import guest_dir
from test_disk import MARK, boot_from_disk, debugfs, run, sha256

SKIP = 77


def sh(*args):
    return subprocess.run(args, capture_output=True, text=True)


def mount_xfs(scratch):
    """Returns the mount point, or None when this machine cannot make one."""
    mkfs = shutil.which("mkfs.xfs") or "/usr/sbin/mkfs.xfs"
    if os.geteuid() != 0 or not os.path.exists(mkfs) or sys.platform != "linux":
        return None
    image, mnt = os.path.join(scratch, "xfs.img"), os.path.join(scratch, "mnt")
    os.mkdir(mnt)
    with open(image, "wb") as f:
        f.truncate(512 << 20)
    if sh(mkfs, "-q", "-m", "reflink=1", image).returncode != 0:
        return None
    if sh("mount", "-o", "loop", image, mnt).returncode != 0:
        return None
    return mnt


def main():
    with tempfile.TemporaryDirectory(prefix="ignition-clone-") as scratch:
        mnt = mount_xfs(scratch)
        if not mnt:
            print("SKIP: cannot loop-mount an XFS filesystem here (needs root, loop "
                  "devices and xfsprogs)")
            sys.exit(SKIP)
        try:
            check_clone(mnt)
        finally:
            sh("umount", mnt)


def check_clone(mnt):
    base = os.path.join(mnt, "base.ext4")
    shutil.copyfile(os.path.join(guest_dir(), "rootfs.ext4"), base)
    before = sha256(base)
    instance = os.path.join(mnt, "instance")
    g = boot_from_disk(instance, root=base)
    m = re.search(rb"disk 0: \S+, copy-on-write \((\w+)\) in (\S+)", g.log)
    if not m or m.group(1) != b"clone":
        g.fail(f"expected a clone layer on XFS, vmmd said: {m.group(0) if m else None!r}")
    layer = m.group(2).decode()
    run(g, f"echo {MARK} > /root/note.txt && sync && cat /root/note.txt", rf"\r?\n{MARK}\r?\n")
    g.type("poweroff\n")
    if g.wait_exit(180) != 0:
        g.fail("vmmd did not exit 0 after poweroff")
    out = subprocess.run([debugfs(), "-R", "cat /root/note.txt", layer],
                         capture_output=True, text=True)
    if MARK not in out.stdout:
        g.fail(f"the file is not in the clone {layer}: {out.stdout!r} {out.stderr!r}")
    if sha256(base) != before:
        sys.exit("FAIL: the base image changed")
    g = boot_from_disk(instance, root=base)
    run(g, "cat /root/note.txt", rf"\r?\n{MARK}\r?\n")
    g.type("poweroff\n")
    if g.wait_exit(180) != 0:
        g.fail("vmmd did not exit 0 after the second poweroff")
    print("disk clone: FICLONE layer written, read back on the host, kept across boots")


if __name__ == "__main__":
    main()
