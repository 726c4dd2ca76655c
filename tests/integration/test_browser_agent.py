"""The browser image's guest agent, as the host reaches it: the image boots
under vmmctl, its session starts the agent's listener on vsock port 1024 as
the desktop user, and a host process on the guest's vsock socket
("CONNECT 1024") gets answers from the agent itself: `ping` is `ok pong`, and
requests the agent must refuse (an unknown one, a URL of another scheme, a
line too long, a byte outside printable ASCII) each get an `error` line while
the connection goes on serving. The agent runs as the unprivileged user.
Opening a URL needs Firefox up, which takes minutes under the emulator: that
is `vmmctl browser`'s, measured in docs/BROWSER.md, not this test's."""

import json
import os
import socket
import sys
import time

import test_vmmctl as t
from guest import require_assets
from test_vsock import connect

NAME = "agent"


def ask(s, request):
    s.sendall(request + b"\n")
    line = b""
    while not line.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            t.fail(f"the agent closed the connection after {request[:40]!r}")
        line += chunk
    return line.decode(errors="replace").rstrip("\n")


def expect(s, request, start):
    answer = ask(s, request)
    if not answer.startswith(start):
        t.fail(f"{request[:60]!r}: the agent said {answer!r}, wanted {start!r}...")
    return answer


def main():
    require_assets()
    image = os.path.join(os.environ["IGNITION_GUEST_DIR"], "browser.ext4")
    if not os.path.exists(image):
        sys.exit(f"{image} is missing: run tools/build-guest --image browser")
    try:
        t.vmmctl("start", NAME, "--image", "browser", "--mem", "2G", "--net", "none",
                 timeout=t.BOOT_TIMEOUT)
        t.wait_log(NAME, "GUEST: browser agent started on vsock port 1024")
        path = json.loads(t.vmmctl("--json", "status", NAME).stdout)["vsock_socket"]
        # Started is not yet listening: su and the listener take a moment.
        deadline = time.monotonic() + 60
        s, line = connect(path, 1024)
        while not s and time.monotonic() < deadline:
            time.sleep(1)
            s, line = connect(path, 1024)
        if not s or not line.startswith(b"OK "):
            t.fail(f"CONNECT 1024 on {path}: {line!r}")
        expect(s, b"ping", "ok pong")
        expect(s, b"bogus", "error unknown request")
        expect(s, b"open ftp://127.0.0.1/", "error not a URL the agent opens")
        expect(s, b"open javascript:alert(1)", "error not a URL the agent opens")
        expect(s, b"open http://" + b"a" * 5000, "error request longer than 4096 bytes")
        expect(s, b"open http://127.0.0.1/\x1b[2J", "error request has a byte outside")
        expect(s, b"ping", "ok pong")
        s.close()
        # A second connection gets an agent of its own.
        s, line = connect(path, 1024)
        expect(s, b"ping", "ok pong")
        s.close()
        t.vmmctl("console", NAME, stdin="ps -o user,args | grep '[i]gnition-agent'; "
                 "echo AGENT-USER-$((20+1))\r")
        t.wait_log(NAME, "AGENT-USER-21", timeout=60)
        users = {l.split()[0] for l in t.console_log(NAME).splitlines()
                 if "ignition-vsock listen 1024" in l and "grep" not in l}
        if users != {"user"}:
            t.fail(f"the agent's listener runs as {users or 'nobody'}, not the desktop user")
        print("ok: the browser image's agent answers on vsock port 1024 as the user, "
              "refusing what it must")
    finally:
        t.cleanup()
    t.passed()


if __name__ == "__main__":
    main()
