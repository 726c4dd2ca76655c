/* The host end of the browser image's guest agent (docs/BROWSER.md, "The
 * agent"): a small framed protocol over the guest's vsock. */
#ifndef IGNITION_VMMCTL_BROWSER_AGENT_H
#define IGNITION_VMMCTL_BROWSER_AGENT_H

#include <stdbool.h>
#include <stddef.h>

/* Longest URL the agent takes. */
#define BROWSER_AGENT_URL_MAX 2048

/* Whether url may be sent to the agent: http, https or file, printable
 * ASCII with no spaces, at most BROWSER_AGENT_URL_MAX bytes. The agent checks
 * the same again. */
bool browser_agent_url_ok(const char *url, char *why, size_t why_len);

/* Asks the agent in guest name to open url in the running Firefox. Returns 0,
 * or -1 with one line in err. */
int browser_agent_open(const char *name, const char *url, char *err, size_t err_len);

#endif
