/* The name Ctrl+Alt+S gives a snapshot: the guest's name and when it was
 * taken, so that snapshots sort by time and never replace one another. */
#ifndef IGNITION_VIEWER_SNAPSHOT_NAME_H
#define IGNITION_VIEWER_SNAPSHOT_NAME_H

#include <stddef.h>
#include <time.h>

/* "-YYYYmmdd-HHMMSS" */
#define SNAPSHOT_NAME_STAMP_LEN 16

/* GUEST-YYYYmmdd-HHMMSS in UTC, with as much of guest's name as keeps it a
 * valid snapshot name (paths_guest_name_ok). Returns 0, or -1 when guest is
 * not a guest name or out is too small. */
int snapshot_name_for(const char *guest, time_t when, char *out, size_t len);

#endif
