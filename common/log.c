#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>

static const char *log_program = "ignition";
static bool log_verbose;
static bool log_quiet;
static bool log_stderr = true;
static FILE *log_file;
static bool log_syslog;

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
    if (log_stderr)
        fprintf(stderr, "%s: %s%s\r\n", log_program, level, line);
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
