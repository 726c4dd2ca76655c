/* Arm PrimeCell real-time clock (PL031): seconds since the epoch for the guest. */
#ifndef IGNITION_PL031_H
#define IGNITION_PL031_H

#include <stdint.h>

#include "device.h"

#define PL031_SIZE 0x1000

/* now_seconds returns the host's wall-clock time; injectable for tests. */
typedef int64_t (*pl031_clock_fn)(void);

struct device *pl031_create(uint64_t base, struct irq_line irq, pl031_clock_fn clock);
int64_t pl031_host_clock(void);

#endif
