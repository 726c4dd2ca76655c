"""vmmctl and the vmmd supervisor, the way a user drives them from a shell.

Two guests run under one vmmd: list shows both; the console round-trips a
command; send-keys types into the guest's screen shell (which echoes to the
serial log); screenshot writes a PNG equal to the scanout; vmmd killed with
SIGKILL and started again adopts the running guests; stop powers a guest off
through its own poweroff path; a worker killed with SIGKILL becomes `crashed`
with a reason while vmmd and the other guest carry on; bad requests from
vmmctl and from a raw client get clear errors and leave vmmd running."""

import json
import os
import pty
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

from guest import REPO, require_assets

VMMCTL = os.environ.get("IGNITION_VMMCTL", os.path.join(REPO, "build", "tools", "vmmctl", "vmmctl"))
DISPLAY_CLIENT = os.environ.get("IGNITION_DISPLAY_CLIENT",
                                os.path.join(REPO, "build", "tests", "integration", "display_client"))
HOME = tempfile.mkdtemp(prefix="ignition-vmmctl-")
ENV = dict(os.environ, IGNITION_HOME=HOME)
# Under sanitizers (the build-asan run of tools/test) every process writes its
# report to a file here, vmmd's too once it has left the terminal; any report
# of an error fails the test.
SANITIZER_LOGS = os.path.join(HOME, "sanitizer")
if os.environ.get("IGNITION_SANITIZED"):
    os.mkdir(SANITIZER_LOGS)
    ENV["ASAN_OPTIONS"] = f"detect_leaks=1:log_path={SANITIZER_LOGS}/asan"
    ENV["UBSAN_OPTIONS"] = f"halt_on_error=1:print_stacktrace=1:log_path={SANITIZER_LOGS}/ubsan"
    ENV["LSAN_OPTIONS"] = f"suppressions={os.path.join(REPO, 'tests', 'lsan.supp')}"


def sanitizer_reports():
    if not os.path.isdir(SANITIZER_LOGS):
        return []
    bad = []
    for name in sorted(os.listdir(SANITIZER_LOGS)):
        text = open(os.path.join(SANITIZER_LOGS, name), errors="replace").read()
        if "ERROR:" in text or "runtime error" in text:
            bad.append(f"---- {name}\n{text[-4000:]}")
    return bad
BOOT_TIMEOUT = 240


def passed():
    """After cleanup(): fails on any sanitizer report, else removes the state
    directory and says PASS."""
    reports = sanitizer_reports()
    if reports:
        print("\n".join(reports))
        fail("the sanitizers reported errors")
    shutil.rmtree(HOME, ignore_errors=True)
    print("PASS")


def fail(message):
    print(f"FAIL: {message}")
    for name in sorted(os.listdir(os.path.join(HOME, "guests"))) if os.path.isdir(
            os.path.join(HOME, "guests")) else []:
        for leaf in ("worker.log", "console.log"):
            path = os.path.join(HOME, "guests", name, leaf)
            if os.path.exists(path):
                print(f"---- {name}/{leaf} (last 3000 bytes)")
                print(open(path, "rb").read()[-3000:].decode(errors="replace"))
    log = os.path.join(HOME, "vmmd.log")
    if os.path.exists(log):
        print("---- vmmd.log")
        print(open(log).read()[-3000:])
    cleanup()
    sys.exit(1)


def vmmctl(*args, ok=True, timeout=120, stdin=None):
    r = subprocess.run([VMMCTL, *args], env=ENV, capture_output=True, text=True,
                       timeout=timeout, input=stdin)
    if ok and r.returncode != 0:
        fail(f"vmmctl {' '.join(args)} exited {r.returncode}: {r.stderr.strip()}")
    return r


def status(name):
    return json.loads(vmmctl("--json", "status", name).stdout)


def console_log(name):
    path = os.path.join(HOME, "guests", name, "console.log")
    return open(path, "rb").read().decode(errors="replace") if os.path.exists(path) else ""


def wait_log(name, text, timeout=BOOT_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in console_log(name):
            return
        time.sleep(0.2)
    fail(f"{name}: {text!r} did not appear in the console log within {timeout}s")


def vmmd_pid():
    with open(os.path.join(HOME, "vmmd.lock")) as f:
        return int(f.read().split()[0])


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def cleanup():
    """Nothing outlives the test: workers first, then vmmd."""
    guests = os.path.join(HOME, "guests")
    for name in os.listdir(guests) if os.path.isdir(guests) else []:
        lock = os.path.join(guests, name, "worker.lock")
        try:
            pid = int(open(lock).read().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass
    try:
        os.kill(vmmd_pid(), signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass


# ---- the console through a terminal -----------------------------------------------

def console_round_trip(name, marker):
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(VMMCTL, [VMMCTL, "console", name], ENV)
    out = b""
    deadline = time.monotonic() + 60
    sent = False
    while time.monotonic() < deadline:
        if not sent and b"Connected" in out:
            # The shell's arithmetic: only a real shell turns this into the marker.
            os.write(fd, f"echo {marker}-$((40 + 2))\r".encode())
            sent = True
        if sent and f"{marker}-42".encode() in out:
            os.write(fd, b"\x1d")  # Ctrl-] detaches
            break
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    else:
        os.kill(pid, signal.SIGKILL)
        fail(f"console {name}: no answer to the command; saw {out[-500:]!r}")
    _, st = os.waitpid(pid, 0)
    if not os.WIFEXITED(st) or os.WEXITSTATUS(st) != 0:
        fail(f"console {name}: detaching exited with status {st}")
    os.close(fd)


# ---- PNG, read back for comparison -------------------------------------------------

def png_rgb(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path} is not a PNG")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if (depth, color, interlace) != (8, 2, 0):
                fail(f"{path}: expected 8-bit RGB, not interlaced")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * 3
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - 3] if i >= 3 else 0
            b = prev[i]
            c = prev[i - 3] if i >= 3 else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, b"".join(rows)


def ppm_rgb(path):
    data = open(path, "rb").read()
    parts = data.split(maxsplit=4)
    if parts[0] != b"P6":
        fail(f"{path} is not a binary PPM")
    return int(parts[1]), int(parts[2]), parts[4]


# ---- a raw client, for requests vmmctl would never send ----------------------------

def frame(body):
    return struct.pack("<I", len(body)) + body


def varint(n):
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        out += bytes([low | (0x80 if n else 0)])
        if not n:
            return out


def field(number, payload):
    """One length-delimited protobuf field (a message or a string)."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


HELLO = field(1, b"\x08\x01" + field(2, b"raw-test"))


def raw_exchange(*frames, greet=True):
    """Sends frames (after a Hello) and returns the bytes vmmd answered with."""
    path = os.path.join(HOME, "run", "vmmd.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    if greet:
        s.sendall(frame(HELLO))
    for f in frames:
        s.sendall(f)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (socket.timeout, ConnectionResetError):
        pass  # vmmd closed on a sender it had not read all of: the reply came first
    s.close()
    return out


def replies(data):
    """The Envelope field numbers of each framed reply."""
    kinds = []
    while len(data) >= 4:
        (n,) = struct.unpack("<I", data[:4])
        body = data[4:4 + n]
        tag, shift = 0, 0
        for byte in body[:5]:
            tag |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        kinds.append(tag >> 3 if body else None)
        data = data[4 + n:]
    return kinds


ERROR_FIELD, WELCOME_FIELD = 3, 2


def bad_input():
    # vmmctl's own errors: one line each, exit 1 (or 2 for usage).
    r = vmmctl("status", "nope", ok=False)
    if r.returncode != 1 or "no guest named 'nope'" not in r.stderr:
        fail(f"status of an unknown guest: {r.returncode} {r.stderr!r}")
    r = vmmctl("start", "alpha", ok=False)
    if r.returncode != 1 or "already running" not in r.stderr:
        fail(f"a second start of a running guest: {r.returncode} {r.stderr!r}")
    r = vmmctl("start", "gamma", "--image", "/nonexistent/root.ext4", ok=False)
    if r.returncode != 1 or "--image /nonexistent/root.ext4" not in r.stderr:
        fail(f"a root image that does not exist: {r.returncode} {r.stderr!r}")
    r = vmmctl("start", "../etc", ok=False)
    if r.returncode != 1 or "not a guest name" not in r.stderr:
        fail(f"a bad guest name: {r.returncode} {r.stderr!r}")
    # A guest that cannot start: vmmctl says why (the worker's own words), and
    # the guest is left stopped, not running and not crashed.
    r = vmmctl("start", "broken", "--kernel", "/etc/hostname", ok=False)
    if r.returncode != 1 or "did not start" not in r.stderr or "arm64" not in r.stderr:
        fail(f"start with a kernel that is not one: {r.returncode} {r.stderr!r}")
    if status("broken")["state"] != "stopped":
        fail(f"a guest that did not start is {status('broken')['state']}")
    # Removed by a raw client that hangs up without reading the answer.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.path.join(HOME, "run", "vmmd.sock"))
    s.sendall(frame(HELLO))
    s.settimeout(10)
    s.recv(4096)  # Welcome
    s.sendall(frame(field(24, field(1, b"broken"))))
    s.close()
    deadline = time.monotonic() + 10
    while vmmctl("status", "broken", ok=False).returncode == 0:
        if time.monotonic() > deadline:
            fail("a Remove from a client that hung up did not remove the guest")
        time.sleep(0.1)
    r = vmmctl("rm", "alpha", ok=False)
    if r.returncode != 1 or "stop it first" not in r.stderr:
        fail(f"rm of a running guest: {r.returncode} {r.stderr!r}")
    r = vmmctl("stop", ok=False)
    if r.returncode != 2:
        fail(f"stop without a name should be a usage error: {r.returncode}")
    r = vmmctl("frobnicate", ok=False)
    if r.returncode != 2 or "unknown command" not in r.stderr:
        fail(f"unknown command: {r.returncode} {r.stderr!r}")
    r = vmmctl("snapshot", "alpha", "../x", ok=False)
    if r.returncode != 1 or "not a snapshot name" not in r.stderr:
        fail(f"snapshot to a path, not a name: {r.returncode} {r.stderr!r}")
    # A raw client: garbage, an oversize frame, a message that is no request,
    # a request before Hello. Each gets an Error; vmmd stays up.
    cases = {
        "undecodable body": raw_exchange(frame(b"\xff\xff\xff\xff")),
        "oversize frame": raw_exchange(struct.pack("<I", 64 << 20) + b"x" * 16),
        "empty frame": raw_exchange(struct.pack("<I", 0)),
        "not a request": raw_exchange(frame(field(12, b"\x08\x10\x10\x10"))),
        "request before hello": raw_exchange(frame(field(22, b"")), greet=False),
        "start without config": raw_exchange(frame(field(20, field(1, b"newguest")))),
    }
    for what, data in cases.items():
        kinds = replies(data)
        if ERROR_FIELD not in kinds:
            fail(f"raw client, {what}: no Error in the answer (replies {kinds})")
    r = vmmctl("--json", "list")
    names = [g["name"] for g in json.loads(r.stdout)["guests"]]
    if "newguest" in names:
        fail("a start request without a config made a guest")
    if not alive(vmmd_pid()):
        fail("vmmd died from bad input")


def main():
    require_assets()
    try:
        run()
    finally:
        cleanup()
    passed()


def run():
    # Two guests; the first vmmctl starts vmmd itself.
    for name in ("alpha", "beta"):
        r = vmmctl("start", name, "--image", "console", "--mem", "512M", timeout=BOOT_TIMEOUT)
        if "is running" not in r.stdout:
            fail(f"start {name}: {r.stdout!r}")
    for name in ("alpha", "beta"):
        wait_log(name, "GUEST: shell ready")
    listed = {g["name"]: g for g in json.loads(vmmctl("--json", "list").stdout)["guests"]}
    for name in ("alpha", "beta"):
        if listed.get(name, {}).get("state") != "running" or not listed[name]["pid"]:
            fail(f"list: {name} is not running: {listed.get(name)}")
    table = vmmctl("list").stdout
    if "alpha" not in table or "beta" not in table or table.count("running") != 2:
        fail(f"list's table does not show both running:\n{table}")

    console_round_trip("alpha", "CONSOLE")
    wait_log("alpha", "CONSOLE-42")
    # Piped input, the way scripts use it.
    r = vmmctl("console", "beta", stdin="echo PIPED-$((6 * 7))\r")
    wait_log("beta", "PIPED-42", timeout=30)

    # send-keys goes to the screen's shell (tty1), which writes to the serial port.
    time.sleep(1)
    vmmctl("send-keys", "alpha", "echo KEYS-$((2 + 3)) > /dev/ttyAMA0\\n")
    wait_log("alpha", "KEYS-5", timeout=60)

    # A still screen (no cursor blink), then the PNG against the scanout itself.
    r = vmmctl("console", "alpha",
               stdin="echo 0 > /sys/class/graphics/fbcon/cursor_blink; clear > /dev/tty1; "
                     "echo BLINK-OFF\r")
    wait_log("alpha", "BLINK-OFF", timeout=30)
    time.sleep(1)
    png = os.path.join(HOME, "alpha.png")
    ppm = os.path.join(HOME, "alpha.ppm")
    display = status("alpha")["display_socket"]
    subprocess.run([DISPLAY_CLIENT, display, "dump", ppm], check=True, capture_output=True,
                   timeout=60)
    vmmctl("screenshot", "alpha", png)
    w, h, rgb = png_rgb(png)
    pw, ph, prgb = ppm_rgb(ppm)
    if (w, h) != (pw, ph) or rgb != prgb:
        diff = sum(1 for i in range(0, min(len(rgb), len(prgb)), 3) if rgb[i:i + 3] != prgb[i:i + 3])
        fail(f"screenshot {w}x{h} differs from the scanout {pw}x{ph} in {diff} pixels")
    if len(set(rgb[i:i + 3] for i in range(0, len(rgb), 3 * 97))) < 2:
        fail("the screenshot is a single colour: nothing of the console was drawn")

    bad_input()

    # vmmd killed outright: the guests run on, and the next vmmd adopts them.
    old = vmmd_pid()
    pids = {n: status(n)["pid"] for n in ("alpha", "beta")}
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(old) and time.monotonic() < deadline:
        time.sleep(0.05)
    for n, pid in pids.items():
        if not alive(pid):
            fail(f"{n}'s worker died with vmmd")
    listed = {g["name"]: g for g in json.loads(vmmctl("--json", "list").stdout)["guests"]}
    if vmmd_pid() == old:
        fail("vmmd was not started again")
    for n, pid in pids.items():
        if listed[n]["state"] != "running" or listed[n]["pid"] != pid:
            fail(f"{n} was not adopted: {listed[n]}")
    console_round_trip("beta", "ADOPTED")

    # A graceful stop: the guest's own poweroff path runs.
    r = vmmctl("stop", "alpha", timeout=180)
    st = status("alpha")
    if st["state"] != "stopped" or st["exit_reason"] != "powered off":
        fail(f"stop alpha: {st['state']} / {st['exit_reason']}")
    log = console_log("alpha")
    for text in ("GUEST: power button: powering off", "reboot: Power down"):
        if text not in log:
            fail(f"stop alpha: {text!r} is not in its console log")

    # A stopped guest starts again as it was made; --force stops it at once.
    r = vmmctl("start", "alpha", timeout=BOOT_TIMEOUT)
    if status("alpha")["state"] != "running":
        fail("alpha did not start again")
    r = vmmctl("stop", "--force", "alpha", timeout=60)
    st = status("alpha")
    if st["state"] != "stopped" or st["exit_reason"] != "stopped":
        fail(f"stop --force alpha: {st['state']} / {st['exit_reason']}")
    r = vmmctl("stop", "alpha", ok=False)
    if r.returncode != 1 or "not running" not in r.stderr:
        fail(f"stopping a stopped guest: {r.returncode} {r.stderr!r}")

    # A worker killed outright: crashed, with a reason; vmmd and others unharmed.
    os.kill(pids["beta"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while status("beta")["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    st = status("beta")
    if st["state"] != "crashed" or not st["exit_reason"]:
        fail(f"beta after SIGKILL: {st['state']} / {st['exit_reason']!r}")
    if not st["console_tail"]:
        fail("beta crashed without the tail of its console")
    if "crashed" not in vmmctl("status", "beta").stdout:
        fail("status does not say crashed")

    # A crashed guest starts again as it was made; rm takes the stopped ones.
    r = vmmctl("rm", "beta", ok=False)
    if r.returncode != 0:
        fail(f"rm of a crashed guest: {r.stderr}")
    vmmctl("rm", "alpha")
    if json.loads(vmmctl("--json", "list").stdout)["guests"]:
        fail("guests left after rm")
    if not alive(vmmd_pid()):
        fail("vmmd is not running at the end")


if __name__ == "__main__":
    main()
