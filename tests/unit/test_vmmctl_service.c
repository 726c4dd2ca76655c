/* vmmctl service: the unit or plist it writes, byte for byte where it matters,
 * and the systemctl/launchctl commands it runs, against fake tools on PATH that
 * record their arguments and answer as told: print FAKE_OUTPUT, exit FAKE_STATUS
 * (only for commands that contain FAKE_FAIL_ON, when it is set). */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service.h"
#include "unit.h"

static char base[64];
static char out_text[8192], err_text[8192];

static void path_in(char *out, size_t len, const char *rel)
{
    snprintf(out, len, "%s/%s", base, rel);
}

static void write_text(const char *rel, const char *text, mode_t mode)
{
    char path[256];
    path_in(path, sizeof(path), rel);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(path, mode), 0);
}

/* The file's text, or "" when it does not exist. */
static const char *read_text(const char *rel)
{
    static char text[16384];
    char path[256];
    path_in(path, sizeof(path), rel);
    text[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return text;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static bool exists(const char *rel)
{
    char path[256];
    path_in(path, sizeof(path), rel);
    return access(path, F_OK) == 0;
}

static const char fake_tool[] =
    "#!/bin/sh\n"
    "echo \"${0##*/} $*\" >> \"$FAKE_LOG\"\n"
    "if [ -n \"$FAKE_OUTPUT\" ]; then printf '%s\\n' \"$FAKE_OUTPUT\"; fi\n"
    "case \"$*\" in *\"${FAKE_FAIL_ON:-}\"*) exit \"${FAKE_STATUS:-0}\" ;; esac\n";

static void setup(void)
{
    snprintf(base, sizeof(base), "/tmp/ignition-test-service-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(base));
    char path[256];
    const char *dirs[] = {"home", "bin", "my bin"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        path_in(path, sizeof(path), dirs[i]);
        ck_assert_int_eq(mkdir(path, 0755), 0);
    }
    write_text("bin/systemctl", fake_tool, 0755);
    write_text("bin/launchctl", fake_tool, 0755);
    write_text("my bin/vmmd%", "#!/bin/sh\n", 0755);
    write_text("vmmd", "#!/bin/sh\n", 0755);
    path_in(path, sizeof(path), "home");
    setenv("HOME", path, 1);
    unsetenv("XDG_CONFIG_HOME");
    path_in(path, sizeof(path), "bin");
    setenv("PATH", path, 1);
    path_in(path, sizeof(path), "commands");
    setenv("FAKE_LOG", path, 1);
    unsetenv("FAKE_STATUS");
    unsetenv("FAKE_OUTPUT");
    unsetenv("FAKE_FAIL_ON");
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    setenv("PATH", "/usr/bin:/bin", 1);
    ck_assert_int_eq(system(cmd), 0);
}

static void capture_into(int fd, const char *rel, char *text, size_t len, int saved)
{
    fflush(fd == 1 ? stdout : stderr);
    ck_assert_int_eq(dup2(saved, fd), fd);
    close(saved);
    snprintf(text, len, "%s", read_text(rel));
}

/* Runs `vmmctl service VERB` with stdout and stderr kept in out_text, err_text. */
static int run(const char *verb, const struct service_env *env)
{
    char *argv[] = {"service", (char *)verb, NULL};
    char out_path[256], err_path[256];
    path_in(out_path, sizeof(out_path), "stdout");
    path_in(err_path, sizeof(err_path), "stderr");
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert(out >= 0 && err >= 0 && saved_out >= 0 && saved_err >= 0);
    dup2(out, 1);
    dup2(err, 2);
    close(out);
    close(err);
    int rc = service_command(2, argv, env);
    capture_into(1, "stdout", out_text, sizeof(out_text), saved_out);
    capture_into(2, "stderr", err_text, sizeof(err_text), saved_err);
    return rc;
}

static struct service_env systemd_env(const char *vmmd_rel)
{
    static char vmmd[256];
    path_in(vmmd, sizeof(vmmd), vmmd_rel);
    return (struct service_env){.vmmd_path = vmmd, .manager = SERVICE_MANAGER_SYSTEMD};
}

#define UNIT_FILE "home/.config/systemd/user/ignition-vmmd.service"
#define PLIST_FILE "home/Library/LaunchAgents/org.ignition.vmmd.plist"

static void assert_contains(const char *text, const char *needle)
{
    ck_assert_msg(strstr(text, needle) != NULL, "\"%s\" does not contain \"%s\"", text, needle);
}

START_TEST(install_writes_the_unit_and_enables_it)
{
    struct service_env env = systemd_env("vmmd");
    ck_assert_int_eq(run("install", &env), 0);
    char expected[512];
    snprintf(expected, sizeof(expected), "\nExecStart=%s/vmmd --service\n", base);
    const char *unit = read_text(UNIT_FILE);
    assert_contains(unit, expected);
    assert_contains(unit, "\n[Service]\nType=simple\n");
    assert_contains(unit, "\nKillMode=process\nRestart=on-failure\n");
    assert_contains(unit, "\n[Install]\nWantedBy=default.target\n");
    ck_assert_ptr_null(strstr(unit, "Environment="));
    ck_assert_ptr_null(strchr(unit, '@'));
    ck_assert_str_eq(read_text("commands"), "systemctl --user daemon-reload\n"
                                            "systemctl --user enable --now ignition-vmmd.service\n");
    ck_assert_str_eq(err_text, "");
    assert_contains(out_text, "journalctl --user -u ignition-vmmd");
}
END_TEST

START_TEST(install_escapes_paths_for_systemd)
{
    struct service_env env = systemd_env("my bin/vmmd%");
    env.ignition_home = "/srv/vm's home$";
    ck_assert_int_eq(run("install", &env), 0);
    char expected[512];
    snprintf(expected, sizeof(expected), "\nExecStart=%s/my\\x20bin/vmmd%%%% --service\n"
             "Environment=IGNITION_HOME=/srv/vm\\x27s\\x20home$\n", base);
    assert_contains(read_text(UNIT_FILE), expected);
}
END_TEST

START_TEST(install_honours_xdg_config_home)
{
    char config[256];
    path_in(config, sizeof(config), "config");
    setenv("XDG_CONFIG_HOME", config, 1);
    struct service_env env = systemd_env("vmmd");
    ck_assert_int_eq(run("install", &env), 0);
    ck_assert(exists("config/systemd/user/ignition-vmmd.service"));
    ck_assert(!exists(UNIT_FILE));
}
END_TEST

START_TEST(uninstall_disables_and_removes_the_unit)
{
    struct service_env env = systemd_env("vmmd");
    ck_assert_int_eq(run("install", &env), 0);
    ck_assert(exists(UNIT_FILE));
    ck_assert_int_eq(run("uninstall", &env), 0);
    ck_assert(!exists(UNIT_FILE));
    ck_assert_str_eq(read_text("commands"),
                     "systemctl --user daemon-reload\n"
                     "systemctl --user enable --now ignition-vmmd.service\n"
                     "systemctl --user disable --now ignition-vmmd.service\n"
                     "systemctl --user daemon-reload\n");
    ck_assert_int_eq(run("uninstall", &env), 0);
    assert_contains(out_text, "not installed");
}
END_TEST

START_TEST(a_failing_systemctl_is_one_line_and_leaves_nothing)
{
    setenv("FAKE_STATUS", "1", 1);
    setenv("FAKE_OUTPUT", "Failed to connect to bus: No medium found", 1);
    struct service_env env = systemd_env("vmmd");
    ck_assert_int_eq(run("install", &env), 1);
    ck_assert_str_eq(err_text,
                     "vmmctl: systemctl --user daemon-reload failed: Failed to connect to bus: "
                     "No medium found; no user session? (is systemd running for this user? "
                     "log in again, or run loginctl enable-linger)\n");
    ck_assert_str_eq(out_text, "");
    ck_assert(!exists(UNIT_FILE));
    ck_assert_str_eq(read_text("commands"), "systemctl --user daemon-reload\n");
}
END_TEST

START_TEST(a_missing_systemctl_says_so)
{
    setenv("PATH", base, 1); /* no systemctl there */
    struct service_env env = systemd_env("vmmd");
    ck_assert_int_eq(run("install", &env), 1);
    ck_assert_str_eq(err_text, "vmmctl: cannot run systemctl: not found in PATH\n");
    ck_assert(!exists(UNIT_FILE));
}
END_TEST

START_TEST(status_reports_the_unit_and_its_state)
{
    struct service_env env = systemd_env("vmmd");
    env.json = true;
    ck_assert_int_eq(run("status", &env), 0);
    char expected[512];
    snprintf(expected, sizeof(expected),
             "{\"manager\":\"systemd\",\"file\":\"%s/" UNIT_FILE "\",\"installed\":false,"
             "\"state\":\"not installed\"}\n", base);
    ck_assert_str_eq(out_text, expected);
    ck_assert_str_eq(read_text("commands"), "");

    ck_assert_int_eq(run("install", &env), 0);
    setenv("FAKE_OUTPUT", "active", 1);
    ck_assert_int_eq(run("status", &env), 0);
    snprintf(expected, sizeof(expected),
             "{\"manager\":\"systemd\",\"file\":\"%s/" UNIT_FILE "\",\"installed\":true,"
             "\"state\":\"active\"}\n", base);
    ck_assert_str_eq(out_text, expected);
    assert_contains(read_text("commands"), "systemctl --user is-active ignition-vmmd.service\n");

    /* is-active exits 3 for a stopped unit: that is an answer, not a failure. */
    setenv("FAKE_OUTPUT", "inactive", 1);
    setenv("FAKE_STATUS", "3", 1);
    env.json = false;
    ck_assert_int_eq(run("status", &env), 0);
    assert_contains(out_text, "installed  yes\nstate      inactive\n");

    setenv("FAKE_OUTPUT", "Failed to connect to bus: No medium found", 1);
    setenv("FAKE_STATUS", "1", 1);
    ck_assert_int_eq(run("status", &env), 1);
    assert_contains(err_text, "vmmctl: systemctl --user is-active failed: Failed to connect");
}
END_TEST

START_TEST(bad_paths_and_usage_are_refused)
{
    struct service_env env = {.vmmd_path = "build/vmmd/vmmd",
                              .manager = SERVICE_MANAGER_SYSTEMD};
    ck_assert_int_eq(run("install", &env), 1);
    ck_assert_str_eq(err_text, "vmmctl: vmmd build/vmmd/vmmd is not an absolute path\n");

    env = systemd_env("no-such-vmmd");
    ck_assert_int_eq(run("install", &env), 1);
    assert_contains(err_text, "is not an executable");

    env = systemd_env("vmmd");
    env.ignition_home = "/tmp/x\n[Service]\nExecStartPre=/bin/evil";
    ck_assert_int_eq(run("install", &env), 1);
    ck_assert_str_eq(err_text, "vmmctl: IGNITION_HOME contains a control character\n");
    ck_assert(!exists(UNIT_FILE));
    ck_assert_str_eq(read_text("commands"), "");

    ck_assert_int_eq(run("restart", &env), 2);
    ck_assert_str_eq(err_text, "vmmctl: usage: vmmctl service install|uninstall|status\n");
}
END_TEST

#ifndef __APPLE__
START_TEST(installed_and_start_follow_the_host_unit)
{
    ck_assert(!service_installed());
    struct service_env env = systemd_env("vmmd");
    env.manager = SERVICE_MANAGER_HOST;
    ck_assert_int_eq(run("install", &env), 0);
    ck_assert(service_installed());
    char err[256] = "";
    ck_assert_int_eq(service_start(err, sizeof(err)), 0);
    assert_contains(read_text("commands"), "systemctl --user start ignition-vmmd.service\n");
    setenv("FAKE_STATUS", "1", 1);
    ck_assert_int_eq(service_start(err, sizeof(err)), -1);
    assert_contains(err, "systemctl --user start ignition-vmmd.service failed");
}
END_TEST
#endif

START_TEST(launchd_install_writes_the_plist_and_bootstraps_it)
{
    struct service_env env = systemd_env("my bin/vmmd%");
    env.manager = SERVICE_MANAGER_LAUNCHD;
    env.ignition_home = "/Users/a&b/<state>";
    ck_assert_int_eq(run("install", &env), 0);
    const char *plist = read_text(PLIST_FILE);
    char expected[512];
    snprintf(expected, sizeof(expected),
             "\t<array>\n\t\t<string>%s/my bin/vmmd%%</string>\n\t\t<string>--service</string>\n",
             base);
    assert_contains(plist, expected);
    snprintf(expected, sizeof(expected),
             "<key>StandardErrorPath</key>\n\t<string>%s/home/Library/Logs/ignition/vmmd.log</string>",
             base);
    assert_contains(plist, expected);
    assert_contains(plist, "<key>IGNITION_HOME</key><string>/Users/a&amp;b/&lt;state&gt;</string>");
    ck_assert_ptr_null(strchr(plist, '@'));
    ck_assert(exists("home/Library/Logs/ignition"));
    char commands[512];
    unsigned uid = (unsigned)getuid();
    snprintf(commands, sizeof(commands),
             "launchctl bootout gui/%u/org.ignition.vmmd\n"
             "launchctl bootstrap gui/%u %s/" PLIST_FILE "\n", uid, uid, base);
    ck_assert_str_eq(read_text("commands"), commands);
}
END_TEST

START_TEST(launchd_without_ignition_home_has_no_environment)
{
    struct service_env env = systemd_env("vmmd");
    env.manager = SERVICE_MANAGER_LAUNCHD;
    ck_assert_int_eq(run("install", &env), 0);
    const char *plist = read_text(PLIST_FILE);
    ck_assert_ptr_null(strstr(plist, "<key>EnvironmentVariables</key>"));
    assert_contains(plist, "\t<key>KeepAlive</key>\n\t<true/>\n");

    /* launchctl print of a job launchd does not know fails: "not loaded". */
    setenv("FAKE_STATUS", "113", 1);
    ck_assert_int_eq(run("status", &env), 0);
    assert_contains(out_text, "state      not loaded\n");
    setenv("FAKE_STATUS", "0", 1);
    setenv("FAKE_OUTPUT", "gui/501/org.ignition.vmmd = {\n\tstate = running\n\tpid = 42\n}", 1);
    ck_assert_int_eq(run("status", &env), 0);
    assert_contains(out_text, "state      running\n");

    setenv("FAKE_OUTPUT", "Boot-out failed: 3: No such process", 1);
    setenv("FAKE_STATUS", "3", 1);
    ck_assert_int_eq(run("uninstall", &env), 0);
    ck_assert(!exists(PLIST_FILE));
}
END_TEST

START_TEST(launchd_bootstrap_failure_removes_the_plist)
{
    setenv("FAKE_STATUS", "5", 1);
    setenv("FAKE_FAIL_ON", "bootstrap", 1);
    setenv("FAKE_OUTPUT", "Bootstrap failed: 5: Input/output error", 1);
    struct service_env env = systemd_env("vmmd");
    env.manager = SERVICE_MANAGER_LAUNCHD;
    ck_assert_int_eq(run("install", &env), 1);
    char expected[512];
    unsigned uid = (unsigned)getuid();
    snprintf(expected, sizeof(expected),
             "vmmctl: launchctl bootstrap gui/%u %s/" PLIST_FILE " failed: Bootstrap failed: 5: "
             "Input/output error; check the plist with plutil -lint\n", uid, base);
    ck_assert_str_eq(err_text, expected);
    ck_assert(!exists(PLIST_FILE));
}
END_TEST

static Suite *vmmctl_service_suite(void)
{
    Suite *s = suite_create("vmmctl_service");
    TCase *tc = tcase_create("systemd");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, install_writes_the_unit_and_enables_it);
    tcase_add_test(tc, install_escapes_paths_for_systemd);
    tcase_add_test(tc, install_honours_xdg_config_home);
    tcase_add_test(tc, uninstall_disables_and_removes_the_unit);
    tcase_add_test(tc, a_failing_systemctl_is_one_line_and_leaves_nothing);
    tcase_add_test(tc, a_missing_systemctl_says_so);
    tcase_add_test(tc, status_reports_the_unit_and_its_state);
    tcase_add_test(tc, bad_paths_and_usage_are_refused);
#ifndef __APPLE__
    tcase_add_test(tc, installed_and_start_follow_the_host_unit);
#endif
    suite_add_tcase(s, tc);
    TCase *launchd = tcase_create("launchd");
    tcase_add_checked_fixture(launchd, setup, teardown);
    tcase_add_test(launchd, launchd_install_writes_the_plist_and_bootstraps_it);
    tcase_add_test(launchd, launchd_without_ignition_home_has_no_environment);
    tcase_add_test(launchd, launchd_bootstrap_failure_removes_the_plist);
    suite_add_tcase(s, launchd);
    return s;
}

int main(void)
{
    return run_suite(vmmctl_service_suite());
}
