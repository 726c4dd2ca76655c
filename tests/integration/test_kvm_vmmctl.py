#!/usr/bin/env python3
"""vmmctl and the supervisor with the kvm backend, inside an emulated arm64
host with /dev/kvm (tools/kvm-host): `vmmctl start --cpus 2 --backend kvm`
starts a worker that runs the guest with two vCPUs (the guest's nproc says 2,
through the console socket), `vmmctl status` reports kvm and 2 CPUs, a
snapshot is refused with the reason (not built under kvm yet) while the guest
runs on, and `vmmctl stop` powers it off."""

import os
import re
import subprocess
import sys
import tempfile

from guest import REPO

SCRIPT = r"""
set -u
vmmctl start g --kernel /ignition/guest/Image --initrd /ignition/guest/initramfs.cpio.gz \
    --cpus 2 --backend kvm --mem 512M --no-gui --append "console=ttyAMA0 quiet" || exit 10
i=0
while [ $i -lt 240 ] && ! vmmctl logs g 2>/dev/null | grep -q "GUEST: shell ready"; do
    sleep 1; i=$((i+1))
done
vmmctl status g
printf 'echo NPROC=$(nproc)\n' | vmmctl console g
vmmctl snapshot g s1
echo "snapshot status $?"
printf 'echo STILL=$((6*7))\n' | vmmctl console g
vmmctl stop g || exit 11
vmmctl status g
"""


def check(out, pattern, what):
    if not re.search(pattern, out, re.M):
        sys.stderr.write("---- output ----\n" + out + "\n---- end ----\n")
        sys.exit(f"FAIL: {what} (no match for {pattern!r})")


def main():
    kvm_host = os.environ.get("IGNITION_KVM_HOST", os.path.join(REPO, "tools", "kvm-host"))
    with tempfile.TemporaryDirectory(prefix="kvm-vmmctl.") as tmp:
        script = os.path.join(tmp, "t.sh")
        with open(script, "w") as f:
            f.write(SCRIPT)
        env = dict(os.environ, KVM_HOST_TIMEOUT="480")
        r = subprocess.run([kvm_host, "--cpus", "2", "--add", f"{script}:/root/t.sh", "--",
                            "sh", "/root/t.sh"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                           timeout=540)
    out = r.stdout.decode(errors="replace")
    check(out, r"^backend:\s+kvm\s*$", "vmmctl status names the kvm backend")
    check(out, r"^cpus:\s+2\s*$", "vmmctl status reports 2 CPUs")
    check(out, r"^NPROC=2\s*$", "the guest sees 2 CPUs")
    check(out, r"snapshot of g: .*not supported", "a snapshot under kvm is refused, with why")
    check(out, r"^snapshot status [1-9]", "the refused snapshot fails vmmctl")
    check(out, r"^STILL=42\s*$", "the guest runs on after the refused snapshot")
    check(out, r"guest g is stopped: powered off", "vmmctl stop powers the guest off")
    if r.returncode != 0:
        sys.stderr.write(out)
        sys.exit(f"FAIL: the script in the emulated host exited {r.returncode}")
    print("PASS: vmmctl with --cpus 2 under kvm")


if __name__ == "__main__":
    main()
