"""Snapshots through vmmctl and vmmd: a guest counting on its serial console
is snapshotted; three clones fanned out from the snapshot each continue the
count (not from 1), answer on their own consoles, write their own file to
their own disk and see no other's; the original sees none of them. A restore
under a chosen name, a restored guest started again, `snapshot --stop`,
`snapshots` and `rm-snapshot` work, and bad requests get clear errors."""

import json
import os
import re
import shutil
import time

import test_vmmctl as t
from guest import require_assets

CLONES = ("warm-1", "warm-2", "warm-3")


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
    t.vmmctl("start", "orig", "--mem", "512M", timeout=t.BOOT_TIMEOUT)
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


def fan_out(last):
    r = t.vmmctl("--json", "fanout", "warm", "3", timeout=300)
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


def disks_are_separate():
    for name in CLONES:
        t.vmmctl("console", name, stdin=f"echo {name} > /root/who; sync; echo WROTE-$((1+1))\r")
        t.wait_log(name, "WROTE-2", timeout=60)
    for name in CLONES + ("orig",):
        t.vmmctl("console", name,
                 stdin="(cat /root/who 2>/dev/null || echo nobody) | sed 's/^/SEEN-/'\r")
        want = f"SEEN-{name}" if name != "orig" else "SEEN-nobody"
        t.wait_log(name, want, timeout=60)
        others = [o for o in CLONES if o != name and f"SEEN-{o}" in t.console_log(name)]
        if others:
            t.fail(f"{name} sees the file of {others}")


def restores_by_name():
    for name in CLONES[1:]:
        t.vmmctl("stop", "--force", name, timeout=60)
    r = t.vmmctl("--json", "restore", "warm", timeout=300)
    if json.loads(r.stdout)["name"] != "warm-4":
        t.fail(f"a restore without --name is not warm-4: {r.stdout}")
    t.vmmctl("stop", "--force", "warm-4", timeout=60)
    t.vmmctl("restore", "warm", "--name", "solo", timeout=300)
    wait_ticks("solo", 3)
    expect_error(("restore", "warm", "--name", "solo"), "exists")
    # Stopped, it starts again from the snapshot.
    t.vmmctl("stop", "--force", "solo", timeout=60)
    before = len(ticks("solo"))
    t.vmmctl("start", "solo", timeout=300)
    wait_ticks("solo", before + 3)
    # --stop: snapshotted, then stopped.
    t.vmmctl("snapshot", "warm-1", "later", "--stop", timeout=300)
    if t.status("warm-1")["state"] != "stopped":
        t.fail("snapshot --stop left warm-1 running")


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
        fan_out(last)
        disks_are_separate()
        restores_by_name()
        bad_input()
        removes()
        if ticks("orig")[-1] <= last:
            t.fail("the original guest stopped counting")
    finally:
        t.cleanup()
    reports = t.sanitizer_reports()
    if reports:
        print("\n".join(reports))
        t.fail("the sanitizers reported errors")
    shutil.rmtree(t.HOME, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    main()
