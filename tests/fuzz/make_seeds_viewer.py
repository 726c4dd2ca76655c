#!/usr/bin/env python3
"""Writes the seeds of fuzz_viewer into tests/fuzz/seeds/fuzz_viewer/: what a
guest worker sends a viewer (input layout in tests/fuzz/fuzz_viewer.c), with
consistent scanout headers, so that mutations start from mappings that open."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "fuzz_viewer")

B8G8R8X8 = 2
B8G8R8A8 = 1
HEADER_SIZE = 4096
HEADER_BYTES = 48  # sizeof(struct scanout_shm_header)


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field_varint(num, v):
    return varint(num << 3) + varint(v) if v else b""


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def frame(body):
    return struct.pack("<I", len(body)) + body


def envelope(num, message):
    return frame(field_bytes(num, message))


def scanout_info(w, h, stride, fmt, generation, data_offset, enabled=True, scanout_id=0):
    object_size = data_offset + stride * h
    return envelope(4, field_varint(1, scanout_id) + field_varint(2, int(enabled)) +
                    field_varint(3, w) + field_varint(4, h) + field_varint(5, stride) +
                    field_varint(6, fmt) + field_varint(7, generation) +
                    field_varint(8, data_offset) + field_varint(9, object_size))


def rect(x, y, w, h):
    return field_varint(1, x) + field_varint(2, y) + field_varint(3, w) + field_varint(4, h)


def damage(sequence, rects, scanout_id=0):
    body = field_varint(1, scanout_id) + field_varint(2, sequence)
    for r in rects:
        body += field_bytes(3, rect(*r))
    return envelope(5, body + field_varint(4, 123456789))


def cursor_image(w, h, hot_x, hot_y):
    pixels = bytes((i * 37) & 0xFF for i in range(w * h * 4))
    return envelope(6, field_varint(2, w) + field_varint(3, h) + field_varint(4, hot_x) +
                    field_varint(5, hot_y) + field_bytes(6, pixels))


def control(pointer=(0, 0), window=(0, 0), drawable=(0, 0), image=(0, 0), scale=1,
            size_delta=0):
    ints = list(pointer) + list(window) + list(drawable) + list(image) + [scale]
    return (struct.pack("<i", size_delta) + bytes(HEADER_BYTES) +
            struct.pack("<9I", *[v & 0xFFFFFFFF for v in ints]))


SEEDS = {
    # A 64x32 B8G8R8X8 scanout in a 128x64 window, pointer inside it.
    "scanout-64x32": control((10, 5), (128, 64), (128, 64), (64, 32), 2) +
    scanout_info(64, 32, 64 * 4, B8G8R8X8, 1, HEADER_SIZE),
    # The same with damage: all of it, a rectangle across the corner, one outside.
    "scanout-damage": control((127, 63), (128, 64), (128, 64), (64, 32), 1) +
    scanout_info(64, 32, 64 * 4, B8G8R8X8, 1, HEADER_SIZE) +
    damage(1, [(0, 0, 64, 32), (60, 30, 10, 10), (100, 0, 1, 1)]),
    # A mode change to a padded 48x16 B8G8R8A8 scanout on a HiDPI window, its
    # damage, then the scanout switched off.
    "mode-change": control((20, 10), (100, 50), (200, 100), (48, 16), 2) +
    scanout_info(64, 32, 64 * 4, B8G8R8X8, 1, HEADER_SIZE) +
    scanout_info(48, 16, 64 * 4, B8G8R8A8, 2, 2 * HEADER_SIZE) +
    damage(2, [(8, 4, 16, 8)]) +
    scanout_info(0, 0, 0, 0, 3, HEADER_SIZE, enabled=False),
    # A 16x16 cursor, then an empty one (the default arrow).
    "cursor": control((-5, 70), (64, 32), (64, 32), (64, 32), 3) +
    cursor_image(16, 16, 1, 2) + envelope(6, b""),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
