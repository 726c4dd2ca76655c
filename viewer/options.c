/* Argument parsing apart from SDL, so that every case is a unit test. */
#include "options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"
#include "util.h"

const char options_usage[] =
    "usage: ignition-view GUEST | --socket PATH [--size WxH] [--fullscreen] [--scale N]\n"
    "                     [--no-resize-guest] [--wait] [--title NAME] [--stop-on-close]\n"
    "GUEST is found through vmmd (vmmctl list shows the guests). With\n"
    "--stop-on-close, closing the window stops GUEST at once (a disposable one\n"
    "is then removed); Ctrl+Alt+D still detaches and leaves it running.\n"
    "Ctrl+Alt+D detaches, Ctrl+Alt+F toggles fullscreen, Ctrl+Alt+G grabs or\n"
    "releases the keyboard, Ctrl+Alt+X asks the guest to power off, Ctrl+Alt+S\n"
    "snapshots it and Ctrl+Alt+R relaunches it from its last snapshot.\n";

static bool parse_unsigned(const char *text, unsigned min, unsigned max, unsigned *out,
                           const char **end)
{
    if (*text < '0' || *text > '9')
        return false;
    errno = 0;
    char *stop;
    unsigned long v = strtoul(text, &stop, 10);
    if (errno || v < min || v > max)
        return false;
    *out = (unsigned)v;
    *end = stop;
    return true;
}

static bool parse_size_arg(const char *text, unsigned *w, unsigned *h)
{
    const char *rest;
    if (!parse_unsigned(text, 1, VIEW_MAX_WINDOW, w, &rest) || (*rest != 'x' && *rest != 'X'))
        return false;
    return parse_unsigned(rest + 1, 1, VIEW_MAX_WINDOW, h, &rest) && *rest == '\0';
}

static bool parse_scale_arg(const char *text, unsigned *scale)
{
    const char *rest;
    return parse_unsigned(text, 1, VIEW_MAX_SCALE, scale, &rest) && *rest == '\0';
}

/* The value of an option that takes one: "--opt VALUE" or "--opt=VALUE". */
static const char *option_value(const char *arg, const char *name, int argc, char **argv,
                                int *i)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return NULL;
    if (arg[n] == '=')
        return arg + n + 1;
    if (arg[n] != '\0' || *i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static bool is_valued(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

static enum options_result parse_valued(const char *arg, int argc, char **argv, int *i,
                                        struct view_options *o, char *why, size_t why_len)
{
    static const char *const names[] = {"--socket", "--size", "--scale", "--title"};
    for (size_t k = 0; k < ARRAY_SIZE(names); k++) {
        if (!is_valued(arg, names[k]))
            continue;
        const char *v = option_value(arg, names[k], argc, argv, i);
        if (!v || !*v) {
            set_message(why, why_len, "%s needs a value", names[k]);
            return OPTIONS_BAD;
        }
        bool ok = true;
        if (k == 0)
            o->socket_path = v;
        else if (k == 1)
            ok = parse_size_arg(v, &o->width, &o->height);
        else if (k == 2)
            ok = parse_scale_arg(v, &o->scale);
        else
            o->title = v;
        if (!ok) {
            set_message(why, why_len, "%s %s: expected %s", names[k], v,
                        k == 1 ? "WxH, e.g. 1280x800" : "a whole number from 1 to 8");
            return OPTIONS_BAD;
        }
        return OPTIONS_OK;
    }
    set_message(why, why_len, "unknown option %s", arg);
    return OPTIONS_BAD;
}

static bool parse_flag(const char *arg, struct view_options *o)
{
    if (!strcmp(arg, "--fullscreen"))
        o->fullscreen = true;
    else if (!strcmp(arg, "--no-resize-guest"))
        o->resize_guest = false;
    else if (!strcmp(arg, "--wait"))
        o->wait = true;
    else if (!strcmp(arg, "--stop-on-close"))
        o->stop_on_close = true;
    else if (!strcmp(arg, "--help") || !strcmp(arg, "-h"))
        o->help = true;
    else
        return false;
    return true;
}

enum options_result options_parse(int argc, char **argv, struct view_options *o, char *why,
                                  size_t why_len)
{
    *o = (struct view_options){.scale = 1, .resize_guest = true};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-') {
            if (o->guest) {
                set_message(why, why_len, "more than one guest named (%s)", arg);
                return OPTIONS_BAD;
            }
            o->guest = arg;
            continue;
        }
        if (parse_flag(arg, o))
            continue;
        enum options_result r = parse_valued(arg, argc, argv, &i, o, why, why_len);
        if (r != OPTIONS_OK)
            return r;
    }
    if (o->help)
        return OPTIONS_OK;
    if (o->guest && !paths_guest_name_ok(o->guest)) {
        set_message(why, why_len, "%s is not a guest name (letters, digits, '_', '.', '-')",
                    o->guest);
        return OPTIONS_BAD;
    }
    if (o->stop_on_close && !o->guest) {
        set_message(why, why_len, "--stop-on-close needs the guest's name, not --socket");
        return OPTIONS_BAD;
    }
    if (o->guest && !o->socket_path)
        return OPTIONS_NEEDS_VMMD;
    if (o->guest) {
        set_message(why, why_len, "give either a guest name or --socket, not both");
        return OPTIONS_BAD;
    }
    if (!o->socket_path) {
        set_message(why, why_len, "--socket PATH is needed");
        return OPTIONS_BAD;
    }
    return OPTIONS_OK;
}

const char *options_display_name(const struct view_options *o, const char *guest_name)
{
    if (guest_name && *guest_name)
        return guest_name;
    if (o->title && *o->title)
        return o->title;
    if (o->guest)
        return o->guest;
    const char *slash = strrchr(o->socket_path, '/');
    return slash && slash[1] ? slash + 1 : o->socket_path;
}
