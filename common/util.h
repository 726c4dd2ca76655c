/* Small helpers shared by all binaries. */
#ifndef IGNITION_UTIL_H
#define IGNITION_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Parses a size such as "512M", "1G", "4096" or "64k" (binary units).
 * Returns 0 and stores bytes, or -1 when the text is not a size or overflows. */
int parse_size(const char *text, uint64_t *bytes);

/* Reads a whole file into a new buffer (caller frees). Returns 0 or -errno. */
int read_whole_file(const char *path, uint8_t **data, size_t *size, size_t max_size);

/* Nanoseconds of CLOCK_MONOTONIC. */
uint64_t monotonic_ns(void);



/* snprintf into an error buffer a caller passed (err may be NULL, len 0). */
void set_message(char *out, size_t out_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes all of data to a blocking fd, through EINTR and short writes.
 * Returns 0 or -errno (-EIO when the fd takes nothing). */
int write_fully(int fd, const void *data, size_t len);

/* write_fully for an fd that may be non-blocking (a terminal or pipe another
 * program set O_NONBLOCK on): when it is full, waits up to stall_ms for room
 * before each write. Returns 0, -EAGAIN if it stayed full that long, or -errno. */
int write_fully_waiting(int fd, const void *data, size_t len, int stall_ms);

/* Sets O_NONBLOCK and FD_CLOEXEC. Returns 0 or -errno. */
int set_nonblock_cloexec(int fd);
#endif
