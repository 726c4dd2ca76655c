/* The answer to a frame the user-mode network refuses (net_frame_allowed):
 * what a router with a filter sends, an ICMP destination unreachable,
 * "communication administratively prohibited" (RFC 1812 5.2.7.1: IPv4 code
 * 13; RFC 4443 3.1: ICMPv6 code 1). Dropping the frame instead leaves the
 * guest's TCP retrying its SYN for minutes; this answer makes its connect()
 * fail at once (EHOSTUNREACH, "No route to host", over IPv4; EACCES,
 * "Permission denied", over IPv6), and a connected UDP socket gets the
 * error too: Linux counts both codes as hard errors (icmp_err_convert,
 * icmpv6_err_convert). */
#ifndef IGNITION_NET_REFUSE_H
#define IGNITION_NET_REFUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ethernet header and the largest answer after it: IPv6's minimum MTU
 * (RFC 4443 2.4(c): as much of the packet as fits in it). */
#define NET_REFUSE_ETH_HEADER 14
#define NET_REFUSE_MAX_ANSWER (NET_REFUSE_ETH_HEADER + 1280)

/* Answers at most NET_REFUSE_BURST at once, then NET_REFUSE_PER_S a second:
 * a guest that sends refused frames in a loop cannot make the host flood. */
#define NET_REFUSE_PER_S 100
#define NET_REFUSE_BURST 50

/* The router's addresses, the answer's source: the gateway (10.0.2.2) and
 * the router's link-local IPv6 address (libslirp's fe80::2, where its router
 * advertisements and its own ICMPv6 errors come from). Not the address the
 * guest sent to: that may be 127.0.0.1 or ::1, which Linux drops as a
 * source arriving on eth0 (a martian). */
struct net_refuse_router {
    uint8_t ipv4[4];
    uint8_t ipv6[16];
};

/* Writes into out the answer to frame (len bytes, as the guest sent it) and
 * returns its length, or 0 when none is due: not IPv4/IPv6, from or to a
 * broadcast or multicast MAC or address, from an address that names no
 * single host, a bad IPv4 header checksum, a fragment other than the first,
 * an ICMP error (or unknown ICMP type), or a packet that ends before 8 bytes
 * of its transport header (what the guest needs to find its socket). Every
 * length in frame is checked against len. */
size_t net_refuse_answer(const uint8_t *frame, size_t len, const struct net_refuse_router *router,
                         uint8_t out[NET_REFUSE_MAX_ANSWER]);

/* A token bucket over a monotonic clock in milliseconds. Zeroed: full. */
struct net_refuse_limit {
    bool started;
    double credit; /* see net_refuse.c */
    double last_ms;
};

/* Whether one more answer may go now; takes its token if so. */
bool net_refuse_limit_take(struct net_refuse_limit *l, double now_ms);

#endif
