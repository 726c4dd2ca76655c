/* ICMP "administratively prohibited" for frames the user network refuses
 * (net_refuse.h). The frame is the guest's: every length is checked before
 * a byte is read, and whatever does not parse as a packet an answer is due
 * for gets none (RFC 1812 4.3.2.7 and RFC 4443 2.4(e) say which). */
#include "worker/net_refuse.h"

#include <string.h>

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define IPV4_HEADER 20
#define IPV6_HEADER 40
#define ICMP_HEADER 8
/* The guest finds its socket from the quoted transport header's ports (and
 * TCP's sequence number): Linux wants 8 bytes of it (icmp_socket_deliver,
 * icmpv6_notify) and so do we. */
#define TRANSPORT_QUOTED 8

#define PROTO_ICMP 1
#define PROTO_ICMPV6 58
#define ICMP_DEST_UNREACH 3
#define ICMP_PKT_FILTERED 13 /* communication administratively prohibited */
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_ADM_PROHIBITED 1
#define ICMPV6_INFO_FIRST 128 /* types below are errors (RFC 4443 2.1) */

/* RFC 1812 4.3.2.3: the ICMP datagram within 576 bytes. */
#define IPV4_ANSWER_MAX 576
/* RFC 4443 2.4(c): the answer within IPv6's minimum MTU. */
#define IPV6_ANSWER_MAX 1280
/* RFC 1812 4.3.2.5: precedence 6 (internetwork control) for ICMP errors. */
#define IPV4_TOS_ERROR 0xc0
#define ANSWER_HOP_LIMIT 64
/* More extension headers than a packet of any real stack carries. */
#define IPV6_MAX_EXT_HEADERS 8

static uint16_t be16_at(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void be16_put(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* RFC 1071: adds data's 16-bit words to a running sum. */
static uint32_t sum_words(const uint8_t *data, size_t len, uint32_t sum)
{
    size_t i = 0;
    for (; i + 1 < len; i += 2)
        sum += be16_at(data + i);
    if (i < len)
        sum += (uint32_t)data[i] << 8;
    return sum;
}

static uint16_t checksum_of(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* -- Ethernet -- */

static bool mac_is_group(const uint8_t *mac)
{
    return mac[0] & 1; /* broadcast and multicast alike */
}

/* Back to where the frame came from: its source MAC (the guest's) as the
 * destination, the MAC the guest sent to (its next hop's) as the source. */
static void ethernet_reply(const uint8_t *frame, uint16_t type, uint8_t *out)
{
    memcpy(out, frame + 6, 6);
    memcpy(out + 6, frame, 6);
    be16_put(out + 12, type);
}

/* -- IPv4 -- */

/* 224.0.0.0/4 multicast, 240.0.0.0/4 reserved and the limited broadcast. */
static bool ipv4_is_group(const uint8_t *a)
{
    return a[0] >= 224;
}

/* A source that names no single host (RFC 1812 4.3.2.7): a group, "this
 * host" (0.0.0.0/8) or loopback (127.0.0.0/8). */
static bool ipv4_names_no_single_host(const uint8_t *a)
{
    return a[0] == 0 || a[0] == 127 || ipv4_is_group(a);
}

/* ICMP types that are queries or replies, not errors (RFC 792, 950):
 * anything else is taken for an error, as an unknown type should be. */
static bool icmp_is_query(uint8_t type)
{
    switch (type) {
    case 0: case 8: case 13: case 14: case 15: case 16: case 17: case 18:
        return true;
    default:
        return false;
    }
}

/* How many bytes of the IPv4 packet at ip (ip_len bytes there) to quote, 0
 * when it gets no answer. */
static size_t ipv4_quoted(const uint8_t *ip, size_t ip_len)
{
    if (ip_len < IPV4_HEADER || ip[0] >> 4 != 4)
        return 0;
    size_t header = (ip[0] & 0x0f) * 4u;
    size_t total = be16_at(ip + 2);
    if (header < IPV4_HEADER || header > ip_len || total > ip_len)
        return 0; /* truncated: Ethernet may pad a frame, never cut one */
    if (checksum_of(sum_words(ip, header, 0)) != 0)
        return 0; /* a router discards a bad header (RFC 1812 5.2.2) */
    if ((be16_at(ip + 6) & 0x1fff) != 0)
        return 0; /* only the first fragment has the header to quote */
    if (total < header + TRANSPORT_QUOTED)
        return 0;
    if (ipv4_names_no_single_host(ip + 12) || ipv4_is_group(ip + 16))
        return 0; /* no answer to a broadcast, nor to no one */
    if (ip[9] == PROTO_ICMP && !icmp_is_query(ip[header]))
        return 0; /* never an error about an error */
    size_t room = IPV4_ANSWER_MAX - IPV4_HEADER - ICMP_HEADER;
    return total < room ? total : room;
}

static size_t ipv4_answer(const uint8_t *frame, const uint8_t *ip, size_t ip_len,
                          const struct net_refuse_router *router, uint8_t *out)
{
    size_t quoted = ipv4_quoted(ip, ip_len);
    if (!quoted)
        return 0;
    ethernet_reply(frame, ETHERTYPE_IPV4, out);
    uint8_t *rip = out + NET_REFUSE_ETH_HEADER;
    uint8_t *icmp = rip + IPV4_HEADER;
    size_t total = IPV4_HEADER + ICMP_HEADER + quoted;
    memset(rip, 0, IPV4_HEADER + ICMP_HEADER);
    rip[0] = 0x45;
    rip[1] = IPV4_TOS_ERROR;
    be16_put(rip + 2, (uint16_t)total);
    rip[8] = ANSWER_HOP_LIMIT;
    rip[9] = PROTO_ICMP;
    memcpy(rip + 12, router->ipv4, 4);
    memcpy(rip + 16, ip + 12, 4); /* back to the sender */
    be16_put(rip + 10, checksum_of(sum_words(rip, IPV4_HEADER, 0)));
    icmp[0] = ICMP_DEST_UNREACH;
    icmp[1] = ICMP_PKT_FILTERED;
    memcpy(icmp + ICMP_HEADER, ip, quoted); /* as received (RFC 1812 4.3.2.3) */
    be16_put(icmp + 2, checksum_of(sum_words(icmp, ICMP_HEADER + quoted, 0)));
    return NET_REFUSE_ETH_HEADER + total;
}

/* -- IPv6 -- */

static bool ipv6_is_multicast(const uint8_t *a)
{
    return a[0] == 0xff;
}

/* :: (unspecified) and ::1 (loopback) name no single host on the link. */
static bool ipv6_is_unspecified_or_loopback(const uint8_t *a)
{
    for (int i = 0; i < 15; i++)
        if (a[i])
            return false;
    return a[15] <= 1;
}

enum {
    EXT_HOP_BY_HOP = 0,
    EXT_ROUTING = 43,
    EXT_FRAGMENT = 44,
    EXT_AUTH = 51,
    EXT_DEST_OPTS = 60,
};

/* Walks the extension headers (RFC 8200 4) of the packet at ip, len bytes
 * long, to the upper-layer header: its protocol and offset. False when the
 * packet ends inside them, or is a fragment other than the first. */
static bool ipv6_upper_layer(const uint8_t *ip, size_t len, uint8_t *proto, size_t *at)
{
    uint8_t next = ip[6];
    size_t off = IPV6_HEADER;
    for (int i = 0; i <= IPV6_MAX_EXT_HEADERS; i++) {
        size_t ext_len;
        if (next != EXT_HOP_BY_HOP && next != EXT_ROUTING && next != EXT_FRAGMENT &&
            next != EXT_AUTH && next != EXT_DEST_OPTS) {
            *proto = next;
            *at = off;
            return true;
        }
        if (len < off + 8)
            return false;
        if (next == EXT_FRAGMENT) {
            if (be16_at(ip + off + 2) & 0xfff8)
                return false; /* not the first fragment: no upper-layer header */
            ext_len = 8;
        } else if (next == EXT_AUTH) {
            ext_len = (ip[off + 1] + 2u) * 4u;
        } else {
            ext_len = (ip[off + 1] + 1u) * 8u;
        }
        next = ip[off];
        off += ext_len;
    }
    return false;
}

/* How many bytes of the IPv6 packet at ip (ip_len bytes there) to quote, 0
 * when it gets no answer. */
static size_t ipv6_quoted(const uint8_t *ip, size_t ip_len)
{
    if (ip_len < IPV6_HEADER || ip[0] >> 4 != 6)
        return 0;
    size_t total = IPV6_HEADER + be16_at(ip + 4);
    if (total > ip_len)
        return 0; /* truncated (a jumbogram's length 0 is refused below) */
    const uint8_t *src = ip + 8, *dst = ip + 24;
    if (ipv6_is_multicast(src) || ipv6_is_unspecified_or_loopback(src) || ipv6_is_multicast(dst))
        return 0;
    uint8_t proto;
    size_t at;
    if (!ipv6_upper_layer(ip, total, &proto, &at) || total < at + TRANSPORT_QUOTED)
        return 0;
    if (proto == PROTO_ICMPV6 && ip[at] < ICMPV6_INFO_FIRST)
        return 0; /* never an error about an error */
    size_t room = IPV6_ANSWER_MAX - IPV6_HEADER - ICMP_HEADER;
    return total < room ? total : room;
}

/* RFC 8200 8.1: the pseudo-header's sum. */
static uint32_t ipv6_pseudo_sum(const uint8_t *src, const uint8_t *dst, size_t upper_len,
                                uint8_t proto)
{
    uint32_t sum = sum_words(src, 16, 0);
    sum = sum_words(dst, 16, sum);
    sum += (uint32_t)(upper_len >> 16) + (uint32_t)(upper_len & 0xffff);
    return sum + proto;
}

static size_t ipv6_answer(const uint8_t *frame, const uint8_t *ip, size_t ip_len,
                          const struct net_refuse_router *router, uint8_t *out)
{
    size_t quoted = ipv6_quoted(ip, ip_len);
    if (!quoted)
        return 0;
    ethernet_reply(frame, ETHERTYPE_IPV6, out);
    uint8_t *rip = out + NET_REFUSE_ETH_HEADER;
    uint8_t *icmp = rip + IPV6_HEADER;
    size_t payload = ICMP_HEADER + quoted;
    memset(rip, 0, IPV6_HEADER + ICMP_HEADER);
    rip[0] = 0x60;
    be16_put(rip + 4, (uint16_t)payload);
    rip[6] = PROTO_ICMPV6;
    rip[7] = ANSWER_HOP_LIMIT;
    memcpy(rip + 8, router->ipv6, 16);
    memcpy(rip + 24, ip + 8, 16); /* back to the sender */
    icmp[0] = ICMPV6_DEST_UNREACH;
    icmp[1] = ICMPV6_ADM_PROHIBITED;
    memcpy(icmp + ICMP_HEADER, ip, quoted);
    uint32_t sum = ipv6_pseudo_sum(rip + 8, rip + 24, payload, PROTO_ICMPV6);
    be16_put(icmp + 2, checksum_of(sum_words(icmp, payload, sum)));
    return NET_REFUSE_ETH_HEADER + IPV6_HEADER + payload;
}

size_t net_refuse_answer(const uint8_t *frame, size_t len, const struct net_refuse_router *router,
                         uint8_t out[NET_REFUSE_MAX_ANSWER])
{
    if (len < NET_REFUSE_ETH_HEADER || mac_is_group(frame) || mac_is_group(frame + 6))
        return 0;
    uint16_t type = be16_at(frame + 12);
    const uint8_t *ip = frame + NET_REFUSE_ETH_HEADER;
    size_t ip_len = len - NET_REFUSE_ETH_HEADER;
    if (type == ETHERTYPE_IPV4)
        return ipv4_answer(frame, ip, ip_len, router, out);
    if (type == ETHERTYPE_IPV6)
        return ipv6_answer(frame, ip, ip_len, router, out);
    return 0;
}

/* Credit is kept in thousandths of an answer, so that whole milliseconds
 * add whole numbers (NET_REFUSE_PER_S each) and no rounding creeps in. */
#define CREDIT_PER_ANSWER 1000.0

bool net_refuse_limit_take(struct net_refuse_limit *l, double now_ms)
{
    double full = NET_REFUSE_BURST * CREDIT_PER_ANSWER;
    if (!l->started)
        *l = (struct net_refuse_limit){.started = true, .credit = full, .last_ms = now_ms};
    if (now_ms > l->last_ms) {
        l->credit += (now_ms - l->last_ms) * NET_REFUSE_PER_S;
        if (l->credit > full)
            l->credit = full;
        l->last_ms = now_ms;
    }
    if (l->credit < CREDIT_PER_ANSWER)
        return false;
    l->credit -= CREDIT_PER_ANSWER;
    return true;
}
