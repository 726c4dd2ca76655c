"""Snapshots through vmmctl and vmmd: a guest counting on its serial console
is snapshotted; four clones fanned out from the snapshot each continue the
count (not from 1), answer on their own consoles, write their own file to
their own disk and see no other's; the original sees none of them, and the
snapshot's files are byte for byte what they were before the fan-out. A restore
under a chosen name, a restored guest started again, `snapshot --stop`,
`snapshots` and `rm-snapshot` work, bad requests get clear errors, a snapshot
of the previous format is refused with what to do, a fan-out cut short by a
clone that cannot start names it and the clones that run, fan-outs whose
clients hang up at once leave vmmd running, disposable (--rm) clones leave
nothing behind however they end, and a snapshot that fails is never recorded
as the guest's last one."""

import hashlib
import json
import os
import re
import socket
import struct
import time
import zlib

import test_vmmctl as t
from guest import require_assets

CLONES = ("warm-1", "warm-2", "warm-3", "warm-4")


def ticks(name):
    return [int(n) for n in re.findall(r"TICK (\d+)\r?\n", t.console_log(name))]


def wait_ticks(name, count, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(ticks(name)) >= count:
            return ticks(name)
        time.sleep(0.2)
    t.fail(f"{name}: fewer than {count} TICKs in {timeout}s")


def expect_error(args, text):
    r = t.vmmctl(*args, ok=False)
    if r.returncode != 1 or text not in r.stderr:
        t.fail(f"vmmctl {' '.join(args)}: exit {r.returncode}, said {r.stderr!r}; "
               f"wanted {text!r}")


def snapshot_counting_guest():
    t.vmmctl("start", "orig", "--image", "console", "--mem", "512M", timeout=t.BOOT_TIMEOUT)
    t.wait_log("orig", "GUEST: shell ready")
    t.vmmctl("console", "orig",
             stdin="i=0; while :; do i=$((i+1)); echo TICK $i; sleep 0.2; done &\r")
    wait_ticks("orig", 10)
    r = t.vmmctl("snapshot", "orig", "warm", timeout=300)
    if "snapshot warm of guest orig written to" not in r.stdout:
        t.fail(f"snapshot: {r.stdout!r}")
    last = ticks("orig")[-1]
    listed = json.loads(t.vmmctl("--json", "snapshots").stdout)["snapshots"]
    if [s["name"] for s in listed] != ["warm"] or listed[0]["size_bytes"] <= 0 or \
            listed[0]["created_unix_ms"] < (time.time() - 600) * 1000:
        t.fail(f"snapshots --json: {listed}")
    if "warm" not in t.vmmctl("snapshots").stdout:
        t.fail("the snapshots table does not show warm")
    return last


def snapshot_sums(snap):
    """sha256 of every file in the snapshot's directory, by name."""
    top = os.path.join(t.HOME, "snapshots", snap)
    sums = {}
    for name in sorted(os.listdir(top)):
        h = hashlib.sha256()
        with open(os.path.join(top, name), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        sums[name] = h.hexdigest()
    return sums


def fan_out(last):
    started = time.monotonic()
    r = t.vmmctl("--json", "fanout", "warm", str(len(CLONES)), timeout=300)
    names = [g["name"] for g in json.loads(r.stdout)["guests"]]
    if names != list(CLONES):
        t.fail(f"fanout started {names}")
    for name in CLONES:
        st = t.status(name)
        if st["state"] != "running" or not st["restore_from"].endswith("/snapshots/warm"):
            t.fail(f"{name}: {st['state']} restoring from {st['restore_from']!r}")
        first = wait_ticks(name, 3)[0]
        # Ticks printed between the save and the answer may be in the snapshot.
        if not last - 5 <= first <= last + 5:
            t.fail(f"{name} counts from {first}; the snapshot was taken at {last}")
    print(f"{len(CLONES)} clones running and counting {time.monotonic() - started:.1f}s "
          "after the fanout was asked for")


def files_seen(name):
    """The clone-* files in the guest's /root with their contents, as the guest
    lists them after the last FILES line (the typed command's echo has no
    FILES-4, only the shell's answer has)."""
    before = t.console_log(name).count("FILES-4:")
    t.vmmctl("console", name,
             stdin="echo FILES-$((2+2)): $(cd /root && for f in clone-*; do "
                   "[ -e \"$f\" ] && echo \"$f=$(cat \"$f\")\"; done)\r")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answers = re.findall(r"FILES-4:([^\r\n]*)\r?\n", t.console_log(name))
        if len(answers) > before:
            return answers[-1].split()
        time.sleep(0.2)
    t.fail(f"{name} did not list its files")


def disks_are_separate():
    """Each clone writes a file of its own name, synced to its disk; each
    finds its own and none finds another's; the original finds none."""
    for name in CLONES:
        t.vmmctl("console", name,
                 stdin=f"echo {name} > /root/clone-{name}; sync; echo WROTE-$((1+1))\r")
        t.wait_log(name, "WROTE-2", timeout=60)
    for name in CLONES + ("orig",):
        want = [f"clone-{name}={name}"] if name != "orig" else []
        seen = files_seen(name)
        if seen != want:
            t.fail(f"{name} sees {seen} in /root; wanted {want}")


def clones_stopped():
    for name in CLONES:
        t.vmmctl("stop", "--force", name, timeout=60)
        if t.status(name)["state"] != "stopped":
            t.fail(f"{name} did not stop")


def restores_by_name():
    r = t.vmmctl("--json", "restore", "warm", timeout=300)
    if json.loads(r.stdout)["name"] != "warm-5":
        t.fail(f"a restore without --name is not warm-5: {r.stdout}")
    t.vmmctl("stop", "--force", "warm-5", timeout=60)
    t.vmmctl("restore", "warm", "--name", "solo", timeout=300)
    wait_ticks("solo", 3)
    expect_error(("restore", "warm", "--name", "solo"), "exists")
    # Stopped, it starts again from the snapshot.
    t.vmmctl("stop", "--force", "solo", timeout=60)
    before = len(ticks("solo"))
    t.vmmctl("start", "solo", timeout=300)
    wait_ticks("solo", before + 3)
    # --stop: snapshotted, then stopped.
    t.vmmctl("snapshot", "solo", "later", "--stop", timeout=300)
    if t.status("solo")["state"] != "stopped":
        t.fail("snapshot --stop left solo running")


def bad_input():
    expect_error(("snapshot", "nosuch", "x"), "no guest named")
    expect_error(("snapshot", "orig", "../x"), "not a snapshot name")
    expect_error(("restore", "nosuch"), "no snapshot named")
    expect_error(("fanout", "warm", "0"), "give 1 to 64")
    expect_error(("fanout", "warm", "1000"), "give 1 to 64")
    expect_error(("fanout", "nosuch", "2"), "no snapshot named")
    expect_error(("rm-snapshot", "nosuch"), "no snapshot named")
    r = t.vmmctl("fanout", "warm", "many", ok=False)
    if r.returncode != 2:
        t.fail(f"fanout with a count that is no number: exit {r.returncode}")


def older_format_refused():
    """A snapshot of the format before each device kept its own state: warm's
    files with its manifest's body marked version 1 (checksums made good, so
    that only the version is wrong). A restore says what it is and what to do;
    nothing starts."""
    old = os.path.join(t.HOME, "snapshots", "oldfmt")
    warm = os.path.join(t.HOME, "snapshots", "warm")
    os.mkdir(old)
    for name in os.listdir(warm):
        if name != "manifest":
            os.link(os.path.join(warm, name), os.path.join(old, name))
    with open(os.path.join(warm, "manifest"), "rb") as f:
        manifest = bytearray(f.read())
    count, = struct.unpack_from("<I", manifest, 28)
    body_at = 64 + 4 * count
    if manifest[body_at:body_at + 2] != b"\x08\x02":
        t.fail("warm's manifest does not begin with format version 2: "
               f"{bytes(manifest[body_at:body_at + 2])!r}")
    manifest[body_at + 1] = 1
    struct.pack_into("<I", manifest, 44, zlib.crc32(manifest[body_at:]))
    struct.pack_into("<I", manifest, 60, zlib.crc32(manifest[:60]))
    with open(os.path.join(old, "manifest"), "wb") as f:
        f.write(manifest)
    r = t.vmmctl("restore", "oldfmt", "--name", "ancient", ok=False, timeout=60)
    if r.returncode != 1 or "format version 1" not in r.stderr or \
            "take the snapshot again" not in r.stderr:
        t.fail(f"restore of a version 1 snapshot: exit {r.returncode}, said {r.stderr!r}")
    print(f"older format: {r.stderr.strip()}")
    if t.vmmctl("status", "ancient", ok=False).returncode == 0:
        t.fail("a guest was made from a version 1 snapshot")
    t.vmmctl("rm-snapshot", "oldfmt")


def failed_snapshot_not_recorded():
    """A snapshot the worker cannot put in place (a file, not a snapshot, holds
    its name) fails, and the guest's last snapshot stays the one it was: a
    relaunch must never go to a snapshot that is not there."""
    before = t.status("orig")["last_snapshot"]
    blocker = os.path.join(t.HOME, "snapshots", "blocked")
    with open(blocker, "w") as f:
        f.write("not a snapshot\n")
    r = t.vmmctl("snapshot", "orig", "blocked", ok=False, timeout=300)
    os.unlink(blocker)
    if r.returncode != 1 or "blocked" not in r.stderr:
        t.fail(f"a snapshot that cannot be put in place: exit {r.returncode}, said {r.stderr!r}")
    after = t.status("orig")["last_snapshot"]
    if after != before:
        t.fail(f"a failed snapshot became orig's last one: {before!r} became {after!r}")
    print(f"a failed snapshot left orig's last snapshot at {after!r}: {r.stderr.strip()}")


def partial_fanout_named():
    """A clone that cannot be started stops the fan-out; the error names it and
    the clones already started, which run on."""
    blocker = os.path.join(t.HOME, "guests", "part-2")
    with open(blocker, "w") as f:
        f.write("not a guest directory\n")
    r = t.vmmctl("fanout", "warm", "3", "--prefix", "part-", ok=False, timeout=300)
    lines = r.stderr.splitlines()
    if r.returncode != 1 or len(lines) != 1 or \
            "clone 2 of 3 (part-2) could not start" not in lines[0] or \
            "the 1 started before it run on: part-1 " not in lines[0]:
        t.fail(f"fanout with its second clone blocked: exit {r.returncode}, said {r.stderr!r}")
    print(f"partial fanout: {lines[0]}")
    wait_ticks("part-1", 3)
    if t.vmmctl("status", "part-3", ok=False).returncode == 0:
        t.fail("the fanout went on after a clone could not start")
    os.unlink(blocker)
    t.vmmctl("stop", "--force", "part-1", timeout=60)


def fanout_then_hang_up(rounds=3):
    """Raw clients each ask for a fan-out and hang up at once: vmmd's answer,
    once the clones run, meets a closed socket (EPIPE), which must not free
    the client under the code still answering it (the sanitized run fails on
    any report). The clones run on, and vmmd is the same process after."""
    pid = t.vmmd_pid()
    fanout = 29  # Envelope.fanout
    for i in range(rounds):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(os.path.join(t.HOME, "run", "vmmd.sock"))
        s.sendall(t.frame(t.HELLO))
        s.recv(4096)  # Welcome
        request = t.field(1, b"warm") + t.field(2, f"gone{i}-".encode()) + b"\x18\x01"
        s.sendall(t.frame(t.field(fanout, request)))
        s.close()
    names = [f"gone{i}-1" for i in range(rounds)]
    deadline = time.monotonic() + 300
    while True:
        states = {g["name"]: g["state"]
                  for g in json.loads(t.vmmctl("--json", "list").stdout)["guests"]}
        if all(states.get(n) == "running" for n in names):
            break
        if time.monotonic() > deadline:
            t.fail(f"clones of fan-outs whose clients hung up: {states}")
        time.sleep(0.5)
    if t.vmmd_pid() != pid or not t.alive(pid):
        t.fail("vmmd did not survive clients that hung up on their fan-outs")
    relaunch_then_hang_up(names)
    for name in names:
        t.vmmctl("stop", "--force", name, timeout=60)
        t.vmmctl("rm", name)
    print(f"{rounds} fan-outs whose clients hung up: clones ran, vmmd carried on")


def relaunch_then_hang_up(names):
    """The relaunch path answers once the new worker runs, as the fan-out does:
    raw clients ask for one and hang up at once, and each clone comes back
    from its snapshot in a new worker while vmmd carries on."""
    pid = t.vmmd_pid()
    relaunch = 33  # Envelope.relaunch
    before = {}
    for name in names:
        before[name] = json.loads(t.vmmctl("--json", "status", name).stdout)["pid"]
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(os.path.join(t.HOME, "run", "vmmd.sock"))
        s.sendall(t.frame(t.HELLO))
        s.recv(4096)  # Welcome
        s.sendall(t.frame(t.field(relaunch, t.field(1, name.encode()))))
        s.close()
    deadline = time.monotonic() + 300
    while True:
        status = {n: json.loads(t.vmmctl("--json", "status", n).stdout) for n in names}
        if all(st["state"] == "running" and st["pid"] not in (0, before[n])
               for n, st in status.items()):
            break
        if time.monotonic() > deadline:
            t.fail(f"clones relaunched by clients that hung up: "
                   f"{ {n: (st['state'], st['pid']) for n, st in status.items()} }, "
                   f"pids before {before}")
        time.sleep(0.5)
    if t.vmmd_pid() != pid or not t.alive(pid):
        t.fail("vmmd did not survive clients that hung up on their relaunches")
    print(f"{len(names)} relaunches whose clients hung up: new workers ran, vmmd carried on")


def gone(name):
    r = t.vmmctl("status", name, ok=False)
    return r.returncode == 1 and "no guest named" in r.stderr


def disposable_clones_leave_nothing():
    """--rm clones are removed with their instance directories (memory, disk
    layer, logs) however they end: stopped by vmmctl, powered off from inside,
    or crashed (the worker killed). The snapshot stays."""
    t.vmmctl("restore", "warm", "--name", "tmp-1", "--rm", timeout=300)
    t.vmmctl("fanout", "warm", "2", "--prefix", "tmp-f", "--rm", timeout=300)
    names = ("tmp-1", "tmp-f1", "tmp-f2")
    dirs = {}
    for name in names:
        st = json.loads(t.vmmctl("--json", "status", name).stdout)
        if not st["disposable"] or st["state"] != "running":
            t.fail(f"{name} after --rm: disposable {st['disposable']}, {st['state']}")
        if "disposable" not in t.vmmctl("status", name).stdout:
            t.fail(f"vmmctl status {name} does not say it is disposable")
        dirs[name] = st["instance_dir"]
        if not os.path.isdir(dirs[name]):
            t.fail(f"{name}: no instance directory {dirs[name]} while it runs")
    wait_ticks("tmp-f1", 3)
    t.vmmctl("stop", "tmp-1", "--force", timeout=60)
    # The console closes under vmmctl as the guest powers off.
    t.vmmctl("console", "tmp-f1", stdin="poweroff -f\r", ok=False)
    os.kill(json.loads(t.vmmctl("--json", "status", "tmp-f2").stdout)["pid"], 9)
    deadline = time.monotonic() + 60
    while not all(gone(n) and not os.path.exists(dirs[n]) for n in names):
        if time.monotonic() > deadline:
            t.fail("disposable guests left behind: " + ", ".join(
                f"{n} ({'record' if not gone(n) else ''} {dirs[n] if os.path.exists(dirs[n]) else ''})"
                for n in names if not gone(n) or os.path.exists(dirs[n])))
        time.sleep(0.3)
    if "warm" not in t.vmmctl("snapshots").stdout:
        t.fail("removing disposable clones removed their snapshot")
    print("3 disposable clones (stopped, powered off, killed) left nothing behind")


def names_run_out_before_any_clone_starts():
    """PREFIX10 is one character too long for a guest name: the fan-out is
    refused before clones 1 to 9 start, not after."""
    prefix = "p" * 31
    expect_error(("fanout", "warm", "10", "--prefix", prefix), "no free guest name")
    names = [g["name"] for g in json.loads(t.vmmctl("--json", "list").stdout)["guests"]]
    if any(n.startswith(prefix) for n in names):
        t.fail(f"a fan-out refused for want of names started {names}")


def removes():
    t.vmmctl("rm-snapshot", "warm")
    t.vmmctl("rm-snapshot", "later")
    listed = json.loads(t.vmmctl("--json", "snapshots").stdout)["snapshots"]
    if listed:
        t.fail(f"snapshots left after rm-snapshot: {listed}")
    expect_error(("restore", "warm"), "no snapshot named")


def main():
    require_assets()
    try:
        last = snapshot_counting_guest()
        print(f"snapshot warm taken after TICK {last}")
        sums = snapshot_sums("warm")
        fan_out(last)
        disks_are_separate()
        clones_stopped()
        if snapshot_sums("warm") != sums:
            t.fail(f"the clones changed the snapshot: {sums} became {snapshot_sums('warm')}")
        print(f"the snapshot's {len(sums)} files are unchanged after the clones ran")
        restores_by_name()
        bad_input()
        older_format_refused()
        failed_snapshot_not_recorded()
        partial_fanout_named()
        fanout_then_hang_up()
        disposable_clones_leave_nothing()
        names_run_out_before_any_clone_starts()
        removes()
        if ticks("orig")[-1] <= last:
            t.fail("the original guest stopped counting")
    finally:
        t.cleanup()
    t.passed()


if __name__ == "__main__":
    main()
