/* Arm PrimeCell real-time clock (PL031): seconds since the epoch for the guest. */
#ifndef IGNITION_PL031_H
#define IGNITION_PL031_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"

#define PL031_SIZE 0x1000

/* now_seconds returns the host's wall-clock time; injectable for tests. */
typedef int64_t (*pl031_clock_fn)(void);

struct device *pl031_create(uint64_t base, struct irq_line irq, pl031_clock_fn clock);
int64_t pl031_host_clock(void);

/* ---- snapshot state ----------------------------------------------------------------- */

/* The guest's time is saved as its distance from the host's clock, not as the
 * counter's value: a restored guest, and every clone of it, reads the host's time
 * plus that offset, so its clock stays as right as it was however long the
 * snapshot waited (a guest that never set the RTC reads the host's time). Not
 * saved: RTCDR (the host clock plus the offset), RTCCR (always started), RTCMIS
 * and the interrupt line (match_raw & imsc). */
struct pl031_state {
    int64_t offset; /* guest seconds - host seconds; |offset| <= PL031_MAX_OFFSET */
    uint32_t load;  /* RTCLR as last written */
    uint32_t match; /* RTCMR */
    uint32_t imsc;  /* RTCIMSC: bit 0 */
    uint8_t armed;     /* 1: the counter has not reached match since it was written */
    uint8_t match_raw; /* RTCRIS: the alarm fired and was not cleared */
};

/* Further than any 32-bit load value is from any host clock for 30000 years, and
 * small enough that host clock + offset cannot overflow. */
#define PL031_MAX_OFFSET (INT64_C(1) << 40)

/* Fills out (any thread). Always 0. */
int pl031_save(struct device *dev, struct pl031_state *out);

/* Replaces the RTC's state with in (meant for an RTC just created, before the
 * guest runs), then compares the match as any access does: an alarm that came
 * due while the snapshot waited fires at once. in comes from a file: on -EINVAL
 * (an offset out of range, a flag other than 0 or 1, unknown mask bits) the RTC
 * is left unchanged. */
int pl031_load(struct device *dev, const struct pl031_state *in);

/* The state as its message (proto/devices/pl031.proto), the bytes the device
 * table's save and load carry. decode refuses what does not decode or does
 * not fit the structure's fields (-EINVAL, reason in err); the values are
 * load's to check. */
int pl031_state_encode(const struct pl031_state *in, struct device_state_bytes *out);
int pl031_state_decode(const uint8_t *state, size_t len, struct pl031_state *out, char *err,
                       size_t err_len);

#endif
