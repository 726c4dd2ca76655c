#!/usr/bin/env python3
"""Writes the seeds of the harnesses for EDID, vmgenid, the kernel loader,
virtio-rng, virtio-console, the console host, the publisher's input,
virtio-vsock and virtio-net's refused frames: inputs that reach each parser's
working paths, in the formats their headers describe.
    tests/fuzz/make_seeds_devices.py tests/fuzz/seeds"""

import os
import struct
import sys

RAM_GPA = 0x40000000
QSIZE = 16


def desc_base(q):
    return 0x400 * q


def avail(q):
    return desc_base(q) + 0x100


def write(seeds, harness, name, data):
    d = os.path.join(seeds, f"fuzz_{harness}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def edid():
    rec = lambda w, h, s: struct.pack("<HHI", w, h, s)
    yield "common", rec(1280, 800, 1) + rec(1920, 1080, 2) + rec(1024, 768, 3)
    yield "edges", rec(64, 64, 0) + rec(4095, 4095, 7) + rec(4095, 64, 9) + rec(64, 4095, 10)
    yield "refused", rec(63, 800, 1) + rec(0, 0, 0) + rec(4096, 100, 2) + rec(65535, 65535, 3)


def vmgenid():
    rec = lambda op, off, width, value: struct.pack("<BHBQ", op, off, width, value)[:11].ljust(11, b"\0")
    ops = [rec(0, 0, 3, 0), rec(0, 8, 3, 0), rec(0, 15, 1, 0), rec(1, 0, 3, 0xdeadbeef),
           rec(2, 0, 0, 0), rec(0, 4, 2, 0), rec(3, 0, 0, 0x0123456789abcdef),
           rec(0, 0, 3, 0), rec(0, 0xff8, 3, 0), rec(0, 0x1010, 3, 0)]
    yield "all-ops", b"".join(ops)
    yield "generations", b"".join([rec(2, 0, 0, 0), rec(0, 0, 3, 0)] * 4)


def arm64_image(text_offset=0x80000, image_size=0x100000, body=256):
    head = bytearray(64)
    struct.pack_into("<QQQ", head, 8, text_offset, image_size, 0xa)
    struct.pack_into("<I", head, 56, 0x644D5241)
    return bytes(head) + bytes(range(256)) * (body // 256)


def efi_image():
    img = bytearray(arm64_image(body=1024))
    img[0:2] = b"MZ"
    pe = 0x80
    struct.pack_into("<I", img, 0x3c, pe)
    img[pe:pe + 4] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", img, pe + 4, 0xaa64, 1, 0, 0, 0, 0, 0)
    table = pe + 24
    # one section: raw size 0x200 at raw offset 0x200
    struct.pack_into("<8sIIII", img, table, b".text\0\0\0", 0x200, 0x1000, 0x200, 0x200)
    return bytes(img)


def kernel_loader():
    import gzip
    yield "raw", b"\x00" + arm64_image()
    yield "compressed", b"\x01" + arm64_image()
    yield "gzip-file", b"\x04" + gzip.compress(arm64_image(), 1)
    yield "efi-stub", b"\x00" + efi_image()
    yield "old-zero-size", b"\x00" + arm64_image(text_offset=0, image_size=0)


def ring(q, descs, heads, ram):
    """descs: (gpa offset, len, flags, next); heads: chain heads made available."""
    for i, (off, length, flags, nxt) in enumerate(descs):
        struct.pack_into("<QIHH", ram, desc_base(q) + 16 * i, RAM_GPA + off, length, flags, nxt)
    struct.pack_into("<HH", ram, avail(q), 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into("<H", ram, avail(q) + 4 + 2 * i, h)


def virtio_rng():
    ram = bytearray(0x2000)
    ring(0, [(0x1000, 64, 2, 0), (0x1100, 16, 3, 2), (0x1200, 48, 2, 0)], [0, 1], ram)
    yield "two-chains", b"\x00\x01" + bytes(ram)
    ram = bytearray(0x2000)
    ring(0, [(0x1800, 32, 4, 0)], [0], ram)  # indirect table at 0x1800, two entries
    struct.pack_into("<QIHH", ram, 0x1800, RAM_GPA + 0x1000, 64, 3, 1)
    struct.pack_into("<QIHH", ram, 0x1810, RAM_GPA + 0x1100, 64, 2, 0)
    yield "indirect", b"\x02\x02" + bytes(ram)


def virtio_console():
    ram = bytearray(0x2000)
    ring(0, [(0x1000, 64, 2, 0), (0x1040, 64, 2, 0)], [0, 1], ram)      # receive buffers
    ring(1, [(0x1800, 6, 0, 0), (0x1810, 8, 1, 2), (0x1820, 4, 0, 0)], [0, 1], ram)  # transmit
    ram[0x1800:0x1806] = b"hello\n"
    ram[0x1810:0x1818] = b"two-part"
    ram[0x1820:0x1824] = b" ok\n"
    typed = b"typed into hvc0\n"
    yield "both-ways", b"\x00\x02" + struct.pack("<H", len(typed)) + typed + bytes(ram)
    yield "event-idx", b"\x01\x03" + struct.pack("<H", 0) + bytes(ram)


def console_host():
    op = lambda o, a, b: bytes([o, a, b])
    yield "type-and-read", (op(0, 0, 0) + op(1, 0, 6) + b"ls -l\r" + op(3, 12, 0) +
                            b"hello world\n" + op(5, 0, 0) + op(2, 0, 0))
    yield "two-clients", (op(0, 0, 0) + op(0, 0, 0) + op(1, 0, 3) + b"abc" + op(1, 1, 3) +
                          b"xyz" + op(3, 5, 0) + b"out\r\n" + op(5, 1, 0) + op(2, 1, 0) +
                          op(1, 0, 2) + b"de")
    yield "no-room", (op(0, 0, 0) + op(4, 0, 0) + op(1, 0, 8) + b"waiting!" + op(4, 1, 0) +
                      op(3, 4, 0) + b"more")


def varint(n):
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        out += bytes([low | (0x80 if n else 0)])
        if not n:
            return out


def field(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def vfield(number, value):
    return varint(number << 3) + varint(value)


def frame(body):
    return struct.pack("<I", len(body)) + body


def pieces(data):
    """The publisher harness's format: a size byte before each piece."""
    out = b""
    while data:
        n = min(len(data), 48)
        out += bytes([n - 1]) + data[:n]
        data = data[n:]
    return out


def publisher():
    key = frame(field(8, vfield(1, 30) + vfield(2, 1))) + frame(field(8, vfield(1, 30)))
    move = frame(field(9, vfield(1, 100) + vfield(2, 200)))
    button = frame(field(10, vfield(1, 0x110) + vfield(2, 1)))
    wheel = frame(field(11, vfield(1, 2) + vfield(2, 1)))
    size = frame(field(12, vfield(1, 1024) + vfield(2, 768)))
    yield "input", b"\x03" + pieces(key + move + button + wheel + size)
    yield "no-machine", b"\x02" + pieces(key + size)
    hello = frame(field(1, vfield(1, 1) + field(2, b"raw")))
    yield "own-hello", b"\x01" + pieces(hello + key)
    yield "bad-frames", b"\x03" + pieces(frame(b"\xff\xff") + struct.pack("<I", 0))
    yield "half-frame", b"\x03" + pieces(struct.pack("<I", 100) + b"\x42" * 10)
    yield "server-message", b"\x03" + pieces(frame(field(5, b"")))


def vsock_packet(op, src_port=1025, dst_port=5, payload=b"", flags=0, fwd_cnt=0,
                 src_cid=3, dst_cid=2):
    return struct.pack("<QQIIIHHIII", src_cid, dst_cid, src_port, dst_port, len(payload), 1, op,
                       flags, 1 << 16, fwd_cnt) + payload


def vsock_chains(mode, *chains):
    """fuzz_virtio_vsock's format: each chain one or more (bytes, writable) segments."""
    segs = [(seg, w, i == len(chain) - 1) for chain in chains for i, (seg, w) in enumerate(chain)]
    head = bytes([mode, len(segs) - 1])
    for seg, writable, last in segs:
        head += struct.pack("<HB", len(seg), (1 if writable else 0) | (2 if last else 0))
    return head + b"".join(seg for seg, _, _ in segs)


def virtio_vsock():
    REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST = range(1, 8)
    one = lambda pkt: [(pkt, False)]
    yield "connect-send-close", vsock_chains(
        1, one(vsock_packet(REQUEST)), one(vsock_packet(RW, payload=b"hello")),
        one(vsock_packet(CREDIT_REQUEST)), one(vsock_packet(SHUTDOWN, flags=3)))
    yield "refused", vsock_chains(1, one(vsock_packet(REQUEST, dst_port=6)))
    yield "strays", vsock_chains(1, one(vsock_packet(RW, dst_port=9, payload=b"x")),
                                 one(vsock_packet(RST, dst_port=9)),
                                 one(vsock_packet(RESPONSE, dst_port=1 << 30)))
    yield "bad-fwd-cnt", vsock_chains(1, one(vsock_packet(REQUEST)),
                                      one(vsock_packet(CREDIT_UPDATE, fwd_cnt=7)))
    pkt = vsock_packet(RW, payload=b"split over descriptors")
    yield "split", vsock_chains(0, [(pkt[:44], False), (pkt[44:], False)])
    yield "bad-cid", vsock_chains(0, one(vsock_packet(REQUEST, src_cid=4)))
    yield "writable-tx", vsock_chains(0, [(vsock_packet(REQUEST), True)])
    yield "state", b"\xff" + vfield(1, 3)


def ip_checksum(data):
    s = sum(struct.unpack(f">{len(data) // 2}H", data[:len(data) // 2 * 2]))
    if len(data) % 2:
        s += data[-1] << 8
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return 0xffff - s


GUEST_MAC = bytes([0x02, 0, 0, 0, 0, 1])
NEXT_HOP_MAC = bytes([0x52, 0x55, 0x0a, 0, 2, 2])


def ipv4_packet(dst, proto, l4, frag=0x4000):
    hdr = bytearray(struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0x1234, frag, 64, proto,
                                0, bytes([10, 0, 2, 15]), bytes(dst)))
    struct.pack_into(">H", hdr, 10, ip_checksum(bytes(hdr)))
    return NEXT_HOP_MAC + GUEST_MAC + b"\x08\x00" + bytes(hdr) + l4


def ipv6_packet(dst, next_header, l4):
    src = bytes([0xfe, 0xc0] + [0] * 13 + [15])
    hdr = struct.pack(">IHBB", 0x60000000, len(l4), next_header, 64) + src + bytes(dst)
    return NEXT_HOP_MAC + GUEST_MAC + b"\x86\xdd" + hdr + l4


def tcp_syn(dport):
    return struct.pack(">HHIIBBHHH", 41260, dport, 0xdeadbeef, 0, 5 << 4, 0x02, 64240, 0, 0)


def udp(dport, payload):
    return struct.pack(">HHHH", 40000, dport, 8 + len(payload), 0) + payload


def net_chain(frame, mode=0):
    """fuzz_virtio_net's format: one chain of the virtio-net header, then the frame."""
    return (bytes([mode, 1]) + struct.pack("<HB", 12, 0) + struct.pack("<HB", len(frame), 2)
            + bytes(12) + frame)


def virtio_net():
    """Frames the filter refuses, each with a well-formed packet so that the
    answer (net_refuse.h) is built: TCP and UDP over both IP versions, an ICMP
    error and a later fragment (no answer), a long datagram (quoted in part)."""
    gateway, dns, loopback = [10, 0, 2, 2], [10, 0, 2, 3], [127, 0, 0, 1]
    host6 = [0xfe, 0xc0] + [0] * 13 + [2]
    yield "refused-syn-gateway", net_chain(ipv4_packet(gateway, 6, tcp_syn(8080)))
    yield "refused-udp-dns-alias", net_chain(ipv4_packet(dns, 17, udp(5353, b"q" * 40)))
    yield "refused-udp-long", net_chain(ipv4_packet(gateway, 17, udp(9, bytes(1400))))
    yield "refused-icmp-error", net_chain(ipv4_packet(loopback, 1, bytes([3, 1]) + bytes(34)))
    yield "refused-later-fragment", net_chain(ipv4_packet(gateway, 6, tcp_syn(80), frag=0x2005))
    yield "refused-syn6", net_chain(ipv6_packet(host6, 6, tcp_syn(8080)))
    yield "refused-udp6-long", net_chain(ipv6_packet(host6, 17, udp(9, bytes(1500))))


def main():
    seeds = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "seeds")
    for harness, gen in (("edid", edid), ("vmgenid", vmgenid), ("kernel_loader", kernel_loader),
                         ("virtio_rng", virtio_rng), ("virtio_console", virtio_console),
                         ("console_host", console_host), ("publisher", publisher),
                         ("virtio_vsock", virtio_vsock), ("virtio_net", virtio_net)):
        for name, data in gen():
            write(seeds, harness, name, data)


if __name__ == "__main__":
    main()
