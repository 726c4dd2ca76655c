#include "snapshot_name.h"

#include <stdio.h>
#include <string.h>

#include "paths.h"

int snapshot_name_for(const char *guest, time_t when, char *out, size_t len)
{
    struct tm utc;
    if (!guest || !paths_guest_name_ok(guest) || !gmtime_r(&when, &utc))
        return -1;
    char stamp[SNAPSHOT_NAME_STAMP_LEN + 1];
    if (strftime(stamp, sizeof(stamp), "-%Y%m%d-%H%M%S", &utc) != SNAPSHOT_NAME_STAMP_LEN)
        return -1;
    /* A prefix of a guest name is one too: it still starts with its first
     * character. */
    int keep = (int)strlen(guest);
    if (keep > PATHS_GUEST_NAME_MAX - SNAPSHOT_NAME_STAMP_LEN)
        keep = PATHS_GUEST_NAME_MAX - SNAPSHOT_NAME_STAMP_LEN;
    int n = snprintf(out, len, "%.*s%s", keep, guest, stamp);
    if (n < 0 || (size_t)n >= len || !paths_guest_name_ok(out))
        return -1;
    return 0;
}
