#include "supervisor/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "worker/net_user.h"

#define REGISTRY_FORMAT_VERSION 1
#define REGISTRY_MAX_TEXT (1u << 20)

static const char *const state_names[] = {
    [GUEST_STOPPED] = "stopped",   [GUEST_STARTING] = "starting", [GUEST_RUNNING] = "running",
    [GUEST_STOPPING] = "stopping", [GUEST_CRASHED] = "crashed",
};

const char *guest_state_name(enum guest_state state)
{
    return (unsigned)state < sizeof(state_names) / sizeof(state_names[0]) ? state_names[state]
                                                                            : "unknown";
}

void guest_config_clear(struct guest_config *c)
{
    free(c->kernel);
    free(c->initrd);
    free(c->append);
    free(c->restore_from);
    for (unsigned i = 0; i < c->num_disks; i++)
        free(c->disks[i]);
    memset(c, 0, sizeof(*c));
}

static bool dup_optional(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return !src || *dst;
}

int guest_config_copy(struct guest_config *dst, const struct guest_config *src)
{
    *dst = *src;
    dst->kernel = dst->initrd = dst->append = dst->restore_from = NULL;
    dst->num_disks = 0;
    bool ok = dup_optional(&dst->kernel, src->kernel) && dup_optional(&dst->initrd, src->initrd) &&
              dup_optional(&dst->append, src->append) &&
              dup_optional(&dst->restore_from, src->restore_from);
    for (unsigned i = 0; ok && i < src->num_disks; i++) {
        ok = dup_optional(&dst->disks[i], src->disks[i]);
        if (ok)
            dst->num_disks++;
    }
    if (!ok) {
        guest_config_clear(dst);
        return -1;
    }
    return 0;
}

void guest_record_clear(struct guest_record *r)
{
    guest_config_clear(&r->config);
    free(r->console_tail);
    memset(r, 0, sizeof(*r));
}

/* ---- to JSON ---------------------------------------------------------------------- */

static void add_string(json_object *o, const char *key, const char *value)
{
    if (value)
        json_object_object_add(o, key, json_object_new_string(value));
}

static json_object *config_to_json(const struct guest_config *c)
{
    json_object *o = json_object_new_object();
    add_string(o, "kernel", c->kernel);
    add_string(o, "initrd", c->initrd);
    add_string(o, "append", c->append);
    add_string(o, "restore_from", c->restore_from);
    json_object *disks = json_object_new_array();
    for (unsigned i = 0; i < c->num_disks; i++)
        json_object_array_add(disks, json_object_new_string(c->disks[i]));
    json_object_object_add(o, "disks", disks);
    json_object_object_add(o, "mem_bytes", json_object_new_int64((int64_t)c->mem_bytes));
    json_object_object_add(o, "cpus", json_object_new_int((int)c->cpus));
    add_string(o, "backend", c->backend);
    json_object_object_add(o, "gui", json_object_new_boolean(c->gui));
    json_object_object_add(o, "display_width", json_object_new_int((int)c->display_width));
    json_object_object_add(o, "display_height", json_object_new_int((int)c->display_height));
    if (c->net[0])
        add_string(o, "net", c->net);
    json_object *publish = json_object_new_array();
    for (unsigned i = 0; i < c->num_publish; i++)
        json_object_array_add(publish, json_object_new_string(c->publish[i]));
    json_object_object_add(o, "publish", publish);
    return o;
}

char *registry_format(const struct guest_record *r)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "format", json_object_new_int(REGISTRY_FORMAT_VERSION));
    add_string(o, "name", r->name);
    json_object_object_add(o, "config", config_to_json(&r->config));
    add_string(o, "state", guest_state_name(r->state));
    json_object_object_add(o, "pid", json_object_new_int((int)r->pid));
    json_object_object_add(o, "started_unix_ms", json_object_new_int64(r->started_unix_ms));
    add_string(o, "exit_reason", r->exit_reason);
    add_string(o, "ran_on", r->ran_on);
    add_string(o, "console_tail", r->console_tail);
    if (r->last_snapshot[0])
        add_string(o, "last_snapshot", r->last_snapshot);
    if (r->disposable)
        json_object_object_add(o, "disposable", json_object_new_boolean(true));
    if (r->vsock_cid)
        json_object_object_add(o, "vsock_cid", json_object_new_int64(r->vsock_cid));
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
    char *copy = text ? strdup(text) : NULL;
    json_object_put(o);
    return copy;
}

/* ---- from JSON -------------------------------------------------------------------- */

struct reader {
    char *err;
    size_t err_len;
    bool failed;
};

static json_object *field(struct reader *rd, json_object *o, const char *key, json_type type,
                          bool required)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
        if (required && !rd->failed) {
            set_message(rd->err, rd->err_len, "\"%s\" is missing", key);
            rd->failed = true;
        }
        return NULL;
    }
    if (!json_object_is_type(v, type)) {
        if (!rd->failed)
            set_message(rd->err, rd->err_len, "\"%s\" has the wrong type", key);
        rd->failed = true;
        return NULL;
    }
    return v;
}

static char *read_string(struct reader *rd, json_object *o, const char *key, bool required)
{
    json_object *v = field(rd, o, key, json_type_string, required);
    if (!v)
        return NULL;
    char *s = strdup(json_object_get_string(v));
    if (!s)
        rd->failed = true;
    return s;
}

static int64_t read_int(struct reader *rd, json_object *o, const char *key, int64_t min,
                        int64_t max)
{
    json_object *v = field(rd, o, key, json_type_int, true);
    if (!v)
        return min;
    int64_t n = json_object_get_int64(v);
    if (n < min || n > max) {
        if (!rd->failed)
            set_message(rd->err, rd->err_len, "\"%s\" is out of range", key);
        rd->failed = true;
        return min;
    }
    return n;
}

static void read_net(struct reader *rd, json_object *o, struct guest_config *c);

static void read_config(struct reader *rd, json_object *o, struct guest_config *c)
{
    c->restore_from = read_string(rd, o, "restore_from", false);
    if (c->restore_from && c->restore_from[0] != '/' && !rd->failed) {
        set_message(rd->err, rd->err_len, "\"restore_from\" is not an absolute path");
        rd->failed = true;
    }
    /* A restored guest's kernel is the snapshot's memory. */
    c->kernel = read_string(rd, o, "kernel", !c->restore_from);
    c->initrd = read_string(rd, o, "initrd", false);
    c->append = read_string(rd, o, "append", false);
    json_object *disks = field(rd, o, "disks", json_type_array, true);
    size_t n = disks ? json_object_array_length(disks) : 0;
    if (n > GUEST_MAX_DISKS) {
        set_message(rd->err, rd->err_len, "more than %d disks", GUEST_MAX_DISKS);
        rd->failed = true;
        n = 0;
    }
    for (size_t i = 0; i < n && !rd->failed; i++) {
        json_object *d = json_object_array_get_idx(disks, i);
        if (!json_object_is_type(d, json_type_string) ||
            !(c->disks[c->num_disks] = strdup(json_object_get_string(d)))) {
            set_message(rd->err, rd->err_len, "disk %zu is not a string", i);
            rd->failed = true;
            break;
        }
        c->num_disks++;
    }
    c->mem_bytes = (uint64_t)read_int(rd, o, "mem_bytes", 1, INT64_MAX);
    c->cpus = (uint32_t)read_int(rd, o, "cpus", 1, 1024);
    char *backend = read_string(rd, o, "backend", true);
    if (backend && strlen(backend) < sizeof(c->backend))
        strcpy(c->backend, backend);
    else if (!rd->failed) {
        set_message(rd->err, rd->err_len, "\"backend\" is not a backend name");
        rd->failed = true;
    }
    free(backend);
    json_object *gui = field(rd, o, "gui", json_type_boolean, true);
    c->gui = gui && json_object_get_boolean(gui);
    c->display_width = (uint32_t)read_int(rd, o, "display_width", 0, 16384);
    c->display_height = (uint32_t)read_int(rd, o, "display_height", 0, 16384);
    read_net(rd, o, c);
}

/* Optional (guests made before networking have none: user, nothing
 * published); what is there must parse as vmmd run takes it. */
static void read_net(struct reader *rd, json_object *o, struct guest_config *c)
{
    char err[160];
    struct net_config nc = {0};
    char *net = read_string(rd, o, "net", false);
    if (net && (strlen(net) >= sizeof(c->net) || strstr(net, "publish") ||
                net_config_parse(net, &nc, err, sizeof(err)) < 0)) {
        set_message(rd->err, rd->err_len, "\"net\" is not a network mode");
        rd->failed = true;
    } else if (net) {
        strcpy(c->net, net);
    }
    free(net);
    json_object *publish = NULL;
    if (!json_object_object_get_ex(o, "publish", &publish))
        return;
    size_t n = json_object_is_type(publish, json_type_array) ? json_object_array_length(publish)
                                                              : GUEST_MAX_PUBLISH + 1;
    if (n > GUEST_MAX_PUBLISH) {
        set_message(rd->err, rd->err_len, "\"publish\" is not a list of at most %d rules",
                    GUEST_MAX_PUBLISH);
        rd->failed = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *p = json_object_array_get_idx(publish, i);
        struct net_publish rule;
        if (!json_object_is_type(p, json_type_string) ||
            net_publish_parse(json_object_get_string(p), &rule, err, sizeof(err)) < 0) {
            set_message(rd->err, rd->err_len, "publish rule %zu is not one", i);
            rd->failed = true;
            return;
        }
        net_publish_format(&rule, c->publish[c->num_publish++], sizeof(c->publish[0]));
    }
}

static enum guest_state read_state(struct reader *rd, json_object *o)
{
    json_object *v = field(rd, o, "state", json_type_string, true);
    const char *text = v ? json_object_get_string(v) : "";
    for (unsigned s = 0; s < sizeof(state_names) / sizeof(state_names[0]); s++)
        if (strcmp(text, state_names[s]) == 0)
            return (enum guest_state)s;
    if (!rd->failed)
        set_message(rd->err, rd->err_len, "\"state\" is not a state");
    rd->failed = true;
    return GUEST_STOPPED;
}

/* A name, never a path: a relaunch joins it to STATE/snapshots. */
static void read_last_snapshot(struct reader *rd, json_object *o, struct guest_record *r)
{
    char *snap = read_string(rd, o, "last_snapshot", false);
    if (snap && paths_guest_name_ok(snap))
        strcpy(r->last_snapshot, snap);
    else if (snap && !rd->failed) {
        set_message(rd->err, rd->err_len, "\"last_snapshot\" is not a snapshot name");
        rd->failed = true;
    }
    free(snap);
}

static void read_record(struct reader *rd, json_object *o, struct guest_record *r)
{
    if (read_int(rd, o, "format", REGISTRY_FORMAT_VERSION, REGISTRY_FORMAT_VERSION) !=
        REGISTRY_FORMAT_VERSION)
        return;
    char *name = read_string(rd, o, "name", true);
    if (name && paths_guest_name_ok(name))
        strcpy(r->name, name);
    else if (!rd->failed) {
        set_message(rd->err, rd->err_len, "\"name\" is not a guest name");
        rd->failed = true;
    }
    free(name);
    json_object *config = field(rd, o, "config", json_type_object, true);
    if (config)
        read_config(rd, config, &r->config);
    r->state = read_state(rd, o);
    r->pid = (pid_t)read_int(rd, o, "pid", 0, INT32_MAX);
    r->started_unix_ms = read_int(rd, o, "started_unix_ms", 0, INT64_MAX);
    char *reason = read_string(rd, o, "exit_reason", false);
    if (reason)
        snprintf(r->exit_reason, sizeof(r->exit_reason), "%s", reason);
    free(reason);
    r->console_tail = read_string(rd, o, "console_tail", false);
    char *ran_on = read_string(rd, o, "ran_on", false);
    if (ran_on)
        snprintf(r->ran_on, sizeof(r->ran_on), "%s", ran_on);
    free(ran_on);
    read_last_snapshot(rd, o, r);
    json_object *disposable = field(rd, o, "disposable", json_type_boolean, false);
    r->disposable = disposable && json_object_get_boolean(disposable);
    json_object *cid;
    if (json_object_object_get_ex(o, "vsock_cid", &cid)) /* older records have none */
        r->vsock_cid = (uint32_t)read_int(rd, o, "vsock_cid", 3, 0xfffffffe);
}

int registry_parse(const char *text, struct guest_record *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        set_message(err, err_len, "out of memory");
        return -1;
    }
    json_object *o = json_tokener_parse_ex(tok, text, (int)strnlen(text, REGISTRY_MAX_TEXT));
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (!o || jerr != json_tokener_success || !json_object_is_type(o, json_type_object)) {
        set_message(err, err_len, "not a JSON object (%s)",
                    o ? "wrong type" : json_tokener_error_desc(jerr));
        json_object_put(o);
        return -1;
    }
    struct reader rd = {.err = err, .err_len = err_len};
    read_record(&rd, o, out);
    json_object_put(o);
    if (rd.failed) {
        guest_record_clear(out);
        return -1;
    }
    return 0;
}

/* ---- files ------------------------------------------------------------------------ */

int registry_save(const char *path, const struct guest_record *r, char *err, size_t err_len)
{
    char *text = registry_format(r);
    if (!text) {
        set_message(err, err_len, "out of memory");
        return -1;
    }
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = -1;
    if (fd >= 0 && write_fully(fd, text, strlen(text)) == 0 && write_fully(fd, "\n", 1) == 0 &&
        fsync(fd) == 0)
        rc = 0;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    if (rc == 0 && rename(tmp, path) < 0) {
        saved = errno;
        rc = -1;
    }
    if (rc < 0) {
        set_message(err, err_len, "cannot write %s: %s", path, strerror(saved));
        unlink(tmp);
        rc = saved ? -saved : -EIO;
    }
    free(text);
    return rc;
}

int registry_load(const char *path, struct guest_record *out, char *err, size_t err_len)
{
    uint8_t *data;
    size_t len;
    int rc = read_whole_file(path, &data, &len, REGISTRY_MAX_TEXT);
    if (rc < 0) {
        set_message(err, err_len, "cannot read %s: %s", path, strerror(-rc));
        return -1;
    }
    char *text = malloc(len + 1);
    if (!text) {
        free(data);
        set_message(err, err_len, "out of memory");
        return -1;
    }
    memcpy(text, data, len);
    text[len] = '\0';
    free(data);
    char why[200];
    rc = registry_parse(text, out, why, sizeof(why));
    if (rc < 0)
        set_message(err, err_len, "%s: %s", path, why);
    free(text);
    return rc;
}
