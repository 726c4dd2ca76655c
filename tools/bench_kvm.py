"""tools/bench kvm: ignition's kvm backend beside QEMU-KVM, inside the emulated
arm64 host of tools/kvm-host.

Both run the same console guest (build/guest Image + initramfs, 512 MiB,
"console=ttyAMA0 quiet", no disk, no display) with 1 and with 2 vCPUs,
alternating, --runs times each: the wall time from launching the VMM to the
guest's "GUEST: shell ready" (read from /proc/uptime inside the emulated host),
and the CPU the VMM process takes while the guest idles at its shell. QEMU is
Debian's qemu-system-aarch64 for arm64 (tools/fetch-arm64-deps --qemu). Inside
an emulated host the absolute figures mean little; the ratios are the point."""

import os
import re
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QEMU_ROOT = os.path.join(REPO, "build", "deps", "arm64-qemu", "root")
LIB_DIRS = [os.path.join(QEMU_ROOT, "usr", "lib", "aarch64-linux-gnu"),
            os.path.join(QEMU_ROOT, "lib", "aarch64-linux-gnu"),
            os.path.join(REPO, "build", "deps", "arm64", "root", "usr", "lib", "aarch64-linux-gnu"),
            os.path.join(REPO, "build", "deps", "arm64", "root", "lib", "aarch64-linux-gnu"),
            "/usr/aarch64-linux-gnu/lib"]

# Runs inside the emulated host (busybox sh). Times in centiseconds of /proc/uptime.
SCRIPT = r"""
G=/ignition/guest
APPEND="console=ttyAMA0 quiet"
now() { read up rest < /proc/uptime; echo "${up%.*}${up#*.}"; }
ticks() { awk '{ print $14 + $15 }' /proc/$1/stat; }
boot() {  # NAME CPUS COMMAND...
    name=$1 cpus=$2; shift 2
    rm -f /tmp/out
    t0=$(now)
    "$@" </dev/null >/tmp/out 2>&1 &
    pid=$!
    while ! grep -q "GUEST: shell ready" /tmp/out; do
        if ! kill -0 $pid 2>/dev/null || [ $(( $(now) - t0 )) -gt 30000 ]; then
            echo "BENCH-FAIL $name cpus=$cpus"; tail -20 /tmp/out; kill $pid 2>/dev/null; wait $pid
            return
        fi
        sleep 0.1
    done
    t1=$(now)
    sleep 2
    c0=$(ticks $pid); u0=$(now)
    sleep $IDLE
    c1=$(ticks $pid); u1=$(now)
    kill $pid; wait $pid 2>/dev/null
    echo "BENCH $name cpus=$cpus shell_cs=$((t1 - t0)) idle_cpu_cs=$((c1 - c0)) idle_wall_cs=$((u1 - u0))"
}
run=1
while [ $run -le $RUNS ]; do
    for cpus in 1 2; do
        boot ignition $cpus vmmd run --backend kvm --cpus $cpus --no-gpu --mem 512M \
            --kernel $G/Image --initrd $G/initramfs.cpio.gz --append "$APPEND"
        LD_LIBRARY_PATH=/opt/qemu/lib boot qemu $cpus /opt/qemu/bin/qemu-system-aarch64 \
            -accel kvm -M virt,gic-version=3 -cpu host -smp $cpus -m 512 -display none \
            -monitor none -serial stdio -nic none \
            -kernel $G/Image -initrd $G/initramfs.cpio.gz -append "$APPEND"
    done
    run=$((run + 1))
done
"""


def needed(binary):
    out = subprocess.run(["aarch64-linux-gnu-readelf", "-d", binary], stdout=subprocess.PIPE,
                         text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def closure(binary):
    found, todo = {}, [binary]
    while todo:
        for name in needed(todo.pop()):
            if name in found:
                continue
            path = next((os.path.join(d, name) for d in LIB_DIRS
                         if os.path.exists(os.path.join(d, name))), None)
            if not path:
                sys.exit(f"bench kvm: no arm64 {name} for QEMU")
            found[name] = os.path.realpath(path)
            todo.append(found[name])
    return found


def run(args):
    subprocess.run([os.path.join(REPO, "tools", "fetch-arm64-deps"), "--qemu"], check=True)
    qemu = os.path.join(QEMU_ROOT, "usr", "bin", "qemu-system-aarch64")
    adds = [f"{qemu}:/opt/qemu/bin/qemu-system-aarch64"]
    adds += [f"{path}:/opt/qemu/lib/{name}" for name, path in closure(qemu).items()]
    with tempfile.TemporaryDirectory(prefix="bench-kvm.") as tmp:
        script = os.path.join(tmp, "bench.sh")
        with open(script, "w") as f:
            f.write(f"RUNS={args.runs}\nIDLE={int(args.idle_seconds)}\n" + SCRIPT)
        cmd = [os.path.join(REPO, "tools", "kvm-host"), "--cpus", "2", "--mem", "3G"]
        for a in adds + [f"{script}:/root/bench.sh"]:
            cmd += ["--add", a]
        r = subprocess.run(cmd + ["--", "sh", "/root/bench.sh"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, text=True, errors="replace")
    sys.stderr.write(r.stdout)
    results = {}
    for m in re.finditer(r"^BENCH (\w+) cpus=(\d) shell_cs=(\d+) idle_cpu_cs=(\d+) "
                         r"idle_wall_cs=(\d+)", r.stdout, re.M):
        name, cpus, shell, cpu, wall = m.group(1), int(m.group(2)), *map(int, m.groups()[2:])
        entry = results.setdefault((name, cpus), {"shell": [], "idle": []})
        entry["shell"].append(shell / 100)
        entry["idle"].append(100 * cpu / wall if wall else 0)
    rows = []
    for cpus in (1, 2):
        rows.append((f"boot to shell, {cpus} vCPU (s)", cpus, "shell"))
        rows.append((f"VMM CPU while idle at the shell, {cpus} vCPU (% of a core)", cpus, "idle"))
    if args.markdown:
        print(f"| measure (median of {args.runs}, inside the emulated host) | ignition (kvm) "
              f"| QEMU-KVM | ignition/QEMU |")
        print("| --- | ---: | ---: | ---: |")
    for label, cpus, key in rows:
        a = results.get(("ignition", cpus), {}).get(key)
        b = results.get(("qemu", cpus), {}).get(key)
        if not a or not b:
            print(f"{label}: no figures (see the log above)")
            continue
        ma, mb = statistics.median(a), statistics.median(b)
        ratio = ma / mb if mb else float("inf")
        if args.markdown:
            print(f"| {label} | {ma:.2f} | {mb:.2f} | {ratio:.2f} |")
        else:
            print(f"{label:60s} {ma:8.2f} {mb:8.2f} {ratio:6.2f}")
