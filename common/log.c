#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *log_program = "ignition";
static bool log_verbose;
static bool log_quiet;

void log_init(const char *program_name)
{
    log_program = program_name;
}

void log_set_verbose(bool verbose)
{
    log_verbose = verbose;
}

void log_set_quiet(bool quiet)
{
    log_quiet = quiet;
}

bool log_is_verbose(void)
{
    return log_verbose;
}

static void log_emit(const char *level, const char *fmt, va_list ap)
{
    /* One fprintf per line keeps lines whole when threads log concurrently.
     * "\r\n" because the terminal may be in raw mode while a guest runs. */
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
    fprintf(stderr, "%s: %s%s\r\n", log_program, level, line);
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
