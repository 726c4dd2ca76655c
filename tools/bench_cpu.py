"""tools/bench cpu: guest-timed CPU workloads, ignition (emu) beside QEMU TCG.

Both VMMs boot the same guest (tools/bench's boot command line and devices) and
run the same commands at the shell; each workload is timed by the guest itself
(/proc/uptime before and after, 10 ms resolution; the guest's clock is the
generic timer, which both VMMs derive from the host's monotonic clock), so the
console round trip is not in the figures. Beside each guest time the bench
takes the VMM process's own CPU time for the workload (all threads), which
time spent waiting for a core on a busy machine does not inflate. Runs
alternate between the VMMs so that load from elsewhere on the machine hits
both alike; the table gives medians and ratios.

The guest has busybox only, so the syscall and exec workloads use two tiny
static arm64 programs made here (a few hand-encoded instructions in a minimal
ELF file) and typed into the guest's /tmp through the console: one that calls
getppid in a loop, one that exits at once."""

import os
import re
import signal
import statistics
import struct
import subprocess
import sys
import time

# tools/bench's own module (its Console, cpu_seconds and vmm_commands), set by run().
bench = None

GETPPID_CALLS = 100_000
EXECS = 1000
AWK_ITERATIONS = 500_000


# ---- a minimal static arm64 ELF executable --------------------------------------

def movz(rd, imm16, shift=0):
    return 0xD2800000 | (shift // 16) << 21 | imm16 << 5 | rd


def movk(rd, imm16, shift=0):
    return 0xF2800000 | (shift // 16) << 21 | imm16 << 5 | rd


def svc0():
    return 0xD4000001


def subs_imm(rd, rn, imm12):
    return 0xF1000000 | imm12 << 10 | rn << 5 | rd


def b_ne(offset_insns):
    return 0x54000001 | (offset_insns & 0x7FFFF) << 5


SYS_GETPPID, SYS_EXIT = 173, 93


def program_getppid_loop(n):
    """x19 = n; do getppid() while --x19; exit(0)."""
    return [movz(19, n & 0xFFFF), movk(19, n >> 16, 16),
            movz(8, SYS_GETPPID), svc0(), subs_imm(19, 19, 1), b_ne(-3),
            movz(0, 0), movz(8, SYS_EXIT), svc0()]


def program_exit0():
    return [movz(0, 0), movz(8, SYS_EXIT), svc0()]


def elf(words, base=0x400000):
    """ELF64 little-endian AArch64 ET_EXEC with one PT_LOAD holding everything."""
    code = b"".join(struct.pack("<I", w) for w in words)
    ehsize, phsize = 64, 56
    entry = base + ehsize + phsize
    size = ehsize + phsize + len(code)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack("<HHIQQQIHHHHHH", 2, 183, 1, entry, ehsize, 0, 0,
                                 ehsize, phsize, 1, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    return header + phdr + code


def type_file(con, path, data):
    """Writes data to path in the guest with printf's octal escapes (busybox ash)."""
    octal = "".join(f"\\{b:03o}" for b in data)
    con.proc.stdin.write(f"printf '{octal}' > {path}; chmod +x {path}\n".encode())
    con.proc.stdin.flush()


# ---- workloads -------------------------------------------------------------------

# (label, unit, guest command, amount of unit the command does)
WORKLOADS = [
    (f"user-space arithmetic loop (awk, {AWK_ITERATIONS // 1000}k iterations)", "k iterations/s",
     f"awk 'BEGIN {{ s = 0; for (i = 0; i < {AWK_ITERATIONS}; i++) s += i * i % 7; "
     "print s }' >/dev/null", AWK_ITERATIONS / 1000),
    ("dd /dev/zero to /dev/null, 256 MiB", "MiB/s",
     "dd if=/dev/zero of=/dev/null bs=1M count=256 2>/dev/null", 256),
    (f"syscall loop ({GETPPID_CALLS // 1000}k getppid)", "k calls/s",
     "/tmp/getppid_loop", GETPPID_CALLS / 1000),
    (f"fork + exec + wait ({EXECS})", "/s",
     f"i=0; while [ $i -lt {EXECS} ]; do /tmp/exit0; i=$((i+1)); done", EXECS),
]


def guest_timed(con, command, n):
    """Runs command at the guest's shell; returns the seconds the guest measured
    (its /proc/uptime before and after: 10 ms resolution, busybox's date has no %N)."""
    con.log = b""
    con.proc.stdin.write(f"read t0 x </proc/uptime; {command}; read t1 x </proc/uptime; "
                         f"echo BENCH-T{n}'' $t0 $t1\n".encode())
    con.proc.stdin.flush()
    rx = rb"BENCH-T%d ([0-9.]+) ([0-9.]+)\r?\n" % n
    con.wait_for(rx, 300)
    m = re.search(rx, con.log)
    return float(m.group(2)) - float(m.group(1))


def cpu_once(name, cmd, idle_seconds, only=None, around=None):
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    con = bench.Console(name, proc)
    try:
        con.wait_for(rb"GUEST: shell ready")
        con.wait_for(rb"ignition:[^\n]*# ")
        type_file(con, "/tmp/getppid_loop", elf(program_getppid_loop(GETPPID_CALLS)))
        type_file(con, "/tmp/exit0", elf(program_exit0()))
        time.sleep(2)
        rates, cpu = [], []
        for i, (label, _, command, amount) in enumerate(WORKLOADS):
            if only is not None and i not in only:
                rates.append(float("nan"))
                cpu.append(float("nan"))
                continue
            if around:
                around(proc.pid, label, lambda: guest_timed(con, command, i))
                rates.append(float("nan"))
                cpu.append(float("nan"))
                continue
            before = bench.cpu_seconds(proc.pid)
            rates.append(amount / guest_timed(con, command, i))
            cpu.append(bench.cpu_seconds(proc.pid) - before)
        time.sleep(2)  # the shell settles before idle is measured
        before, t0 = bench.cpu_seconds(proc.pid), time.monotonic()
        time.sleep(idle_seconds)
        idle = (bench.cpu_seconds(proc.pid) - before) / (time.monotonic() - t0) * 100
        return rates, cpu, idle
    finally:
        proc.kill()
        proc.wait()


def run(args, bench_module):
    global bench
    bench = bench_module
    cmds = bench.vmm_commands()
    results = {name: {"rates": [], "cpu": [], "idle": []} for name in cmds}
    for n in range(args.runs):
        for name, cmd in cmds.items():  # alternate, so drift hits both alike
            rates, cpu, idle = cpu_once(name, cmd, args.idle_seconds)
            results[name]["rates"].append(rates)
            results[name]["cpu"].append(cpu)
            results[name]["idle"].append(idle)
            print(f"run {n + 1} {name:8s} " + " ".join(f"{r:.1f}" for r in rates) +
                  " cpu " + " ".join(f"{c:.2f}" for c in cpu) + f" idle={idle:.2f}%",
                  file=sys.stderr)

    def med(name, key, i=None):
        return statistics.median(r if i is None else r[i] for r in results[name][key])
    # Throughput: higher is better, ratio ignition/QEMU >= 1 means ignition is faster.
    rows = [(f"{label} ({unit})", med("ignition", "rates", i), med("qemu", "rates", i))
            for i, (label, unit, _, _) in enumerate(WORKLOADS)]
    # The VMM's own CPU time for the same work (all threads): steadier than wall
    # time on a loaded machine, since time spent waiting for a core is not in it.
    rows += [(f"VMM CPU time: {label} (s)", med("ignition", "cpu", i), med("qemu", "cpu", i))
             for i, (label, _, _, _) in enumerate(WORKLOADS)]
    rows.append((f"host CPU while idle at the shell ({args.idle_seconds:g} s, % of a core)",
                 med("ignition", "idle"), med("qemu", "idle")))
    if args.markdown:
        print(f"| measure (median of {args.runs}) | ignition (emu) | QEMU TCG | ignition/QEMU |")
        print("| --- | ---: | ---: | ---: |")
    for label, a, b in rows:
        if args.markdown:
            print(f"| {label} | {a:.2f} | {b:.2f} | {a / b:.2f} |")
        else:
            print(f"{label:70s} {a:10.2f} {b:10.2f} {a / b:7.2f}")


def profile(args, bench_module):
    """tools/bench cpu --profile DIR: `perf record` of vmmd during each workload
    (cpu-clock samples: no hardware counters are needed), one file per workload."""
    global bench
    bench = bench_module
    os.makedirs(args.profile, exist_ok=True)
    labels = [label for label, _, _, _ in WORKLOADS]

    def record(pid, label, workload):
        out = os.path.join(args.profile, f"cpu-{labels.index(label)}.data")
        perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "2000", "-g",
                                 "-p", str(pid), "-o", out],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            seconds = workload()
        finally:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        print(f"{label}: {seconds:.2f} s of guest time, profile in {out}", file=sys.stderr)

    cpu_once("ignition", bench.vmm_commands()["ignition"], 1, around=record)
    print(f"perf report -i {args.profile}/cpu-N.data --no-children --sort dso,symbol -g none")
