"""tools/bench desktop-restore --against BUILD: restores of one warm desktop
snapshot by this tree's build and by another build (BUILD: a build directory
of another checkout, e.g. the commit before a change), taken in turn, so that
the load of a shared machine falls on both alike.

The desktop image boots once under this build (512 MiB, no network, as
desktop-snapshot), is left 15 s after cage's first frame and snapshotted. The
snapshot is hard-linked into a second state directory that the other build's
vmmd serves. Each vmmd first restores it once unmeasured (the first restore of
a memory file reads it through for its checksums), then N restores each, 2.5 s
apart (each starts with its vmmd's standby worker ready): `vmmctl restore`
from its start to its exit, and the worker's own figures from its start to the
first frame published and to the vCPU running. Figures, not assertions."""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import bench_snapshot

MEASURES = [
    ("`vmmctl restore`: command -> guest running (ms)", "wall"),
    ("worker start -> first frame published (ms)", "frame"),
    ("worker start -> vCPU running (ms)", "running"),
]


class Build(bench_snapshot.Ignition):
    def __init__(self, home, build):
        super().__init__(home)
        self.vmmctl_path = os.path.join(build, "tools", "vmmctl", "vmmctl")

    def vmmctl(self, *args, timeout=600):
        start = time.monotonic()
        r = subprocess.run([self.vmmctl_path, *args], env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"{self.vmmctl_path} {' '.join(args)}: {r.stderr.strip()}")
        return r, time.monotonic() - start


def warm_snapshot(ign):
    ign.vmmctl("start", "base", "--image", "desktop", "--mem", "512M", "--net", "none")
    ign.wait_console("base", "GUEST: desktop ready")
    time.sleep(15)  # foot's window comes a few seconds after cage's first frame
    ign.vmmctl("snapshot", "base", "warm")
    ign.vmmctl("stop", "--force", "base")


def restore_once(ign, name):
    _, wall = ign.vmmctl("restore", "warm", "--name", name)
    # vmmctl returns on the worker's ready report, just before its vCPU starts
    # and it logs the figures.
    deadline = time.monotonic() + 10
    while True:
        m = re.search(r"restored: first frame published ([0-9.]+) ms and vCPU running "
                      r"([0-9.]+) ms", ign.worker_log(name))
        if m or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    ign.vmmctl("stop", "--force", name)
    ign.vmmctl("rm", name)
    if not m:
        raise RuntimeError(f"{name}: the worker did not log its restore's figures")
    return {"wall": wall * 1000, "frame": float(m.group(1)), "running": float(m.group(2))}


def run(args):
    against = os.path.abspath(args.against)
    if not os.access(os.path.join(against, "tools", "vmmctl", "vmmctl"), os.X_OK):
        sys.exit(f"{against} has no tools/vmmctl/vmmctl: give a build directory")
    scratch = tempfile.mkdtemp(prefix="ignition-bench-")
    os.chmod(scratch, 0o700)
    builds = {"this": Build(os.path.join(scratch, "this"),
                            os.path.join(bench_snapshot.REPO, "build")),
              "against": Build(os.path.join(scratch, "against"), against)}
    results = {k: [] for k in builds}
    try:
        for b in builds.values():
            os.makedirs(b.home, mode=0o700)
            os.makedirs(os.path.join(b.home, "snapshots"), mode=0o700)
        warm_snapshot(builds["this"])
        subprocess.run(["cp", "-al", builds["this"].path("snapshots", "warm"),
                        builds["against"].path("snapshots", "warm")], check=True)
        for k, b in builds.items():
            restore_once(b, "first")
        for i in range(args.runs):
            for k in (("this", "against") if i % 2 == 0 else ("against", "this")):
                time.sleep(2.5)
                r = restore_once(builds[k], f"r{i}")
                results[k].append(r)
                print(f"run {i + 1} {k}: " + ", ".join(f"{m}={v:.1f}" for m, v in r.items()),
                      file=sys.stderr)
    finally:
        for b in builds.values():
            b.cleanup()
        shutil.rmtree(scratch, ignore_errors=True)
    if args.markdown:
        print(f"| restore of a warm desktop (median of {args.runs}) | {args.against} | "
              f"this tree | this/that |")
        print("| --- | ---: | ---: | ---: |")
    for label, key in MEASURES:
        a = statistics.median(r[key] for r in results["against"])
        b = statistics.median(r[key] for r in results["this"])
        if args.markdown:
            print(f"| {label} | {a:.1f} | {b:.1f} | {b / a:.2f} |")
        else:
            print(f"{label:52s} {a:9.1f} {b:9.1f} {b / a:7.2f}")
