/* The answer to a frame the user network refuses (worker/net_refuse.h): for
 * TCP SYNs and UDP datagrams over IPv4 and IPv6, the whole answer is read
 * back field by field, its checksums recomputed here from the RFCs'
 * definitions, and the quoted bytes compared with what was sent; no answer
 * to ICMP errors, later fragments, group addresses, bad or truncated
 * packets (at every length); and the rate limit. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "unit.h"
#include "worker/net_refuse.h"

#define ETH 14

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t next_hop_mac[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
static const uint8_t guest4[4] = {10, 0, 2, 15};
static const uint8_t host4[4] = {10, 0, 2, 2};
static const uint8_t guest6[16] = {0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0x50, 0x54, 0, 0xff, 0xfe,
                                   0x12, 0x34, 0x56};
static const uint8_t host6[16] = {0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
static const struct net_refuse_router router = {
    .ipv4 = {10, 0, 2, 2},
    .ipv6 = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2},
};

static uint8_t frame[4096];
static uint8_t answer[NET_REFUSE_MAX_ANSWER];

/* ---- the RFCs' checksums, written out apart from the code under test ---- */

static unsigned word(const uint8_t *p, size_t i, size_t len)
{
    return (unsigned)p[i] << 8 | (i + 1 < len ? p[i + 1] : 0);
}

/* RFC 1071: the 16-bit ones' complement of the ones' complement sum. A
 * packet with its checksum in place sums to 0xffff, so this gives 0. */
static unsigned ones_sum(const uint8_t *p, size_t len, unsigned long long sum)
{
    for (size_t i = 0; i < len; i += 2)
        sum += word(p, i, len);
    while (sum > 0xffff)
        sum = (sum >> 16) + (sum & 0xffff);
    return (unsigned)sum;
}

static unsigned ipv4_checksum_rest(const uint8_t *p, size_t len)
{
    return 0xffff - ones_sum(p, len, 0);
}

/* RFC 8200 8.1: over the pseudo-header (source, destination, upper-layer
 * length, next header 58) and the ICMPv6 message. */
static unsigned icmpv6_checksum_rest(const uint8_t *ip6)
{
    size_t len = (size_t)ip6[4] << 8 | ip6[5];
    unsigned long long pseudo = ones_sum(ip6 + 8, 32, 0);
    pseudo += len + 58;
    return 0xffff - ones_sum(ip6 + 40, len, pseudo);
}

/* ---- frames the guest sends ---- */

static void ethernet(uint16_t type)
{
    memcpy(frame, next_hop_mac, 6);
    memcpy(frame + 6, guest_mac, 6);
    frame[12] = (uint8_t)(type >> 8), frame[13] = (uint8_t)type;
}

static void fix_ipv4_checksum(uint8_t *ip)
{
    size_t header = (ip[0] & 0x0f) * 4u;
    ip[10] = ip[11] = 0;
    unsigned c = 0xffff - ones_sum(ip, header, 0);
    ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
}

/* A TCP SYN with 20 bytes of options, as Linux sends one: 60 bytes of IP. */
static void tcp_syn(uint8_t *l4, uint16_t dport)
{
    memset(l4, 0, 40);
    l4[0] = 0xa1, l4[1] = 0x2c; /* source port 41260 */
    l4[2] = (uint8_t)(dport >> 8), l4[3] = (uint8_t)dport;
    memcpy(l4 + 4, (uint8_t[]){0xde, 0xad, 0xbe, 0xef}, 4); /* sequence */
    l4[12] = 10 << 4, l4[13] = 0x02, l4[14] = 0xfa, l4[15] = 0xf0;
    memcpy(l4 + 20, (uint8_t[]){2, 4, 0xff, 0xd7, 4, 2, 8, 10}, 8);
}

static void udp(uint8_t *l4, uint16_t dport, size_t payload)
{
    l4[0] = 0x9c, l4[1] = 0x40;
    l4[2] = (uint8_t)(dport >> 8), l4[3] = (uint8_t)dport;
    l4[4] = (uint8_t)((8 + payload) >> 8), l4[5] = (uint8_t)(8 + payload);
    l4[6] = 0x12, l4[7] = 0x34;
    for (size_t i = 0; i < payload; i++)
        l4[8 + i] = (uint8_t)(i * 7 + 1);
}

/* IPv4 to dst carrying proto with l4_len bytes after the header (filled by
 * the caller); returns the frame's length. */
static size_t ipv4(const uint8_t dst[4], uint8_t proto, size_t l4_len)
{
    ethernet(0x0800);
    uint8_t *ip = frame + ETH;
    memset(ip, 0, 20);
    size_t total = 20 + l4_len;
    ip[0] = 0x45, ip[2] = (uint8_t)(total >> 8), ip[3] = (uint8_t)total;
    ip[4] = 0x5a, ip[5] = 0x5a, ip[6] = 0x40; /* DF */
    ip[8] = 64, ip[9] = proto;
    memcpy(ip + 12, guest4, 4);
    memcpy(ip + 16, dst, 4);
    fix_ipv4_checksum(ip);
    return ETH + total;
}

static size_t ipv4_syn(void)
{
    tcp_syn(frame + ETH + 20, 8080);
    return ipv4(host4, 6, 40);
}

static size_t ipv6(const uint8_t dst[16], uint8_t next, size_t payload)
{
    ethernet(0x86dd);
    uint8_t *ip = frame + ETH;
    memset(ip, 0, 40);
    ip[0] = 0x60, ip[4] = (uint8_t)(payload >> 8), ip[5] = (uint8_t)payload;
    ip[6] = next, ip[7] = 64;
    memcpy(ip + 8, guest6, 16);
    memcpy(ip + 24, dst, 16);
    return ETH + 40 + payload;
}

static size_t ipv6_syn(void)
{
    tcp_syn(frame + ETH + 40, 8080);
    return ipv6(host6, 6, 40);
}

/* ---- reading the answer back ---- */

static void check_ethernet(uint16_t type)
{
    ck_assert_mem_eq(answer, guest_mac, 6);
    ck_assert_mem_eq(answer + 6, next_hop_mac, 6);
    ck_assert_uint_eq((unsigned)answer[12] << 8 | answer[13], type);
}

/* An IPv4 answer quoting `quoted` bytes of what frame holds. */
static void check_ipv4_answer(size_t got, size_t quoted)
{
    ck_assert_uint_eq(got, ETH + 20 + 8 + quoted);
    check_ethernet(0x0800);
    const uint8_t *ip = answer + ETH, *icmp = ip + 20;
    ck_assert_uint_eq(ip[0], 0x45);
    ck_assert_uint_eq((size_t)ip[2] << 8 | ip[3], 20 + 8 + quoted);
    ck_assert_uint_eq(ip[6] & 0x3f, 0); /* not a fragment */
    ck_assert_uint_eq(ip[7], 0);
    ck_assert_uint_gt(ip[8], 1); /* TTL */
    ck_assert_uint_eq(ip[9], 1);  /* ICMP */
    ck_assert_mem_eq(ip + 12, host4, 4);
    ck_assert_mem_eq(ip + 16, guest4, 4);
    ck_assert_uint_eq(ipv4_checksum_rest(ip, 20), 0);
    ck_assert_uint_eq(icmp[0], 3);  /* destination unreachable */
    ck_assert_uint_eq(icmp[1], 13); /* communication administratively prohibited */
    ck_assert_mem_eq(icmp + 4, (uint8_t[4]){0}, 4);
    ck_assert_uint_eq(ipv4_checksum_rest(icmp, 8 + quoted), 0);
    ck_assert_mem_eq(icmp + 8, frame + ETH, quoted);
}

static void check_ipv6_answer(size_t got, size_t quoted)
{
    ck_assert_uint_eq(got, ETH + 40 + 8 + quoted);
    check_ethernet(0x86dd);
    const uint8_t *ip = answer + ETH, *icmp = ip + 40;
    ck_assert_uint_eq(ip[0] >> 4, 6);
    ck_assert_uint_eq((size_t)ip[4] << 8 | ip[5], 8 + quoted);
    ck_assert_uint_eq(ip[6], 58); /* ICMPv6 */
    ck_assert_uint_gt(ip[7], 1);  /* hop limit */
    ck_assert_mem_eq(ip + 8, router.ipv6, 16);
    ck_assert_mem_eq(ip + 24, guest6, 16);
    ck_assert_uint_eq(icmp[0], 1); /* destination unreachable */
    ck_assert_uint_eq(icmp[1], 1); /* administratively prohibited */
    ck_assert_mem_eq(icmp + 4, (uint8_t[4]){0}, 4);
    ck_assert_uint_eq(icmpv6_checksum_rest(ip), 0);
    ck_assert_mem_eq(icmp + 8, frame + ETH, quoted);
}

static size_t answer_to(size_t len)
{
    memset(answer, 0xee, sizeof(answer));
    return net_refuse_answer(frame, len, &router, answer);
}

/* ---- answers ---- */

START_TEST(test_ipv4_tcp_syn)
{
    size_t len = ipv4_syn();
    check_ipv4_answer(answer_to(len), 60);
    /* Ethernet pads short frames: the padding is not quoted. */
    memset(frame + len, 0, 6);
    check_ipv4_answer(answer_to(len + 6), 60);
    /* The first fragment of a datagram (more fragments, offset 0) too. */
    frame[ETH + 6] = 0x20;
    fix_ipv4_checksum(frame + ETH);
    check_ipv4_answer(answer_to(len), 60);
}
END_TEST

START_TEST(test_ipv4_udp_quotes_up_to_576)
{
    udp(frame + ETH + 20, 53, 1000);
    size_t len = ipv4(host4, 17, 8 + 1000);
    check_ipv4_answer(answer_to(len), 576 - 20 - 8);
    udp(frame + ETH + 20, 53, 4);
    len = ipv4(host4, 17, 8 + 4);
    check_ipv4_answer(answer_to(len), 32);
}
END_TEST

START_TEST(test_ipv4_options_quoted_as_sent)
{
    /* A header of 24 bytes (one NOP option word): quoted as it came. */
    tcp_syn(frame + ETH + 24, 8080);
    size_t len = ipv4(host4, 6, 4 + 40);
    frame[ETH] = 0x46;
    memset(frame + ETH + 20, 1, 4);
    tcp_syn(frame + ETH + 24, 8080);
    fix_ipv4_checksum(frame + ETH);
    check_ipv4_answer(answer_to(len), 64);
}
END_TEST

START_TEST(test_ipv4_echo_request_answered)
{
    uint8_t *icmp = frame + ETH + 20;
    memset(icmp, 0, 16);
    icmp[0] = 8;
    size_t len = ipv4((uint8_t[]){127, 0, 0, 1}, 1, 16);
    check_ipv4_answer(answer_to(len), 36);
}
END_TEST

START_TEST(test_ipv6_tcp_syn)
{
    size_t len = ipv6_syn();
    check_ipv6_answer(answer_to(len), 80);
    memset(frame + len, 0, 6);
    check_ipv6_answer(answer_to(len + 6), 80);
}
END_TEST

START_TEST(test_ipv6_udp_quotes_up_to_1280)
{
    udp(frame + ETH + 40, 53, 2000);
    size_t len = ipv6(host6, 17, 8 + 2000);
    check_ipv6_answer(answer_to(len), 1280 - 40 - 8);
    ck_assert_uint_eq(answer_to(len), NET_REFUSE_MAX_ANSWER);
    udp(frame + ETH + 40, 53, 0);
    len = ipv6(host6, 17, 8);
    check_ipv6_answer(answer_to(len), 48);
}
END_TEST

START_TEST(test_ipv6_first_fragment_and_extension_headers)
{
    /* Hop-by-hop options (8 bytes), then a fragment header with offset 0. */
    uint8_t *ext = frame + ETH + 40;
    memset(ext, 0, 16);
    ext[0] = 44;                 /* next: fragment */
    ext[8] = 17, ext[11] = 0x01; /* next: UDP; offset 0, more fragments */
    udp(ext + 16, 53, 100);
    size_t len = ipv6(host6, 0, 16 + 8 + 100);
    check_ipv6_answer(answer_to(len), 40 + 16 + 108);
    ext[10] = 0x01; /* offset 32: a later fragment */
    ck_assert_uint_eq(answer_to(len), 0);
}
END_TEST

/* ---- no answer ---- */

START_TEST(test_no_answer_to_icmp_errors)
{
    uint8_t *icmp = frame + ETH + 20;
    for (unsigned type = 0; type < 256; type++) {
        memset(icmp, 0, 36);
        icmp[0] = (uint8_t)type;
        size_t len = ipv4(host4, 1, 36);
        bool query = type == 0 || type == 8 || (type >= 13 && type <= 18);
        ck_assert_msg((answer_to(len) != 0) == query, "ICMP type %u", type);
    }
    uint8_t *icmp6 = frame + ETH + 40;
    for (unsigned type = 0; type < 256; type++) {
        memset(icmp6, 0, 48);
        icmp6[0] = (uint8_t)type; /* 1 unreachable, 2 too big, 3 time, 4 parameter */
        size_t len = ipv6(host6, 58, 48);
        ck_assert_msg((answer_to(len) != 0) == (type >= 128), "ICMPv6 type %u", type);
    }
}
END_TEST

START_TEST(test_no_answer_to_later_fragments)
{
    size_t len = ipv4_syn();
    frame[ETH + 6] = 0x20, frame[ETH + 7] = 0x05; /* offset 40 bytes */
    fix_ipv4_checksum(frame + ETH);
    ck_assert_uint_eq(answer_to(len), 0);
    frame[ETH + 6] = 0x00; /* the last fragment */
    fix_ipv4_checksum(frame + ETH);
    ck_assert_uint_eq(answer_to(len), 0);
}
END_TEST

START_TEST(test_no_answer_to_truncated_frames)
{
    /* At every length short of the whole packet: the IP length says more. */
    size_t len = ipv4_syn();
    for (size_t cut = 0; cut < len; cut++)
        ck_assert_msg(answer_to(cut) == 0, "IPv4 cut at %zu", cut);
    len = ipv6_syn();
    for (size_t cut = 0; cut < len; cut++)
        ck_assert_msg(answer_to(cut) == 0, "IPv6 cut at %zu", cut);
    /* Whole packets too short for 8 bytes of their transport header. */
    udp(frame + ETH + 20, 53, 0);
    len = ipv4(host4, 17, 7);
    ck_assert_uint_eq(answer_to(len), 0);
    len = ipv6(host6, 17, 7);
    ck_assert_uint_eq(answer_to(len), 0);
    /* An extension header that runs past the packet. */
    frame[ETH + 40] = 17, frame[ETH + 41] = 4; /* 40 bytes long */
    len = ipv6(host6, 60, 16);
    ck_assert_uint_eq(answer_to(len), 0);
}
END_TEST

START_TEST(test_no_answer_to_bad_headers)
{
    size_t len = ipv4_syn();
    frame[ETH + 8]--; /* the checksum no longer matches */
    ck_assert_uint_eq(answer_to(len), 0);
    len = ipv4_syn();
    frame[ETH] = 0x44; /* IHL 16 bytes */
    fix_ipv4_checksum(frame + ETH);
    ck_assert_uint_eq(answer_to(len), 0);
    len = ipv4_syn();
    frame[ETH] = 0x4f; /* IHL 60 bytes: the whole packet, no TCP header after it */
    fix_ipv4_checksum(frame + ETH);
    ck_assert_uint_eq(answer_to(len), 0);
    len = ipv4_syn();
    frame[ETH] = 0x65; /* version 6 in an IPv4 frame */
    ck_assert_uint_eq(answer_to(len), 0);
    len = ipv6_syn();
    frame[ETH] = 0x40;
    ck_assert_uint_eq(answer_to(len), 0);
    len = ipv4_syn();
    frame[12] = 0x08, frame[13] = 0x06; /* ARP */
    ck_assert_uint_eq(answer_to(len), 0);
}
END_TEST

START_TEST(test_no_answer_to_groups_or_no_one)
{
    size_t len = ipv4_syn();
    memset(frame, 0xff, 6); /* broadcast MAC */
    ck_assert_uint_eq(answer_to(len), 0);
    len = ipv4_syn();
    frame[0] = 0x01, frame[1] = 0x00, frame[2] = 0x5e; /* multicast MAC */
    ck_assert_uint_eq(answer_to(len), 0);
    len = ipv4_syn();
    frame[6] |= 1; /* a group address as the source */
    ck_assert_uint_eq(answer_to(len), 0);
    static const uint8_t bad4[][4] = {{224, 0, 0, 1}, {255, 255, 255, 255}, {240, 0, 0, 1}};
    for (size_t i = 0; i < 3; i++) {
        tcp_syn(frame + ETH + 20, 80);
        len = ipv4(bad4[i], 6, 40);
        ck_assert_uint_eq(answer_to(len), 0);
    }
    static const uint8_t no_one4[][4] = {{0, 0, 0, 0}, {127, 0, 0, 1}, {224, 0, 0, 5}};
    for (size_t i = 0; i < 3; i++) {
        len = ipv4_syn();
        memcpy(frame + ETH + 12, no_one4[i], 4);
        fix_ipv4_checksum(frame + ETH);
        ck_assert_uint_eq(answer_to(len), 0);
    }
    tcp_syn(frame + ETH + 40, 80);
    len = ipv6((uint8_t[16]){0xff, 0x02, [15] = 1}, 6, 40);
    ck_assert_uint_eq(answer_to(len), 0);
    for (int last = 0; last < 2; last++) { /* from :: and ::1 */
        len = ipv6_syn();
        memset(frame + ETH + 8, 0, 16);
        frame[ETH + 8 + 15] = (uint8_t)last;
        ck_assert_uint_eq(answer_to(len), 0);
    }
    len = ipv6_syn();
    frame[ETH + 8] = 0xff; /* a multicast source */
    ck_assert_uint_eq(answer_to(len), 0);
}
END_TEST

/* ---- the rate limit ---- */

START_TEST(test_rate_limit)
{
    struct net_refuse_limit l = {0};
    double t = 5000.0;
    for (int i = 0; i < NET_REFUSE_BURST; i++)
        ck_assert(net_refuse_limit_take(&l, t));
    ck_assert(!net_refuse_limit_take(&l, t));
    ck_assert(!net_refuse_limit_take(&l, t + 5)); /* half a token */
    ck_assert(net_refuse_limit_take(&l, t + 10));
    ck_assert(!net_refuse_limit_take(&l, t + 10));
    /* A quiet minute refills the burst, no more. */
    t += 60000.0;
    int taken = 0;
    while (net_refuse_limit_take(&l, t))
        taken++;
    ck_assert_int_eq(taken, NET_REFUSE_BURST);
    /* Steady sending: NET_REFUSE_PER_S a second. */
    taken = 0;
    for (int ms = 1; ms <= 2000; ms++)
        taken += net_refuse_limit_take(&l, t + ms);
    ck_assert_int_eq(taken, 2 * NET_REFUSE_PER_S);
    /* A clock that steps back gives nothing. */
    ck_assert(!net_refuse_limit_take(&l, t));
}
END_TEST

static Suite *net_refuse_suite(void)
{
    Suite *s = suite_create("net_refuse");
    TCase *a = tcase_create("answers");
    tcase_add_test(a, test_ipv4_tcp_syn);
    tcase_add_test(a, test_ipv4_udp_quotes_up_to_576);
    tcase_add_test(a, test_ipv4_options_quoted_as_sent);
    tcase_add_test(a, test_ipv4_echo_request_answered);
    tcase_add_test(a, test_ipv6_tcp_syn);
    tcase_add_test(a, test_ipv6_udp_quotes_up_to_1280);
    tcase_add_test(a, test_ipv6_first_fragment_and_extension_headers);
    suite_add_tcase(s, a);
    TCase *n = tcase_create("none");
    tcase_add_test(n, test_no_answer_to_icmp_errors);
    tcase_add_test(n, test_no_answer_to_later_fragments);
    tcase_add_test(n, test_no_answer_to_truncated_frames);
    tcase_add_test(n, test_no_answer_to_bad_headers);
    tcase_add_test(n, test_no_answer_to_groups_or_no_one);
    suite_add_tcase(s, n);
    TCase *r = tcase_create("rate");
    tcase_add_test(r, test_rate_limit);
    suite_add_tcase(s, r);
    return s;
}

int main(void)
{
    return run_suite(net_refuse_suite());
}
