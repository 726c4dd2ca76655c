/* libslirp on the worker's libevent loop. Everything libslirp does happens
 * on the loop thread: the vCPU's notifications only activate an event.
 *
 * - Frames the guest sends are taken in batches (TX_BATCH, then the loop has a
 *   turn) and given to slirp_input once net_frame_allowed says so.
 * - Frames libslirp sends go straight into the guest's receive buffers; when
 *   the guest has none free they wait in a bounded queue, and while that queue
 *   holds more than RX_PAUSE_BYTES no host socket is read, so the pressure goes
 *   back to the senders through their TCP windows instead of into memory. Only
 *   a full queue drops (what libslirp itself allows: TCP retransmits).
 * - libslirp's sockets are polled the way it asks: slirp_pollfds_fill names
 *   the descriptors and a timeout, each becomes an event, and when any is
 *   ready (or the timeout passes) slirp_pollfds_poll is told and the set is
 *   filled again. Its timers are evtimers. */
#include "worker/net_user.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/virtio_net.h"
#include "log.h"
#include "util.h"
#include "worker/net_refuse.h"

#define TX_BATCH 64
#define RX_QUEUE_FRAMES 1024
#define RX_QUEUE_BYTES (8u << 20)
#define RX_PAUSE_BYTES (1u << 20)
/* libslirp ACKs every segment the guest sends at once. The guest's TCP
 * (Nagle) sends what it gathered when an ACK comes back, so an ACK that comes
 * back at once makes each small write (busybox nc writes 1 KiB) a segment of
 * its own, and a guest on the emulator pays per segment: its stack, driver and
 * interrupts. Pure ACKs for the guest (no data, no flag but ACK) therefore
 * wait up to ACK_HOLD_US, or until any other frame goes to the guest (they go
 * first, in order): an 8 MiB upload then leaves in ~800 segments instead of
 * ~5,000, for half the guest's CPU. Nothing is dropped or merged; a guest
 * waiting on a pure ACK (a Nagle-held write) waits at most this long. */
#define ACK_HOLD_US 500
#define ACK_HOLD_FRAMES 64
/* The answer to a refused TCP SYN reaches a guest on the emulator while its
 * connect() still holds the socket (the SYN left from inside the call); Linux
 * then keeps the error as a soft one (tcp_v4_err: sock_owned_by_user, counted
 * as LockDroppedIcmps) and fails the connect only when it answers the SYN's
 * retransmission, a second later. Measured: 4 of 6 connects took 1.1 s so.
 * Answers to TCP therefore wait REFUSE_HOLD_US, long enough for the call to
 * let go of the socket and sleep (then 6 of 6 took 0.2 s, the shell's round
 * trip); at most REFUSE_HOLD_FRAMES wait (more go at once). UDP's errors are
 * kept whoever holds the socket, and reported at the next send: those answers
 * go at once (busybox nslookup, which sends twice, sees it at its second). */
#define REFUSE_HOLD_US 2000
#define REFUSE_HOLD_FRAMES 16
#define MAX_POLL_TIMEOUT_MS 1000
#define LINK_CHECK_MS 20
#define LINK_GIVE_UP_MS 5000
#define LOG_LIMIT 10

/* The guest network, as QEMU's user networking lays it out. */
#define NET_NETWORK "10.0.2.0"
#define NET_NETMASK "255.255.255.0"
#define NET_HOST "10.0.2.2"
#define NET_DHCP_START "10.0.2.15"
#define NET_DNS "10.0.2.3"
#define NET_PREFIX6 "fec0::"
#define NET_HOST6 "fec0::2"
#define NET_DNS6 "fec0::3"
/* libslirp's router, on the link: where its router advertisements come from. */
#define NET_ROUTER6 "fe80::2"

/* ---- options ------------------------------------------------------------------------------ */

static int parse_port(const char *text, size_t len, uint16_t *port)
{
    if (len == 0 || len > 5)
        return -1;
    unsigned long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(text[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

int net_publish_parse(const char *text, struct net_publish *out, char *err, size_t err_len)
{
    char buf[96];
    if (strlen(text) >= sizeof(buf)) {
        set_message(err, err_len, "publish rule '%.20s...' is too long", text);
        return -1;
    }
    snprintf(buf, sizeof(buf), "%s", text);
    struct net_publish p = {.host_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char *slash = strchr(buf, '/');
    if (slash) {
        if (strcmp(slash + 1, "udp") == 0)
            p.udp = true;
        else if (strcmp(slash + 1, "tcp") != 0)
            goto bad;
        *slash = '\0';
    }
    char *last = strrchr(buf, ':');
    if (!last)
        goto bad;
    if (parse_port(last + 1, strlen(last + 1), &p.guest_port) < 0)
        goto bad;
    *last = '\0';
    char *host_port = strrchr(buf, ':');
    if (host_port) {
        *host_port++ = '\0';
        if (inet_pton(AF_INET, buf, &p.host_addr) != 1) {
            set_message(err, err_len, "publish %s: '%s' is not an IPv4 address", text, buf);
            return -1;
        }
    } else {
        host_port = buf;
    }
    if (parse_port(host_port, strlen(host_port), &p.host_port) < 0)
        goto bad;
    *out = p;
    return 0;
bad:
    set_message(err, err_len, "publish %s: give [HOST_IP:]HOST_PORT:GUEST_PORT[/udp], ports 1 "
                "to 65535", text);
    return -1;
}

void net_publish_format(const struct net_publish *p, char *out, size_t out_len)
{
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &p->host_addr, addr, sizeof(addr));
    snprintf(out, out_len, "%s:%u:%u%s", addr, p->host_port, p->guest_port, p->udp ? "/udp" : "");
}

int net_config_parse(const char *text, struct net_config *out, char *err, size_t err_len)
{
    if (strcmp(text, "none") == 0) {
        out->mode = NET_NONE;
        out->host_loopback = false;
        return 0;
    }
    char buf[1024];
    if (strlen(text) >= sizeof(buf)) {
        set_message(err, err_len, "--net: too long");
        return -1;
    }
    snprintf(buf, sizeof(buf), "%s", text);
    char *save = NULL;
    char *item = strtok_r(buf, ",", &save);
    if (!item || strcmp(item, "user") != 0) {
        set_message(err, err_len, "--net %s: give user[,host-loopback][,publish=RULE]... or none",
                    text);
        return -1;
    }
    out->mode = NET_USER;
    while ((item = strtok_r(NULL, ",", &save))) {
        if (strcmp(item, "host-loopback") == 0) {
            out->host_loopback = true;
        } else if (strncmp(item, "publish=", 8) == 0) {
            if (out->num_publish == NET_MAX_PUBLISH) {
                set_message(err, err_len, "--net: more than %d publish rules", NET_MAX_PUBLISH);
                return -1;
            }
            if (net_publish_parse(item + 8, &out->publish[out->num_publish], err, err_len) < 0)
                return -1;
            out->num_publish++;
        } else {
            set_message(err, err_len, "--net: unknown item '%s' (host-loopback, publish=RULE)",
                        item);
            return -1;
        }
    }
    return 0;
}

/* ---- what the guest may reach -------------------------------------------------------------- */

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define IPPROTO_TCP_NUM 6
#define IPPROTO_UDP_NUM 17
#define DNS_PORT 53

static bool ipv4_is_host_itself(const uint8_t *a)
{
    return a[0] == 127 || a[0] == 0; /* loopback, "this host" (connect() takes it as local) */
}

static bool ipv6_is_host_itself(const uint8_t *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    bool zero_prefix = true;
    for (int i = 0; i < 15; i++)
        zero_prefix = zero_prefix && a[i] == 0;
    if (zero_prefix && (a[15] == 0 || a[15] == 1))
        return true; /* :: and ::1 */
    return memcmp(a, mapped, 12) == 0 && ipv4_is_host_itself(a + 12);
}

/* libslirp's own addresses (net_user.h), as the filter compares them. */
static const uint8_t gateway4[4] = {10, 0, 2, 2};
static const uint8_t dns4[4] = {10, 0, 2, 3};
static const uint8_t prefix6[8] = {0xfe, 0xc0, 0, 0, 0, 0, 0, 0}; /* fec0::/64 */
static const uint8_t dns6[16] = {0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3};

#define DHCP_SERVER_PORT 67
#define NO_PORT 0
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10
#define TCP_MIN_HEADER 20

/* What one of libslirp's own addresses is to the guest: the DNS alias (DNS,
 * TCP or UDP, port 53), or the host itself (the gateway, and over IPv6 every
 * other address of the prefix), where libslirp keeps only its DHCP server
 * (UDP port 67, the guest renews its lease there). */
struct alias {
    bool dns;
    uint16_t udp_service; /* for the host: the UDP port kept, or NO_PORT */
};

/* Whether a packet of protocol proto for an alias may go on to libslirp.
 * l4 (l4_len bytes there) is its transport header when first_fragment.
 * libslirp forwards the DNS alias, on any port, to the host's resolver (which
 * may be a loopback address) and connects the host's addresses to the host's
 * loopback; its disable_host_loopback refuses the latter too, but with an
 * answer Linux's UDP ignores ("net unreachable" is a soft error), and the
 * refusal here is answered as net_refuse.h says. The guest's other TCP
 * segments to the host belong to connections the host opened through a
 * published port (libslirp shows their peer as the gateway): only a SYN
 * without ACK opens one. */
static bool alias_allowed(struct alias alias, uint8_t proto, bool first_fragment,
                          const uint8_t *l4, size_t l4_len)
{
    if (proto != IPPROTO_TCP_NUM && proto != IPPROTO_UDP_NUM)
        return true; /* ICMP to it is answered by libslirp itself */
    if (!first_fragment)
        return true; /* no port in it; reassembly needs the first, which is checked */
    bool tcp = proto == IPPROTO_TCP_NUM;
    if (l4_len < (tcp ? TCP_MIN_HEADER : 4u))
        return false;
    uint16_t port = (uint16_t)(l4[2] << 8 | l4[3]);
    if (alias.dns)
        return port == DNS_PORT;
    if (!tcp)
        return alias.udp_service != NO_PORT && port == alias.udp_service;
    return (l4[13] & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN;
}

static bool ipv4_alias_allowed(const uint8_t *ip, size_t ip_len)
{
    const uint8_t *dst = ip + 16;
    struct alias alias;
    if (memcmp(dst, gateway4, 4) == 0)
        alias = (struct alias){.dns = false, .udp_service = DHCP_SERVER_PORT};
    else if (memcmp(dst, dns4, 4) == 0)
        alias = (struct alias){.dns = true};
    else
        return true;
    size_t header = (ip[0] & 0x0f) * 4u;
    bool first_fragment = ((ip[6] & 0x1f) << 8 | ip[7]) == 0;
    bool header_fits = header >= 20 && header <= ip_len;
    return alias_allowed(alias, ip[9], first_fragment, header_fits ? ip + header : NULL,
                         header_fits ? ip_len - header : 0);
}

/* Over IPv6 libslirp takes every address of its prefix but the DNS alias for
 * the host (fec0::2 is the one QEMU documents); the guest's own address never
 * goes on the wire. Only a transport header right after the fixed one is
 * looked at: libslirp takes no extension headers. */
static bool ipv6_alias_allowed(const uint8_t *ip, size_t ip_len)
{
    const uint8_t *dst = ip + 24;
    if (memcmp(dst, prefix6, sizeof(prefix6)) != 0)
        return true;
    struct alias alias = {.dns = memcmp(dst, dns6, 16) == 0, .udp_service = NO_PORT};
    return alias_allowed(alias, ip[6], true, ip + 40, ip_len - 40);
}

bool net_frame_allowed(const uint8_t *frame, size_t len, bool host_loopback)
{
    if (len < VIRTIO_NET_ETH_HEADER)
        return false;
    if (host_loopback)
        return true;
    uint16_t type = (uint16_t)(frame[12] << 8 | frame[13]);
    const uint8_t *ip = frame + VIRTIO_NET_ETH_HEADER;
    size_t ip_len = len - VIRTIO_NET_ETH_HEADER;
    if (type == ETHERTYPE_IPV4) {
        if (ip_len < 20)
            return true; /* not an IP packet libslirp will take */
        return !ipv4_is_host_itself(ip + 16) && ipv4_alias_allowed(ip, ip_len);
    }
    if (type == ETHERTYPE_IPV6) {
        if (ip_len < 40)
            return true;
        return !ipv6_is_host_itself(ip + 24) && ipv6_alias_allowed(ip, ip_len);
    }
    return true; /* ARP and the rest: libslirp answers or ignores them */
}

/* The TCP header at tcp (tcp_len bytes there) carries nothing but an ACK:
 * no payload (payload_len 0), no flag but ACK. */
static bool tcp_pure_ack(const uint8_t *tcp, size_t tcp_len, size_t segment_len)
{
    if (tcp_len < 20)
        return false;
    size_t header = (tcp[12] >> 4) * 4u;
    return header >= 20 && segment_len == header && tcp[13] == TCP_FLAG_ACK;
}

bool net_frame_is_pure_ack(const uint8_t *frame, size_t len)
{
    if (len < VIRTIO_NET_ETH_HEADER)
        return false;
    uint16_t type = (uint16_t)(frame[12] << 8 | frame[13]);
    const uint8_t *ip = frame + VIRTIO_NET_ETH_HEADER;
    size_t ip_len = len - VIRTIO_NET_ETH_HEADER;
    if (type == ETHERTYPE_IPV4) {
        if (ip_len < 20 || (ip[0] >> 4) != 4 || ip[9] != IPPROTO_TCP_NUM)
            return false;
        size_t header = (ip[0] & 0x0f) * 4u;
        size_t total = (size_t)(ip[2] << 8 | ip[3]);
        bool fragment = (ip[6] & 0x3f) || ip[7]; /* more fragments, or an offset */
        if (header < 20 || fragment || total < header || total > ip_len)
            return false;
        return tcp_pure_ack(ip + header, total - header, total - header);
    }
    if (type == ETHERTYPE_IPV6) {
        /* Only a TCP header right after the fixed one: libslirp adds no
         * extension headers. */
        if (ip_len < 40 || (ip[0] >> 4) != 6 || ip[6] != IPPROTO_TCP_NUM)
            return false;
        size_t payload = (size_t)(ip[4] << 8 | ip[5]);
        if (payload > ip_len - 40)
            return false;
        return tcp_pure_ack(ip + 40, payload, payload);
    }
    return false;
}

/* ---- the stack ------------------------------------------------------------------------------ */

struct poll_slot {
    int fd;
    short registered; /* EV_READ | EV_WRITE its event waits for */
    short wanted;     /* what this cycle's fill asks for */
    bool listed;      /* named by this cycle's fill */
    short ready;      /* what the loop reported since the last cycle */
    struct event *ev;
};

struct rx_frame {
    size_t len;
    uint8_t data[];
};

struct net_timer {
    struct net_user *nu;
    struct event *ev;
    SlirpTimerCb cb;
    void *cb_opaque;
};

struct net_user {
    struct event_base *base;
    struct net_config config;
    Slirp *slirp;
    struct device *dev;
    struct event *kick, *cycle_timer, *link_timer;
    /* Descriptors of the current cycle, in slirp_pollfds_fill's order. */
    struct poll_slot *slots;
    size_t num_slots, cap_slots;
    int *slot_of; /* per index of the fill: its slot */
    size_t num_polls, cap_polls;
    bool paused; /* host sockets are not read: the guest is behind */
    struct rx_frame *rx[RX_QUEUE_FRAMES];
    size_t rx_head, rx_count, rx_bytes;
    uint64_t rx_queue_drops;
    struct rx_frame *held[ACK_HOLD_FRAMES]; /* pure ACKs waiting (hold_ack) */
    size_t num_held;
    struct event *hold_timer;
    double link_down_ms;
    unsigned logged;
    struct net_refuse_router router; /* what answers refused frames */
    struct net_refuse_limit refuse_limit;
    struct rx_frame *refusals[REFUSE_HOLD_FRAMES]; /* answers waiting (refuse) */
    size_t num_refusals;
    struct event *refuse_timer;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* -- frames to the guest -- */

static void rx_pop(struct net_user *nu)
{
    struct rx_frame *f = nu->rx[nu->rx_head];
    nu->rx[nu->rx_head] = NULL;
    nu->rx_head = (nu->rx_head + 1) % RX_QUEUE_FRAMES;
    nu->rx_count--;
    nu->rx_bytes -= f->len;
    free(f);
}

static void poll_cycle(struct net_user *nu);

/* Every loop callback that may return buffers to the guest runs as one batch:
 * the guest gets one interrupt for all it did (see virtio_net_batch_begin). */
static void batch_begin(struct net_user *nu)
{
    if (nu->dev)
        virtio_net_batch_begin(nu->dev);
}

static void batch_end(struct net_user *nu)
{
    if (nu->dev)
        virtio_net_batch_end(nu->dev);
}

/* Offers the waiting frames to the guest, oldest first. */
static void rx_flush(struct net_user *nu)
{
    while (nu->rx_count) {
        struct rx_frame *f = nu->rx[nu->rx_head];
        int rc = nu->dev ? virtio_net_receive(nu->dev, f->data, f->len) : -ENODEV;
        if (rc == -EAGAIN)
            break;
        rx_pop(nu); /* delivered, or undeliverable (no driver, bad size) */
    }
    if (nu->paused && nu->rx_bytes < RX_PAUSE_BYTES / 2)
        poll_cycle(nu); /* reads the host's sockets again */
}

static bool rx_enqueue(struct net_user *nu, const void *buf, size_t len)
{
    if (nu->rx_count == RX_QUEUE_FRAMES || nu->rx_bytes + len > RX_QUEUE_BYTES)
        return false;
    struct rx_frame *f = malloc(sizeof(*f) + len);
    if (!f)
        return false;
    f->len = len;
    memcpy(f->data, buf, len);
    nu->rx[(nu->rx_head + nu->rx_count) % RX_QUEUE_FRAMES] = f;
    nu->rx_count++;
    nu->rx_bytes += len;
    return true;
}

static void deliver_frame(struct net_user *nu, const void *buf, size_t len);

/* Held ACKs go to the guest before anything after them, in their order. */
static void flush_held(struct net_user *nu)
{
    for (size_t i = 0; i < nu->num_held; i++) {
        if (nu->dev)
            deliver_frame(nu, nu->held[i]->data, nu->held[i]->len);
        free(nu->held[i]);
        nu->held[i] = NULL;
    }
    nu->num_held = 0;
}

static void on_hold_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct net_user *nu = arg;
    batch_begin(nu);
    flush_held(nu);
    batch_end(nu);
}

/* A pure ACK libslirp sends the guest waits up to ACK_HOLD_US (see
 * ACK_HOLD_US); true when it was taken to wait. */
static bool hold_ack(struct net_user *nu, const void *buf, size_t len)
{
    if (nu->num_held == ACK_HOLD_FRAMES || !net_frame_is_pure_ack(buf, len))
        return false;
    struct rx_frame *f = malloc(sizeof(*f) + len);
    if (!f)
        return false;
    f->len = len;
    memcpy(f->data, buf, len);
    nu->held[nu->num_held++] = f;
    if (nu->num_held == 1) {
        struct timeval tv = {.tv_usec = ACK_HOLD_US};
        evtimer_add(nu->hold_timer, &tv);
    }
    return true;
}

/* A frame for the guest that does not wait: after the held ACKs. */
static void to_guest(struct net_user *nu, const void *buf, size_t len)
{
    flush_held(nu);
    deliver_frame(nu, buf, len);
}

static ssize_t slirp_send_packet(const void *buf, size_t len, void *opaque)
{
    struct net_user *nu = opaque;
    if (!nu->dev)
        return (ssize_t)len; /* no guest to take it: as a cable pulled out */
    if (!hold_ack(nu, buf, len))
        to_guest(nu, buf, len);
    return (ssize_t)len;
}

static void deliver_frame(struct net_user *nu, const void *buf, size_t len)
{
    if (nu->rx_count == 0) {
        int rc = virtio_net_receive(nu->dev, buf, len);
        if (rc != -EAGAIN)
            return;
    }
    if (!rx_enqueue(nu, buf, len))
        nu->rx_queue_drops++;
}

/* -- frames from the guest -- */

/* The answers waiting (see REFUSE_HOLD_US) go to the guest, in order; with
 * no device they are only freed. */
static void flush_refusals(struct net_user *nu)
{
    for (size_t i = 0; i < nu->num_refusals; i++) {
        if (nu->dev)
            to_guest(nu, nu->refusals[i]->data, nu->refusals[i]->len);
        free(nu->refusals[i]);
        nu->refusals[i] = NULL;
    }
    nu->num_refusals = 0;
}

static void on_refuse_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct net_user *nu = arg;
    batch_begin(nu);
    flush_refusals(nu);
    batch_end(nu);
}

/* Whether an IP frame carries TCP right after its fixed header. */
static bool frame_carries_tcp(const uint8_t *frame, size_t len)
{
    uint16_t type = (uint16_t)(frame[12] << 8 | frame[13]);
    if (type == ETHERTYPE_IPV4)
        return len >= VIRTIO_NET_ETH_HEADER + 20 &&
               frame[VIRTIO_NET_ETH_HEADER + 9] == IPPROTO_TCP_NUM;
    return type == ETHERTYPE_IPV6 && len >= VIRTIO_NET_ETH_HEADER + 40 &&
           frame[VIRTIO_NET_ETH_HEADER + 6] == IPPROTO_TCP_NUM;
}

/* A frame the filter refused gets the answer a router with a filter gives
 * (net_refuse.h), through the same way to the guest as libslirp's frames;
 * for TCP after REFUSE_HOLD_US. */
static void refuse(struct net_user *nu, const uint8_t *frame, size_t len)
{
    uint8_t answer[NET_REFUSE_MAX_ANSWER];
    size_t answer_len = net_refuse_answer(frame, len, &nu->router, answer);
    if (!answer_len || !net_refuse_limit_take(&nu->refuse_limit, now_ms()))
        return;
    bool hold = frame_carries_tcp(frame, len) && nu->num_refusals < REFUSE_HOLD_FRAMES;
    struct rx_frame *f = hold ? malloc(sizeof(*f) + answer_len) : NULL;
    if (!f) {
        to_guest(nu, answer, answer_len);
        return;
    }
    f->len = answer_len;
    memcpy(f->data, answer, answer_len);
    nu->refusals[nu->num_refusals++] = f;
    if (nu->num_refusals == 1) {
        struct timeval tv = {.tv_usec = REFUSE_HOLD_US};
        evtimer_add(nu->refuse_timer, &tv);
    }
}

static void deliver_to_slirp(void *opaque, const uint8_t *frame, size_t len)
{
    struct net_user *nu = opaque;
    if (!net_frame_allowed(frame, len, nu->config.host_loopback)) {
        refuse(nu, frame, len);
        return;
    }
    slirp_input(nu->slirp, frame, (int)len);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct net_user *nu = arg;
    if (!nu->dev)
        return;
    batch_begin(nu);
    rx_flush(nu);
    unsigned taken = virtio_net_transmit(nu->dev, TX_BATCH, deliver_to_slirp, nu);
    if (taken == TX_BATCH)
        event_active(nu->kick, EV_READ, 0); /* more: after the loop has had a turn */
    if (taken)
        poll_cycle(nu); /* the frames may have opened sockets */
    batch_end(nu);
}

void net_user_kick(void *opaque)
{
    struct net_user *nu = opaque;
    event_active(nu->kick, EV_READ, 0);
}

/* -- libslirp's descriptors -- */

static int add_poll(int fd, int events, void *opaque)
{
    struct net_user *nu = opaque;
    if (nu->num_polls == nu->cap_polls) {
        size_t cap = nu->cap_polls ? nu->cap_polls * 2 : 16;
        int *s = realloc(nu->slot_of, cap * sizeof(*s));
        if (!s)
            return -1; /* slirp then does not poll this one this time */
        nu->slot_of = s;
        nu->cap_polls = cap;
    }
    size_t i = nu->num_polls++;
    nu->slot_of[i] = -1;
    /* Kept in the slot table by fd; sync_slots registers it. */
    short what = 0;
    if ((events & SLIRP_POLL_IN) && !nu->paused)
        what |= EV_READ;
    if (events & (SLIRP_POLL_PRI))
        what |= EV_READ;
    if (events & SLIRP_POLL_OUT)
        what |= EV_WRITE;
    for (size_t s = 0; s < nu->num_slots; s++) {
        if (nu->slots[s].fd == fd) {
            nu->slots[s].wanted |= what;
            nu->slots[s].listed = true;
            nu->slot_of[i] = (int)s;
            return (int)i;
        }
    }
    if (nu->num_slots == nu->cap_slots) {
        size_t cap = nu->cap_slots ? nu->cap_slots * 2 : 16;
        struct poll_slot *p = realloc(nu->slots, cap * sizeof(*p));
        if (!p) {
            nu->num_polls--;
            return -1;
        }
        nu->slots = p;
        nu->cap_slots = cap;
    }
    nu->slots[nu->num_slots] = (struct poll_slot){.fd = fd, .wanted = what, .listed = true};
    nu->slot_of[i] = (int)nu->num_slots;
    nu->num_slots++;
    return (int)i;
}

static int get_revents(int idx, void *opaque)
{
    struct net_user *nu = opaque;
    if (idx < 0 || (size_t)idx >= nu->num_polls || nu->slot_of[idx] < 0)
        return 0;
    short ready = nu->slots[nu->slot_of[idx]].ready;
    int r = 0;
    if (ready & EV_READ)
        r |= SLIRP_POLL_IN;
    if (ready & EV_WRITE)
        r |= SLIRP_POLL_OUT;
    return r;
}

static void on_fd(evutil_socket_t fd, short what, void *arg)
{
    struct net_user *nu = arg;
    for (size_t s = 0; s < nu->num_slots; s++)
        if (nu->slots[s].fd == fd)
            nu->slots[s].ready |= (short)(what & (EV_READ | EV_WRITE));
    batch_begin(nu);
    poll_cycle(nu);
    batch_end(nu);
}

/* After a fill: registers what changed, drops the slots no longer named. */
static void sync_slots(struct net_user *nu)
{
    size_t kept = 0;
    for (size_t s = 0; s < nu->num_slots; s++) {
        struct poll_slot *p = &nu->slots[s];
        if (!p->listed) {
            if (p->ev)
                event_free(p->ev);
            continue;
        }
        if (p->registered != p->wanted || (p->wanted && !p->ev)) {
            if (p->ev)
                event_free(p->ev);
            p->ev = p->wanted ? event_new(nu->base, p->fd, p->wanted | EV_PERSIST, on_fd, nu)
                              : NULL;
            if (p->ev)
                event_add(p->ev, NULL);
            p->registered = p->ev ? p->wanted : 0;
        }
        p->ready = 0;
        /* slot_of indices move with the compaction */
        for (size_t i = 0; i < nu->num_polls; i++)
            if (nu->slot_of[i] == (int)s)
                nu->slot_of[i] = (int)kept;
        nu->slots[kept++] = *p;
    }
    nu->num_slots = kept;
}

static void poll_cycle(struct net_user *nu)
{
    slirp_pollfds_poll(nu->slirp, 0, get_revents, nu);
    nu->paused = nu->rx_bytes >= RX_PAUSE_BYTES;
    nu->num_polls = 0;
    for (size_t s = 0; s < nu->num_slots; s++) {
        nu->slots[s].wanted = 0; /* until this cycle's fill names it */
        nu->slots[s].listed = false;
    }
    uint32_t timeout = MAX_POLL_TIMEOUT_MS;
    slirp_pollfds_fill(nu->slirp, &timeout, add_poll, nu);
    sync_slots(nu);
    if (timeout > MAX_POLL_TIMEOUT_MS)
        timeout = MAX_POLL_TIMEOUT_MS;
    struct timeval tv = {.tv_sec = timeout / 1000, .tv_usec = (timeout % 1000) * 1000};
    evtimer_add(nu->cycle_timer, &tv);
}

static void on_cycle_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct net_user *nu = arg;
    batch_begin(nu);
    poll_cycle(nu);
    batch_end(nu);
}

/* -- libslirp's callbacks -- */

static void slirp_guest_error(const char *msg, void *opaque)
{
    struct net_user *nu = opaque;
    if (nu->logged < LOG_LIMIT) {
        nu->logged++;
        log_warn("network: the guest sent %s", msg);
    }
}

static int64_t slirp_clock_ns(void *opaque)
{
    (void)opaque;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void on_slirp_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct net_timer *t = arg;
    batch_begin(t->nu);
    t->cb(t->cb_opaque);
    batch_end(t->nu);
}

static void *slirp_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct net_user *nu = opaque;
    struct net_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    *t = (struct net_timer){.nu = nu, .cb = cb, .cb_opaque = cb_opaque};
    t->ev = evtimer_new(nu->base, on_slirp_timer, t);
    if (!t->ev) {
        free(t);
        return NULL;
    }
    return t;
}

static void slirp_timer_free(void *timer, void *opaque)
{
    (void)opaque;
    struct net_timer *t = timer;
    if (!t)
        return;
    event_free(t->ev);
    free(t);
}

/* expire_time is in milliseconds of slirp_clock_ns. */
static void slirp_timer_mod(void *timer, int64_t expire_time, void *opaque)
{
    (void)opaque;
    struct net_timer *t = timer;
    if (!t)
        return;
    int64_t delay = expire_time - slirp_clock_ns(NULL) / 1000000;
    if (delay < 0)
        delay = 0;
    struct timeval tv = {.tv_sec = delay / 1000, .tv_usec = (delay % 1000) * 1000};
    evtimer_add(t->ev, &tv);
}

static void slirp_register_poll_fd(int fd, void *opaque)
{
    (void)fd, (void)opaque; /* each cycle's fill names them */
}

static void slirp_notify(void *opaque)
{
    struct net_user *nu = opaque;
    struct timeval now = {0, 0};
    evtimer_add(nu->cycle_timer, &now); /* a socket can take more: a cycle soon */
}

static const SlirpCb slirp_callbacks = {
    .send_packet = slirp_send_packet,
    .guest_error = slirp_guest_error,
    .clock_get_ns = slirp_clock_ns,
    .timer_new = slirp_timer_new,
    .timer_free = slirp_timer_free,
    .timer_mod = slirp_timer_mod,
    .register_poll_fd = slirp_register_poll_fd,
    .unregister_poll_fd = slirp_register_poll_fd,
    .notify = slirp_notify,
};

static void address(const char *text, struct in_addr *out)
{
    inet_pton(AF_INET, text, out);
}

static void address6(const char *text, struct in6_addr *out)
{
    inet_pton(AF_INET6, text, out);
}

static Slirp *new_slirp(struct net_user *nu)
{
    SlirpConfig c = {
        .version = 3,
        .restricted = 0, /* NAT to the outside; restricted mode would cut it */
        .in_enabled = true,
        .in6_enabled = true,
        .vprefix_len = 64,
        .if_mtu = VIRTIO_NET_MTU,
        .if_mru = VIRTIO_NET_MTU,
        /* libslirp turns connections to 10.0.2.2 into ones to the host's
         * 127.0.0.1; this refuses them unless asked for. */
        .disable_host_loopback = !nu->config.host_loopback,
    };
    address(NET_NETWORK, &c.vnetwork);
    address(NET_NETMASK, &c.vnetmask);
    address(NET_HOST, &c.vhost);
    address(NET_DHCP_START, &c.vdhcp_start);
    address(NET_DNS, &c.vnameserver);
    address6(NET_PREFIX6, &c.vprefix_addr6);
    address6(NET_HOST6, &c.vhost6);
    address6(NET_DNS6, &c.vnameserver6);
    return slirp_new(&c, &slirp_callbacks, nu);
}

static int publish_ports(struct net_user *nu, char *err, size_t err_len)
{
    struct in_addr guest = {0}; /* libslirp's default: the first DHCP address */
    for (unsigned i = 0; i < nu->config.num_publish; i++) {
        const struct net_publish *p = &nu->config.publish[i];
        if (slirp_add_hostfwd(nu->slirp, p->udp, p->host_addr, p->host_port, guest,
                              p->guest_port) < 0) {
            char rule[64];
            net_publish_format(p, rule, sizeof(rule));
            set_message(err, err_len, "cannot publish %s: the host port is taken or the "
                        "address is not this host's", rule);
            return -1;
        }
    }
    return 0;
}

static void on_link_timer(evutil_socket_t fd, short what, void *arg);

struct net_user *net_user_create(struct event_base *base, const struct net_config *config,
                                 char *err, size_t err_len)
{
    struct net_user *nu = calloc(1, sizeof(*nu));
    if (!nu) {
        set_message(err, err_len, "out of memory");
        return NULL;
    }
    nu->base = base;
    nu->config = *config;
    inet_pton(AF_INET, NET_HOST, nu->router.ipv4);
    inet_pton(AF_INET6, NET_ROUTER6, nu->router.ipv6);
    nu->kick = event_new(base, -1, 0, on_kick, nu);
    nu->cycle_timer = evtimer_new(base, on_cycle_timer, nu);
    nu->link_timer = evtimer_new(base, on_link_timer, nu);
    nu->hold_timer = evtimer_new(base, on_hold_timer, nu);
    nu->refuse_timer = evtimer_new(base, on_refuse_timer, nu);
    bool events = nu->kick && nu->cycle_timer && nu->link_timer && nu->hold_timer &&
                  nu->refuse_timer;
    nu->slirp = events ? new_slirp(nu) : NULL;
    if (!nu->slirp) {
        set_message(err, err_len, "cannot start the user-mode network (libslirp)");
        net_user_destroy(nu);
        return NULL;
    }
    if (publish_ports(nu, err, err_len) < 0) {
        net_user_destroy(nu);
        return NULL;
    }
    poll_cycle(nu);
    return nu;
}

void net_user_attach(struct net_user *nu, struct device *net)
{
    nu->dev = net;
    if (!net) {
        while (nu->rx_count)
            rx_pop(nu);
        flush_held(nu); /* with no device: only freed */
        flush_refusals(nu);
        event_del(nu->link_timer);
        event_del(nu->hold_timer);
        event_del(nu->refuse_timer);
    }
}

/* Down until the driver has read the status (or it takes too long: a guest
 * that does not look), then up. */
static void on_link_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct net_user *nu = arg;
    if (!nu->dev)
        return;
    if (virtio_net_link_seen(nu->dev) || now_ms() - nu->link_down_ms > LINK_GIVE_UP_MS) {
        virtio_net_set_link(nu->dev, true);
        log_info("network: link up again");
        return;
    }
    struct timeval tv = {.tv_usec = LINK_CHECK_MS * 1000};
    evtimer_add(nu->link_timer, &tv);
}

void net_user_bounce_link(struct net_user *nu)
{
    if (!nu->dev || !virtio_net_running(nu->dev))
        return; /* no driver yet: it reads the new address when it probes */
    virtio_net_set_link(nu->dev, false);
    nu->link_down_ms = now_ms();
    log_info("network: link down for the guest to take its new address");
    struct timeval tv = {.tv_usec = LINK_CHECK_MS * 1000};
    evtimer_add(nu->link_timer, &tv);
}

void net_user_restored(struct net_user *nu, bool same_mac)
{
    if (same_mac && nu->dev && virtio_net_announce(nu->dev)) {
        log_info("network: the guest is asked to announce itself to the new stack");
        return;
    }
    net_user_bounce_link(nu);
}

void net_user_destroy(struct net_user *nu)
{
    if (!nu)
        return;
    if (nu->slirp)
        slirp_cleanup(nu->slirp);
    for (size_t s = 0; s < nu->num_slots; s++)
        if (nu->slots[s].ev)
            event_free(nu->slots[s].ev);
    free(nu->slots);
    free(nu->slot_of);
    while (nu->rx_count)
        rx_pop(nu);
    if (nu->kick)
        event_free(nu->kick);
    if (nu->cycle_timer)
        event_free(nu->cycle_timer);
    if (nu->link_timer)
        event_free(nu->link_timer);
    nu->dev = NULL;
    flush_held(nu); /* only freed */
    flush_refusals(nu);
    if (nu->hold_timer)
        event_free(nu->hold_timer);
    if (nu->refuse_timer)
        event_free(nu->refuse_timer);
    free(nu);
}
