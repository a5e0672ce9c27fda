/* introspection/request.h - private to introspection/: what server.c reads
 * from a request lws has parsed (method, normalised path, url-decoded query
 * fragments, the caller's address, the headers the task server passes on).
 * request.c owns it; nothing here answers or logs.
 */
#ifndef INTROSPECTION_REQUEST_H
#define INTROSPECTION_REQUEST_H

#include <libwebsockets.h>
#include "introspection/introspection.h"

struct introspection_lws_request
{
  int method;              /* LWSHUMETH_* */
  const char *method_name; /* "GET", ... "?" */
  char *path;              /* as lws hands it, without the query */
  /* one more than the router accepts, so that it can refuse a request
     whose arguments would otherwise be cut short */
  char *args[INTROSPECTION_MAX_QUERY_ARGS + 1];
  size_t n_args;
  char peer[64];    /* the caller's address, "" if unknown */
  char remote[96];  /* "ip:port" ("[ip]:port" for IPv6), as Go's RemoteAddr */
  char *user_agent; /* "" when absent */
  char *forwarded_for;
};

void introspection_request_read (struct lws *wsi, struct introspection_lws_request *r);
void introspection_request_clear (struct introspection_lws_request *r);

#endif
