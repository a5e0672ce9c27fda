/* introspection/healthcheck.c - the client side of GET /v1/health, for the
 * -healthcheck flag (a container HEALTHCHECK, a systemd watchdog): one
 * blocking libcurl request in a short-lived process that runs no loop. */
#include "introspection/introspection.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <curl/curl.h>
#include <string.h>

#define HEALTHCHECK_MAX_BODY (64 * 1024)

static size_t
healthcheck_write_cb (char *ptr, size_t size, size_t nmemb, void *userdata)
{
  struct sbuf *b = userdata;
  size_t n = size * nmemb;
  if (b->len + n > HEALTHCHECK_MAX_BODY)
    return 0; /* refuse a body past the bound: the transfer fails */
  sbuf_append (b, ptr, n);
  return n;
}

int
introspection_healthcheck (const char *listen_addr, int port, long timeout_ms, int *status,
                           char **body, agent_error_t *err)
{
  *status = 0;
  *body = NULL;
  /* the server's own address, or loopback when it listens on every address */
  const char *host = "127.0.0.1";
  bool v6 = false;
  if (listen_addr && *listen_addr && strcmp (listen_addr, "0.0.0.0") != 0)
    {
      host = strcmp (listen_addr, "::") == 0 ? "::1" : listen_addr;
      v6 = strchr (host, ':') != NULL;
    }
  if (port <= 0)
    port = INTROSPECTION_DEFAULT_PORT;
  cleanup_free char *url = xasprintf ("http://%s%s%s:%d/v1/health", v6 ? "[" : "", host,
                                      v6 ? "]" : "", port);
  if (curl_global_init (CURL_GLOBAL_DEFAULT) != 0)
    return error_set (err, ERR_IO, "curl initialisation failed");
  CURL *h = curl_easy_init ();
  if (h == NULL)
    {
      curl_global_cleanup ();
      return error_set (err, ERR_IO, "curl initialisation failed");
    }
  struct sbuf b = { 0 };
  curl_easy_setopt (h, CURLOPT_URL, url);
  curl_easy_setopt (h, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt (h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (h, CURLOPT_NOPROXY, "*");
  curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, healthcheck_write_cb);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, &b);
  CURLcode rc = curl_easy_perform (h);
  long code = 0;
  curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup (h);
  curl_global_cleanup ();
  if (rc != CURLE_OK)
    {
      sbuf_free (&b);
      return error_set (err, ERR_UNREACHABLE, "GET %s: %s", url, curl_easy_strerror (rc));
    }
  *status = (int) code;
  *body = sbuf_steal (&b);
  return 0;
}
