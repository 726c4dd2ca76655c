#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "rotating_log.h"

static const char *log_program = "ignition";
static bool log_verbose;
static bool log_quiet;
static bool log_stderr = true;
static FILE *log_file;
static bool log_syslog;
/* stderr is a log file that rotates (a guest worker's worker.log). */
static pthread_mutex_t stderr_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rotating_log stderr_log = {.fd = -1};
static bool stderr_rotates; /* set before any thread logs */

void log_init(const char *program_name)
{
    log_program = program_name;
}

void log_set_verbose(bool verbose)
{
    log_verbose = verbose;
}

void log_set_sinks(bool to_stderr, FILE *file, bool to_syslog)
{
    log_stderr = to_stderr;
    log_file = file;
    if (to_syslog && !log_syslog)
        openlog(log_program, LOG_PID, LOG_DAEMON);
    log_syslog = to_syslog;
}

/* stdout and stderr move to the new file together: whatever else writes to
 * them (a library, the sanitizers) lands in the current log too. */
static void point_stdio_at(int fd)
{
    fflush(stdout);
    fflush(stderr);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
}

int log_rotate_stderr(const char *path, uint64_t limit, unsigned generations)
{
    pthread_mutex_lock(&stderr_lock);
    rotating_log_close(&stderr_log);
    int rc = rotating_log_open(&stderr_log, path, limit, generations);
    if (rc == 0)
        point_stdio_at(stderr_log.fd);
    stderr_rotates = rc == 0;
    pthread_mutex_unlock(&stderr_lock);
    return rc;
}

/* Before a line of len bytes goes to stderr. */
static void make_room_on_stderr(size_t len)
{
    pthread_mutex_lock(&stderr_lock);
    int rc = rotating_log_reserve(&stderr_log, len);
    if (rc == 1)
        point_stdio_at(stderr_log.fd);
    else if (rc < 0 && stderr_log.fd >= 0)
        point_stdio_at(stderr_log.fd);
    pthread_mutex_unlock(&stderr_lock);
    if (rc < 0)
        fprintf(stderr, "%s: warning: cannot rotate %s: %s\r\n", log_program, stderr_log.path,
                strerror(-rc));
}

void log_set_quiet(bool quiet)
{
    log_quiet = quiet;
}

bool log_is_verbose(void)
{
    return log_verbose;
}

static int syslog_priority(const char *level)
{
    switch (level[0]) {
    case 'e': return LOG_ERR;
    case 'w': return LOG_WARNING;
    case 'd': return LOG_DEBUG;
    default: return LOG_INFO;
    }
}

static void log_emit(const char *level, const char *fmt, va_list ap)
{
    /* One fprintf per line keeps lines whole when threads log concurrently.
     * "\r\n" because the terminal may be in raw mode while a guest runs. */
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
    if (log_stderr) {
        if (stderr_rotates)
            make_room_on_stderr(strlen(log_program) + strlen(level) + strlen(line) + 4);
        fprintf(stderr, "%s: %s%s\r\n", log_program, level, line);
    }
    if (log_file) {
        /* A log file is read later: each line says when. */
        char when[32];
        time_t now = time(NULL);
        struct tm tm;
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S%z", localtime_r(&now, &tm));
        fprintf(log_file, "%s %s: %s%s\n", when, log_program, level, line);
        fflush(log_file);
    }
    if (log_syslog)
        syslog(syslog_priority(level), "%s%s", level, line);
}

void log_debug(const char *fmt, ...)
{
    if (!log_verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_emit("debug: ", fmt, ap);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!log_quiet)
        log_emit("", fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!log_quiet)
        log_emit("warning: ", fmt, ap);
    va_end(ap);
}

void log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_emit("error: ", fmt, ap);
    va_end(ap);
}

void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_emit("error: ", fmt, ap);
    va_end(ap);
    exit(1);
}
