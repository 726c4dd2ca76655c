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


# ---- tools/bench kvm-snapshot ------------------------------------------------------
#
# Snapshots inside the emulated host. ignition: a supervised guest (vmmctl, kvm, 1 vCPU,
# MEM, no display) at its shell is snapshotted (the pause is the worker's own figure:
# guest stopped to guest running again); `vmmctl restore` is timed from the command to
# its return (the supervisor answers once the worker says the vCPU runs; the worker's
# own figure is from its start to the vCPU running); then `vmmctl fanout SNAP 8` and
# the clones' workers' PSS summed. QEMU-KVM: the same guest with its monitor on a pipe:
# `stop`, `migrate exec:cat > FILE` (the whole RAM; QEMU's savevm needs a disk image
# this guest has not), `cont` is its pause; `-incoming exec:cat FILE` from launch to the
# loaded guest's `cont` and the monitor's "VM status: running" its restore; 8 such QEMUs' PSS once each has loaded.
# Times come from /proc/uptime (centiseconds) but for ignition's worker figures (ms).

SNAPSHOT_SCRIPT = r"""
G=/ignition/guest
APPEND="console=ttyAMA0 quiet"
export IGNITION_HOME=/tmp/ign
ms() { read up rest < /proc/uptime; echo $(( ${up%.*}${up#*.} * 10 )); }
pss() { total=0; for p in "$@"; do
            kb=$(awk '/^Pss:/ { s += $2 } END { print s + 0 }' /proc/$p/smaps_rollup); total=$((total + kb))
        done; echo $total; }
wait_log() { i=0; while [ $i -lt 300 ] && ! grep -q "$2" /tmp/ign/guests/$1/console.log 2>/dev/null
             do sleep 0.2; i=$((i+1)); done; }
QEMU="/opt/qemu/bin/qemu-system-aarch64 -accel kvm -M virt,gic-version=3 -cpu host -smp 1 \
      -m $MEM -display none -nic none -kernel $G/Image -initrd $G/initramfs.cpio.gz"
mon_wait() {  # MONLOG TEXT COUNT: the monitor's answers hold TEXT COUNT times
    i=0; while [ $i -lt 3000 ] && [ $(grep -c "$2" $1) -lt $3 ]; do sleep 0.02; i=$((i+1)); done; }

ignition_round() {
    rm -rf /tmp/ign
    vmmctl start g --kernel $G/Image --initrd $G/initramfs.cpio.gz --backend kvm --cpus 1 \
        --mem ${MEM}M --no-gui --append "$APPEND" >/dev/null || { echo BENCH-FAIL start; return; }
    wait_log g "GUEST: shell ready"; sleep 2
    vmmctl snapshot g s >/dev/null || { echo BENCH-FAIL snapshot; return; }
    pause=$(grep -o "guest paused in [0-9.]* ms, ran again after [0-9.]* ms" \
            /tmp/ign/guests/g/worker.log | tail -n 1 | awk '{ print $9 }')
    t0=$(ms); vmmctl restore s --name r >/dev/null; t1=$(ms)
    running=$(grep -o "vCPU running [0-9.]* ms after the worker started" \
              /tmp/ign/guests/r/worker.log | tail -n 1 | awk '{ print $3 }')
    vmmctl stop --force r >/dev/null
    vmmctl stop --force g >/dev/null
    t2=$(ms); out=$(vmmctl fanout s 8); t3=$(ms)
    pids=$(echo "$out" | grep -o "pid [0-9]*" | awk '{ print $2 }')
    sleep 3
    echo "BENCH ignition pause_ms=$pause restore_cmd_ms=$((t1 - t0)) restore_worker_ms=$running" \
         "fanout8_ms=$((t3 - t2)) pss8_kb=$(pss $pids) clones=$(echo $pids | wc -w)"
    for n in 1 2 3 4 5 6 7 8; do vmmctl stop --force s-$n >/dev/null 2>&1; done
}

qemu_round() {
    rm -f /tmp/q.mig /tmp/m.in /tmp/m.out /tmp/mon /tmp/qout
    mkfifo /tmp/m.in /tmp/m.out
    LD_LIBRARY_PATH=/opt/qemu/lib $QEMU -append "$APPEND" -serial file:/tmp/qout \
        -monitor pipe:/tmp/m </dev/null >/dev/null 2>&1 &
    qpid=$!
    cat /tmp/m.out > /tmp/mon &
    exec 3>/tmp/m.in
    echo "BENCH-STEP qemu started"
    i=0; while [ $i -lt 600 ] && ! grep -q "GUEST: shell ready" /tmp/qout 2>/dev/null; do
        sleep 0.2; i=$((i+1)); done
    sleep 2
    t0=$(ms)
    # The URI in quotes: the monitor ends an unquoted argument at a space.
    echo "stop" >&3; echo 'migrate "exec:cat > /tmp/q.mig"' >&3; echo "cont" >&3
    echo "info status" >&3
    mon_wait /tmp/mon "VM status: running" 1
    t1=$(ms)
    echo "BENCH-STEP qemu saved $(wc -c < /tmp/q.mig 2>/dev/null) bytes"
    echo "quit" >&3; exec 3>&-; wait $qpid 2>/dev/null
    rm -f /tmp/m.in /tmp/m.out /tmp/mon; mkfifo /tmp/m.in /tmp/m.out
    t2=$(ms)
    LD_LIBRARY_PATH=/opt/qemu/lib $QEMU -append "$APPEND" -serial null \
        -monitor pipe:/tmp/m -incoming "exec:cat /tmp/q.mig" </dev/null >/dev/null 2>&1 &
    qpid=$!
    [ -s /tmp/q.mig ] || { echo "BENCH-FAIL qemu: no migration file"; kill $qpid; return; }
    cat /tmp/m.out > /tmp/mon &
    exec 3>/tmp/m.in
    # The source was stopped for its save, and QEMU keeps a migrated guest's
    # run state: the loaded guest waits, paused, for `cont`.
    n=0; while [ $n -lt 600 ]; do
        echo "info status" >&3; sleep 0.05; n=$((n+1))
        grep -q -E "VM status: (running|paused)\s*$" /tmp/mon && break
    done
    echo "cont" >&3; echo "info status" >&3
    mon_wait /tmp/mon "VM status: running" 1
    t3=$(ms)
    echo "BENCH-STEP qemu restored"
    echo "quit" >&3; exec 3>&-; wait $qpid 2>/dev/null
    pids=""
    for n in 1 2 3 4 5 6 7 8; do
        LD_LIBRARY_PATH=/opt/qemu/lib $QEMU -append "$APPEND" -serial null -monitor none \
            -incoming "exec:cat /tmp/q.mig" </dev/null >/dev/null 2>&1 &
        pids="$pids $!"
    done
    t4=$(ms)
    i=0; while [ $i -lt 600 ] && ps | grep -v grep | grep -q "cat /tmp/q.mig"; do
        sleep 0.1; i=$((i+1)); done
    t5=$(ms)
    sleep 3
    echo "BENCH qemu pause_ms=$((t1 - t0)) restore_cmd_ms=$((t3 - t2)) restore_worker_ms=0" \
         "fanout8_ms=$((t5 - t4)) pss8_kb=$(pss $pids) clones=$(echo $pids | wc -w)" \
         "state_kb=$(( $(wc -c < /tmp/q.mig) / 1024 ))"
    kill $pids; wait 2>/dev/null
}

run=1
while [ $run -le $RUNS ]; do
    [ "$SIDES" = qemu ] || ignition_round
    [ "$SIDES" = ignition ] || qemu_round
    run=$((run + 1))
done
"""


def run_snapshots(args):
    subprocess.run([os.path.join(REPO, "tools", "fetch-arm64-deps"), "--qemu"], check=True)
    qemu = os.path.join(QEMU_ROOT, "usr", "bin", "qemu-system-aarch64")
    adds = [f"{qemu}:/opt/qemu/bin/qemu-system-aarch64"]
    adds += [f"{path}:/opt/qemu/lib/{name}" for name, path in closure(qemu).items()]
    with tempfile.TemporaryDirectory(prefix="bench-kvm-snap.") as tmp:
        script = os.path.join(tmp, "bench.sh")
        with open(script, "w") as f:
            sides = os.environ.get("BENCH_KVM_SIDES", "both")  # ignition, qemu or both
            f.write(f"RUNS={args.runs}\nMEM=256\nSIDES={sides}\n" + SNAPSHOT_SCRIPT)
        cmd = [os.path.join(REPO, "tools", "kvm-host"), "--cpus", "2", "--mem", "3G"]
        for a in adds + [f"{script}:/root/bench.sh"]:
            cmd += ["--add", a]
        env = dict(os.environ, KVM_HOST_TIMEOUT="900")
        # Relayed as it comes: a run cut short still shows how far it got.
        proc = subprocess.Popen(cmd + ["--", "sh", "/root/bench.sh"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, text=True, errors="replace", env=env)
        lines = []
        for line in proc.stdout:
            sys.stderr.write(line)
            lines.append(line)
        proc.wait()
    output = "".join(lines)
    results = {}
    for m in re.finditer(r"^BENCH (\w+) (.*)$", output, re.M):
        entry = results.setdefault(m.group(1), {})
        for key, value in re.findall(r"(\w+)=([0-9.]+)", m.group(2)):
            entry.setdefault(key, []).append(float(value))
    rows = [("snapshot: guest paused (ms)", "pause_ms", 1),
            ("restore: command to guest running (ms)", "restore_cmd_ms", 1),
            ("fan-out of 8: command to all running (ms)", "fanout8_ms", 1),
            ("8 clones' PSS, all processes (MiB)", "pss8_kb", 1 / 1024)]
    if args.markdown:
        print(f"| measure (median of {args.runs}, inside the emulated host, 256 MiB guest) "
              "| ignition (kvm) | QEMU-KVM | ignition/QEMU |")
        print("| --- | ---: | ---: | ---: |")
    for label, key, scale in rows:
        a = results.get("ignition", {}).get(key)
        b = results.get("qemu", {}).get(key)
        if not a or not b:
            print(f"{label}: no figures (see the log above)")
            continue
        ma, mb = statistics.median(a) * scale, statistics.median(b) * scale
        ratio = ma / mb if mb else float("inf")
        if args.markdown:
            print(f"| {label} | {ma:.0f} | {mb:.0f} | {ratio:.2f} |")
        else:
            print(f"{label:50s} {ma:9.0f} {mb:9.0f} {ratio:6.2f}")
    worker = results.get("ignition", {}).get("restore_worker_ms")
    if worker:
        print(f"ignition's worker: vCPU running {statistics.median(worker):.1f} ms after it "
              "started (median)")
