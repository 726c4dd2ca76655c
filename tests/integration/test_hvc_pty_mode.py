#!/usr/bin/env python3
"""hvc0's host end is a pseudo-terminal only its user may open: mode 0600.
devpts gives a new terminal the mode it is mounted with (0620, group tty, on
most systems; some containers mount it 0600), so the worker runs here in a
private mount namespace with a devpts instance of its own mounted 0620, where
a worker that leaves the mode alone would be seen. Without the rights to make
such a namespace the test says so and is skipped (exit 77)."""

import os
import subprocess
import sys
import tempfile

from guest import guest_dir, require_assets, vmmd_path

SKIP = 77

# Inside the namespace: a devpts of our own (0620, as on a usual desktop),
# vmmd started until it names hvc0's terminal, that terminal's mode, vmmd gone.
SCRIPT = r"""
mount -t devpts -o newinstance,mode=620,ptmxmode=666 devpts /dev/pts || exit 77
mount --bind /dev/pts/ptmx /dev/ptmx || exit 77
"$VMMD" run --kernel "$GUEST/Image" --initrd "$GUEST/initramfs.cpio.gz" --no-gpu \
    --mem 256M > "$OUT" 2>&1 < /dev/null &
pid=$!
i=0
while [ $i -lt 300 ] && ! grep -q 'hvc0) on' "$OUT"; do sleep 0.1; i=$((i + 1)); done
pty=$(sed -n 's/.*second console (hvc0) on \([^ ]*\).*/\1/p' "$OUT" | head -n 1 | tr -d '\r')
[ -n "$pty" ] && echo "MODE $(stat -c %a "$pty") OF $pty"
new_mode="import os, pty; m, s = pty.openpty(); print(oct(os.fstat(s).st_mode & 0o777)[2:])"
echo "MODE-OF-NEW $(python3 -c "$new_mode")"
kill -9 $pid
wait $pid 2>/dev/null
exit 0
"""


def main():
    require_assets()
    unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]
    with tempfile.TemporaryDirectory(prefix="ignition-pty-") as tmp:
        env = dict(os.environ, VMMD=vmmd_path(), GUEST=guest_dir(),
                   OUT=os.path.join(tmp, "vmmd.out"), IGNITION_HOME=tmp)
        r = subprocess.run([*unshare, "sh", "-c", SCRIPT], env=env, capture_output=True,
                           text=True, timeout=120)
        out = open(env["OUT"], errors="replace").read() if os.path.exists(env["OUT"]) else ""
    if r.returncode == SKIP or (r.returncode != 0 and "unshare" in r.stderr):
        print(f"SKIP: cannot make a mount namespace with a devpts of its own: {r.stderr.strip()}")
        sys.exit(SKIP)
    lines = dict(l.split(" ", 1) for l in r.stdout.splitlines() if " " in l)
    if lines.get("MODE-OF-NEW") != "620":
        print(f"FAIL: the private devpts does not make 0620 terminals: {r.stdout!r} {r.stderr!r}")
        sys.exit(1)
    if "MODE" not in lines:
        print(f"FAIL: vmmd did not name hvc0's terminal:\n{out}\n{r.stderr}")
        sys.exit(1)
    mode = lines["MODE"].split()[0]
    if mode != "600":
        print(f"FAIL: hvc0's terminal has mode {mode}, want 600 ({lines['MODE']})")
        sys.exit(1)
    print(f"ok: hvc0's terminal is mode 600 where devpts makes terminals 620")
    print("PASS")


if __name__ == "__main__":
    main()
