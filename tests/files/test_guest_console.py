#!/usr/bin/env python3
"""The integration tests' console matcher (tests/integration/guest.py) with
the guest's own asynchronous lines landing in the middle of shell output, as
they do after a restore: no guest, just the log a guest could write."""

import re
import sys

sys.path.insert(0, sys.argv[1])
from guest import Guest  # noqa: E402

LEASE = rb"GUEST: network eth0 (10\.0\.2\.\d+) ([0-9a-f:]{17})"
ASYNC = b"GUEST: network eth0 10.0.2.15 02:11:22:33:44:55\r\n"
failures = []


def check(what, cond):
    if not cond:
        failures.append(what)


def console(log):
    g = Guest.__new__(Guest)  # no vmmd: only the matcher's state
    g.log, g.seen, g.async_seen = log, 0, 0
    return g


def main():
    # Mid-line, between two writes of od's output: the line reads whole.
    g = console(b"ignition:/root# od\r\n0a0b" + ASYNC + b"0c0d\r\nEV-DONE\r\n")
    m = g._search(re.compile(rb"\n([0-9a-f]*)\r?\nEV-DONE"))
    check("a line split by the network milestone is read whole",
          m is not None and m.group(1) == b"0a0b0c0d")
    check("the cursor ends after what matched", g.log[g.seen:] == b"\r\n")
    # The milestone is still there for a test that waits for it.
    m = g._search(re.compile(LEASE))
    check("the milestone is matched after the output around it was read",
          m is not None and m.group(1) == b"10.0.2.15")
    # Between two lines of an answer.
    g = console(b"\r\nMODE\r\n1024x768\r\n" + ASYNC + b"MODES-DONE\r\n")
    m = g._search(re.compile(rb"\n(\S*)\r?\nMODES-DONE"))
    check("a milestone between two lines is skipped",
          m is not None and m.group(1) == b"1024x768")
    # Nothing else is hidden: output that does not match still does not.
    g = console(b"\r\nGUEST: networking broke\r\nRC=1\r\n")
    m = g._search(re.compile(rb"\nRC=0"))
    check("other output is matched as it is", m is None)
    m = g._search(re.compile(rb"GUEST: networking broke\r\nRC=(\d)"))
    check("lines that only resemble a milestone stay", m is not None and m.group(1) == b"1")
    # Two milestones, matched in order, each once.
    g = console(ASYNC + b"x\r\n" + ASYNC.replace(b"15", b"16"))
    a = g._search(re.compile(LEASE))
    b = g._search(re.compile(LEASE))
    c = g._search(re.compile(LEASE))
    check("milestones are matched in order, each once",
          a.group(1) == b"10.0.2.15" and b.group(1) == b"10.0.2.16" and c is None)
    for f in failures:
        print("FAIL:", f)
    if failures:
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
