"""The guest agent's `open`, built for this machine, against a real D-Bus
daemon: what it sends on the session bus is what Firefox's remote takes, as
libdbus (the daemon, and dbus-monitor watching the bus) parses it, and what
the bus answers comes back to the host as one `error` line.

A private dbus-daemon listens in a temporary directory; nobody owns Firefox's
name there, so the bus itself refuses the call (ServiceUnknown), after
dbus-monitor has seen it: destination org.mozilla.firefox.NAME (NAME the
profile path in base64 with '=' made '_'), path /org/mozilla/firefox/Remote,
interface org.mozilla.firefox, member OpenURL, and one byte array holding
Firefox's remote command line (argc, offsets, working directory, arguments).
Nothing leaves this machine: the bus is a Unix socket."""

import base64
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

AGENT = os.environ.get("IGNITION_AGENT_NATIVE", "")
URL = "https://example.invalid/a?b=c#d"


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def monitored_bytes(text):
    """The byte array of the OpenURL call in dbus-monitor's output."""
    m = re.search(r"member=OpenURL\s+array of bytes \[(.*?)\]", text, re.S)
    if not m:
        fail(f"dbus-monitor saw no OpenURL call with a byte array:\n{text}")
    return bytes(int(h, 16) for h in m.group(1).split())


def main():
    for tool in ("dbus-daemon", "dbus-monitor"):
        if not shutil.which(tool):
            print(f"SKIP: {tool} is missing (tools/setup installs it)")
            sys.exit(77)
    if not os.access(AGENT, os.X_OK):
        fail(f"no agent built for this machine at {AGENT!r} (IGNITION_AGENT_NATIVE)")
    tmp = tempfile.mkdtemp(prefix="ignition-agent-dbus-")
    procs = []
    try:
        address = f"unix:path={tmp}/bus"
        daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--nopidfile",
                                   f"--address={address}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(daemon)
        deadline = time.monotonic() + 10
        while not os.path.exists(f"{tmp}/bus"):
            if time.monotonic() > deadline or daemon.poll() is not None:
                fail("dbus-daemon did not start")
            time.sleep(0.05)
        monitor = subprocess.Popen(["dbus-monitor", "--address", address,
                                    "type='method_call',member='OpenURL'"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(monitor)
        time.sleep(0.5)  # the monitor has become one

        home = os.path.join(tmp, "home")
        env = {"HOME": home, "DBUS_SESSION_BUS_ADDRESS": address, "PATH": "/usr/bin:/bin"}
        requests = f"ping\nopen {URL}\nping\n"
        r = subprocess.run([AGENT], input=requests, capture_output=True, text=True, env=env,
                           timeout=60)
        lines = r.stdout.splitlines()
        if len(lines) != 3 or lines[0] != "ok pong" or lines[2] != "ok pong":
            fail(f"the agent answered {lines!r} (stderr {r.stderr!r})")
        if not lines[1].startswith("error Firefox's remote refused OpenURL "
                                   "(org.freedesktop.DBus.Error.ServiceUnknown"):
            fail(f"open without a Firefox on the bus: {lines[1]!r}")
        if any(c < " " or c > "~" for c in lines[1]):
            fail(f"the error line is not printable ASCII: {lines[1]!r}")

        time.sleep(0.5)
        monitor.terminate()
        seen = monitor.communicate(timeout=10)[0]
        profile = f"{home}/.mozilla/kiosk"
        name = base64.b64encode(profile.encode()).decode()
        for c in "+/=":
            name = name.replace(c, "_")
        want = (f"destination=org.mozilla.firefox.{name} serial=2 path=/org/mozilla/firefox/"
                f"Remote; interface=org.mozilla.firefox; member=OpenURL")
        if want not in seen:
            fail(f"the call is not {want!r}:\n{seen}")
        data = monitored_bytes(seen)
        argc, first, second = struct.unpack_from("<iii", data)
        strings = data[12:].split(b"\0")
        if argc != 2 or data[-1] != 0 or strings[:3] != [b"/", b"firefox-esr", URL.encode()]:
            fail(f"the command line is {data!r}")
        if data[first:].split(b"\0")[0] != b"firefox-esr" or \
                data[second:].split(b"\0")[0] != URL.encode():
            fail(f"the offsets {first}, {second} do not point at the arguments: {data!r}")

        # No bus at all: one error line, and the agent goes on.
        env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={tmp}/nothing"
        r = subprocess.run([AGENT], input=f"open {URL}\nping\n", capture_output=True, text=True,
                           env=env, timeout=60)
        if r.stdout.splitlines() != ["error cannot connect to the session bus", "ok pong"]:
            fail(f"without a bus: {r.stdout!r}")
        env["DBUS_SESSION_BUS_ADDRESS"] = "tcp:host=127.0.0.1,port=1"
        r = subprocess.run([AGENT], input=f"open {URL}\n", capture_output=True, text=True,
                           env=env, timeout=60)
        if not r.stdout.startswith("error no session bus at a unix:path= address"):
            fail(f"a bus address that is not unix:path=: {r.stdout!r}")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("the agent's OpenURL call is what Firefox's remote takes; the bus's refusal came "
          "back as one error line")


if __name__ == "__main__":
    main()
