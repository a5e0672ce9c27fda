/* docker/docker_int.h - private to src/docker: the client struct shared by
 * client.c (calls) and events.c (event stream).  Not for other modules.
 */
#ifndef DOCKER_DOCKER_INT_H
#define DOCKER_DOCKER_INT_H

#include "core/http.h"
#include "docker/docker.h"

struct docker_client
{
  uv_loop_t *loop;
  http_client_t *http;
  char *host;        /* as configured, for messages */
  char *unix_socket; /* NULL for tcp */
  char *base_url;    /* "http://localhost" or "http://h:p" */
  char *api;         /* negotiated version, NULL before */
  docker_op_t *neg_op; /* negotiation in flight */
  docker_op_t *ops;    /* every live op */
  docker_events_t *events; /* every live event stream */
  uv_timer_t *defer;   /* completes deferred ops on the next loop turn */
  struct docker_timeouts t;
};

/* "http://localhost/v1.41/containers/json" (versioned) or unversioned. */
char *docker_url (const docker_client_t *c, bool versioned, const char *path);
/* Map a transport error (http layer) to the client's message/kind. */
int docker_transport_error (const docker_client_t *c, agent_error_t *err, const agent_error_t *in);
/* Percent-encode (RFC 3986 unreserved kept, plus the chars in keep). */
char *docker_escape (const char *s, const char *keep);
/* Cancel event streams (client free). */
void docker_events_detach_all (docker_client_t *c);

#endif
