/* What Linux's key codes (<linux/input-event-codes.h>) say each ASCII
 * character is on a US keyboard, captured in their own translation unit: our
 * table spells the numbers out, and the header exists only on Linux. */
#ifndef IGNITION_TEST_LINUX_KEYTEXT_H
#define IGNITION_TEST_LINUX_KEYTEXT_H

#include <stdbool.h>
#include <stddef.h>

struct keytext_expectation {
    char c;
    unsigned evdev;
    bool shift;
};

extern const struct keytext_expectation linux_keytext_expected[];
extern const size_t linux_keytext_expected_count;
extern const unsigned linux_key_leftshift;

#endif
