#!/usr/bin/env python3
"""Writes the seeds of fuzz_snapshot_manifest into
tests/fuzz/seeds/fuzz_snapshot_manifest/: well-formed manifest files (layout in
vmmd/storage/snapshot_file.h) behind the harness's mode byte, so that mutations start
from files the parser accepts."""
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds",
                   "fuzz_snapshot_manifest")


def manifest(memory_size, region_size, body, region_crcs=None):
    count = (memory_size + region_size - 1) // region_size
    if region_crcs is None:
        region_crcs = [zlib.crc32(bytes(min(region_size, memory_size - i * region_size)))
                       for i in range(count)]
    table = b"".join(struct.pack("<I", c) for c in region_crcs)
    head = b"IGNTSNAP" + struct.pack("<IIQIIQII12x", 1, 64, memory_size, region_size, count,
                                     len(body), zlib.crc32(table), zlib.crc32(body))
    return head + struct.pack("<I", zlib.crc32(head)) + table + body


SEEDS = {
    # 512 MiB in 1 MiB regions, a body like an encoded machine state.
    "desktop_512m": manifest(512 << 20, 1 << 20, bytes(range(256)) * 4),
    # One page of memory and nothing in the body.
    "one_page": manifest(4096, 1 << 20, b""),
    # A partial last region, the smallest region size.
    "partial_region": manifest(5 * 65536 + 8192, 65536, b"\x08\x01\x12\x03emu"),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        for mode in (0, 1):
            with open(os.path.join(OUT, "%s.%d" % (name, mode)), "wb") as f:
                f.write(bytes([mode]) + data)


if __name__ == "__main__":
    main()
