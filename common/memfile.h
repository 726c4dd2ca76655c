/* Anonymous shared-memory files: guest RAM (and later scanouts) live in them so
 * that they can be mapped by more than one process and written to snapshots. */
#ifndef IGNITION_MEMFILE_H
#define IGNITION_MEMFILE_H

#include <stdint.h>

/* Creates an unlinked, close-on-exec memory file of size bytes (memfd on Linux,
 * an immediately unlinked shm object elsewhere). Returns an fd or -errno. */
int memfile_create(const char *name, uint64_t size);

#endif
