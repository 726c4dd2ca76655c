/* PL031 RTC (Arm PrimeCell Real Time Clock Technical Reference Manual, DDI 0224).
 *
 * The counter is the host's wall clock plus an offset that a guest write to the
 * load register sets, so `date` in the guest is right and `hwclock -w` sticks for
 * the life of the guest. The match register is compared whenever the guest
 * touches the device (Linux's alarm polling through RIS); the alarm does not
 * raise its interrupt on its own while the guest is away. */
#include "pl031.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device_state.h"
#include "pl031.pb-c.h"
#include "util.h"

enum {
    RTCDR = 0x000, RTCMR = 0x004, RTCLR = 0x008, RTCCR = 0x00c, RTCIMSC = 0x010,
    RTCRIS = 0x014, RTCMIS = 0x018, RTCICR = 0x01c, RTCPERIPHID0 = 0xfe0,
};

static const uint8_t pl031_id[8] = {0x31, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1};

struct pl031 {
    struct device dev;
    pthread_mutex_t lock;
    pl031_clock_fn clock;
    int64_t offset; /* guest seconds - host seconds */
    uint32_t match, imsc, load;
    bool armed;     /* MR was written and the counter has not reached it since */
    bool match_raw; /* the alarm fired and the guest has not cleared it */
};

static struct pl031 *to_pl031(struct device *dev)
{
    return container_of(dev, struct pl031, dev);
}

int64_t pl031_host_clock(void)
{
    return (int64_t)time(NULL);
}

static uint32_t counter(const struct pl031 *r)
{
    return (uint32_t)(r->clock() + r->offset);
}

static void update(struct pl031 *r)
{
    if (r->armed && counter(r) >= r->match) {
        r->match_raw = true;
        r->armed = false;
    }
    irq_line_set(&r->dev.irq, r->match_raw && (r->imsc & 1));
}

static uint64_t pl031_read(struct device *dev, uint64_t off, unsigned size)
{
    (void)size;
    struct pl031 *r = to_pl031(dev);
    pthread_mutex_lock(&r->lock);
    update(r);
    uint64_t v = 0;
    switch (off) {
    case RTCDR: v = counter(r); break;
    case RTCMR: v = r->match; break;
    case RTCLR: v = r->load; break;
    case RTCCR: v = 1; break; /* always started */
    case RTCIMSC: v = r->imsc; break;
    case RTCRIS: v = r->match_raw; break;
    case RTCMIS: v = r->match_raw && (r->imsc & 1); break;
    default:
        if (off >= RTCPERIPHID0 && off < RTCPERIPHID0 + 0x20 && !(off & 3))
            v = pl031_id[(off - RTCPERIPHID0) / 4];
        break;
    }
    pthread_mutex_unlock(&r->lock);
    return v;
}

static void pl031_write(struct device *dev, uint64_t off, unsigned size, uint64_t value)
{
    (void)size;
    struct pl031 *r = to_pl031(dev);
    pthread_mutex_lock(&r->lock);
    switch (off) {
    case RTCMR: r->match = (uint32_t)value; r->armed = true; break;
    case RTCLR:
        r->load = (uint32_t)value;
        r->offset = (int64_t)r->load - r->clock();
        break;
    case RTCIMSC: r->imsc = (uint32_t)value & 1; break;
    case RTCICR: if (value & 1) r->match_raw = false; break;
    default: break;
    }
    update(r);
    pthread_mutex_unlock(&r->lock);
}

/* ---- snapshot state ---------------------------------------------------------- */

int pl031_save(struct device *dev, struct pl031_state *out)
{
    struct pl031 *r = to_pl031(dev);
    memset(out, 0, sizeof(*out)); /* the padding too: saved states compare bytewise */
    pthread_mutex_lock(&r->lock);
    out->offset = r->offset;
    out->load = r->load;
    out->match = r->match;
    out->imsc = r->imsc;
    out->armed = r->armed;
    out->match_raw = r->match_raw;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

static int check_state(const struct pl031_state *in, char *err, size_t err_len)
{
    if (in->offset < -PL031_MAX_OFFSET || in->offset > PL031_MAX_OFFSET)
        return device_state_refuse(err, err_len, "the RTC's offset from the host's clock, "
                                   "%lld s, is out of range", (long long)in->offset);
    if (in->imsc > 1 || in->armed > 1 || in->match_raw > 1)
        return device_state_refuse(err, err_len, "an RTC flag or mask bit out of range");
    return 0;
}

/* Applies a checked state. */
static void apply_state(struct pl031 *r, const struct pl031_state *in)
{
    pthread_mutex_lock(&r->lock);
    r->offset = in->offset;
    r->load = in->load;
    r->match = in->match;
    r->imsc = in->imsc;
    r->armed = in->armed;
    r->match_raw = in->match_raw;
    update(r);
    pthread_mutex_unlock(&r->lock);
}

int pl031_load(struct device *dev, const struct pl031_state *in)
{
    int rc = check_state(in, NULL, 0);
    if (rc == 0)
        apply_state(to_pl031(dev), in);
    return rc;
}

int pl031_state_encode(const struct pl031_state *in, struct device_state_bytes *out)
{
    Ignition__Devices__Pl031State m = IGNITION__DEVICES__PL031_STATE__INIT;
    m.offset = in->offset;
    m.load = in->load, m.match = in->match, m.imsc = in->imsc;
    m.armed = in->armed, m.match_raw = in->match_raw;
    return device_state_pack(&m.base, out);
}

int pl031_state_decode(const uint8_t *state, size_t len, struct pl031_state *out, char *err,
                       size_t err_len)
{
    memset(out, 0, sizeof(*out));
    Ignition__Devices__Pl031State *m = (Ignition__Devices__Pl031State *)device_state_unpack(
        &ignition__devices__pl031_state__descriptor, state, len, "the RTC", err, err_len);
    if (!m)
        return -EINVAL;
    int rc = 0;
    if (m->armed > UINT8_MAX || m->match_raw > UINT8_MAX) {
        rc = device_state_refuse(err, err_len, "an RTC flag out of range");
    } else {
        out->offset = m->offset;
        out->load = m->load, out->match = m->match, out->imsc = m->imsc;
        out->armed = (uint8_t)m->armed, out->match_raw = (uint8_t)m->match_raw;
    }
    device_state_free_unpacked(m);
    return rc;
}

static int pl031_save_bytes(struct device *dev, struct device_state_bytes *out)
{
    struct pl031_state st;
    pl031_save(dev, &st);
    return pl031_state_encode(&st, out);
}

static int pl031_load_bytes(struct device *dev, const uint8_t *state, size_t len, char *err,
                            size_t err_len)
{
    struct pl031_state st;
    int rc = pl031_state_decode(state, len, &st, err, err_len);
    if (rc == 0)
        rc = check_state(&st, err, err_len);
    if (rc == 0)
        apply_state(to_pl031(dev), &st);
    return rc;
}

static int pl031_fdt_node(struct device *dev, void *fdt, const struct fdt_phandles *ph)
{
    static const char clock_names[] = "apb_pclk";
    return device_fdt_primecell(fdt, dev, "pl031", ph, clock_names, sizeof(clock_names));
}

static void pl031_destroy(struct device *dev)
{
    struct pl031 *r = to_pl031(dev);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static const struct device_ops pl031_ops = {
    .name = "pl031",
    .read = pl031_read,
    .write = pl031_write,
    .fdt_node = pl031_fdt_node,
    .destroy = pl031_destroy,
    .save = pl031_save_bytes,
    .load = pl031_load_bytes,
};

struct device *pl031_create(uint64_t base, struct irq_line irq, pl031_clock_fn clock)
{
    struct pl031 *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->dev = (struct device){.ops = &pl031_ops, .base = base, .size = PL031_SIZE, .irq = irq};
    pthread_mutex_init(&r->lock, NULL);
    r->clock = clock ? clock : pl031_host_clock;
    return &r->dev;
}
