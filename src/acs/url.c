/* acs/url.c - the ACS websocket URL on libcurl's CURLU API (see url.h). */
#include "acs/url.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Append key=value (value escaped by libcurl) to the query; NULL = omitted. */
static int
add_param (CURLU *u, const char *key, const char *value)
{
  if (value == NULL)
    return 0;
  char *v = curl_easy_escape (NULL, value, 0);
  if (!v)
    xalloc_die ();
  char *kv = xasprintf ("%s=%s", key, v);
  curl_free (v);
  CURLUcode rc = curl_url_set (u, CURLUPART_QUERY, kv, CURLU_APPENDQUERY);
  free (kv);
  return rc == CURLUE_OK ? 0 : -1;
}

static char *
url_get (CURLU *u, CURLUPart part, unsigned flags)
{
  char *v = NULL;
  if (curl_url_get (u, part, &v, flags) != CURLUE_OK)
    return NULL;
  char *r = xstrdup (v);
  curl_free (v);
  return r;
}

/* The endpoint with "/ws" and the query: a CURLU handle, or NULL. */
static CURLU *
url_handle (const struct acs_url_params *p)
{
  CURLU *u = curl_url ();
  if (!u)
    xalloc_die ();
  if (!p->endpoint
      || curl_url_set (u, CURLUPART_URL, p->endpoint, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
    goto bad;
  char *path = url_get (u, CURLUPART_PATH, 0);
  size_t pl = path ? strlen (path) : 0;
  if (pl && path[pl - 1] == '/')
    pl--;
  char *ws = xasprintf ("%.*s/ws", (int) pl, path ? path : "");
  free (path);
  CURLUcode rc = curl_url_set (u, CURLUPART_PATH, ws, 0);
  free (ws);
  if (rc != CURLUE_OK || curl_url_set (u, CURLUPART_QUERY, NULL, 0) != CURLUE_OK
      || curl_url_set (u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK)
    goto bad;
  if (p->telemetry)
    {
      if (add_param (u, "agentHash", p->agent_hash) < 0
          || add_param (u, "agentVersion", p->agent_version) < 0
          || add_param (u, "cluster", p->cluster) < 0
          || add_param (u, "containerInstance", p->container_instance_arn) < 0
          || add_param (u, "dockerVersion", p->docker_version) < 0)
        goto bad;
      return u;
    }
  char seq[32], proto[16];
  snprintf (seq, sizeof seq, "%" PRId64, p->seq_num > 0 ? p->seq_num : 1);
  snprintf (proto, sizeof proto, "%d", p->protocol_version);
  char *dv = p->docker_version ? xasprintf ("DockerVersion: %s", p->docker_version) : NULL;
  /* Keys in sorted order, as the upstream agent's encoder sends them. */
  if (add_param (u, "agentHash", p->agent_hash) < 0
      || add_param (u, "agentVersion", p->agent_version) < 0
      || add_param (u, "clusterArn", p->cluster) < 0
      || add_param (u, "containerInstanceArn", p->container_instance_arn) < 0
      || add_param (u, "dockerVersion", dv) < 0
      || add_param (u, "protocolVersion", p->protocol_version ? proto : NULL) < 0
      || add_param (u, "sendCredentials", p->send_credentials ? "true" : "false") < 0
      || add_param (u, "seqNum", seq) < 0)
    {
      free (dv);
      goto bad;
    }
  free (dv);
  return u;
bad:
  curl_url_cleanup (u);
  return NULL;
}

char *
acs_build_url (const struct acs_url_params *p)
{
  CURLU *u = url_handle (p);
  if (!u)
    return NULL;
  char *r = url_get (u, CURLUPART_URL, 0);
  curl_url_cleanup (u);
  return r;
}

void
acs_url_free (struct acs_url *u)
{
  free (u->host);
  free (u->authority);
  free (u->path);
  free (u->http_url);
  memset (u, 0, sizeof *u);
}

int
acs_url_resolve (const struct acs_url_params *p, struct acs_url *out, agent_error_t *err)
{
  memset (out, 0, sizeof *out);
  const char *ep = p->endpoint ? p->endpoint : "";
  CURLU *u = url_handle (p);
  if (!u)
    return error_set (err, ERR_INVALID, "ACS endpoint %s is not a URL", ep);
  int rc = 0;
  char *scheme = url_get (u, CURLUPART_SCHEME, 0);
  char *host = url_get (u, CURLUPART_HOST, 0);
  char *port_s = url_get (u, CURLUPART_PORT, 0);
  char *path = url_get (u, CURLUPART_PATH, 0);
  char *query = url_get (u, CURLUPART_QUERY, 0);
  if (scheme && (strcasecmp (scheme, "https") == 0 || strcasecmp (scheme, "wss") == 0))
    out->tls = true;
  else if (!scheme || (strcasecmp (scheme, "http") != 0 && strcasecmp (scheme, "ws") != 0))
    {
      rc = error_set (err, ERR_INVALID, "ACS endpoint %s: unsupported scheme", ep);
      goto done;
    }
  if (!host || !*host || !path)
    {
      rc = error_set (err, ERR_INVALID, "ACS endpoint %s has no host", ep);
      goto done;
    }
  int def = out->tls ? 443 : 80;
  out->port = port_s ? atoi (port_s) : def; /* libcurl checked it is 1..65535 */
  size_t hl = strlen (host);
  bool v6 = host[0] == '[' && hl > 2 && host[hl - 1] == ']';
  out->host = v6 ? xstrndup (host + 1, hl - 2) : xstrdup (host);
  out->authority = out->port == def ? xstrdup (host) : xasprintf ("%s:%d", host, out->port);
  out->path = query ? xasprintf ("%s?%s", path, query) : xstrdup (path);
  /* The signed form: the same URL as http(s), default port left out. */
  if (curl_url_set (u, CURLUPART_SCHEME, out->tls ? "https" : "http", 0) != CURLUE_OK
      || curl_url_set (u, CURLUPART_PORT, out->port == def ? NULL : port_s, 0) != CURLUE_OK
      || !(out->http_url = url_get (u, CURLUPART_URL, 0)))
    rc = error_set (err, ERR_INVALID, "ACS endpoint %s is not a URL", ep);
done:
  if (rc < 0)
    acs_url_free (out);
  free (scheme);
  free (host);
  free (port_s);
  free (path);
  free (query);
  curl_url_cleanup (u);
  return rc;
}
