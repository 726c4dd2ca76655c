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

/* The agent's vsock port in the guest. */
#define BROWSER_AGENT_PORT 1024
/* What browser_agent_request returns when nothing listened on that port: a
 * clone restored a moment ago may not have taken its new vsock CID yet. */
#define BROWSER_AGENT_NOT_LISTENING (-2)

/* One request line (without its '\n') to the agent behind the guest's vsock
 * socket (docs/VSOCK.md: "CONNECT port", then a stream), and its answer: 0
 * with what followed "ok" (without the space) in answer, or -1 with one
 * line in err, the agent's own "error" reason included; BROWSER_AGENT_NOT_LISTENING
 * (with err set) when the guest refused the connection to the agent's port.
 * Waits timeout_ms at most for the answer. */
int browser_agent_request(const char *vsock_socket, const char *request, int timeout_ms,
                          char *answer, size_t answer_len, char *err, size_t err_len);

/* Asks the agent to open url in the running Firefox. Returns as
 * browser_agent_request. */
int browser_agent_open(const char *vsock_socket, const char *url, char *err, size_t err_len);

#endif
