/* Anonymous shared-memory files: guest RAM (and later scanouts) live in them so
 * that they can be mapped by more than one process and written to snapshots. */
#ifndef IGNITION_MEMFILE_H
#define IGNITION_MEMFILE_H

#include <stdint.h>

/* Creates an unlinked, close-on-exec memory file of size bytes (memfd on Linux,
 * an immediately unlinked shm object elsewhere). Returns an fd or -errno. */
int memfile_create(const char *name, uint64_t size);

/* A memory file shared with less trusted processes: *rw_fd for us, *ro_fd to hand
 * out. ro_fd is a separate read-only open of the same object, so whoever holds it
 * can map it for reading only: no PROT_WRITE shared mapping, no write(), no
 * ftruncate (which would fault our own mapping). Returns 0 or -errno. */
int memfile_create_shared(const char *name, uint64_t size, int *rw_fd, int *ro_fd);

#endif
