"""tools/bench browser: the disposable browser (docs/BROWSER.md), ignition (emu)
beside QEMU TCG on the same browser image (tools/build-guest --image browser),
one vCPU and 2 GiB each.

- cold: from the VMM's start to the guest's "GUEST: browser page painted" (Firefox
  has drawn its start page); ignition through `vmmctl browser`, which makes the
  warm base from that boot, QEMU booting the same kernel, initramfs and disk
  (copy-on-write: snapshot=on) with the devices docs/BROWSER.md lists and
  user-mode networking that reaches nothing (restrict=on).
- warm (ignition only; QEMU has no counterpart to a clone opening a URL):
  `vmmctl browser URL --allow-host --screenshot` from the warm base, URL a page
  of one colour served on this machine's 127.0.0.1 (the clone sees it at
  10.0.2.2): the command's own figures, from its start (after the base check)
  to the clone running, to the agent's `ok` (Firefox has the URL), and to the
  first look at the screen as it finally stood (the page drawn; looked at every
  100 ms and at each flush). N runs.
- clones: N clones at once, each with the URL open (ignition: `vmmctl browser
  URL --no-view`, one after the other; QEMU: N processes restored with
  -incoming from a migration of its booted guest, taken once it printed
  "GUEST: browser settled" (or that it did not settle), as ignition's base is),
  their summed PSS 10 s after the last started.

Figures, not assertions."""

import http.server
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import bench_snapshot as snap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUEST = os.path.join(REPO, "build", "guest")
VMMCTL = os.path.join(REPO, "build", "tools", "vmmctl", "vmmctl")
MEM_MIB = 2048
PAINTED = "GUEST: browser page painted"
READY = "GUEST: browser ready"
APPEND = "console=ttyAMA0 quiet root=/dev/vda"  # what vmmctl browser boots with
COLD_LIMIT_S = 1200
# The guest's word that Firefox is idle after its first page (either line):
# vmmctl browser snapshots its base then.
SETTLED = ("GUEST: browser settled", "GUEST: browser did not settle")
PAGE = (b"<!doctype html><html><head><title>bench</title></head>"
        b"<body style='margin:0;background:#c03090;height:100vh'></body></html>")


class Page:
    """A page of one colour on 127.0.0.1."""

    def __init__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(PAGE)))
                self.end_headers()
                self.wfile.write(PAGE)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://10.0.2.2:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def ignition_run(scratch, page, runs, clones):
    ign = snap.Ignition(os.path.join(scratch, "home"))
    os.makedirs(ign.home, mode=0o700)
    out = {}
    try:
        start = time.monotonic()
        proc = subprocess.Popen([VMMCTL, "browser", "--no-view", "--backend", "emu", "--name",
                                 "first"], env=ign.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        text = ""
        for line in proc.stdout:
            text += line
            if PAINTED in line and "cold_s" not in out:
                out["cold_s"] = time.monotonic() - start
        if proc.wait() != 0:
            raise RuntimeError(f"vmmctl browser (the base) failed:\n{text}")
        ign.vmmctl("stop", "--force", "first")
        time.sleep(1)

        keys = ("running_ms", "opened_ms", "drawn_ms")
        warm = {k: [] for k in keys}
        for run in range(runs):
            shot = os.path.join(scratch, f"warm{run}.png")
            r, _ = ign.vmmctl("browser", page.url, "--allow-host", "--screenshot", shot)
            m = re.search(r"timing: clone running (\d+) ms, URL handed to Firefox (\d+) ms, "
                          r"page drawn (\d+) ms", r.stdout)
            if not m:
                raise RuntimeError(f"vmmctl browser printed no timing:\n{r.stdout}")
            for k, v in zip(keys, m.groups()):
                warm[k].append(float(v))
            print(f"ignition warm run {run + 1}: " +
                  " ".join(f"{k}={warm[k][-1]:.0f}" for k in keys), file=sys.stderr)
            time.sleep(1)
        out |= {k: statistics.median(v) for k, v in warm.items()}

        for i in range(clones):
            ign.vmmctl("browser", page.url, "--allow-host", "--no-view", "--name", f"c{i}")
        time.sleep(10)
        rolls = [snap.smaps_rollup(ign.pid(f"c{i}")) for i in range(clones)]
        out["fan_pss_mib"] = sum(r["Pss"] for r in rolls) / 1024
        out["fan_rss_mib"] = sum(r["Rss"] for r in rolls) / 1024
        return out
    finally:
        ign.cleanup()


def qemu_command(qmp, disk, incoming=None):
    cmd = ["qemu-system-aarch64", "-M", "virt,gic-version=3", "-cpu", "cortex-a57",
           "-smp", "1", "-m", str(MEM_MIB), "-nodefaults", "-no-user-config",
           "-display", "none", "-serial", "stdio",
           "-qmp", f"unix:{qmp},server=on,wait=off",
           "-global", "virtio-mmio.force-legacy=false",
           "-device", "virtio-rng-device",
           "-device", "virtio-gpu-device", "-device", "virtio-keyboard-device",
           "-device", "virtio-tablet-device",
           "-netdev", "user,id=net0,restrict=on", "-device", "virtio-net-device,netdev=net0",
           "-drive", f"file={disk},if=none,id=root,format=raw,snapshot=on",
           "-device", "virtio-blk-device,drive=root",
           "-kernel", os.path.join(GUEST, "Image"),
           "-initrd", os.path.join(GUEST, "initramfs.cpio.gz"), "-append", APPEND]
    if incoming:
        cmd += ["-incoming", f"exec:cat {incoming}"]
    return cmd


def wait_serial(proc, texts, start, timeout):
    """Seconds from start to each of texts on the serial console, in order. An
    entry may be a tuple of alternatives (keyed by its first)."""
    log, seen = b"", {}
    while len(seen) < len(texts):
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"qemu: no {texts[len(seen)]!r} in {timeout} s")
        if select.select([proc.stdout], [], [], 1.0)[0]:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError("qemu exited early")
            log += chunk
        for t in texts:
            key, alternatives = (t[0], t) if isinstance(t, tuple) else (t, (t,))
            if key not in seen and any(a.encode() in log for a in alternatives):
                seen[key] = time.monotonic() - start
    return seen


def qemu_run(scratch, clones):
    disk = os.path.join(GUEST, "browser.ext4")
    image = os.path.join(scratch, "qemu.mig")
    out, procs = {}, []
    try:
        qmp_path = os.path.join(scratch, "base.qmp")
        start = time.monotonic()
        proc = subprocess.Popen(qemu_command(qmp_path, disk), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(proc)
        seen = wait_serial(proc, [PAINTED, READY, SETTLED], start, COLD_LIMIT_S)
        out["cold_s"] = seen[PAINTED]
        qmp = snap.Qmp(qmp_path)
        qmp.call("stop")
        qmp.call("migrate", uri=f"exec:cat > {image}")
        while qmp.call("query-migrate").get("status") not in ("completed", "failed"):
            time.sleep(0.01)
        proc.kill()
        proc.wait()
        procs.clear()

        for i in range(clones):
            q_path = os.path.join(scratch, f"c{i}.qmp")
            p = subprocess.Popen(qemu_command(q_path, disk, incoming=image),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            procs.append(p)
            q = snap.Qmp(q_path)
            while q.call("query-status")["status"] == "inmigrate":
                time.sleep(0.01)
            q.call("cont")
        time.sleep(10)
        rolls = [snap.smaps_rollup(p.pid) for p in procs]
        out["fan_pss_mib"] = sum(r["Pss"] for r in rolls) / 1024
        out["fan_rss_mib"] = sum(r["Rss"] for r in rolls) / 1024
        return out
    finally:
        for p in procs:
            p.kill()
            p.wait()


def run(args):
    if not os.path.exists(os.path.join(GUEST, "browser.ext4")):
        sys.exit("tools/bench browser: build the image first: tools/build-guest --image browser")
    clones = args.clones
    page = Page()
    scratch = tempfile.mkdtemp(prefix="ignition-bench-browser-")
    try:
        ign = ignition_run(scratch, page, args.runs, clones)
        print("ignition: " + " ".join(f"{k}={v:.1f}" for k, v in ign.items()), file=sys.stderr)
        qemu = qemu_run(scratch, clones)
        print("qemu: " + " ".join(f"{k}={v:.1f}" for k, v in qemu.items()), file=sys.stderr)
    finally:
        page.close()
        shutil.rmtree(scratch, ignore_errors=True)
    rows = [
        ("cold boot -> start page painted (s)", "cold_s", True),
        (f"warm: command -> clone running (ms, median of {args.runs})", "running_ms", False),
        (f"warm: command -> URL handed to Firefox (ms, median of {args.runs})", "opened_ms",
         False),
        (f"warm: command -> page drawn (ms, median of {args.runs})", "drawn_ms", False),
        (f"{clones} clones after 10 s: summed PSS (MiB)", "fan_pss_mib", True),
        (f"{clones} clones after 10 s: summed RSS (MiB)", "fan_rss_mib", True),
    ]
    if args.markdown:
        print("| measure | ignition (emu) | QEMU TCG | ignition/QEMU |")
        print("| --- | ---: | ---: | ---: |")
    for label, key, both in rows:
        a = ign[key]
        b = qemu.get(key) if both else None
        cells = [f"{a:.1f}", f"{b:.1f}" if b is not None else "–",
                 f"{a / b:.2f}" if b else "–"]
        if args.markdown:
            print(f"| {label} | " + " | ".join(cells) + " |")
        else:
            print(f"{label:66s} " + " ".join(f"{c:>9s}" for c in cells))
