/* acs/url.h - the ACS websocket URL, built and taken apart with libcurl's URL API.
 *
 * Contract:
 *  - acs_build_url(): the discovered endpoint (http(s):// or ws(s)://, any
 *    path kept) + "/ws" + the query ACS expects, keys in sorted order as the
 *    upstream agent sends them; every value is percent-encoded by
 *    curl_easy_escape() (unreserved characters kept, everything else %XX,
 *    a space as %20; libcurl 7.x stores the hex digits in lower case, which
 *    means the same).  NULL when the endpoint is not a URL.
 *  - acs_url_resolve(): the same URL split into what a websocket connect
 *    and its SigV4 signature need (TLS or not, host, port, Host header
 *    value, path with query, and the http(s):// form that is signed).
 *    https/wss use TLS; http/ws do not; any other scheme is ERR_INVALID.
 *  - telemetry = true builds the TCS form instead (tcs/session.h uses it):
 *    agentHash, agentVersion, cluster, containerInstance and a bare
 *    dockerVersion; no seqNum, protocolVersion or sendCredentials.
 *  Pure code: no I/O.
 */
#ifndef ACS_URL_H
#define ACS_URL_H

#include <stdbool.h>
#include <stdint.h>
#include "core/error.h"

struct acs_url_params
{
  const char *endpoint; /* scheme://host[:port][/path] as discovered */
  const char *cluster;
  const char *container_instance_arn;
  const char *agent_hash;
  const char *agent_version;
  const char *docker_version; /* NULL = omitted; sent as "DockerVersion: <v>" */
  int64_t seq_num;            /* <= 0 is sent as 1 */
  bool send_credentials;
  int protocol_version; /* 0 = omitted */
  bool telemetry;       /* the TCS query instead of the ACS one */
};

struct acs_url
{
  bool tls;
  char *host;      /* without IPv6 brackets */
  int port;
  char *authority; /* host[:port] (port only when not the scheme's default) */
  char *path;      /* /.../ws?query */
  char *http_url;  /* http(s)://authority/path?query: what is signed */
};

char *acs_build_url (const struct acs_url_params *p);
int acs_url_resolve (const struct acs_url_params *p, struct acs_url *out, agent_error_t *err);
void acs_url_free (struct acs_url *u);

#endif
