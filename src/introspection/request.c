/* introspection/request.c - a parsed lws request read into plain fields
 * (see request.h). */
#include "introspection/request.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const char *
method_name (int m)
{
  switch (m)
    {
    case LWSHUMETH_GET:
      return "GET";
    case LWSHUMETH_POST:
      return "POST";
    case LWSHUMETH_OPTIONS:
      return "OPTIONS";
    case LWSHUMETH_PUT:
      return "PUT";
    case LWSHUMETH_PATCH:
      return "PATCH";
    case LWSHUMETH_DELETE:
      return "DELETE";
    case LWSHUMETH_CONNECT:
      return "CONNECT";
    case LWSHUMETH_HEAD:
      return "HEAD";
    default:
      return "?";
    }
}

/* A request header's value ("" when absent; malloc'd). */
static char *
header_copy (struct lws *wsi, enum lws_token_indexes h)
{
  int n = lws_hdr_total_length (wsi, h);
  char *v = xcalloc ((size_t) (n > 0 ? n : 0) + 1, 1);
  if (n > 0 && lws_hdr_copy (wsi, v, n + 1, h) < 0)
    v[0] = 0;
  return v;
}

void
introspection_request_read (struct lws *wsi, struct introspection_lws_request *r)
{
  memset (r, 0, sizeof *r);
  char *uri = NULL;
  int ulen = 0;
  r->method = lws_http_get_uri_and_method (wsi, &uri, &ulen);
  r->method_name = method_name (r->method);
  r->path = xstrndup (uri ? uri : "/", uri ? (size_t) ulen : 1);
  /* Query fragments arrive url-decoded, one per '&' (an empty one too). */
  for (int i = 0; r->n_args < ARRAY_SIZE (r->args); i++)
    {
      int flen = lws_hdr_fragment_length (wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
      char *buf = xmalloc ((size_t) (flen > 0 ? flen : 0) + 1);
      /* 0 is the length of both an empty and a missing fragment; the copy
         tells them apart (-1: no such fragment). */
      if (lws_hdr_copy_fragment (wsi, buf, (flen > 0 ? flen : 0) + 1, WSI_TOKEN_HTTP_URI_ARGS, i)
          < 0)
        {
          free (buf);
          break;
        }
      r->args[r->n_args++] = buf;
    }
  lws_get_peer_simple (wsi, r->peer, sizeof r->peer);
  struct sockaddr_storage sa;
  socklen_t salen = sizeof sa;
  int port = 0;
  if (getpeername (lws_get_socket_fd (wsi), (struct sockaddr *) &sa, &salen) == 0)
    port = sa.ss_family == AF_INET6 ? ntohs (((struct sockaddr_in6 *) &sa)->sin6_port)
                                    : ntohs (((struct sockaddr_in *) &sa)->sin_port);
  snprintf (r->remote, sizeof r->remote, strchr (r->peer, ':') ? "[%s]:%d" : "%s:%d", r->peer,
            port);
  r->user_agent = header_copy (wsi, WSI_TOKEN_HTTP_USER_AGENT);
  r->forwarded_for = header_copy (wsi, WSI_TOKEN_X_FORWARDED_FOR);
}

void
introspection_request_clear (struct introspection_lws_request *r)
{
  free (r->path);
  for (size_t i = 0; i < r->n_args; i++)
    free (r->args[i]);
  free (r->user_agent);
  free (r->forwarded_for);
  memset (r, 0, sizeof *r);
}
