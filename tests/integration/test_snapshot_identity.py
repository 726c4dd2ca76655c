"""Clones of one snapshot are distinct machines: each gets a new VM generation
id, which Linux's vmgenid driver (bound from the device tree) mixes into the
kernel's RNG at once, logging it; the guest's hook (tools/build-guest) sets the
wall clock from the RTC and prints a milestone. The clone's counter has moved
on by the time the snapshot waited, so its clocks read the host's time. Two clones restored from one snapshot each announce the new generation,
draw different random bytes from each other and from the original, and read
the host's time although the snapshot waited for seconds; neither logs a
soft lockup or an RCU stall."""

import re
import time

import test_vmmctl as t
from guest import require_assets

CLONES = ("twin1", "twin2")
WAIT_AFTER_SNAPSHOT = 8  # seconds: a clone whose clock only continued would be this late


def ask(name, command, tag, timeout=60):
    """Runs command in the guest's console shell; returns its output line, marked by tag."""
    t.vmmctl("console", name, stdin=f"echo {tag}-$(( 0 + 1 )) $({command})\r")
    t.wait_log(name, f"{tag}-1 ", timeout=timeout)
    found = re.findall(rf"{tag}-1 ([^\r\n]*)", t.console_log(name))
    return found[-1].strip()


def check_driver_bound(name):
    bound = ask(name, "ls -d /sys/bus/platform/drivers/vmgenid/*vmgenid* 2>/dev/null | wc -l",
                "BOUND")
    if bound != "1":
        t.fail(f"{name}: the vmgenid driver is not bound to the device ({bound} devices)")


def check_time(name):
    guest = int(ask(name, "date +%s", "NOW"))
    host = time.time()
    # The console's round trip is part of the difference: allow for it.
    if not host - 3 <= guest <= host + 1:
        t.fail(f"{name}: the guest's clock reads {guest}, the host's {host:.1f}")


def check_no_stall_warnings(name):
    # The check means something only while the soft-lockup detector runs.
    if ask(name, "cat /proc/sys/kernel/soft_watchdog", "WATCHDOG") != "1":
        t.fail(f"{name}: the soft-lockup detector is off")
    found = ask(name, "dmesg | grep -c -i -E 'soft lockup|rcu.*stall|hung task'", "STALLS")
    if found != "0":
        t.fail(f"{name}: the kernel logged {found} lockup or stall warnings:\n" +
               ask(name, "dmesg | grep -i -E 'soft lockup|rcu.*stall|hung task' | head -3 |"
                   " tr '\\n' '|'", "WHAT"))


def main():
    require_assets()
    try:
        t.vmmctl("start", "orig", "--image", "console", "--mem", "512M", timeout=t.BOOT_TIMEOUT)
        t.wait_log("orig", "GUEST: shell ready")
        check_driver_bound("orig")
        t.vmmctl("snapshot", "orig", "base", timeout=300)
        original = ask("orig", "head -c 16 /dev/urandom | od -An -tx1 | tr -d ' '", "RAND")
        time.sleep(WAIT_AFTER_SNAPSHOT)
        t.vmmctl("fanout", "base", "2", "--prefix", "twin", timeout=300)
        draws = {"orig": original}
        for name in CLONES:
            t.wait_log(name, "GUEST: new vm generation", timeout=120)
            check_time(name)
            draws[name] = ask(name, "head -c 16 /dev/urandom | od -An -tx1 | tr -d ' '", "RAND")
            check_driver_bound(name)
            check_no_stall_warnings(name)
        print(f"random draws: {draws}")
        if len(set(draws.values())) != len(draws) or not all(
                re.fullmatch(r"[0-9a-f]{32}", d) for d in draws.values()):
            t.fail(f"the clones' random bytes are not their own: {draws}")
        if "new vm generation" in t.console_log("orig"):
            t.fail("the original guest saw a new generation: it is not a copy")
    finally:
        t.cleanup()
    t.passed()


if __name__ == "__main__":
    main()
