/* Anonymous shared-memory files: guest RAM (and later scanouts) live in them so
 * that they can be mapped by more than one process and written to snapshots. */
#ifndef IGNITION_MEMFILE_H
#define IGNITION_MEMFILE_H

#include <stdint.h>

/* Creates an unlinked, close-on-exec memory file of size bytes (memfd on Linux,
 * an immediately unlinked shm object elsewhere). Returns an fd or -errno. */
int memfile_create(const char *name, uint64_t size);

/* A memory file shared with less trusted processes, mapped here read-write
 * (MAP_SHARED) at *map, with *ro_fd, a separate read-only open of it, to hand
 * out. Whoever holds ro_fd can map it for reading only: no PROT_WRITE shared
 * mapping, no write(), no ftruncate (which would fault our own mapping). On
 * Linux a read-only descriptor can be opened again read-write through
 * /proc/self/fd, so once our mapping exists the file is sealed against
 * writes (F_SEAL_FUTURE_WRITE: our mapping stays writable, every other way of
 * writing it fails, for us too) and its mode becomes 0400. On a kernel
 * without that seal (before 5.1) the mode alone keeps its owner (not root)
 * from opening it read-write, and a warning says so once. The size is sealed
 * too. Returns 0 or -errno; the mapping is size bytes, for munmap (NULL for
 * size 0). */
int memfile_create_shared(const char *name, uint64_t size, void **map, int *ro_fd);

#endif
