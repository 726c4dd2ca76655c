/* vmmd under a service manager: the unit or plist is rendered from the template
 * in launchd/ (built in as service_templates.h) and handed to systemctl --user or
 * launchctl, which run as child processes whose output becomes our error text. */
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "paths.h"
#include "service_templates.h"
#include "util.h"

extern char **environ;

#define EXIT_USAGE 2
#define SYSTEMD_UNIT "ignition-vmmd.service"
#define LAUNCHD_LABEL "org.ignition.vmmd"
/* What a tool prints is only read for its first line or one "state = " line;
 * the rest of a long output is drained and dropped. */
#define TOOL_OUTPUT_MAX 16384
/* Each substituted value is at most PATH_MAX bytes and grows at most sixfold
 * when escaped (XML's &quot;); a template names at most four values. */
#define RENDERED_MAX (4 * 6 * PATH_MAX + 8192)

struct tool_result {
    int status; /* the tool's exit status */
    char output[TOOL_OUTPUT_MAX];
};

/* ---- running systemctl and launchctl ---- */

static void read_output(int fd, struct tool_result *r)
{
    size_t len = 0;
    char scratch[4096];
    for (;;) {
        char *dst = len < sizeof(r->output) - 1 ? r->output + len : scratch;
        size_t room = len < sizeof(r->output) - 1 ? sizeof(r->output) - 1 - len
                                                  : sizeof(scratch);
        ssize_t n = read(fd, dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (dst != scratch)
            len += (size_t)n;
    }
    r->output[len] = '\0';
}

static int wait_for(pid_t pid, int *status)
{
    while (waitpid(pid, status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

/* Runs argv (found in PATH) with stdin from /dev/null and stdout and stderr
 * collected in r. Returns 0 when the tool ran to an exit status, or -1 with err
 * set when it could not be started or was killed. */
static int run_tool(char *const argv[], struct tool_result *r, char *err, size_t err_len)
{
    int fds[2];
    if (pipe(fds) < 0) {
        set_message(err, err_len, "cannot run %s: %s", argv[0], strerror(errno));
        return -1;
    }
    /* Only the dup2'ed copies may reach the child: a stray write end kept open
     * there, or in a tool it spawns, would hold our read loop forever. */
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        set_message(err, err_len, "cannot run %s: %s", argv[0],
                    rc == ENOENT ? "not found in PATH" : strerror(rc));
        return -1;
    }
    read_output(fds[0], r);
    close(fds[0]);
    int status;
    if (wait_for(pid, &status) < 0 || !WIFEXITED(status)) {
        set_message(err, err_len, "%s did not finish (killed by a signal?)", argv[0]);
        return -1;
    }
    r->status = WEXITSTATUS(status);
    return 0;
}

/* The first line of what a tool printed, for a one-line error. */
static void first_line(const char *output, char *out, size_t len)
{
    const char *start = output + strspn(output, " \t\n");
    size_t n = strcspn(start, "\n");
    if (n == 0) {
        set_message(out, len, "no message");
        return;
    }
    set_message(out, len, "%.*s", (int)(n > 200 ? 200 : n), start);
}

/* " ".join(argv), for messages. */
static void describe_command(char *const argv[], char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; argv[i] && used < len; i++) {
        int n = snprintf(out + used, len - used, "%s%s", i ? " " : "", argv[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* Runs a tool that must succeed; its failure becomes one line naming the command,
 * what it said, and (from hint) what to do. */
static int run_required(char *const argv[], const char *hint, char *err, size_t err_len)
{
    struct tool_result *r = malloc(sizeof(*r));
    if (!r) {
        set_message(err, err_len, "out of memory");
        return -1;
    }
    int rc = run_tool(argv, r, err, err_len);
    if (rc == 0 && r->status != 0) {
        char command[256], said[256];
        describe_command(argv, command, sizeof(command));
        first_line(r->output, said, sizeof(said));
        set_message(err, err_len, "%s failed: %s%s%s", command, said, hint ? "; " : "",
                    hint ? hint : "");
        rc = -1;
    }
    free(r);
    return rc;
}

/* ---- rendering the templates ---- */

struct text {
    char *data;
    size_t len;
    bool overflow;
};

static void text_append(struct text *t, const char *s, size_t n)
{
    if (t->overflow || n >= RENDERED_MAX - t->len) {
        t->overflow = true;
        return;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

static void text_append_str(struct text *t, const char *s)
{
    text_append(t, s, strlen(s));
}

/* A systemd unit value: C escapes for what would split or quote a word,
 * %% for specifiers, and $$ where ExecStart would expand variables. */
static void append_systemd(struct text *t, const char *value, bool in_command_line)
{
    for (const char *p = value; *p; p++) {
        char esc[8];
        if (*p == '%')
            text_append_str(t, "%%");
        else if (*p == '$' && in_command_line)
            text_append_str(t, "$$");
        else if (*p == '\\')
            text_append_str(t, "\\\\");
        else if (*p == ' ' || *p == '\t' || *p == '"' || *p == '\'' || *p == ';') {
            snprintf(esc, sizeof(esc), "\\x%02x", (unsigned char)*p);
            text_append_str(t, esc);
        } else
            text_append(t, p, 1);
    }
}

static void append_xml(struct text *t, const char *value)
{
    for (const char *p = value; *p; p++) {
        switch (*p) {
        case '&': text_append_str(t, "&amp;"); break;
        case '<': text_append_str(t, "&lt;"); break;
        case '>': text_append_str(t, "&gt;"); break;
        case '"': text_append_str(t, "&quot;"); break;
        case '\'': text_append_str(t, "&apos;"); break;
        default: text_append(t, p, 1);
        }
    }
}

enum escaping { ESCAPE_SYSTEMD, ESCAPE_XML };

struct render_values {
    enum escaping escaping;
    const char *vmmd;
    const char *home;
    const char *ignition_home; /* NULL: lines that name it are left out */
};

/* Substitutes the placeholder that starts at p, if it is one; returns its length
 * or 0. */
static size_t substitute(struct text *t, const char *p, const struct render_values *v)
{
    static const char *const names[] = {"@VMMD@", "@HOME@", "@IGNITION_HOME@"};
    const char *values[] = {v->vmmd, v->home, v->ignition_home};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        size_t n = strlen(names[i]);
        if (strncmp(p, names[i], n) != 0)
            continue;
        if (v->escaping == ESCAPE_XML)
            append_xml(t, values[i]);
        else
            append_systemd(t, values[i], i == 0);
        return n;
    }
    return 0;
}

static void render_line(struct text *t, const char *line, size_t len,
                        const struct render_values *v)
{
    for (size_t i = 0; i < len;) {
        size_t n = line[i] == '@' ? substitute(t, line + i, v) : 0;
        if (n == 0) {
            text_append(t, line + i, 1);
            n = 1;
        }
        i += n;
    }
}

/* Returns the rendered text (caller frees), or NULL when out of memory or the
 * result would be too long. */
static char *render(const char *template, const struct render_values *v)
{
    struct text t = {.data = malloc(RENDERED_MAX)};
    if (!t.data)
        return NULL;
    t.data[0] = '\0';
    for (const char *line = template; *line;) {
        size_t len = strcspn(line, "\n");
        size_t with_newline = len + (line[len] == '\n');
        bool optional = memmem(line, len, "@IGNITION_HOME@", 15) != NULL;
        if (!optional || v->ignition_home)
            render_line(&t, line, with_newline, v);
        line += with_newline;
    }
    if (t.overflow) {
        free(t.data);
        return NULL;
    }
    return t.data;
}

/* ---- where the files go ---- */

static const char *home_dir(char *err, size_t err_len)
{
    const char *home = getenv("HOME");
    if (!home || home[0] != '/') {
        set_message(err, err_len, "HOME is not set to an absolute path: set it and try again");
        return NULL;
    }
    return home;
}

static int join(char *out, size_t len, const char *a, const char *b, char *err,
                size_t err_len)
{
    int n = snprintf(out, len, "%s%s", a, b);
    if (n < 0 || (size_t)n >= len) {
        set_message(err, err_len, "the path %s%s is too long", a, b);
        return -1;
    }
    return 0;
}

static int systemd_unit_path(char *out, size_t len, char *err, size_t err_len)
{
    const char *config = getenv("XDG_CONFIG_HOME");
    if (config && config[0] == '/')
        return join(out, len, config, "/systemd/user/" SYSTEMD_UNIT, err, err_len);
    const char *home = home_dir(err, err_len);
    if (!home)
        return -1;
    return join(out, len, home, "/.config/systemd/user/" SYSTEMD_UNIT, err, err_len);
}

static int launchd_plist_path(char *out, size_t len, char *err, size_t err_len)
{
    const char *home = home_dir(err, err_len);
    if (!home)
        return -1;
    return join(out, len, home, "/Library/LaunchAgents/" LAUNCHD_LABEL ".plist", err, err_len);
}

static int parent_dir(const char *path, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash || (size_t)(slash - path) >= len)
        return -1;
    memcpy(out, path, (size_t)(slash - path));
    out[slash - path] = '\0';
    return 0;
}

/* Written beside its final name and renamed into place, so that the service
 * manager never reads half a file. */
static int write_file(const char *path, const char *text, char *err, size_t err_len)
{
    char dir[PATH_MAX], tmp[PATH_MAX + 8];
    int rc = parent_dir(path, dir, sizeof(dir)) < 0 ? -ENAMETOOLONG : paths_make_dirs(dir, 0755);
    if (rc < 0) {
        set_message(err, err_len, "cannot create the directory of %s: %s", path,
                    strerror(-rc));
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        set_message(err, err_len, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    int saved = errno;
    if (close(fd) < 0 || done < len || rename(tmp, path) < 0) {
        set_message(err, err_len, "cannot write %s: %s", path,
                    strerror(done < len ? saved : errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---- the two service managers ---- */

struct manager {
    const char *name;
    const char *template;
    enum escaping escaping;
    int (*file_path)(char *out, size_t len, char *err, size_t err_len);
    int (*enable)(const char *file, char *err, size_t err_len);
    int (*disable)(char *err, size_t err_len);
    int (*forget)(char *err, size_t err_len); /* after the file is removed */
    /* Stores a word such as "active" or "running"; -1 and err when unknown. */
    int (*state)(char *out, size_t len, char *err, size_t err_len);
    int (*start)(char *err, size_t err_len);
    const char *logs;
};

static const char systemd_hint[] =
    "no user session? (is systemd running for this user? log in again, or "
    "run loginctl enable-linger)";

/* systemctl --user VERB [ARG [ARG]]: a NULL argument ends the list. */
static int systemctl(const char *verb, const char *arg1, const char *arg2, char *err,
                     size_t err_len)
{
    char *argv[] = {"systemctl", "--user", (char *)verb, (char *)arg1, (char *)arg2, NULL};
    return run_required(argv, systemd_hint, err, err_len);
}

static int systemd_enable(const char *file, char *err, size_t err_len)
{
    (void)file;
    if (systemctl("daemon-reload", NULL, NULL, err, err_len) < 0)
        return -1;
    return systemctl("enable", "--now", SYSTEMD_UNIT, err, err_len);
}

static int systemd_disable(char *err, size_t err_len)
{
    return systemctl("disable", "--now", SYSTEMD_UNIT, err, err_len);
}

/* The manager forgets a unit whose file is gone only when told to reload. */
static int systemd_forget(char *err, size_t err_len)
{
    return systemctl("daemon-reload", NULL, NULL, err, err_len);
}

static int systemd_start(char *err, size_t err_len)
{
    return systemctl("start", SYSTEMD_UNIT, NULL, err, err_len);
}

static bool word_is_one_of(const char *word, size_t len, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(words[i]) == len && strncmp(word, words[i], len) == 0)
            return true;
    }
    return false;
}

/* is-active fails for every state but "active", so its word, not its status,
 * says whether the manager answered. */
static int systemd_state(char *out, size_t len, char *err, size_t err_len)
{
    static const char *const states[] = {"active",       "inactive",  "failed",
                                         "activating",   "deactivating", "reloading",
                                         "maintenance",  "unknown"};
    char *argv[] = {"systemctl", "--user", "is-active", SYSTEMD_UNIT, NULL};
    struct tool_result *r = malloc(sizeof(*r));
    if (!r || run_tool(argv, r, err, err_len) < 0) {
        if (!r)
            set_message(err, err_len, "out of memory");
        free(r);
        return -1;
    }
    size_t n = strcspn(r->output, "\n");
    int rc = 0;
    if (word_is_one_of(r->output, n, states, ARRAY_SIZE(states))) {
        set_message(out, len, "%.*s", (int)n, r->output);
    } else {
        char said[256];
        first_line(r->output, said, sizeof(said));
        set_message(err, err_len, "systemctl --user is-active failed: %s; %s", said,
                    systemd_hint);
        rc = -1;
    }
    free(r);
    return rc;
}

static void launchd_target(char *out, size_t len, bool with_label)
{
    snprintf(out, len, "gui/%u%s", (unsigned)getuid(), with_label ? "/" LAUNCHD_LABEL : "");
}

static int launchd_log_dir(char *err, size_t err_len)
{
    const char *home = home_dir(err, err_len);
    char dir[PATH_MAX];
    if (!home || join(dir, sizeof(dir), home, "/Library/Logs/ignition", err, err_len) < 0)
        return -1;
    int rc = paths_make_dirs(dir, 0755);
    if (rc < 0) {
        set_message(err, err_len, "cannot create %s: %s", dir, strerror(-rc));
        return -1;
    }
    return 0;
}

/* bootout of a job launchd does not have is not an error for us. */
static int launchd_bootout(char *err, size_t err_len)
{
    char target[64];
    launchd_target(target, sizeof(target), true);
    char *argv[] = {"launchctl", "bootout", target, NULL};
    struct tool_result *r = malloc(sizeof(*r));
    if (!r || run_tool(argv, r, err, err_len) < 0) {
        if (!r)
            set_message(err, err_len, "out of memory");
        free(r);
        return -1;
    }
    int rc = 0;
    if (r->status != 0 && !strstr(r->output, "No such process") &&
        !strstr(r->output, "Could not find")) {
        char said[256];
        first_line(r->output, said, sizeof(said));
        set_message(err, err_len, "launchctl bootout %s failed: %s", target, said);
        rc = -1;
    }
    free(r);
    return rc;
}

static int launchd_enable(const char *file, char *err, size_t err_len)
{
    if (launchd_log_dir(err, err_len) < 0)
        return -1;
    /* A job loaded by an earlier install would make bootstrap fail. */
    if (launchd_bootout(err, err_len) < 0)
        return -1;
    char domain[64];
    launchd_target(domain, sizeof(domain), false);
    char *argv[] = {"launchctl", "bootstrap", domain, (char *)file, NULL};
    return run_required(argv, "check the plist with plutil -lint", err, err_len);
}

/* bootout already made launchd forget the job. */
static int launchd_forget(char *err, size_t err_len)
{
    (void)err;
    (void)err_len;
    return 0;
}

static int launchd_start(char *err, size_t err_len)
{
    char target[64];
    launchd_target(target, sizeof(target), true);
    char *argv[] = {"launchctl", "kickstart", target, NULL};
    return run_required(argv, "is the service installed? (vmmctl service install)", err,
                        err_len);
}

/* launchctl print fails for a job that is not loaded, and otherwise has a
 * "state = running" line among many. */
static int launchd_state(char *out, size_t len, char *err, size_t err_len)
{
    char target[64];
    launchd_target(target, sizeof(target), true);
    char *argv[] = {"launchctl", "print", target, NULL};
    struct tool_result *r = malloc(sizeof(*r));
    if (!r || run_tool(argv, r, err, err_len) < 0) {
        if (!r)
            set_message(err, err_len, "out of memory");
        free(r);
        return -1;
    }
    const char *state = r->status == 0 ? strstr(r->output, "state = ") : NULL;
    if (r->status != 0)
        set_message(out, len, "not loaded");
    else if (!state)
        set_message(out, len, "loaded");
    else
        set_message(out, len, "%.*s", (int)strcspn(state + 8, "\n \t"), state + 8);
    free(r);
    return 0;
}

static const struct manager systemd_manager = {
    .name = "systemd",
    .template = service_template_systemd,
    .escaping = ESCAPE_SYSTEMD,
    .file_path = systemd_unit_path,
    .enable = systemd_enable,
    .disable = systemd_disable,
    .forget = systemd_forget,
    .state = systemd_state,
    .start = systemd_start,
    .logs = "journalctl --user -u ignition-vmmd",
};

static const struct manager launchd_manager = {
    .name = "launchd",
    .template = service_template_launchd,
    .escaping = ESCAPE_XML,
    .file_path = launchd_plist_path,
    .enable = launchd_enable,
    .disable = launchd_bootout,
    .forget = launchd_forget,
    .state = launchd_state,
    .start = launchd_start,
    .logs = "~/Library/Logs/ignition/vmmd.log",
};

static const struct manager *manager_for(enum service_manager which)
{
    if (which == SERVICE_MANAGER_SYSTEMD)
        return &systemd_manager;
    if (which == SERVICE_MANAGER_LAUNCHD)
        return &launchd_manager;
#ifdef __APPLE__
    return &launchd_manager;
#else
    return &systemd_manager;
#endif
}

/* ---- the subcommands ---- */

static void print_error(const char *err)
{
    fprintf(stderr, "vmmctl: %s\n", err);
}

/* A path that goes into a unit or plist: absolute, and no control character that
 * could end a line and start a directive of its own. */
static int check_path_value(const char *what, const char *path, char *err, size_t err_len)
{
    if (path[0] != '/') {
        set_message(err, err_len, "%s %s is not an absolute path", what, path);
        return -1;
    }
    if (strlen(path) >= PATH_MAX) {
        set_message(err, err_len, "%s is longer than PATH_MAX", what);
        return -1;
    }
    for (const char *p = path; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            set_message(err, err_len, "%s contains a control character", what);
            return -1;
        }
    }
    return 0;
}

static int check_env(const struct service_env *env, char *err, size_t err_len)
{
    if (!env->vmmd_path || check_path_value("vmmd", env->vmmd_path, err, err_len) < 0)
        return -1;
    if (access(env->vmmd_path, X_OK) < 0) {
        set_message(err, err_len, "vmmd is not an executable at %s (build or reinstall it)",
                    env->vmmd_path);
        return -1;
    }
    if (env->ignition_home &&
        check_path_value("IGNITION_HOME", env->ignition_home, err, err_len) < 0)
        return -1;
    return 0;
}

static int service_install(const struct manager *m, const struct service_env *env)
{
    char err[768], path[PATH_MAX];
    const char *home;
    if (check_env(env, err, sizeof(err)) < 0 || !(home = home_dir(err, sizeof(err))) ||
        check_path_value("HOME", home, err, sizeof(err)) < 0 ||
        m->file_path(path, sizeof(path), err, sizeof(err)) < 0) {
        print_error(err);
        return 1;
    }
    struct render_values values = {.escaping = m->escaping, .vmmd = env->vmmd_path,
                                   .home = home, .ignition_home = env->ignition_home};
    char *text = render(m->template, &values);
    if (!text) {
        print_error("the service file would be too long (out of memory?)");
        return 1;
    }
    int rc = write_file(path, text, err, sizeof(err));
    free(text);
    if (rc == 0 && m->enable(path, err, sizeof(err)) < 0) {
        /* Leave nothing behind that would make vmmctl think the service owns vmmd. */
        unlink(path);
        rc = -1;
    }
    if (rc < 0) {
        print_error(err);
        return 1;
    }
    printf("installed %s: vmmd runs under %s (logs: %s)\n", path, m->name, m->logs);
    return 0;
}

static int service_uninstall(const struct manager *m)
{
    char err[768], path[PATH_MAX];
    if (m->file_path(path, sizeof(path), err, sizeof(err)) < 0) {
        print_error(err);
        return 1;
    }
    if (access(path, F_OK) < 0) {
        printf("not installed: %s does not exist\n", path);
        return 0;
    }
    if (m->disable(err, sizeof(err)) < 0) {
        print_error(err);
        return 1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        set_message(err, sizeof(err), "cannot remove %s: %s", path, strerror(errno));
        print_error(err);
        return 1;
    }
    if (m->forget(err, sizeof(err)) < 0) {
        print_error(err);
        return 1;
    }
    printf("uninstalled %s: vmmd stopped; guests keep running\n", path);
    return 0;
}

static void print_json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static int service_status(const struct manager *m, const struct service_env *env)
{
    char err[768], path[PATH_MAX], state[64] = "not installed";
    if (m->file_path(path, sizeof(path), err, sizeof(err)) < 0) {
        print_error(err);
        return 1;
    }
    bool installed = access(path, F_OK) == 0;
    if (installed && m->state(state, sizeof(state), err, sizeof(err)) < 0) {
        print_error(err);
        return 1;
    }
    if (env->json) {
        printf("{\"manager\":\"%s\",\"file\":", m->name);
        print_json_string(path);
        printf(",\"installed\":%s,\"state\":", installed ? "true" : "false");
        print_json_string(state);
        printf("}\n");
    } else {
        printf("manager    %s\nfile       %s\ninstalled  %s\nstate      %s\n", m->name, path,
               installed ? "yes" : "no (vmmctl service install sets it up)", state);
    }
    return 0;
}

int service_command(int argc, char **argv, const struct service_env *env)
{
    const struct manager *m = manager_for(env->manager);
    if (argc == 2 && strcmp(argv[1], "install") == 0)
        return service_install(m, env);
    if (argc == 2 && strcmp(argv[1], "uninstall") == 0)
        return service_uninstall(m);
    if (argc == 2 && strcmp(argv[1], "status") == 0)
        return service_status(m, env);
    fprintf(stderr, "vmmctl: usage: vmmctl service install|uninstall|status\n");
    return EXIT_USAGE;
}

bool service_installed(void)
{
    char err[256], path[PATH_MAX];
    const struct manager *m = manager_for(SERVICE_MANAGER_HOST);
    return m->file_path(path, sizeof(path), err, sizeof(err)) == 0 && access(path, F_OK) == 0;
}

int service_start(char *err, size_t err_len)
{
    return manager_for(SERVICE_MANAGER_HOST)->start(err, err_len);
}
