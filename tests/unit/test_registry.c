/* The registry's guest.json: what is written reads back the same, and a file
 * that was edited or damaged is refused with a reason, never half loaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "supervisor/registry.h"
#include "unit.h"

static void sample(struct guest_record *r)
{
    memset(r, 0, sizeof(*r));
    strcpy(r->name, "demo-1");
    r->config.kernel = strdup("/g/Image");
    r->config.initrd = strdup("/g/initramfs.cpio.gz");
    r->config.append = strdup("console=ttyAMA0 root=/dev/vda");
    r->config.disks[0] = strdup("/g/rootfs.ext4,serial=root");
    r->config.disks[1] = strdup("/g/data.img,ro");
    r->config.num_disks = 2;
    r->config.mem_bytes = 512ull << 20;
    r->config.cpus = 1;
    strcpy(r->config.backend, "emu");
    r->config.gui = true;
    r->config.display_width = 1024;
    r->config.display_height = 768;
    r->state = GUEST_CRASHED;
    r->pid = 4242;
    r->started_unix_ms = 1795000000123;
    strcpy(r->exit_reason, "worker killed by signal 9 (Killed)");
    strcpy(r->ran_on, "emu");
    r->console_tail = strdup("line one\nline \"two\"\n");
}

START_TEST(round_trip)
{
    struct guest_record in, out;
    sample(&in);
    char *text = registry_format(&in);
    ck_assert_ptr_nonnull(text);
    char err[200];
    ck_assert_int_eq(registry_parse(text, &out, err, sizeof(err)), 0);
    ck_assert_str_eq(out.name, "demo-1");
    ck_assert_str_eq(out.config.kernel, in.config.kernel);
    ck_assert_str_eq(out.config.initrd, in.config.initrd);
    ck_assert_str_eq(out.config.append, in.config.append);
    ck_assert_uint_eq(out.config.num_disks, 2);
    ck_assert_str_eq(out.config.disks[1], "/g/data.img,ro");
    ck_assert_uint_eq(out.config.mem_bytes, 512ull << 20);
    ck_assert_str_eq(out.config.backend, "emu");
    ck_assert(out.config.gui);
    ck_assert_uint_eq(out.config.display_width, 1024);
    ck_assert_int_eq(out.state, GUEST_CRASHED);
    ck_assert_int_eq(out.pid, 4242);
    ck_assert(out.started_unix_ms == 1795000000123);
    ck_assert_str_eq(out.exit_reason, in.exit_reason);
    ck_assert_str_eq(out.ran_on, "emu");
    ck_assert_str_eq(out.console_tail, in.console_tail);
    free(text);
    guest_record_clear(&in);
    guest_record_clear(&out);
}
END_TEST

START_TEST(optional_fields_may_be_absent)
{
    struct guest_record in, out;
    sample(&in);
    free(in.config.initrd);
    free(in.config.append);
    free(in.console_tail);
    in.config.initrd = in.config.append = in.console_tail = NULL;
    char *text = registry_format(&in);
    char err[200];
    ck_assert_int_eq(registry_parse(text, &out, err, sizeof(err)), 0);
    ck_assert_ptr_null(out.config.initrd);
    ck_assert_ptr_null(out.config.append);
    ck_assert_ptr_null(out.console_tail);
    free(text);
    guest_record_clear(&in);
    guest_record_clear(&out);
}
END_TEST

/* A restored guest: no kernel of its own, the snapshot it restores from. */
START_TEST(restored_guest_round_trip)
{
    struct guest_record in, out;
    sample(&in);
    free(in.config.kernel);
    in.config.kernel = NULL;
    in.config.restore_from = strdup("/state/snapshots/warm");
    char *text = registry_format(&in);
    char err[200];
    ck_assert_int_eq(registry_parse(text, &out, err, sizeof(err)), 0);
    ck_assert_ptr_null(out.config.kernel);
    ck_assert_str_eq(out.config.restore_from, "/state/snapshots/warm");
    struct guest_config copy;
    ck_assert_int_eq(guest_config_copy(&copy, &out.config), 0);
    ck_assert_str_eq(copy.restore_from, "/state/snapshots/warm");
    ck_assert_ptr_ne(copy.restore_from, out.config.restore_from);
    guest_config_clear(&copy);
    ck_assert_ptr_null(strstr(text, "\"kernel\""));
    free(text);
    guest_record_clear(&in);
    guest_record_clear(&out);
    /* Relative: not a path the record could have been written with. */
    sample(&in);
    in.config.restore_from = strdup("snapshots/warm");
    text = registry_format(&in);
    ck_assert_int_eq(registry_parse(text, &out, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "restore_from"));
    free(text);
    guest_record_clear(&in);
}
END_TEST

/* Replaces the first `from` in the sample's text with `to` and parses that. */
static int parse_edited(const char *from, const char *to, char *err, size_t err_len)
{
    struct guest_record in, out;
    sample(&in);
    char *text = registry_format(&in);
    guest_record_clear(&in);
    char *at = strstr(text, from);
    ck_assert_msg(at != NULL, "sample has no %s", from);
    size_t len = strlen(text) - strlen(from) + strlen(to) + 1;
    char *edited = malloc(len);
    snprintf(edited, len, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    int rc = registry_parse(edited, &out, err, err_len);
    if (rc == 0)
        guest_record_clear(&out);
    free(text);
    free(edited);
    return rc;
}

START_TEST(damaged_records_are_refused)
{
    static const struct {
        const char *from, *to, *reason;
    } cases[] = {
        {"\"demo-1\"", "\"..\\/etc\"", "name"},
        {"\"demo-1\"", "7", "name"},
        {"\"state\":\"crashed\"", "\"state\":\"dancing\"", "state"},
        {"\"cpus\":1", "\"cpus\":0", "cpus"},
        {"\"mem_bytes\":536870912", "\"mem_bytes\":-5", "mem_bytes"},
        {"\"backend\":\"emu\"", "\"backend\":\"a-very-long-backend\"", "backend"},
        {"\"display_width\":1024", "\"display_width\":99999", "display_width"},
        {"\"format\":1", "\"format\":2", "format"},
        {"\"kernel\":\"\\/g\\/Image\",", "", "kernel"},
        {"\"gui\":true", "\"gui\":\"yes\"", "gui"},
        {"\"disks\":[", "\"disks\":[1,", "disk"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[200] = "";
        ck_assert_msg(parse_edited(cases[i].from, cases[i].to, err, sizeof(err)) < 0,
                      "case %zu accepted", i);
        ck_assert_msg(strstr(err, cases[i].reason), "case %zu: '%s' does not name %s", i, err,
                      cases[i].reason);
    }
}
END_TEST

/* What a relaunch restores: kept by name, and only a name a snapshot can have. */
START_TEST(last_snapshot_round_trip)
{
    struct guest_record in, out;
    sample(&in);
    char err[200];
    char *text = registry_format(&in);
    ck_assert_ptr_null(strstr(text, "last_snapshot"));
    ck_assert_int_eq(registry_parse(text, &out, err, sizeof(err)), 0);
    ck_assert_str_eq(out.last_snapshot, "");
    free(text);
    guest_record_clear(&out);
    strcpy(in.last_snapshot, "demo-1-20261122-214700");
    text = registry_format(&in);
    ck_assert_ptr_nonnull(strstr(text, "\"last_snapshot\":\"demo-1-20261122-214700\""));
    ck_assert_int_eq(registry_parse(text, &out, err, sizeof(err)), 0);
    ck_assert_str_eq(out.last_snapshot, "demo-1-20261122-214700");
    free(text);
    guest_record_clear(&in);
    guest_record_clear(&out);
}
END_TEST

START_TEST(bad_last_snapshot_is_refused)
{
    static const char *const bad[] = {
        "\"..\\/etc\"", "\"\"", "\"-x\"", "\"a-name-longer-than-thirty-two-chars\"", "5",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char to[128], err[200] = "";
        snprintf(to, sizeof(to), "\"ran_on\":\"emu\",\"last_snapshot\":%s", bad[i]);
        ck_assert_msg(parse_edited("\"ran_on\":\"emu\"", to, err, sizeof(err)) < 0,
                      "case %zu accepted", i);
        ck_assert_msg(strstr(err, "last_snapshot"), "case %zu: '%s'", i, err);
    }
    char err[200] = "";
    ck_assert_int_eq(parse_edited("\"ran_on\":\"emu\"",
                                  "\"ran_on\":\"emu\",\"last_snapshot\":\"warm.2\"", err,
                                  sizeof(err)),
                     0);
}
END_TEST

/* A throwaway clone stays one across a vmmd restart, so that it is removed
 * when found stopped. */
START_TEST(disposable_round_trip)
{
    struct guest_record in, out;
    sample(&in);
    char err[200];
    char *text = registry_format(&in);
    ck_assert_ptr_null(strstr(text, "disposable"));
    ck_assert_int_eq(registry_parse(text, &out, err, sizeof(err)), 0);
    ck_assert(!out.disposable);
    free(text);
    guest_record_clear(&out);
    in.disposable = true;
    text = registry_format(&in);
    ck_assert_ptr_nonnull(strstr(text, "\"disposable\":true"));
    ck_assert_int_eq(registry_parse(text, &out, err, sizeof(err)), 0);
    ck_assert(out.disposable);
    free(text);
    guest_record_clear(&in);
    guest_record_clear(&out);
    ck_assert_int_lt(parse_edited("\"ran_on\":\"emu\"", "\"ran_on\":\"emu\",\"disposable\":1",
                                  err, sizeof(err)),
                     0);
    ck_assert_ptr_nonnull(strstr(err, "disposable"));
}
END_TEST

/* The vsock CID: kept when there is one, absent in older records (vmmd then
 * gives one), and only a guest's (3 .. 0xfffffffe). */
START_TEST(vsock_cid_round_trip)
{
    struct guest_record in, out;
    sample(&in);
    char err[200];
    char *text = registry_format(&in);
    ck_assert_ptr_null(strstr(text, "vsock_cid"));
    ck_assert_int_eq(registry_parse(text, &out, err, sizeof(err)), 0);
    ck_assert_uint_eq(out.vsock_cid, 0);
    free(text);
    guest_record_clear(&out);
    in.vsock_cid = 4294967294u;
    text = registry_format(&in);
    ck_assert_ptr_nonnull(strstr(text, "\"vsock_cid\":4294967294"));
    ck_assert_int_eq(registry_parse(text, &out, err, sizeof(err)), 0);
    ck_assert_uint_eq(out.vsock_cid, 4294967294u);
    free(text);
    guest_record_clear(&in);
    guest_record_clear(&out);
    static const char *const bad[] = {"0", "2", "4294967295", "-3", "\"7\"", "1e3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char to[128];
        err[0] = '\0';
        snprintf(to, sizeof(to), "\"ran_on\":\"emu\",\"vsock_cid\":%s", bad[i]);
        ck_assert_msg(parse_edited("\"ran_on\":\"emu\"", to, err, sizeof(err)) < 0,
                      "case %zu accepted", i);
        ck_assert_msg(strstr(err, "vsock_cid"), "case %zu: '%s'", i, err);
    }
}
END_TEST

START_TEST(not_json_is_refused)
{
    struct guest_record out;
    char err[200];
    ck_assert_int_eq(registry_parse("", &out, err, sizeof(err)), -1);
    ck_assert_int_eq(registry_parse("{\"name\":", &out, err, sizeof(err)), -1);
    ck_assert_int_eq(registry_parse("[1,2,3]", &out, err, sizeof(err)), -1);
    ck_assert_int_eq(registry_parse("null", &out, err, sizeof(err)), -1);
}
END_TEST

START_TEST(too_many_disks_are_refused)
{
    char text[4096] = "{\"format\":1,\"name\":\"a\",\"state\":\"stopped\",\"pid\":0,"
                      "\"started_unix_ms\":0,\"config\":{\"kernel\":\"/k\",\"disks\":[";
    for (int i = 0; i < GUEST_MAX_DISKS + 1; i++)
        strcat(text, i ? ",\"/d\"" : "\"/d\"");
    strcat(text, "],\"mem_bytes\":1,\"cpus\":1,\"backend\":\"emu\",\"gui\":false,"
                 "\"display_width\":0,\"display_height\":0}}");
    struct guest_record out;
    char err[200];
    ck_assert_int_eq(registry_parse(text, &out, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "disks"));
}
END_TEST

START_TEST(save_and_load_a_file)
{
    char dir[] = "/tmp/registry-test-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/guest.json", dir);
    struct guest_record in, out;
    sample(&in);
    char err[512];
    ck_assert_int_eq(registry_save(path, &in, err, sizeof(err)), 0);
    ck_assert_int_eq(registry_load(path, &out, err, sizeof(err)), 0);
    ck_assert_str_eq(out.config.disks[0], in.config.disks[0]);
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    ck_assert_int_ne(access(tmp, F_OK), 0); /* renamed into place, nothing left beside */
    guest_record_clear(&in);
    guest_record_clear(&out);
    unlink(path);
    ck_assert_int_eq(registry_load(path, &out, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot read"));
    rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("registry");
    TCase *tc = tcase_create("registry");
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, optional_fields_may_be_absent);
    tcase_add_test(tc, restored_guest_round_trip);
    tcase_add_test(tc, damaged_records_are_refused);
    tcase_add_test(tc, last_snapshot_round_trip);
    tcase_add_test(tc, bad_last_snapshot_is_refused);
    tcase_add_test(tc, disposable_round_trip);
    tcase_add_test(tc, vsock_cid_round_trip);
    tcase_add_test(tc, not_json_is_refused);
    tcase_add_test(tc, too_many_disks_are_refused);
    tcase_add_test(tc, save_and_load_a_file);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
