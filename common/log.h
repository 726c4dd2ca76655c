/* Logging for every ignition binary: one line per message, prefixed with the
 * program name, so that a user reading a terminal or a log file knows who spoke. */
#ifndef IGNITION_LOG_H
#define IGNITION_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))

void log_init(const char *program_name);
void log_set_verbose(bool verbose);
bool log_is_verbose(void);
/* Where lines go: stderr (the default), a file (timestamped lines; NULL for
 * none), and syslog (which is the unified log on macOS). */
void log_set_sinks(bool to_stderr, FILE *file, bool to_syslog);
/* stderr is the log file at path (a guest worker's worker.log, which its
 * supervisor opened as the worker's stdout and stderr): reopen it and rotate
 * it as rotating_log does once a line would take it past limit, stdout and
 * stderr following to the new file. Returns 0 or -errno (then nothing
 * changed). */
int log_rotate_stderr(const char *path, uint64_t limit, unsigned generations);
/* Only errors: for harnesses that feed millions of bad inputs on purpose. */
void log_set_quiet(bool quiet);

void log_debug(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_info(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_warn(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* An error the caller reports and then handles (e.g. by exiting non-zero). */
void log_error(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* An error the program cannot continue from: prints and exits with status 1. */
_Noreturn void fatal(const char *fmt, ...) PRINTF_LIKE(1, 2);

#endif
