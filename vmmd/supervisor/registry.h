/* The supervisor's registry of guests: what each guest is made of and what it
 * was last seen doing, one guest.json per guest under STATE/guests/NAME/ so
 * that it outlives vmmd. Records are plain data; the supervisor owns the
 * processes behind them. */
#ifndef IGNITION_REGISTRY_H
#define IGNITION_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "paths.h"

#define GUEST_MAX_DISKS 16

enum guest_state {
    GUEST_STOPPED,
    GUEST_STARTING,
    GUEST_RUNNING,
    GUEST_STOPPING,
    GUEST_CRASHED,
};

#define GUEST_MAX_PUBLISH 16

struct guest_config {
    char *kernel, *initrd, *append; /* heap strings; initrd and append may be NULL */
    /* A guest restored from a snapshot: the snapshot's directory (heap), else
     * NULL. It restores from there again each time it starts, and kernel is
     * then NULL: memory, disks and display are the snapshot's, which the other
     * fields only describe. */
    char *restore_from;
    char *disks[GUEST_MAX_DISKS];   /* `vmmd run --disk` syntax */
    unsigned num_disks;
    uint64_t mem_bytes;
    uint32_t cpus;
    char backend[8];
    bool gui;
    uint32_t display_width, display_height;
    /* vmmd run --net without publish items ("" is user), and the publish
     * rules, as net_publish_format writes them. */
    char net[24];
    char publish[GUEST_MAX_PUBLISH][40];
    unsigned num_publish;
};

struct guest_record {
    char name[PATHS_GUEST_NAME_MAX + 1];
    struct guest_config config;
    enum guest_state state;
    pid_t pid;                /* the worker's while it runs, else 0 */
    int64_t started_unix_ms;  /* when the worker last started */
    char exit_reason[256];    /* why it last stopped */
    char ran_on[16];          /* the backend its worker last chose, or "" */
    char *console_tail;       /* last console lines of a crashed guest, or NULL */
    /* The snapshot (its name under STATE/snapshots) last taken of this guest,
     * or "": what a relaunch restores. */
    char last_snapshot[PATHS_GUEST_NAME_MAX + 1];
    /* Removed with its instance (memory, disk layers, logs) once it stops,
     * whatever stops it: a throwaway clone leaves nothing behind. */
    bool disposable;
    /* Its virtio-vsock context id (3 .. 0xfffffffe), unique among vmmd's
     * guests; 0 in records older than vsock, until vmmd gives it one. */
    uint32_t vsock_cid;
};

const char *guest_state_name(enum guest_state state);

void guest_config_clear(struct guest_config *config);
/* Deep copy; returns 0 or -1 (out of memory, dst left cleared). */
int guest_config_copy(struct guest_config *dst, const struct guest_config *src);
void guest_record_clear(struct guest_record *record);

/* guest.json text <-> record. Loading checks every field (the file may have been
 * edited or damaged): -1 with a reason in err for a file that does not hold a
 * whole, sensible record. */
int registry_parse(const char *json_text, struct guest_record *out, char *err, size_t err_len);
/* A malloc'd JSON text, or NULL when out of memory. */
char *registry_format(const struct guest_record *record);

/* Writes PATH atomically: a temporary file beside it, fsynced, renamed over it.
 * Returns 0, or -errno (-ENOSPC: the disk is full) with err set. */
int registry_save(const char *path, const struct guest_record *record, char *err,
                  size_t err_len);
int registry_load(const char *path, struct guest_record *out, char *err, size_t err_len);

#endif
