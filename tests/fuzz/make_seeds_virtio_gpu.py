#!/usr/bin/env python3
"""Writes the seeds of fuzz_virtio_gpu into tests/fuzz/seeds/fuzz_virtio_gpu/:
sessions shaped like what Linux's virtio-gpu driver sends (record layout in
tests/fuzz/fuzz_virtio_gpu.c), so that mutations start deep in the device."""
import os
import struct

RAM = 0x40000000
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "fuzz_virtio_gpu")

FENCE = 1
ROOM = {0: 0, 24: 2 << 4, 408: 4 << 4, 1056: 5 << 4}


def hdr(cmd, flags=0, fence=0):
    return struct.pack("<IIQIB3x", cmd, flags, fence, 0, 0)


def control(body, room=24, pieces=1):
    kind = ROOM[room] | (pieces - 1) << 2
    return struct.pack("<BH", kind, len(body)) + body


def cursor(body, room=0):
    return struct.pack("<BH", 1 | ROOM[room], len(body)) + body


def host(body):
    return struct.pack("<BH", 2, len(body)) + body


def rect(x, y, w, h):
    return struct.pack("<IIII", x, y, w, h)


def display_info():
    return control(hdr(0x100), room=408)


def edid(scanout):
    return control(hdr(0x10A) + struct.pack("<II", scanout, 0), room=1056)


def create(rid, fmt, w, h):
    return control(hdr(0x101) + struct.pack("<IIII", rid, fmt, w, h))


def attach(rid, entries, pieces=1):
    body = hdr(0x106) + struct.pack("<II", rid, len(entries))
    for gpa, length in entries:
        body += struct.pack("<QII", gpa, length, 0)
    return control(body, pieces=pieces)


def set_scanout(scanout, rid, r):
    return control(hdr(0x103) + r + struct.pack("<II", scanout, rid))


def transfer(rid, r, offset, fenced=False):
    return control(hdr(0x105, FENCE if fenced else 0, 7 if fenced else 0) + r +
                   struct.pack("<QII", offset, rid, 0))


def flush(rid, r):
    return control(hdr(0x104) + r + struct.pack("<II", rid, 0))


def unref(rid):
    return control(hdr(0x102) + struct.pack("<II", rid, 0))


def detach(rid):
    return control(hdr(0x107) + struct.pack("<II", rid, 0))


def cursor_cmd(cmd, scanout, x, y, rid=0, hot=(0, 0)):
    return cursor(hdr(cmd) + struct.pack("<IIII", scanout, x, y, 0) +
                  struct.pack("<IIII", rid, hot[0], hot[1], 0))


def request_mode(scanout, w, h):
    return host(struct.pack("<BBHH", 1, scanout, w, h))


def save_and_load():
    return host(b"\x00")


def framebuffer(rid=1, w=64, h=32):
    # B8G8R8X8 like Linux's fbdev, backing in two page runs, scanned out.
    return (create(rid, 2, w, h) +
            attach(rid, [(RAM + 0x1000, w * h * 2), (RAM + 0x9000, w * h * 2)], pieces=2) +
            set_scanout(0, rid, rect(0, 0, w, h)))


def cursor_resource(rid=2):
    # B8G8R8A8 64x64, transferred with a fence before UPDATE_CURSOR.
    return (create(rid, 1, 64, 64) + attach(rid, [(RAM + 0x20000, 64 * 64 * 4)]) +
            transfer(rid, rect(0, 0, 64, 64), 0, fenced=True))


SEEDS = {
    # Probe, fbdev setup, a console update, a cursor, a resize, teardown.
    "seed-boot": (display_info() + edid(0) + edid(1) + framebuffer() +
                  transfer(1, rect(8, 4, 16, 8), 4 * 256 + 8 * 4) + flush(1, rect(8, 4, 16, 8)) +
                  cursor_resource() + cursor_cmd(0x300, 0, 10, 10, 2, (1, 1)) +
                  cursor_cmd(0x301, 0, 20, 12) + request_mode(1, 1024, 768) + display_info() +
                  edid(1) + set_scanout(0, 0, rect(0, 0, 64, 32)) + unref(1) + detach(2) +
                  unref(2)),
    # A session saved and loaded back, then used.
    "seed-snapshot": (framebuffer() + transfer(1, rect(0, 0, 64, 32), 0) + cursor_resource() +
                      cursor_cmd(0x300, 0, 5, 6, 2) + set_scanout(1, 1, rect(16, 8, 32, 16)) +
                      save_and_load() + flush(1, rect(0, 0, 64, 32)) +
                      transfer(1, rect(1, 1, 4, 4), 256 + 4)),
    # Two displays, mirrored and split, flushes across both.
    "seed-multihead": (request_mode(1, 800, 600) + framebuffer(1, 128, 32) +
                       set_scanout(1, 1, rect(64, 0, 64, 32)) +
                       transfer(1, rect(60, 0, 8, 32), 60 * 4) + flush(1, rect(60, 0, 8, 32)) +
                       set_scanout(1, 1, rect(0, 0, 128, 32)) + flush(1, rect(0, 0, 128, 32))),
    # Requests the device refuses: short, unknown, out of range.
    "seed-refused": (control(hdr(0x100)[:20]) + control(hdr(0x205), room=24) +
                     create(0, 2, 8, 8) + create(1, 9, 8, 8) + create(1, 2, 16385, 1) +
                     create(1, 2, 8, 8) + attach(1, [(RAM - 16, 64)]) + attach(1, []) +
                     transfer(1, rect(4, 4, 8, 8), 0) + set_scanout(2, 1, rect(0, 0, 8, 8)) +
                     flush(1, rect(0xFFFFFFF0, 0, 32, 1)) + cursor_cmd(0x300, 5, 0, 0, 1) +
                     control(hdr(0x100), room=0)),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        assert len(data) < 64 * 1024
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
