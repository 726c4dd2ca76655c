"""The network through vmmctl and vmmd (traffic only on this machine's
loopback): `vmmctl start --publish 127.0.0.1:P:8080` makes a guest whose busybox
httpd on 8080 the host reaches at 127.0.0.1:P, and `vmmctl status` shows its
network and publish; a snapshot of it fanned out to two clones with
`--publish 127.0.0.1:Q:8080` gives the clones host ports Q and Q+1 (each its
own, none the snapshot's P), and each clone answers there with the httpd it
inherited, from its own MAC and lease. A clone keeps the snapshot's closed
host loopback unless restored with --host-loopback. Bad network options get
clear errors."""

import json
import re
import socket
import time
import urllib.request

import test_vmmctl as t
from guest import require_assets
from test_net import TokenServer

LEASE = r"GUEST: network eth0 (10\.0\.2\.\d+) ([0-9a-f:]{17})"


def free_port(count=1):
    """A host port with count free ports from it on."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count > 65535:
            continue
        ok = True
        for p in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
        if ok:
            return base
    t.fail("no free host ports")


def fetch(port, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/page", timeout=10) as r:
                return r.read().decode().strip()
        except OSError as e:
            if time.monotonic() > deadline:
                t.fail(f"nothing answered on 127.0.0.1:{port}: {e}")
            time.sleep(1)


def leases(name, count, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.findall(LEASE, t.console_log(name))
        if len(found) >= count:
            return found
        time.sleep(0.2)
    t.fail(f"{name}: fewer than {count} DHCP leases in {timeout}s")


def bad_options():
    for args, text in ((("start", "x1", "--net", "tap"), "network 'tap'"),
                       (("start", "x2", "--publish", "80"), "publish 80"),
                       (("start", "x3", "--net", "none", "--publish", "8080:80"),
                        "not with --net none")):
        r = t.vmmctl(*args, ok=False)
        if r.returncode != 1 or text not in r.stderr:
            t.fail(f"vmmctl {' '.join(args)}: exit {r.returncode}, said {r.stderr!r}")


def fetch_from_host(name, server, marker):
    """The guest's wget of the token page at 10.0.2.2: True when the token came.
    (No -T: busybox 1.35's wget crashes with it here; a closed host loopback
    fails the connection at once.)"""
    t.vmmctl("console", name, stdin=f"wget -q -O - http://10.0.2.2:{server.port}/token; "
             f"echo {marker}-$((2+3))\r")
    t.wait_log(name, f"{marker}-5", timeout=90)
    return server.token in t.console_log(name)


def host_loopback_on_restore(clones):
    """The snapshot's network has no host loopback, and a clone keeps that;
    `restore --host-loopback` opens it for that one clone (`status` says
    user,host-loopback), and a snapshot without a network refuses it."""
    server = TokenServer()
    try:
        if fetch_from_host(clones[0], server, "CLOSED"):
            t.fail(f"{clones[0]} reached the host's loopback without host-loopback")
        t.vmmctl("restore", "websnap", "--name", "opened", "--host-loopback", timeout=300)
        if t.status("opened")["config"]["net"] != "user,host-loopback":
            t.fail(f"restore --host-loopback: network {t.status('opened')['config']['net']!r}")
        leases("opened", 1)
        if not fetch_from_host("opened", server, "OPENED"):
            t.fail("restore --host-loopback: the clone did not reach the host's 127.0.0.1: "
                   f"{t.console_log('opened')[-400:]!r}")
    finally:
        server.close()
    t.vmmctl("start", "quiet", "--no-gui", "--mem", "256M", "--net", "none",
             timeout=t.BOOT_TIMEOUT)
    t.wait_log("quiet", "GUEST: shell ready")
    t.vmmctl("snapshot", "quiet", "quietsnap", "--stop", timeout=300)
    r = t.vmmctl("restore", "quietsnap", "--host-loopback", ok=False)
    if r.returncode != 1 or "has no network" not in r.stderr:
        t.fail(f"restore --host-loopback of a snapshot without a network: {r.stderr!r}")
    print("ok: restore --host-loopback opens the host's loopback to that clone only")


def main():
    require_assets()
    port = free_port()
    clone_port = free_port(2)
    try:
        bad_options()
        t.vmmctl("start", "web", "--no-gui", "--mem", "512M",
                 "--publish", f"127.0.0.1:{port}:8080", timeout=t.BOOT_TIMEOUT)
        (ip, mac), = leases("web", 1)
        st = t.status("web")["config"]
        if st["net"] != "user" or st["publish"] != [f"127.0.0.1:{port}:8080"]:
            t.fail(f"status shows network {st['net']!r}, publish {st['publish']}")
        text = t.vmmctl("status", "web").stdout
        if "network:  user" not in text or f"publish:  127.0.0.1:{port}:8080" not in text:
            t.fail(f"status does not show the network: {text!r}")
        t.vmmctl("console", "web", stdin="mkdir -p /tmp/www && echo page-of-web >/tmp/www/page "
                 "&& httpd -p 8080 -h /tmp/www && echo HTTPD-$((1+1))\r")
        t.wait_log("web", "HTTPD-2", timeout=60)
        if fetch(port) != "page-of-web":
            t.fail("the published port did not reach the guest's httpd")
        print(f"ok: web ({mac}) serves on 127.0.0.1:{port}")
        t.vmmctl("snapshot", "web", "websnap", timeout=300)
        r = t.vmmctl("--json", "fanout", "websnap", "2", "--publish",
                     f"127.0.0.1:{clone_port}:8080", timeout=300)
        clones = [g["name"] for g in json.loads(r.stdout)["guests"]]
        macs = {mac}
        for i, name in enumerate(clones):
            pub = t.status(name)["config"]["publish"]
            if pub != [f"127.0.0.1:{clone_port + i}:8080"]:
                t.fail(f"{name} publishes {pub}")
            _, clone_mac = leases(name, 1)[-1]  # after its link bounced
            macs.add(clone_mac)
            if fetch(clone_port + i) != "page-of-web":
                t.fail(f"{name}'s httpd did not answer on 127.0.0.1:{clone_port + i}")
        if len(macs) != 3:
            t.fail(f"the clones' MACs are not their own: {macs}")
        if fetch(port) != "page-of-web":
            t.fail("the original stopped answering once its clones ran")
        print(f"ok: clones {', '.join(clones)} answer on 127.0.0.1:{clone_port} and "
              f"{clone_port + 1} with MACs of their own")
        host_loopback_on_restore(clones)
    finally:
        t.cleanup()
    t.passed()


if __name__ == "__main__":
    main()
