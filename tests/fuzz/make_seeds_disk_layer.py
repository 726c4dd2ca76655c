#!/usr/bin/env python3
"""Writes the seeds of fuzz_disk_layer and fuzz_disk_layer_io into
tests/fuzz/seeds/: layer descriptions (layout in tests/fuzz/disk_layer.h) that
open, that are refused for each reason the header checks give, and guest I/O
over them (layout in tests/fuzz/fuzz_disk_layer_io.c)."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# Header fields an edit names (disk_layer.h's layer_fields).
VERSION, BLOCK_SIZE, DISK_SIZE, BITMAP_OFFSET, BITMAP_BYTES, DATA_OFFSET, BASE_SIZE, \
    MTIME_SEC, MTIME_NSEC, PATH_LEN, CRC, MAGIC = range(12)
SET, ADD, GEOMETRY, FLIP = range(4)
V1, STALE_CRC, CUT = 1, 2, 4
READ, WRITE, ZEROES, FLUSH, REOPEN = range(5)


def layer(sectors=135, flags=0, fill=0, cut=0, edits=()):
    """sectors: base size is 512 * (1 + sectors); 135 gives 17 blocks."""
    out = struct.pack("<HBBIB", sectors, flags, fill, cut, len(edits))
    for field, how, value in edits:
        out += struct.pack("<BBQ", field, how, value & (2**64 - 1))
    return out


def ops(*items):
    return b"".join(struct.pack("<BIH", kind, offset, length) for kind, offset, length in items)


def write(directory, name, data):
    path = os.path.join(HERE, "seeds", directory)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "wb") as f:
        f.write(data)


BASE = 512 * 136  # layer()'s default base: 16 whole blocks and a 512-byte one

HEADERS = {
    "good": layer(),
    "good-v1": layer(flags=V1),
    "all-present": layer(fill=0xFF),
    "one-sector": layer(sectors=0, fill=0x01),
    # A consistent geometry for one block over a 17-block base: the header
    # that overran the bitmap.
    "smaller-than-base": layer(edits=[(0, GEOMETRY, 4096)]),
    "smaller-than-base-v1": layer(flags=V1, edits=[(0, GEOMETRY, 4096)]),
    "larger-than-base": layer(edits=[(0, GEOMETRY, 1 << 19)]),
    "base-size-follows": layer(edits=[(0, GEOMETRY, 4096), (BASE_SIZE, SET, 4096)]),
    "stale-checksum": layer(flags=STALE_CRC, edits=[(DISK_SIZE, ADD, -1)]),
    "bad-checksum": layer(edits=[(CRC, FLIP, 3)]),
    "version-3": layer(edits=[(VERSION, SET, 3)]),
    "block-size": layer(edits=[(BLOCK_SIZE, SET, 512)]),
    "bitmap-moved": layer(edits=[(BITMAP_OFFSET, ADD, 8)]),
    "bitmap-bytes": layer(edits=[(BITMAP_BYTES, ADD, 1)]),
    "data-offset": layer(edits=[(DATA_OFFSET, SET, 4096)]),
    "mtime": layer(edits=[(MTIME_NSEC, ADD, 1)]),
    "path-too-long": layer(edits=[(PATH_LEN, SET, 4000)]),
    "path-empty": layer(flags=V1, edits=[(PATH_LEN, SET, 0)]),
    "magic": layer(edits=[(MAGIC, FLIP, 0)]),
    "cut-in-bitmap": layer(flags=CUT, cut=4100),
    "cut-in-data": layer(flags=CUT, cut=8192 + 5000, fill=0xFF),
}

IO = {
    "good": layer() + ops((WRITE, 100, 10), (READ, 0, 4096), (WRITE, 4000, 9000),
                          (READ, 3000, 12000), (FLUSH, 0, 0), (REOPEN, 0, 0),
                          (READ, 0, 12288)),
    "far-end": layer() + ops((WRITE, BASE - 700, 700), (READ, BASE - 4096, 4096),
                             (WRITE, BASE - 1, 2), (READ, BASE, 1), (ZEROES, BASE - 512, 512),
                             (READ, BASE - 600, 600)),
    "zeroes": layer(fill=0x0F) + ops((ZEROES, 0, 8192), (ZEROES | 8, 5000, 9000),
                                     (READ, 0, 12288), (REOPEN, 0, 0), (READ, 4096, 8192)),
    "all-present": layer(fill=0xFF) + ops((READ, 0, 12288), (WRITE, 4095, 2),
                                          (READ, 4000, 200)),
    "v1": layer(flags=V1, fill=0xA5) + ops((READ, 0, 8192), (WRITE, 8192, 4096),
                                           (FLUSH, 0, 0), (READ, 8000, 4500)),
    "short-base": layer(sectors=9, fill=0x01) + ops((WRITE, 0, 5120), (READ, 0, 5120),
                                                    (WRITE, 4096, 2048), (READ, 5000, 200)),
    "smaller-than-base": layer(edits=[(0, GEOMETRY, 4096)])
                         + ops((WRITE, BASE - 4096, 4096), (READ, BASE - 4096, 4096)),
    "cut": layer(flags=CUT, cut=8192 + 100, fill=0xFF) + ops((READ, 0, 4096), (WRITE, 0, 4096),
                                                              (READ, 0, 4096)),
}

for name, data in HEADERS.items():
    write("fuzz_disk_layer", name, data)
for name, data in IO.items():
    write("fuzz_disk_layer_io", name, data)
