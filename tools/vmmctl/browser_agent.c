#include "browser_agent.h"

#include <string.h>

#include "util.h"

bool browser_agent_url_ok(const char *url, char *why, size_t why_len)
{
    static const char *const schemes[] = {"http://", "https://", "file:///"};
    size_t len = strlen(url);
    if (len == 0 || len > BROWSER_AGENT_URL_MAX) {
        set_message(why, why_len, "a URL of 1 to %d bytes, please", BROWSER_AGENT_URL_MAX);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= ' ' || c >= 0x7f) {
            set_message(why, why_len,
                        "the URL has a space or a character outside printable ASCII at "
                        "byte %zu: percent-encode it",
                        i + 1);
            return false;
        }
    }
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strncmp(url, schemes[i], strlen(schemes[i])) == 0 && len > strlen(schemes[i]))
            return true;
    set_message(why, why_len, "%s: give an http://, https:// or file:/// URL", url);
    return false;
}

int browser_agent_open(const char *name, const char *url, char *err, size_t err_len)
{
    (void)url;
    set_message(err, err_len, "guest %s: the agent is reached over vsock, which this "
                              "build does not have yet", name);
    return -1;
}
