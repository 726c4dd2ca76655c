"""tools/bench desktop-scroll: foot scrolling on the desktop image under `vmmd run`
(emu backend), a windowless viewer (display_client watch-each) attached. foot's
shell prints 20000 lines; measured from its Enter until the viewer has had no damage
notice for 3 s (foot drew its last frame): frames per second (damage notices,
one per flushed frame), vmmd's CPU per frame, damaged pixels per frame, and
vmmd's own count of bytes copied per flushed pixel (the transfer's 4 plus what
changed). ignition only: QEMU has no viewer protocol to count frames with."""

import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

QUIET_SECONDS = 3
LINES = 20000


def boot(bench, scratch):
    sock = os.path.join(scratch, "display.sock")
    cmd = bench.desktop_commands(tempfile.mkdtemp(dir=scratch))["ignition"]
    cmd += ["--socket", sock, "--verbose"]
    env = dict(os.environ, IGNITION_HOME=os.path.join(scratch, "home"))
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env)
    return proc, sock


def wait_for(proc, log, pattern, timeout):
    deadline = time.monotonic() + timeout
    while not re.search(pattern, log[0]):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {pattern!r} after {timeout}s")
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError("vmmd exited:\n" + log[0][-2000:].decode(errors="replace"))
            log[0] += chunk


def scroll_once(bench, scratch):
    proc, sock = boot(bench, scratch)
    log = [b""]
    try:
        wait_for(proc, log, rb"GUEST: desktop ready", 600)
        time.sleep(15)  # foot's window and shell
        watcher = subprocess.Popen([bench.CLIENT, sock, "watch-each", "900"],
                                   stdout=subprocess.PIPE, text=True)
        if watcher.stdout.readline().strip() != "attached":
            raise RuntimeError("the viewer did not attach")
        for attempt in range(3):
            marker = f"SCROLL{attempt}-42".encode()
            subprocess.run([bench.CLIENT, sock, "type",
                            f"seq 1 {LINES}; echo SCROLL{attempt}-$((6*7)) > /dev/ttyAMA0"],
                           check=True, capture_output=True)
            start, cpu0 = time.monotonic(), bench.cpu_seconds(proc.pid)
            try:
                wait_for(proc, log, re.escape(marker), 300)
                break
            except RuntimeError:  # keys lost on a loaded host: Ctrl+C, again
                subprocess.run([bench.CLIENT, sock, "keycodes", "+29", "46", "-29"],
                               check=True, capture_output=True)
        else:
            raise RuntimeError("the scrolling command never ran")
        notices, last = [], time.monotonic()
        while time.monotonic() - last < QUIET_SECONDS:
            ready, _, _ = select.select([watcher.stdout], [], [], 0.5)
            if ready:
                line = watcher.stdout.readline()
                if line.startswith("notice"):
                    last = time.monotonic()
                    notices.append((last, int(line.split()[2])))
        cpu = bench.cpu_seconds(proc.pid) - cpu0
        watcher.send_signal(signal.SIGTERM)
        watcher.communicate(timeout=30)
        frames = [n for n in notices if n[0] >= start]
        span = (frames[-1][0] - start) if frames else 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out = proc.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0]
        log[0] += out
    m = re.search(rb"([0-9.]+) bytes copied per flushed pixel", log[0])
    return {
        "fps": len(frames) / span if span else 0.0,
        "frames": len(frames),
        "cpu_ms": cpu * 1000 / len(frames) if frames else 0.0,
        "pixels": statistics.mean(p for _, p in frames) if frames else 0.0,
        "copied": float(m.group(1)) if m else float("nan"),
        "seconds": span,
    }


def run(args, bench):
    scratch = tempfile.mkdtemp(prefix="ignition-bench-scroll-")
    os.chmod(scratch, 0o700)
    results = []
    try:
        for run_number in range(args.runs):
            r = scroll_once(bench, scratch)
            results.append(r)
            print(f"run {run_number + 1}: " + " ".join(f"{k}={v:.2f}" for k, v in r.items()),
                  file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = [(f"foot printing {LINES} lines: seconds until its last frame", "seconds"),
            ("frames per second (damage notices)", "fps"),
            ("vmmd CPU per frame (ms; the emulated guest's drawing included)", "cpu_ms"),
            ("damaged pixels per frame", "pixels"),
            ("bytes copied per flushed pixel (vmmd's counters)", "copied")]
    load = os.getloadavg()[0]
    if args.markdown:
        print(f"| measure (median of {args.runs}, load average {load:.1f}) | ignition (emu) |")
        print("| --- | ---: |")
    for label, key in rows:
        value = statistics.median(r[key] for r in results)
        if args.markdown:
            print(f"| {label} | {value:.2f} |")
        else:
            print(f"{label:58s} {value:12.2f}")
