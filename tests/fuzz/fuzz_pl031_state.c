/* libFuzzer harness: the PL031's saved state (its message, proto/devices/
 * pl031.proto) over arbitrary bytes, through the device table's load as a
 * restore does, with a host clock near today's and at both ends of what a
 * 64-bit time allows. A state that loads must read back as it decodes (an
 * alarm may fire on load) and the registers must read. The seeds are states
 * of RTCs programmed as a guest would and of real snapshots
 * (make_seeds_device_state). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pl031.h"

#define RTCDR 0x000
#define RTCMR 0x004
#define RTCRIS 0x014
#define RTCMIS 0x018

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t host_now;

static int64_t fake_clock(void)
{
    return host_now;
}

static void load_and_read(const uint8_t *data, size_t size, const struct pl031_state *in,
                          int64_t now)
{
    static struct pl031_state out;
    char err[256];
    host_now = now;
    struct device *rtc = pl031_create(0x09010000, (struct irq_line){0}, fake_clock);
    if (!rtc)
        abort();
    if (rtc->ops->load(rtc, data, size, err, sizeof(err)) == 0) {
        pl031_save(rtc, &out);
        if (out.offset != in->offset || out.load != in->load || out.match != in->match ||
            out.imsc != in->imsc || out.armed > in->armed || out.match_raw < in->match_raw)
            abort();
        static const uint64_t regs[] = {RTCDR, RTCMR, RTCRIS, RTCMIS};
        for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
            (void)rtc->ops->read(rtc, regs[i], 4);
    }
    rtc->ops->destroy(rtc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pl031_state in;
    char err[256];
    if (pl031_state_decode(data, size, &in, err, sizeof(err)) != 0)
        memset(&in, 0, sizeof(in)); /* the device must refuse it too */
    load_and_read(data, size, &in, 1700000000);
    /* The extreme host clocks for which clock + offset cannot overflow. */
    load_and_read(data, size, &in, INT64_MAX - PL031_MAX_OFFSET);
    load_and_read(data, size, &in, INT64_MIN + PL031_MAX_OFFSET);
    return 0;
}
