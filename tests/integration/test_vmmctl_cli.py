"""vmmctl's command line against a real vmmd, without booting a guest.

vmmd finds guests in its state directory the way it finds them after a
restart; these records are written here (one guest whose worker ended while no
vmmd watched, so vmmd calls it crashed and keeps its console's last lines).

- The console tail `vmmctl status` shows is what the guest wrote, and a guest
  writes terminal escape sequences: they must not reach the user's terminal.
- A worker's own log rotates at 1 MiB as the console log does.
- Global options (--json, --home) work after the command too.
- vmmd run removes the instance directory it made itself (unless
  --keep-instance); vmmctl prune removes those of runs that were killed.
- vmmctl commands started together with no vmmd running all get answers from
  the one vmmd that wins the state directory's lock."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from guest import REPO, guest_dir, vmmd_path

VMMCTL = os.environ.get("IGNITION_VMMCTL", os.path.join(REPO, "build", "tools", "vmmctl", "vmmctl"))
HOME = tempfile.mkdtemp(prefix="ignition-cli-")
ENV = dict(os.environ, IGNITION_HOME=HOME)


def vmmctl(*args, ok=True):
    r = subprocess.run([VMMCTL, *args], env=ENV, capture_output=True, timeout=60)
    if ok and r.returncode != 0:
        fail(f"vmmctl {' '.join(args)} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    return r


TOGETHER = [os.path.join(HOME, f"together{i}") for i in range(4)]


def stop_vmmd():
    """Every vmmd this test may have started (in HOME, HOME/elsewhere and the
    state directories of check_started_together)."""
    for home in (HOME, os.path.join(HOME, "elsewhere"), *TOGETHER):
        pid = pid_in(os.path.join(home, "vmmd.lock"))
        if pid:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


def fail(message):
    print(f"FAIL: {message}")
    log = os.path.join(HOME, "vmmd.log")
    if os.path.exists(log):
        print("---- vmmd.log")
        print(open(log, errors="replace").read()[-3000:])
    stop_vmmd()
    sys.exit(1)


def write_guest(name, state, console=b""):
    """A guest record as vmmd writes it, and the guest's console log."""
    d = os.path.join(HOME, "guests", name)
    os.makedirs(d, mode=0o700)
    record = {
        "format": 1, "name": name, "state": state, "pid": 0, "started_unix_ms": 0,
        "config": {"kernel": "/nonexistent/Image", "disks": [], "mem_bytes": 1 << 28,
                   "cpus": 1, "backend": "emu", "gui": False, "display_width": 0,
                   "display_height": 0},
    }
    with open(os.path.join(d, "guest.json"), "w") as f:
        json.dump(record, f)
    with open(os.path.join(d, "console.log"), "wb") as f:
        f.write(console)


# What a hostile guest prints: a window title, a screen clear, a cursor jump,
# a string command ended by ST, a bell, a lone ESC and C1 CSI (0x9b).
HOSTILE = (b"[    1.0] booting\r\n"
           b"\x1b]0;owned title\x07\x1b[2J\x1b[1;1Hvisible line\r\n"
           b"\x1bP+q544e\x1b\\\x07bell \x1b(Bdone\x1b\r\n"
           b"\x9b6n tail\tend\r\n")


def check_status_filtered():
    r = vmmctl("status", "hostile")
    out = r.stdout
    if b"console before the end:" not in out:
        fail(f"status shows no console tail:\n{out.decode(errors='replace')}")
    bad = sorted({b for b in out if (b < 0x20 and b not in (0x0a, 0x09)) or b >= 0x7f})
    if bad:
        fail(f"status printed control bytes {[hex(b) for b in bad]}:\n{out!r}")
    for kept in (b"visible line", b"bell done", b"tail\tend", b"booting"):
        if kept not in out:
            fail(f"status lost the guest's text {kept!r}:\n{out!r}")
    for dropped in (b"owned title", b"2J", b"544e"):
        if dropped in out:
            fail(f"status shows what was an escape sequence ({dropped!r}):\n{out!r}")
    # JSON too: a valid UTF-8 document whose console tail has no escapes.
    raw = vmmctl("--json", "status", "hostile").stdout
    try:
        tail = json.loads(raw.decode("utf-8"))["console_tail"]
    except (UnicodeDecodeError, ValueError) as e:
        fail(f"status --json is not valid UTF-8 JSON ({e}): {raw!r}")
    if any(ord(c) < 0x20 and c not in "\n\t" or ord(c) >= 0x7f for c in tail) \
            or "owned title" in tail or "visible line" not in tail:
        fail(f"status --json's console tail: {tail!r}")


def check_worker_log_rotated():
    """A worker.log past its limit rotates as the console log does, when the
    worker next writes a line (here: why it cannot start)."""
    kernel = os.path.join(HOME, "not-a-kernel")
    with open(kernel, "wb") as f:
        f.write(b"no arm64 Image")
    if vmmctl("start", "chatty", "--kernel", kernel, "--no-gui", ok=False).returncode == 0:
        fail("a guest whose kernel is no kernel started")
    log = os.path.join(HOME, "guests", "chatty", "worker.log")
    old = b"an old line from an earlier run of this worker\n" * 25000  # 1.2 MB
    for leaf, text in (("worker.log", old), ("worker.log.1", b"generation one\n")):
        with open(os.path.join(HOME, "guests", "chatty", leaf), "wb") as f:
            f.write(text)
    if vmmctl("start", "chatty", ok=False).returncode == 0:  # as it was made
        fail("a guest whose kernel is no kernel started")
    if open(log + ".1", "rb").read() != old:
        fail("worker.log was not rotated to worker.log.1 once past 1 MiB")
    if open(log + ".2", "rb").read() != b"generation one\n":
        fail("worker.log.1 did not become worker.log.2")
    now = open(log, "rb").read()
    if not now or len(now) > 1 << 20 or b"an old line" in now:
        fail(f"worker.log after rotating holds {len(now)} bytes: {now[:200]!r}")
    print(f"worker.log rotated; the new one says: {now.decode(errors='replace').strip()[:200]}")


def check_global_options_anywhere():
    """--json and --home work after the command as before it."""
    other = dict(ENV, IGNITION_HOME=os.path.join(HOME, "elsewhere"))
    for args in (["--json", "list"], ["list", "--json"], ["list", "--home", HOME, "--json"],
                 ["list", f"--home={HOME}", "--json"]):
        r = subprocess.run([VMMCTL, *args], env=other, capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            fail(f"vmmctl {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
        names = sorted(g["name"] for g in json.loads(r.stdout)["guests"])
        if "--home" in " ".join(args) and names != ["chatty", "hostile"]:
            fail(f"vmmctl {' '.join(args)} listed {names}, not this state directory's")
    s = json.loads(vmmctl("status", "hostile", "--json").stdout)
    if s.get("name") != "hostile":
        fail(f"status --json: {s}")
    r = vmmctl("list", "--bogus", ok=False)
    if r.returncode != 2:
        fail(f"list --bogus: exit {r.returncode}, not a usage error")
    r = vmmctl("list", "--home", ok=False)
    if r.returncode != 2 or b"--home needs" not in r.stderr:
        fail(f"list --home without a directory: exit {r.returncode}: {r.stderr!r}")


def check_started_together():
    """vmmctl commands started at the same moment with no vmmd running each
    start one; the vmmd that takes the state directory's lock first serves
    them all (the others exit), and every command gets its answer."""
    for home in TOGETHER:
        env = dict(ENV, IGNITION_HOME=home)
        procs = [subprocess.Popen([VMMCTL, "--json", "list"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        for p in procs:
            out, err = p.communicate(timeout=60)
            if p.returncode != 0 or json.loads(out or "{}").get("guests") != []:
                fail(f"vmmctl list, one of 4 started together with no vmmd: exit "
                     f"{p.returncode}: {err.strip()}")
        if not pid_in(os.path.join(home, "vmmd.lock")):
            fail(f"no vmmd holds {home}/vmmd.lock")
    print(f"4 vmmctl started together with no vmmd all answered, {len(TOGETHER)} times")


def instance_dirs():
    d = os.path.join(HOME, "instances")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def check_run_instances():
    """vmmd run removes the instance directory it made for itself, unless told
    to keep it; vmmctl prune removes those of runs that were killed."""
    kernel = os.path.join(HOME, "not-a-kernel")
    disk = os.path.join(guest_dir(), "rootfs.ext4")
    run = [vmmd_path(), "run", "--kernel", kernel, "--disk", disk, "--no-gpu"]
    r = subprocess.run(run, env=ENV, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    if r.returncode == 0 or "instance directory" not in r.stderr:
        fail(f"vmmd run with no kernel: exit {r.returncode}: {r.stderr}")
    if instance_dirs():
        fail(f"vmmd run left its instance directory behind: {instance_dirs()}")
    r = subprocess.run(run + ["--keep-instance"], env=ENV, capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    kept = instance_dirs()
    if len(kept) != 1:
        fail(f"vmmd run --keep-instance kept {kept}")

    # A run killed outright cannot remove its directory: prune does, and only
    # once the run is gone.
    image = os.path.join(guest_dir(), "Image")
    live = subprocess.Popen([vmmd_path(), "run", "--kernel", image, "--disk", disk,
                             "--no-gpu", "--mem", "256M"], env=ENV, stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        line = b""
        deadline = time.monotonic() + 60
        while b"instance directory" not in line and time.monotonic() < deadline:
            line = live.stderr.readline()
            if not line:
                break
        if b"instance directory" not in line:
            fail("vmmd run did not say where its instance directory is")
        out = vmmctl("prune", "--dry-run").stdout.decode()
        if "no stale instance directories" not in out:
            fail(f"prune --dry-run calls a running run's directory stale:\n{out}")
    finally:
        live.kill()
        live.wait()
    stale = [d for d in instance_dirs() if d not in kept]
    if len(stale) != 1:
        fail(f"after the kill, instance directories are {instance_dirs()}")
    listed = json.loads(vmmctl("--json", "prune", "--dry-run").stdout)
    if [os.path.basename(e["path"]) for e in listed["stale"]] != stale:
        fail(f"prune --dry-run --json listed {listed}, not {stale}")
    out = vmmctl("prune").stdout.decode()
    if f"removed {os.path.join(HOME, 'instances', stale[0])}" not in out:
        fail(f"prune said:\n{out}")
    if instance_dirs() != kept:
        fail(f"after prune: {instance_dirs()}, expected only the kept {kept}")
    if vmmctl("prune", "--bogus", ok=False).returncode != 2:
        fail("prune --bogus is not a usage error")


def pid_in(path):
    try:
        return int(open(path).read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def main():
    try:
        write_guest("hostile", "running", HOSTILE)
        check_status_filtered()
        check_worker_log_rotated()
        check_global_options_anywhere()
        check_run_instances()
        check_started_together()
    finally:
        stop_vmmd()
    shutil.rmtree(HOME, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    main()
