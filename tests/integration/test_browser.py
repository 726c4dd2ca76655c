"""vmmctl browser end to end on the emu backend, with the real browser image
(tools/build-guest --image browser): the suite `browser` (`meson test -C build
--suite browser`). The warm base is made once, by the first step, and every
later step restores clones of it.

1. The first `vmmctl browser --screenshot` makes the warm base: the guest's
   milestones are shown up to "GUEST: browser ready", the snapshot `browser`
   is written and listed, and the PNG is the start page (its background
   #24425e). The clone is gone afterwards, with its instance directory.
2. The next use restores a clone of the base, has the guest agent open
   file:///etc/hostname in Firefox and writes the page as Firefox drew it:
   a white page with the guest's host name ("ignition") as dark text at its
   top left. Again nothing of the clone is left.
3. With --allow-host a clone draws a page of one colour served on the host's
   127.0.0.1 (at 10.0.2.2); without it the same URL does not load.
4. Two clones kept running at once, the two commands started together, each
   opened on a page of its own colour on the host: "left" with --no-view,
   "shown" in a window (Xvfb; the command becomes the clone's viewer). Each
   draws its own page (the window shows it too), answers on its agent, and
   its guest reports a MAC of its own on the console (the one its worker
   gave it).
5. `vmmctl relaunch left` brings it back to the warm base: the start page
   again, still disposable, the same MAC, and still with --allow-host (its
   shell fetches the page from the host); the other clone is untouched.
6. Ctrl+Alt+R in shown's window does the same through the viewer: the start
   page in the same window, the viewer attached to the new worker, the same
   MAC, left untouched. Ctrl+Alt+X in the window then discards shown (the
   command ends with status 0), `vmmctl stop` discards left, and a clone
   opened without a URL in a window of its own is discarded by closing the
   window. Nothing of any clone is left."""

import http.server
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time

import test_vmmctl as t
from guest import REPO, require_assets
from test_browser_agent import ask
from test_viewer import start_xvfb
from test_vsock import connect

START_PAGE = (0x24, 0x42, 0x5e)
BASE = "browser"  # the warm base's snapshot
VIEW = os.environ.get("IGNITION_VIEW", os.path.join(REPO, "build", "viewer", "ignition-view"))


def png_pixels(path):
    """(width, height, rows of RGB tuples) of vmmctl's 8-bit RGB PNG."""
    width, height, rgb = t.png_rgb(path)
    stride = width * 3
    rows = [[tuple(rgb[y * stride + x:y * stride + x + 3]) for x in range(0, stride, 3)]
            for y in range(height)]
    return width, height, rows


def share(rows, colour):
    pixels = sum(len(r) for r in rows)
    return sum(row.count(colour) for row in rows) / pixels


def no_clone_left():
    guests = json.loads(t.vmmctl("--json", "list").stdout)["guests"]
    if guests:
        t.fail(f"guests left after vmmctl browser: {[g['name'] for g in guests]}")
    left = os.listdir(os.path.join(t.HOME, "guests"))
    if left:
        t.fail(f"instance directories left: {left}")


def browser(*args, timeout):
    started = time.monotonic()
    r = subprocess.run([t.VMMCTL, "browser", *args], capture_output=True, text=True,
                       timeout=timeout, env=dict(os.environ, IGNITION_HOME=t.HOME))
    if r.returncode != 0:
        t.fail(f"vmmctl browser {' '.join(args)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r.stdout, time.monotonic() - started


COLOUR = (0xc0, 0x30, 0x90)
OTHER_COLOUR = (0x30, 0xa0, 0x50)


class ColourPage:
    """A page on the host's 127.0.0.1 that is one solid colour, with a random title."""

    def __init__(self, colour=COLOUR):
        title = "page-" + secrets.token_hex(6)
        background = "#%02x%02x%02x" % colour
        body = (f"<!doctype html><html><head><title>{title}</title></head><body style="
                f"'margin:0;background:{background};height:100vh'></body></html>").encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.colour = colour
        self.title = title
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def host_page():
    """With --allow-host the clone reaches a page on the host's 127.0.0.1 at
    10.0.2.2 and Firefox draws its colour over most of the screen; without it
    the same URL does not load (Firefox's error page, not the colour)."""
    page = ColourPage()
    try:
        url = f"http://10.0.2.2:{page.port}/"
        shot = os.path.join(t.HOME, "host.png")
        _, took_open = browser(url, "--allow-host", "--screenshot", shot, timeout=600)
        _, _, rows = png_pixels(shot)
        if share(rows, COLOUR) < 0.8:
            t.fail(f"--allow-host: the host's page covers {share(rows, COLOUR):.0%} of the screen")
        shut = os.path.join(t.HOME, "shut.png")
        _, took_shut = browser(url, "--screenshot", shut, timeout=600)
        _, _, rows = png_pixels(shut)
        if share(rows, COLOUR) > 0.01:
            t.fail(f"without --allow-host the host's page loaded ({share(rows, COLOUR):.0%})")
        no_clone_left()
        print(f"the host's page: drawn with --allow-host ({took_open:.0f} s), not reached "
              f"without it ({took_shut:.0f} s)")
    finally:
        page.close()


# ---- clones kept running: two at once, and a relaunch ---------------------------------

LEASE = re.compile(r"GUEST: network eth0 (10\.0\.2\.\d+) ([0-9a-f:]{17})")
HOST_MAC = re.compile(r"network: user-mode, MAC ([0-9a-f:]{17})")
DRAW_LIMIT_S = 300


def screen_share(name, colour):
    """The share of name's screen in colour now, from a dump of its scanout
    (display_client, cheap enough to poll)."""
    sock = t.status(name)["display_socket"]
    path = os.path.join(t.HOME, f"{name}.ppm")
    r = subprocess.run([t.DISPLAY_CLIENT, sock, "dump", path], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        t.fail(f"display_client dump of {name}: {r.stdout}{r.stderr}")
    _, _, rgb = t.ppm_rgb(path)
    want = bytes(colour)
    return sum(1 for i in range(0, len(rgb), 3) if rgb[i:i + 3] == want) / (len(rgb) // 3)


def inside(name):
    """What the guest is doing, for a failure's report: Firefox's log and the
    busiest processes, from the serial console's shell."""
    before = len(t.console_log(name))
    t.vmmctl("console", name, stdin="grep -v 'Basic output test' /run/user/1000/browser.log "
             "| tail -n 20; top -b -n 1 | head -n 20 | cut -c 1-150; echo INSIDE-$((6*7))\r")
    deadline = time.monotonic() + 30
    while "INSIDE-42" not in t.console_log(name)[before:] and time.monotonic() < deadline:
        time.sleep(1)
    return f"---- {name}: inside the guest\n{t.console_log(name)[before:][-6000:]}"


def worker_threads(name):
    """The worker's threads as the host sees them, for a failure's report:
    CPU ticks used over 5 s, state, wait channel and the system call each
    waits in (/proc/TID/syscall: its number and arguments). A vCPU asleep
    with no timeout while its guest waits on a timer shows here."""
    pid = t.status(name)["pid"]
    task = f"/proc/{pid}/task"

    def sample():
        ticks = {}
        for tid in os.listdir(task):
            try:
                fields = open(f"{task}/{tid}/stat").read().rsplit(")", 1)[1].split()
                ticks[tid] = int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                pass
        return ticks

    try:
        before = sample()
        time.sleep(5)
        after = sample()
        lines = []
        for tid in sorted(after, key=int):
            def read(leaf):
                try:
                    return open(f"{task}/{tid}/{leaf}").read().strip()
                except OSError as e:
                    return f"({e.strerror})"
            state = read("stat").rsplit(")", 1)[-1].split()[:1]
            lines.append(f"{tid} {read('comm')}: {after[tid] - before.get(tid, 0)} ticks in 5 s, "
                         f"state {state}, wchan {read('wchan')}, syscall {read('syscall')}")
        return f"---- {name}: worker {pid}'s threads\n" + "\n".join(lines)
    except OSError as e:
        return f"---- {name}: worker {pid}'s threads: {e}"


def wait_screen(name, colour, least, what):
    """Waits until colour covers at least least of name's screen, then asserts
    it on a PNG that vmmctl screenshot writes; returns the PNG's rows. A page
    not drawn is reported with what the worker's threads and the guest were
    doing, and whether it was drawn within a minute after the console's input
    (an interrupt) had reached the guest."""
    deadline = time.monotonic() + DRAW_LIMIT_S
    while screen_share(name, colour) < least:
        if time.monotonic() > deadline:
            print(worker_threads(name))
            print(inside(name))
            woken = time.monotonic() + 60
            while screen_share(name, colour) < least and time.monotonic() < woken:
                time.sleep(2)
            t.fail(f"{name}: {what} was not drawn in {DRAW_LIMIT_S} s; a minute after the "
                   f"console's input {screen_share(name, colour):.0%} of the screen")
        time.sleep(2)
    shot = os.path.join(t.HOME, f"{name}.png")
    t.vmmctl("screenshot", name, shot, timeout=60)
    _, _, rows = png_pixels(shot)
    if share(rows, colour) < least:
        t.fail(f"{name}: vmmctl screenshot shows {what} on {share(rows, colour):.0%} only")
    return rows


def logs_now(name):
    """Where name's console and worker logs end now: a relaunched worker
    writes on after its predecessor."""
    return len(t.console_log(name)), len(worker_log(name))


def worker_log(name):
    return open(os.path.join(t.HOME, "guests", name, "worker.log"), errors="replace").read()


def guest_mac(name, after=(0, 0), limit=120):
    """The MAC the clone's guest reports on its console (its DHCP client's
    line, written once the link came up with the clone's own MAC), checked
    against the one its worker gave it; only what the logs gained after the
    offsets after (logs_now) counts."""
    deadline = time.monotonic() + limit
    while not (m := LEASE.search(t.console_log(name)[after[0]:])):
        if time.monotonic() > deadline:
            t.fail(f"{name}: no 'GUEST: network eth0' line on its console in {limit} s")
        time.sleep(1)
    host = HOST_MAC.search(worker_log(name)[after[1]:])
    if not host or host.group(1) != m.group(2):
        t.fail(f"{name}: the guest reports MAC {m.group(2)}, its worker gave "
               f"{host.group(1) if host else 'none'}")
    return m.group(2)


def agent(name):
    st = t.status(name)
    s, line = connect(st["vsock_socket"], 1024)
    if not s or ask(s, b"ping") != "ok pong":
        t.fail(f"{name}'s agent did not answer ({line!r})")
    return s


class Window:
    """`vmmctl browser [URL] ... --name NAME` with a display (Xvfb): the
    command restores the clone, opens URL and becomes the clone's viewer
    (ignition-view --stop-on-close NAME), whose window is titled with the
    clone's name. Now and then on a loaded machine X refuses a client at
    SDL_Init (test_viewer.py): then the same viewer is started again, as the
    command would have started it."""

    def __init__(self, name, args, env):
        self.name, self.env = name, env
        self.proc = subprocess.Popen([t.VMMCTL, "browser", *args, "--name", name], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.win = None

    def wait_shown(self, limit=DRAW_LIMIT_S):
        """Waits for the window to be shown (it exists hidden until the viewer
        has a frame, and X refuses to focus it before)."""
        deadline = time.monotonic() + limit
        attempts = 1
        while not self.win:
            if self.proc.poll() is not None:
                out = self.proc.communicate()[0].decode(errors="replace")
                if "x11 not available" not in out or attempts == 3:
                    t.fail(f"vmmctl browser {self.name} with a window exited "
                           f"{self.proc.returncode}:\n{out}")
                print(f"X refused {self.name}'s viewer; starting it again")
                attempts += 1
                self.proc = subprocess.Popen([VIEW, "--stop-on-close", self.name], env=self.env,
                                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if time.monotonic() > deadline:
                t.fail(f"no window for {self.name} in {limit} s")
            r = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", f" {self.name}$"],
                               env=self.env, capture_output=True, text=True)
            self.win = r.stdout.split()[0] if r.stdout.split() else None
            time.sleep(0.5)

    def press(self, keys):
        subprocess.run(["xdotool", "windowfocus", "--sync", self.win], env=self.env, check=True,
                       timeout=60)
        subprocess.run(["xdotool", "key", "--window", self.win, keys], env=self.env, check=True,
                       timeout=60)

    def share(self, colour):
        """The share of the window, as X has it now, in colour."""
        path = os.path.join(t.HOME, f"{self.name}-window.ppm")
        subprocess.run(["import", "-window", self.win, "-depth", "8", path], env=self.env,
                       check=True, timeout=60)
        _, _, rgb = t.ppm_rgb(path)
        want = bytes(colour)
        return sum(1 for i in range(0, len(rgb), 3) if rgb[i:i + 3] == want) / (len(rgb) // 3)

    def ended(self, limit):
        """The viewer's exit status and what it said, once it has ended."""
        try:
            out = self.proc.communicate(timeout=limit)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            t.fail(f"{self.name}'s viewer did not end in {limit} s")
        return self.proc.returncode, out

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def open_kept(pages, xenv):
    """The first of pages (name: page) opened with `vmmctl browser URL
    --allow-host --no-view --name NAME`, the second in a window (Window), the
    two commands started together; each leaves its clone running. Returns
    the window."""
    (bare, bare_page), (shown, shown_page) = pages.items()
    proc = subprocess.Popen(
        [t.VMMCTL, "browser", f"http://10.0.2.2:{bare_page.port}/", "--allow-host", "--no-view",
         "--name", bare], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, IGNITION_HOME=t.HOME))
    window = Window(shown, [f"http://10.0.2.2:{shown_page.port}/", "--allow-host"], xenv)
    try:
        out, _ = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    if proc.returncode != 0 or "runs without a window" not in out:
        window.kill()
        t.fail(f"vmmctl browser --no-view --name {bare}: exit {proc.returncode}\n{out}")
    window.wait_shown()
    for name in pages:
        st = t.status(name)
        if not st["disposable"] or st["state"] != "running":
            window.kill()
            t.fail(f"{name}: {st['state']}, disposable {st['disposable']}")
    return window


def two_clones(pages, xenv):
    """Two clones at once, each drawing its own page (the second in its
    window too); each has a MAC of its own. Returns (the MACs, the window)."""
    window = open_kept(pages, xenv)
    macs = {}
    for (name, page), other in zip(pages.items(), reversed(pages.values())):
        rows = wait_screen(name, page.colour, 0.8, "its page")
        if share(rows, other.colour) > 0.01:
            t.fail(f"{name} shows the other clone's page ({share(rows, other.colour):.0%})")
        macs[name] = guest_mac(name)
        agent(name).close()
    colour = pages[window.name].colour
    if window.share(colour) < 0.8:
        t.fail(f"{window.name}'s window does not show its page ({window.share(colour):.0%})")
    if len(set(macs.values())) != len(macs):
        t.fail(f"the clones report the same MAC: {macs}")
    print(f"two clones at once drew their own pages ({window.name} in its window too); their "
          f"guests report MACs {macs}")
    return macs, window


def relaunch(name, page, other_name, other_page, mac):
    """vmmctl relaunch brings a clone back to the warm base: the start page,
    the clone still disposable, its own MAC and its --allow-host; the other
    clone is untouched."""
    pid = t.status(name)["pid"]
    logs = logs_now(name)
    r = t.vmmctl("relaunch", name, timeout=300)
    if f"relaunched from {BASE}" not in r.stdout:
        t.fail(f"vmmctl relaunch {name}: {r.stdout!r}")
    st = t.status(name)
    if st["state"] != "running" or st["pid"] in (0, pid) or not st["disposable"]:
        t.fail(f"after relaunch: {st['state']}, pid {st['pid']} (was {pid}), "
               f"disposable {st['disposable']}")
    s = agent(name)  # the guest runs: the start page is its own, not the restored frame only
    rows = wait_screen(name, START_PAGE, 0.9, "the start page")
    if share(rows, page.colour) > 0.01:
        t.fail(f"{name} still shows its page after the relaunch ({share(rows, page.colour):.0%})")
    if "host loopback at 10.0.2.2" not in worker_log(name)[logs[1]:]:
        t.fail(f"{name} was relaunched without --allow-host's host loopback")
    relaunched_mac = guest_mac(name, logs)
    if relaunched_mac != mac:
        t.fail(f"{name} reports MAC {relaunched_mac} after the relaunch, {mac} before")
    if screen_share(other_name, other_page.colour) < 0.8:
        t.fail(f"relaunching {name} changed {other_name}'s screen")
    s.close()
    # The guest itself reaches the host's page: from its serial console's
    # shell, which the echoed command cannot fake (it holds no "<title>").
    t.vmmctl("console", name, stdin=f"busybox wget -q -O - http://10.0.2.2:{page.port}/\r")
    t.wait_log(name, f"<title>{page.title}</title>", 60)
    print(f"{name} relaunched to the warm base's start page, still reaching the host "
          f"(--allow-host kept); {other_name} untouched")


ATTACHED = re.compile(r"viewer ignition-view \(fd \d+\) attached")


def relaunch_in_window(window, page, mac, other_name, other_colour):
    """Ctrl+Alt+R in the clone's window brings it back to the warm base in
    the same window: a new worker, the same viewer attached to it, the start
    page on the clone's screen and in the window, still disposable, the same
    MAC; the other clone's screen stays other_colour."""
    name = window.name
    pid = t.status(name)["pid"]
    logs = logs_now(name)
    window.press("ctrl+alt+r")
    deadline = time.monotonic() + 300
    while (st := t.status(name))["state"] != "running" or st["pid"] in (0, pid):
        if time.monotonic() > deadline:
            t.fail(f"{name} did not run again within 300 s of Ctrl+Alt+R: {st['state']}")
        time.sleep(0.5)
    if not st["disposable"]:
        t.fail(f"{name} is no longer disposable after Ctrl+Alt+R")
    deadline = time.monotonic() + 60
    while not ATTACHED.search(worker_log(name)[logs[1]:]):
        if time.monotonic() > deadline:
            t.fail(f"{name}'s viewer did not attach to the relaunched worker within 60 s")
        time.sleep(0.5)
    if window.proc.poll() is not None:
        t.fail(f"{name}'s viewer ended after Ctrl+Alt+R: {window.ended(10)}")
    rows = wait_screen(name, START_PAGE, 0.9, "the start page")
    if share(rows, page.colour) > 0.01:
        t.fail(f"{name} still shows its page after Ctrl+Alt+R ({share(rows, page.colour):.0%})")
    deadline = time.monotonic() + 30
    while window.share(START_PAGE) < 0.9:
        if time.monotonic() > deadline:
            t.fail(f"{name}'s window does not show the start page after Ctrl+Alt+R "
                   f"({window.share(START_PAGE):.0%})")
        time.sleep(1)
    relaunched_mac = guest_mac(name, logs)
    if relaunched_mac != mac:
        t.fail(f"{name} reports MAC {relaunched_mac} after Ctrl+Alt+R, {mac} before")
    if screen_share(other_name, other_colour) < 0.8:
        t.fail(f"Ctrl+Alt+R in {name}'s window changed {other_name}'s screen")
    print(f"Ctrl+Alt+R in {name}'s window brought the warm base's start page back in the same "
          f"window; {other_name} untouched")


def gone(name, instance_dir, limit):
    """Waits until vmmd has removed name and its instance directory."""
    deadline = time.monotonic() + limit
    while t.vmmctl("status", name, ok=False).returncode != 1 or os.path.exists(instance_dir):
        if time.monotonic() > deadline:
            t.fail(f"{name} was not removed within {limit} s")
        time.sleep(0.5)


def ctrl_alt_x(window):
    """Ctrl+Alt+X in the window: the clone powers off and is removed, and the
    command (its viewer) ends with status 0, saying so."""
    instance_dir = t.status(window.name)["instance_dir"]
    window.press("ctrl+alt+x")
    code, out = window.ended(180)
    if code != 0 or f"guest {window.name} is gone" not in out:
        t.fail(f"Ctrl+Alt+X in {window.name}'s window: exit {code}, said {out!r}")
    gone(window.name, instance_dir, 30)
    print(f"Ctrl+Alt+X in {window.name}'s window discarded the clone")


def closing_the_window(xenv):
    """`vmmctl browser` without a URL, in a window: a clone on the start page.
    Closing the window (SDL's quit, which SIGTERM also makes) stops the clone
    at once and vmmd removes it."""
    window = Window("closed", [], xenv)
    try:
        window.wait_shown()
        instance_dir = t.status(window.name)["instance_dir"]
        if window.share(START_PAGE) < 0.9:
            t.fail(f"the window of a clone opened without a URL is not the start page "
                   f"({window.share(START_PAGE):.0%})")
        window.proc.send_signal(signal.SIGTERM)
        code, out = window.ended(60)
        if code != 0 or f"guest {window.name} stopped" not in out:
            t.fail(f"closing {window.name}'s window: exit {code}, said {out!r}")
        gone(window.name, instance_dir, 30)
    finally:
        window.kill()
    print("closing a clone's window discarded it")


def stop_all(names):
    for name in names:
        t.vmmctl("stop", name, timeout=120)
    deadline = time.monotonic() + 30
    while json.loads(t.vmmctl("--json", "list").stdout)["guests"]:
        if time.monotonic() > deadline:
            t.fail("the stopped clones were not removed")
        time.sleep(0.5)
    no_clone_left()


def kept_clones():
    for tool in ("Xvfb", "xdotool", "import"):
        if not shutil.which(tool):
            t.fail(f"{tool} is missing: run tools/setup")
    pages = {"left": ColourPage(COLOUR), "shown": ColourPage(OTHER_COLOUR)}
    xvfb, display = start_xvfb()
    xenv = dict(os.environ, IGNITION_HOME=t.HOME, DISPLAY=display, SDL_VIDEODRIVER="x11")
    window = None
    try:
        started = time.monotonic()
        macs, window = two_clones(pages, xenv)
        print(f"  ({time.monotonic() - started:.0f} s from the two commands to both checked)")
        started = time.monotonic()
        relaunch("left", pages["left"], "shown", pages["shown"], macs["left"])
        print(f"  ({time.monotonic() - started:.0f} s from the relaunch to all checked)")
        started = time.monotonic()
        # left shows the start page since its own relaunch.
        relaunch_in_window(window, pages["shown"], macs["shown"], "left", START_PAGE)
        print(f"  ({time.monotonic() - started:.0f} s from Ctrl+Alt+R to all checked)")
        started = time.monotonic()
        ctrl_alt_x(window)
        stop_all(["left"])
        print("vmmctl stop removed the other clone")
        closing_the_window(xenv)
        no_clone_left()
        print(f"  ({time.monotonic() - started:.0f} s for Ctrl+Alt+X, vmmctl stop and the "
              f"closed window); nothing of the clones is left")
    finally:
        if window:
            window.kill()
        xvfb.terminate()
        xvfb.wait()
        for page in pages.values():
            page.close()


def stopped(signum, frame):
    """meson's time limit (SIGTERM): the guests and vmmd go too, through
    main's cleanup, instead of running on after the test."""
    sys.exit(f"FAIL: stopped by signal {signum} (the suite's time limit?)")


def main():
    signal.signal(signal.SIGTERM, stopped)
    require_assets()
    image = os.path.join(os.environ["IGNITION_GUEST_DIR"], "browser.ext4")
    if not os.path.exists(image):
        sys.exit(f"FAIL: {image} is missing: run tools/build-guest --image browser")
    try:
        first = os.path.join(t.HOME, "first.png")
        out, took = browser("--screenshot", first, timeout=1200)
        for said in ("GUEST: browser ready", "warm base 'browser' written"):
            if said not in out:
                t.fail(f"the first use did not say {said!r}:\n{out}")
        names = [s["name"] for s in json.loads(t.vmmctl("--json", "snapshots").stdout)["snapshots"]]
        if names != [BASE]:
            t.fail(f"snapshots after the first use: {names}")
        _, _, rows = png_pixels(first)
        if share(rows, START_PAGE) < 0.9:
            t.fail(f"the first screenshot is not the start page ({share(rows, START_PAGE):.0%})")
        no_clone_left()
        print(f"first use: warm base made and the start page written in {took:.0f} s")

        page = os.path.join(t.HOME, "page.png")
        _, took = browser("file:///etc/hostname", "--screenshot", page, timeout=600)
        w, h, rows = png_pixels(page)
        white = share(rows, (255, 255, 255))
        corner = [p for row in rows[:40] for p in row[:200] if sum(p) < 200]
        if white < 0.9 or not corner:
            t.fail(f"file:///etc/hostname: {white:.0%} white, {len(corner)} dark pixels at the top "
                   f"left; the start page is {share(rows, START_PAGE):.0%}")
        no_clone_left()
        print(f"a clone opened file:///etc/hostname and drew it in {took:.0f} s")

        host_page()

        kept_clones()
    finally:
        t.cleanup()
        # A failed run keeps its logs and PNGs for a look, not the warm base
        # (half a gigabyte on disk).
        shutil.rmtree(os.path.join(t.HOME, "snapshots"), ignore_errors=True)
    t.passed()


if __name__ == "__main__":
    main()
