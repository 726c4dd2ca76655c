/* vmmctl browser's side of the guest agent: which URLs it sends at all. */
#include <check.h>
#include <string.h>

#include "browser_agent.h"
#include "unit.h"

START_TEST(test_web_and_file_urls_pass)
{
    char why[256];
    static const char *const ok[] = {
        "http://127.0.0.1:8080/", "https://example.invalid/a?b=c&d=%20e#f", "file:///tmp/x.html",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        ck_assert_msg(browser_agent_url_ok(ok[i], why, sizeof(why)), "%s: %s", ok[i], why);
}
END_TEST

START_TEST(test_other_urls_are_refused_with_why)
{
    static const struct {
        const char *url, *why;
    } bad[] = {
        {"", "1 to 2048 bytes"},
        {"javascript:alert(1)", "give an http://"},
        {"ftp://host/", "give an http://"},
        {"http://", "give an http://"},
        {"http://a b/", "a space or a character outside printable ASCII at byte 9"},
        {"http://a\nb/", "at byte 9"},
        {"http://caf\xc3\xa9/", "at byte 11"},
        {"-new-window", "give an http://"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char why[256] = "";
        ck_assert_msg(!browser_agent_url_ok(bad[i].url, why, sizeof(why)), "%s passed",
                      bad[i].url);
        ck_assert_msg(strstr(why, bad[i].why), "%s: '%s'", bad[i].url, why);
    }
    char longest[BROWSER_AGENT_URL_MAX + 2];
    memset(longest, 'a', sizeof(longest) - 1);
    memcpy(longest, "http://", 7);
    longest[BROWSER_AGENT_URL_MAX] = '\0';
    char why[256];
    ck_assert(browser_agent_url_ok(longest, why, sizeof(why)));
    longest[BROWSER_AGENT_URL_MAX] = 'a';
    longest[BROWSER_AGENT_URL_MAX + 1] = '\0';
    ck_assert(!browser_agent_url_ok(longest, why, sizeof(why)));
}
END_TEST

static Suite *browser_agent_suite(void)
{
    Suite *s = suite_create("vmmctl_browser_agent");
    TCase *tc = tcase_create("urls");
    tcase_add_test(tc, test_web_and_file_urls_pass);
    tcase_add_test(tc, test_other_urls_are_refused_with_why);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(browser_agent_suite());
}
