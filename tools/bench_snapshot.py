"""tools/bench snapshot: snapshot and restore of a guest at its shell, ignition
beside QEMU's migrate-to-file on the same guest in the same run.

The guest is the demo guest as `vmmctl start` boots it (the kernel, initramfs
and root disk from tools/build-guest, 512 MiB, virtio-gpu with keyboard and
tablet, fbcon on tty1), left at its shell for a few seconds. Per run and VMM:

- snapshot: how long the guest is paused (ignition: the worker's own figure;
  QEMU: `stop` to migration `completed`), the wall time of the whole command,
  the size on disk of the memory image, and the guest's non-zero pages (counted
  by reading ignition's memory file page by page);
- restore: command issued -> guest running (ignition: the first restore of
  the snapshot, which also reads its memory file through to check it, and a
  later one; `vmmctl restore` until it returns, which it does once the worker reported ready, just before its vCPU
  starts; also the worker's own figures from its start to the first frame
  published and to the vCPU running. QEMU: process start with `-incoming
  "exec:cat FILE"` to its RESUME event);
- memory: RSS and PSS of a restored guest 10 s after its restore, with the
  part of the guest's RAM it has touched (resident pages of the RAM mapping,
  ignition only: QEMU's RAM is anonymous memory filled from the stream);
- fan-out: 8 guests restored from the one snapshot (ignition: `vmmctl fanout`;
  QEMU: 8 processes with -incoming started together), their summed RSS and
  PSS 10 s later against 8 times one restored guest's.

QEMU keeps its root disk's writes in a temporary overlay (snapshot=on), which a
migration does not carry; ignition's snapshot includes the disk's layer, which
a restore copies. Figures, not assertions."""

import json
import os
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUEST = os.path.join(REPO, "build", "guest")
VMMCTL = os.path.join(REPO, "build", "tools", "vmmctl", "vmmctl")
APPEND = "console=ttyAMA0 quiet root=/dev/vda"  # what `vmmctl start NAME` boots with
MEM_MIB = 512
CLONES = 8
SETTLE_SECONDS = 3
# The guest: the console image at its shell, or (tools/bench desktop-snapshot)
# the desktop image with foot on the screen. run() picks.
IMAGE, ROOT, READY = "console", "rootfs.ext4", "GUEST: shell ready"
PAGE = 4096


# ---- process memory ------------------------------------------------------------------

def smaps_rollup(pid):
    """Rss and Pss of a process, in KiB."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            m = re.match(r"(\w+):\s+(\d+) kB", line)
            if m:
                out[m.group(1)] = int(m.group(2))
    return out


def mapping_kib(pid, path):
    """Rss and Private_Dirty (KiB) of the mappings of one file in a process."""
    rss = dirty = 0
    inside = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                inside = line.rstrip().endswith(path)
                continue
            if not inside:
                continue
            m = re.match(r"(Rss|Private_Dirty):\s+(\d+) kB", line)
            if m and m.group(1) == "Rss":
                rss += int(m.group(2))
            elif m:
                dirty += int(m.group(2))
    return rss, dirty


def allocated_mib(path):
    return os.stat(path).st_blocks * 512 / 2**20


def nonzero_pages(path):
    zero = bytes(PAGE)
    n = 0
    with open(path, "rb") as f:
        while True:
            page = f.read(PAGE)
            if not page:
                return n
            if page != zero[:len(page)]:
                n += 1


# ---- ignition, through vmmctl and vmmd -------------------------------------------------

class Ignition:
    def __init__(self, home):
        self.home = home
        self.env = dict(os.environ, IGNITION_HOME=home)

    def vmmctl(self, *args, timeout=600):
        start = time.monotonic()
        r = subprocess.run([VMMCTL, *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"vmmctl {' '.join(args)}: {r.stderr.strip()}")
        return r, time.monotonic() - start

    def path(self, *parts):
        return os.path.join(self.home, *parts)

    def wait_console(self, name, text, timeout=600):
        log = self.path("guests", name, "console.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if text in open(log, errors="replace").read():
                    return
            except FileNotFoundError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"ignition: {name} never printed {text!r}")

    def worker_log(self, name):
        return open(self.path("guests", name, "worker.log"), errors="replace").read()

    def pid(self, name):
        with open(self.path("guests", name, "guest.json")) as f:
            return json.load(f)["pid"]

    def cleanup(self):
        guests = self.path("guests")
        for name in os.listdir(guests) if os.path.isdir(guests) else []:
            try:
                pid = int(open(self.path("guests", name, "worker.lock")).read().split()[0])
                os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                pass
        try:
            pid = int(open(self.path("vmmd.lock")).read().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass


def ignition_run(scratch):
    ign = Ignition(os.path.join(scratch, "home"))
    os.makedirs(ign.home, mode=0o700)
    out = {}
    try:
        ign.vmmctl("start", "base", "--image", IMAGE, "--mem", f"{MEM_MIB}M",
                   "--net", "none")  # as QEMU here
        ign.wait_console("base", READY)
        time.sleep(SETTLE_SECONDS)

        _, out["snapshot_wall"] = ign.vmmctl("snapshot", "base", "snap")
        m = re.search(r"snapshot \S+: save .* total ([0-9.]+) ms", ign.worker_log("base"))
        out["pause_ms"] = float(m.group(1)) if m else float("nan")
        memory = ign.path("snapshots", "snap", "memory")
        out["image_mib"] = allocated_mib(memory)
        out["snapshot_mib"] = sum(allocated_mib(os.path.join(os.path.dirname(memory), f))
                                  for f in os.listdir(os.path.dirname(memory)))
        out["nonzero_mib"] = nonzero_pages(memory) * PAGE / 2**20
        ign.vmmctl("stop", "--force", "base")

        # Both restores read the memory file from the page cache ("warm
        # cache"). The first of a snapshot also reads it through to check its
        # checksums; later ones of the unchanged file skip that. Each starts
        # with vmmd's standby worker ready, as it is unless guests are started
        # less than half a second apart.
        time.sleep(1)
        _, out["first_restore_ms"] = ign.vmmctl("restore", "snap", "--name", "first")
        out["first_restore_ms"] *= 1000
        ign.vmmctl("stop", "--force", "first")
        time.sleep(1)
        _, out["restore_wall_ms"] = ign.vmmctl("restore", "snap", "--name", "one")
        out["restore_wall_ms"] *= 1000
        m = re.search(r"restored: first frame published ([0-9.]+) ms and vCPU running "
                      r"([0-9.]+) ms", ign.worker_log("one"))
        out["frame_ms"], out["running_ms"] = (float(m.group(1)), float(m.group(2))) if m \
            else (float("nan"), float("nan"))
        time.sleep(10)
        pid = ign.pid("one")
        roll = smaps_rollup(pid)
        touched, dirty = mapping_kib(pid, memory)
        out |= {"rss_mib": roll["Rss"] / 1024, "pss_mib": roll["Pss"] / 1024,
                "touched_mib": touched / 1024, "dirty_mib": dirty / 1024}
        ign.vmmctl("stop", "--force", "one")

        _, out["fanout_wall"] = ign.vmmctl("fanout", "snap", str(CLONES), "--prefix", "c")
        time.sleep(10)
        rolls = [smaps_rollup(ign.pid(f"c{i}")) for i in range(1, CLONES + 1)]
        out["fan_rss_mib"] = sum(r["Rss"] for r in rolls) / 1024
        out["fan_pss_mib"] = sum(r["Pss"] for r in rolls) / 1024
        out["fan_dirty_mib"] = sum(mapping_kib(ign.pid(f"c{i}"), memory)[1]
                                   for i in range(1, CLONES + 1)) / 1024
        return out
    finally:
        ign.cleanup()


# ---- QEMU, with QMP and migrate-to-file ------------------------------------------------

def qemu_command(qmp, disk_dir):
    image = os.path.join(GUEST, "Image")
    initrd = os.path.join(GUEST, "initramfs.cpio.gz")
    root = os.path.join(GUEST, ROOT)
    return ["qemu-system-aarch64", "-M", "virt,gic-version=3", "-cpu", "cortex-a57",
            "-smp", "1", "-m", str(MEM_MIB), "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", "stdio",
            "-qmp", f"unix:{qmp},server=on,wait=off",
            "-global", "virtio-mmio.force-legacy=false",
            "-device", "virtio-rng-device",
            "-chardev", "null,id=hvc0", "-device", "virtio-serial-device",
            "-device", "virtconsole,chardev=hvc0",
            "-device", "virtio-gpu-device", "-device", "virtio-keyboard-device",
            "-device", "virtio-tablet-device",
            "-drive", f"file={root},if=none,id=root,format=raw,snapshot=on",
            "-device", "virtio-blk-device,drive=root",
            "-kernel", image, "-initrd", initrd, "-append", APPEND]


class Qmp:
    def __init__(self, path, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
        self.buf = b""
        self.events = []
        self.read()  # the greeting
        self.call("qmp_capabilities")

    def read(self, timeout=600):
        while b"\n" not in self.buf:
            self.sock.settimeout(timeout)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("QMP closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, command, **arguments):
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self.read()
            if "event" in reply:
                self.events.append((time.monotonic(), reply))
                continue
            if "error" in reply:
                raise RuntimeError(f"QMP {command}: {reply['error']}")
            return reply.get("return")


def wait_serial(proc, text, timeout=600):
    log = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in log:
        if time.monotonic() > deadline:
            raise RuntimeError(f"qemu: no {text!r}")
        if select.select([proc.stdout], [], [], 1.0)[0]:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError("qemu exited early")
            log += chunk


def start_qemu(scratch, tag, incoming=None):
    qmp = os.path.join(scratch, f"{tag}.qmp")
    cmd = qemu_command(qmp, scratch)
    if incoming:
        cmd += ["-incoming", f"exec:cat {incoming}"]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    return proc, start, qmp


def qemu_restored(scratch, tag, image):
    """A QEMU restored from the migration file, running; and the seconds from
    its process start until it ran. The saved guest was stopped, so the
    restored one stays paused once its state is in: it is then continued."""
    proc, start, qmp_path = start_qemu(scratch, tag, incoming=image)
    try:
        qmp = Qmp(qmp_path)
        while qmp.call("query-status")["status"] == "inmigrate":
            time.sleep(0.001)
        qmp.call("cont")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, qmp, time.monotonic() - start


def qemu_run(scratch):
    out = {}
    procs = []
    image = os.path.join(scratch, "qemu.mig")
    try:
        proc, _, qmp_path = start_qemu(scratch, "base")
        procs.append(proc)
        wait_serial(proc, READY)
        time.sleep(SETTLE_SECONDS)
        qmp = Qmp(qmp_path)
        t0 = time.monotonic()
        qmp.call("stop")
        qmp.call("migrate", uri=f"exec:cat > {image}")
        while qmp.call("query-migrate").get("status") not in ("completed", "failed"):
            time.sleep(0.002)
        out["pause_ms"] = (time.monotonic() - t0) * 1000
        out["snapshot_wall"] = out["pause_ms"] / 1000
        out["image_mib"] = allocated_mib(image)
        out["snapshot_mib"] = out["image_mib"]
        proc.kill()
        proc.wait()
        procs.clear()

        proc, qmp, seconds = qemu_restored(scratch, "one", image)
        procs.append(proc)
        out["restore_wall_ms"] = seconds * 1000
        time.sleep(10)
        roll = smaps_rollup(proc.pid)
        out |= {"rss_mib": roll["Rss"] / 1024, "pss_mib": roll["Pss"] / 1024}
        proc.kill()
        proc.wait()
        procs.clear()

        t0 = time.monotonic()
        clones = [start_qemu(scratch, f"c{i}", incoming=image) for i in range(CLONES)]
        procs += [c[0] for c in clones]
        for p, _, qmp_path in clones:
            q = Qmp(qmp_path)
            while q.call("query-status")["status"] == "inmigrate":
                time.sleep(0.001)
            q.call("cont")
        out["fanout_wall"] = time.monotonic() - t0
        time.sleep(10)
        rolls = [smaps_rollup(p.pid) for p in procs]
        out["fan_rss_mib"] = sum(r["Rss"] for r in rolls) / 1024
        out["fan_pss_mib"] = sum(r["Pss"] for r in rolls) / 1024
        return out
    finally:
        for p in procs:
            p.kill()
            p.wait()


# ---- the table -----------------------------------------------------------------------

ROWS = [
    ("snapshot: guest paused (ms)", "pause_ms", "{:.0f}"),
    ("snapshot: command, wall (s)", "snapshot_wall", "{:.2f}"),
    ("snapshot: memory image on disk (MiB)", "image_mib", "{:.1f}"),
    ("snapshot: all files on disk (MiB)", "snapshot_mib", "{:.1f}"),
    ("guest RAM in non-zero pages (MiB)", "nonzero_mib", "{:.1f}"),
    ("restore, first of the snapshot: command issued -> guest running (ms)",
     "first_restore_ms", "{:.0f}"),
    ("restore: command issued -> guest running (ms)", "restore_wall_ms", "{:.0f}"),
    ("restore: worker start -> first frame published (ms)", "frame_ms", "{:.1f}"),
    ("restore: worker start -> vCPU running (ms)", "running_ms", "{:.1f}"),
    ("restored guest after 10 s: RSS (MiB)", "rss_mib", "{:.1f}"),
    ("restored guest after 10 s: PSS (MiB)", "pss_mib", "{:.1f}"),
    ("restored guest after 10 s: guest RAM touched (MiB)", "touched_mib", "{:.1f}"),
    ("restored guest after 10 s: guest RAM written (MiB)", "dirty_mib", "{:.1f}"),
    (f"fan-out of {CLONES}: command, wall (s)", "fanout_wall", "{:.2f}"),
    (f"{CLONES} clones after 10 s: summed RSS (MiB)", "fan_rss_mib", "{:.1f}"),
    (f"{CLONES} clones after 10 s: summed PSS (MiB)", "fan_pss_mib", "{:.1f}"),
    (f"{CLONES} clones after 10 s: guest RAM written, summed (MiB)", "fan_dirty_mib", "{:.1f}"),
]


def median(results, key):
    values = [r[key] for r in results if key in r and r[key] == r[key]]  # not NaN
    return statistics.median(values) if values else None


def run(args, desktop=False):
    global IMAGE, ROOT, READY, SETTLE_SECONDS
    if desktop:  # foot's window and shell come a few seconds after cage's first frame
        IMAGE, ROOT, READY, SETTLE_SECONDS = ("desktop", "desktop.ext4",
                                              "GUEST: desktop ready", 15)
    results = {"ignition": [], "qemu": []}
    for i in range(args.runs):
        for name, fn in (("ignition", ignition_run), ("qemu", qemu_run)):
            scratch = tempfile.mkdtemp(prefix="ignition-bench-")
            os.chmod(scratch, 0o700)
            try:
                r = fn(scratch)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            results[name].append(r)
            print(f"run {i + 1} {name}: " + ", ".join(f"{k}={v:.2f}" for k, v in r.items()),
                  file=sys.stderr)
    if args.markdown:
        print(f"| measure (median of {args.runs}) | ignition (emu) | QEMU TCG | ignition/QEMU |")
        print("| --- | ---: | ---: | ---: |")
    for label, key, fmt in ROWS:
        a, b = median(results["ignition"], key), median(results["qemu"], key)
        cells = [fmt.format(v) if v is not None else "–" for v in (a, b)]
        ratio = f"{a / b:.3f}" if a is not None and b else "–"
        if args.markdown:
            print(f"| {label} | {cells[0]} | {cells[1]} | {ratio} |")
        else:
            print(f"{label:62s} {cells[0]:>9s} {cells[1]:>9s} {ratio:>7s}")
