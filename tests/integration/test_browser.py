"""vmmctl browser end to end on the emu backend, with the real browser image
(tools/build-guest --image browser). Not part of tools/test: Firefox's first
start on one emulated vCPU takes minutes, and its reliability is still being
measured (docs/BROWSER.md); run it with `meson test -C build --suite browser`.

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
4. `--no-view --name` leaves a disposable clone running, which answers on
   its agent; `vmmctl stop` removes it."""

import http.server
import json
import os
import secrets
import subprocess
import sys
import threading
import time

import test_vmmctl as t
from guest import require_assets
from test_browser_agent import ask
from test_vsock import connect

START_PAGE = (0x24, 0x42, 0x5e)


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


class ColourPage:
    """A page on the host's 127.0.0.1 that is one solid colour, with a random title."""

    def __init__(self):
        title = "page-" + secrets.token_hex(6)
        body = (f"<!doctype html><html><head><title>{title}</title></head><body style="
                f"'margin:0;background:#c03090;height:100vh'></body></html>").encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

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
        browser(url, "--allow-host", "--screenshot", shot, timeout=600)
        _, _, rows = png_pixels(shot)
        if share(rows, COLOUR) < 0.8:
            t.fail(f"--allow-host: the host's page covers {share(rows, COLOUR):.0%} of the screen")
        shut = os.path.join(t.HOME, "shut.png")
        browser(url, "--screenshot", shut, timeout=600)
        _, _, rows = png_pixels(shut)
        if share(rows, COLOUR) > 0.01:
            t.fail(f"without --allow-host the host's page loaded ({share(rows, COLOUR):.0%})")
        no_clone_left()
        print("the host's page: drawn with --allow-host, not reached without it")
    finally:
        page.close()


def main():
    require_assets()
    image = os.path.join(os.environ["IGNITION_GUEST_DIR"], "browser.ext4")
    if not os.path.exists(image):
        sys.exit(f"FAIL: {image} is missing: run tools/build-guest --image browser")
    try:
        first = os.path.join(t.HOME, "first.png")
        out, took = browser("--screenshot", first, timeout=1500)
        for said in ("GUEST: browser ready", "warm base 'browser' written"):
            if said not in out:
                t.fail(f"the first use did not say {said!r}:\n{out}")
        names = [s["name"] for s in json.loads(t.vmmctl("--json", "snapshots").stdout)["snapshots"]]
        if names != ["browser"]:
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

        out, _ = browser("--no-view", "--name", "kept", timeout=300)
        st = json.loads(t.vmmctl("--json", "status", "kept").stdout)
        if not st["disposable"] or st["state"] != "running":
            t.fail(f"vmmctl browser --no-view: {st['state']}, disposable {st['disposable']}")
        s, line = connect(st["vsock_socket"], 1024)
        if not s or ask(s, b"ping") != "ok pong":
            t.fail(f"the kept clone's agent did not answer ({line!r})")
        s.close()
        t.vmmctl("stop", "kept", timeout=120)
        deadline = time.monotonic() + 30
        while json.loads(t.vmmctl("--json", "list").stdout)["guests"]:
            if time.monotonic() > deadline:
                t.fail("the stopped clone was not removed")
            time.sleep(0.5)
        print("a clone kept without a window answered on its agent and went with vmmctl stop")
    finally:
        t.cleanup()
    t.passed()


if __name__ == "__main__":
    main()
