"""A snapshot cut short, and snapshots damaged on disk, through vmmctl and vmmd.

A guest marks its state (a shell variable in memory, a file synced to its
disk) and is snapshotted as `keep`; it then changes its state and is
snapshotted as `keep` again, and its worker is killed with SIGKILL as soon as
the new snapshot's hidden directory appears, so the kill lands mid-write:
vmmctl says so in one line, `keep` is byte for byte the first snapshot, only
`keep` is listed, and a restore of it shows the first state. Killing vmmd
mid-write does not stop the worker, which writes the snapshot: vmmctl gets it
whole, and the restore shows the newer state. What a dead writer left is gone
once vmmd starts again. A snapshot with a flipped byte in its manifest,
memory or disk layer, or its memory or manifest cut short, is refused by
`vmmctl restore` with one line naming it, and leaves no guest behind.
`snapshots` dates a snapshot by its manifest. `rm-snapshot` of the snapshot a
guest was restored from leaves that guest running."""

import hashlib
import json
import os
import re
import signal
import subprocess
import time

import test_vmmctl as t
from guest import require_assets

SNAPS = os.path.join(t.HOME, "snapshots")


def snapshot_sums(snap):
    top = os.path.join(SNAPS, snap)
    sums = {}
    for name in sorted(os.listdir(top)):
        h = hashlib.sha256()
        with open(os.path.join(top, name), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        sums[name] = h.hexdigest()
    return sums


def leftovers(snap):
    return sorted(n for n in os.listdir(SNAPS) if n.startswith(f".{snap}."))


def listed():
    return [s["name"] for s in json.loads(t.vmmctl("--json", "snapshots").stdout)["snapshots"]]


def date_from_manifest(snap, taken_ms):
    """`snapshots` dates a snapshot by its manifest, not by its files' times,
    which a copy or a touch changes."""
    top = os.path.join(SNAPS, snap)
    for name in os.listdir(top):
        os.utime(os.path.join(top, name), (1e9, 1e9))
    entry = json.loads(t.vmmctl("--json", "snapshots").stdout)["snapshots"][0]
    if not taken_ms[0] <= entry["created_unix_ms"] <= taken_ms[1]:
        t.fail(f"snapshots dates {snap} at {entry['created_unix_ms']}; it was taken in "
               f"{taken_ms}")


def set_state(name, value):
    """A value both in the guest's memory (the console shell's variable) and on its disk."""
    t.vmmctl("console", name, stdin=f"X={value}; echo {value} > /root/state; sync; "
                                    f"echo SET-$((6*7))-{value}\r")
    t.wait_log(name, f"SET-42-{value}", timeout=60)


def state_of(name):
    """(variable, file) as the guest's console shell sees them."""
    before = t.console_log(name).count("STATE-4:")
    t.vmmctl("console", name, stdin="echo STATE-$((2*2)): $X $(cat /root/state)\r")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answers = re.findall(r"STATE-4: (\S*) (\S*)\r?\n", t.console_log(name))
        if len(answers) > before:
            return answers[-1]
        time.sleep(0.2)
    t.fail(f"{name} did not say its state")


def worker_pid(name):
    with open(os.path.join(t.HOME, "guests", name, "worker.lock")) as f:
        return int(f.read().split()[0])


def snapshot_killing(guest, snap, pid, known):
    """Asks for a snapshot and SIGKILLs pid as soon as the writer's hidden
    directory (one not in `known`) appears. Returns vmmctl's result and the
    directory seen."""
    p = subprocess.Popen([t.VMMCTL, "snapshot", guest, snap], env=t.ENV, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen, deadline = None, time.monotonic() + 120
    while not seen and time.monotonic() < deadline and p.poll() is None:
        fresh = [n for n in leftovers(snap) if n.startswith(f".{snap}.new-") and n not in known]
        seen = fresh[0] if fresh else None
    if seen:
        os.kill(pid, signal.SIGKILL)
    try:
        out, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        t.fail(f"vmmctl snapshot hung after the kill of {pid}")
    if not seen:
        t.fail(f"the snapshot's hidden directory never appeared (vmmctl exited "
               f"{p.returncode}: {err.strip()!r})")
    return p.returncode, out, err, seen


def worker_killed_mid_write(first_sums):
    set_state("orig", "beta")
    rc, _, err, seen = snapshot_killing("orig", "keep", worker_pid("orig"), [])
    lines = err.splitlines()
    if rc != 1 or len(lines) != 1 or not lines[0].startswith("vmmctl: snapshot of orig") or \
            "worker ended" not in lines[0] or "snapshot keep" not in lines[0]:
        t.fail(f"vmmctl snapshot with its worker killed: exit {rc}, said {err!r}")
    print(f"worker killed while {seen} was being written; vmmctl said: {lines[0]}")
    if snapshot_sums("keep") != first_sums:
        t.fail("the first snapshot changed when a second one of its name was cut short")
    if listed() != ["keep"]:
        t.fail(f"snapshots lists {listed()} after a cut-short snapshot")
    deadline = time.monotonic() + 30  # vmmd learns of the death from the kernel, soon
    while t.status("orig")["state"] != "crashed":
        if time.monotonic() > deadline:
            t.fail(f"orig is {t.status('orig')['state']} after its worker was killed")
        time.sleep(0.1)
    t.vmmctl("restore", "keep", "--name", "after-worker", timeout=300)
    if state_of("after-worker") != ("alpha", "alpha"):
        t.fail(f"the restore of keep shows {state_of('after-worker')}, not the first state")
    return seen


def vmmd_restart_tidies(stale):
    """vmmd removes what dead writers left when it starts."""
    if stale not in leftovers("keep"):
        t.fail(f"{stale} is gone before vmmd restarted: nothing to test")
    pid = t.vmmd_pid()
    os.kill(pid, signal.SIGKILL)
    while t.alive(pid):
        time.sleep(0.05)
    t.vmmctl("list")  # starts vmmd again, which adopts the running guests
    if leftovers("keep"):
        t.fail(f"vmmd started again and left {leftovers('keep')}")
    if t.status("after-worker")["state"] != "running":
        t.fail("after-worker did not survive vmmd's restart")


def vmmd_killed_mid_write():
    """The worker writes the snapshot itself: vmmd dying does not cut it short."""
    set_state("after-worker", "gamma")
    rc, out, err, seen = snapshot_killing("after-worker", "keep", t.vmmd_pid(), [])
    if rc != 0 or "snapshot keep of guest after-worker written" not in out:
        t.fail(f"vmmctl snapshot with vmmd killed: exit {rc}, said {out!r} {err!r}")
    print(f"vmmd killed while {seen} was being written; the worker finished it")
    t.vmmctl("list")
    if t.status("after-worker")["state"] != "running":
        t.fail("after-worker did not survive vmmd's death")
    if listed() != ["keep"] or leftovers("keep"):
        t.fail(f"snapshots lists {listed()}, leftovers {leftovers('keep')}")
    t.vmmctl("restore", "keep", "--name", "after-vmmd", timeout=300)
    if state_of("after-vmmd") != ("gamma", "gamma"):
        t.fail(f"the restore of keep shows {state_of('after-vmmd')}, not the newer state")


def damaged(snap, name, how):
    copy = os.path.join(SNAPS, name)
    subprocess.run(["cp", "-r", "--sparse=always", os.path.join(SNAPS, snap), copy], check=True)
    how(copy)
    r = t.vmmctl("restore", name, "--name", f"from-{name}", ok=False, timeout=120)
    lines = r.stderr.splitlines()
    if r.returncode != 1 or len(lines) != 1 or not lines[0].startswith("vmmctl: ") or \
            name not in lines[0]:
        t.fail(f"restore of {name}: exit {r.returncode}, said {r.stderr!r}")
    print(f"{name} refused: {lines[0]}")
    return lines[0]


def flip(path, at):
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0x40]))


def cut(path, by):
    os.truncate(path, os.path.getsize(path) - by)


def flip_memory(snap_dir):
    """A byte inside the memory file's first page of data (its holes are
    zeros that no checksum could tell from a flipped hole)."""
    path = os.path.join(snap_dir, "memory")
    with open(path, "rb") as f:
        data = os.lseek(f.fileno(), 0, os.SEEK_DATA)
    flip(path, data + 123)


def no_guest_left(name):
    """A restore the worker refused leaves no guest record (and no directory)."""
    deadline = time.monotonic() + 10  # removed just after the refusal is answered
    while t.vmmctl("status", name, ok=False).returncode == 0 or \
            os.path.exists(os.path.join(t.HOME, "guests", name)):
        if time.monotonic() > deadline:
            t.fail(f"a refused restore left guest {name} behind")
        time.sleep(0.1)


def memory_flipped_refused():
    """The worker reads the memory file through before the first restore of
    it; vmmd remembers it checked that file and later restores of it as it is
    skip the read, but one changed since is read through again."""
    said = damaged("keep", "bad-memory-byte", flip_memory)
    if "checksum mismatch" not in said or "memory region" not in said:
        t.fail(f"the refusal of a flipped memory byte says {said!r}")
    no_guest_left("from-bad-memory-byte")
    copy = os.path.join(SNAPS, "later-flipped")
    subprocess.run(["cp", "-r", "--sparse=always", os.path.join(SNAPS, "keep"), copy],
                   check=True)
    for name in ("checked-once", "checked-twice"):
        t.vmmctl("restore", "later-flipped", "--name", name, timeout=120)
    logs = [open(os.path.join(t.HOME, "guests", n, "worker.log")).read()
            for n in ("checked-once", "checked-twice")]
    if "memory checksums verified" not in logs[0] or "memory checksums verified" in logs[1]:
        t.fail("the first restore of a snapshot should read its memory through, the second not")
    for name in ("checked-once", "checked-twice"):
        t.vmmctl("stop", "--force", name)
    flip_memory(copy)
    r = t.vmmctl("restore", "later-flipped", "--name", "flipped-later", ok=False, timeout=120)
    if r.returncode != 1 or "checksum mismatch" not in r.stderr:
        t.fail(f"a memory file changed after a good restore was not refused: {r.stderr!r}")
    no_guest_left("flipped-later")


def flip_layer(snap_dir):
    """A byte of the guest's data in the snapshot's disk layer (past an
    overlay's header and bitmap, where the guest's blocks are)."""
    name = next(n for n in sorted(os.listdir(snap_dir)) if n.startswith("disk0."))
    path = os.path.join(snap_dir, name)
    with open(path, "rb") as f:
        try:
            data = os.lseek(f.fileno(), 8192, os.SEEK_DATA)
        except OSError:
            data = 0
    flip(path, data + 100)


def damaged_refused():
    said = damaged("keep", "bad-manifest-table",
                   lambda d: flip(os.path.join(d, "manifest"), 100))
    said += damaged("keep", "bad-manifest-body",
                    lambda d: flip(os.path.join(d, "manifest"),
                                   os.path.getsize(os.path.join(d, "manifest")) - 20))
    said += damaged("keep", "bad-manifest-cut",
                    lambda d: cut(os.path.join(d, "manifest"),
                                  os.path.getsize(os.path.join(d, "manifest")) // 2))
    said += damaged("keep", "bad-memory-cut", lambda d: cut(os.path.join(d, "memory"), 4096))
    said += damaged("keep", "bad-layer", flip_layer)
    for what in ("region table checksum mismatch", "manifest checksum mismatch",
                 "manifest is", "memory is 4096 bytes short", "is damaged (checksum mismatch"):
        if what not in said:
            t.fail(f"no refusal says {what!r}")
    for name in ("manifest-table", "manifest-body", "manifest-cut", "memory-cut", "layer"):
        if t.vmmctl("status", f"from-bad-{name}", ok=False).returncode == 0:
            t.fail(f"a damaged snapshot left a guest from-bad-{name}")


def removed_under_a_clone():
    """A restored guest's memory is a private mapping of `memory` and its disks
    are its own copies: removing the snapshot does not reach it."""
    t.vmmctl("rm-snapshot", "keep")
    if "keep" in listed():
        t.fail("rm-snapshot left keep listed")
    set_state("after-vmmd", "delta")
    if state_of("after-vmmd") != ("delta", "delta"):
        t.fail("after-vmmd does not answer after its snapshot was removed")


def main():
    require_assets()
    try:
        t.vmmctl("start", "orig", "--image", "console", "--mem", "512M", timeout=t.BOOT_TIMEOUT)
        t.wait_log("orig", "GUEST: shell ready")
        set_state("orig", "alpha")
        asked = int(time.time() * 1000)
        t.vmmctl("snapshot", "orig", "keep", timeout=300)
        date_from_manifest("keep", (asked, int(time.time() * 1000)))
        first = snapshot_sums("keep")
        stale = worker_killed_mid_write(first)
        vmmd_restart_tidies(stale)
        vmmd_killed_mid_write()
        damaged_refused()
        memory_flipped_refused()
        removed_under_a_clone()
    finally:
        t.cleanup()
    t.passed()


if __name__ == "__main__":
    main()
