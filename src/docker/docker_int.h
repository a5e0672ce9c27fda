/* docker/docker_int.h - private to src/docker: the client and op structs
 * shared by client.c (client, op lifecycle, API version negotiation),
 * calls.c (one function per Docker endpoint) and events.c (event stream).
 * op_metrics.c records finished ops in the metrics registry.
 * Not for other modules.
 *
 * An op carries its callback with its real type: struct docker_op_cb is a
 * tagged union built only by the docker_op_cb_* constructors below, so the
 * compiler checks every callback against its result type.
 */
#ifndef DOCKER_DOCKER_INT_H
#define DOCKER_DOCKER_INT_H

#include <sys/queue.h>
#include "core/http.h"
#include "docker/docker.h"
#include <jansson.h>
#include "docker/stats.h"

struct docker_client
{
  uv_loop_t *loop;
  http_client_t *http;
  char *host;        /* as configured, for messages */
  char *unix_socket; /* NULL for tcp */
  char *base_url;    /* "http://localhost" or "http://h:p" */
  char *api;         /* negotiated version, NULL before */
  char *api_min;     /* the daemon's MinAPIVersion (NULL if it gave none) */
  docker_op_t *neg_op; /* negotiation in flight */
  /* The engine is Podman (from its /version).  Where its compatible API
     differs, the client adapts: a presence-only label filter ("key") of
     the event stream matches nothing on Podman 4.3 (it wants key=value),
     so events.c filters on the label itself instead. */
  bool podman;
  /* Podman: the last stats sample of a few containers, to fill the next
     one's precpu_stats (docker/stats.h); allocated on the first. */
  struct docker_stats_cache *stats_cache;
  TAILQ_HEAD (docker_op_list, docker_op) ops; /* every live op, oldest first */
  LIST_HEAD (docker_events_list, docker_events) events; /* every live event stream */
  /* every live stats stream (stats_stream.c) */
  LIST_HEAD (docker_stats_stream_list, docker_stats_stream) stats_streams;
  uv_timer_t *defer;   /* completes deferred ops on the next loop turn */
  struct docker_timeouts t;
};

enum docker_op_kind
{
  DOCKER_OP_PING,
  DOCKER_OP_VERSION,
  DOCKER_OP_INFO,
  DOCKER_OP_PULL,
  DOCKER_OP_IMAGE_INSPECT,
  DOCKER_OP_IMAGE_REMOVE,
  DOCKER_OP_CREATE,
  DOCKER_OP_START,
  DOCKER_OP_STOP,
  DOCKER_OP_KILL,
  DOCKER_OP_INSPECT,
  DOCKER_OP_REMOVE,
  DOCKER_OP_LIST,
  DOCKER_OP_VOLUME_CREATE,
  DOCKER_OP_VOLUME_REMOVE,
  DOCKER_OP_STATS,
};

/* What the response body of an op parses into, and so which callback. */
enum docker_result_type
{
  DOCKER_RES_DONE,    /* nothing: docker_done_cb */
  DOCKER_RES_VERSION, /* struct docker_version_info */
  DOCKER_RES_INFO,    /* struct docker_info */
  DOCKER_RES_IMAGE,   /* struct docker_image_info */
  DOCKER_RES_CREATE,  /* new container id */
  DOCKER_RES_INSPECT, /* struct docker_container_info */
  DOCKER_RES_LIST,    /* struct docker_container_list */
  DOCKER_RES_VOLUME,  /* struct docker_volume_info */
  DOCKER_RES_STATS,   /* struct docker_stats (docker/stats.h) */
  DOCKER_RES_IMAGE_LIST, /* struct docker_image_list (docker/image_list.c) */
};

struct docker_op_cb
{
  enum docker_result_type type;
  union
  {
    docker_done_cb done;
    docker_version_cb version;
    docker_info_cb info;
    docker_image_cb image;
    docker_create_cb create;
    docker_inspect_cb inspect;
    docker_list_cb list;
    docker_volume_cb volume;
    docker_stats_cb stats;
    docker_image_list_cb image_list;
  } fn; /* the member named by type; may be NULL (no callback) */
};

static inline struct docker_op_cb
docker_op_cb_done (docker_done_cb f)
{
  return (struct docker_op_cb){ .type = DOCKER_RES_DONE, .fn.done = f };
}
static inline struct docker_op_cb
docker_op_cb_version (docker_version_cb f)
{
  return (struct docker_op_cb){ .type = DOCKER_RES_VERSION, .fn.version = f };
}
static inline struct docker_op_cb
docker_op_cb_info (docker_info_cb f)
{
  return (struct docker_op_cb){ .type = DOCKER_RES_INFO, .fn.info = f };
}
static inline struct docker_op_cb
docker_op_cb_image (docker_image_cb f)
{
  return (struct docker_op_cb){ .type = DOCKER_RES_IMAGE, .fn.image = f };
}
static inline struct docker_op_cb
docker_op_cb_create (docker_create_cb f)
{
  return (struct docker_op_cb){ .type = DOCKER_RES_CREATE, .fn.create = f };
}
static inline struct docker_op_cb
docker_op_cb_inspect (docker_inspect_cb f)
{
  return (struct docker_op_cb){ .type = DOCKER_RES_INSPECT, .fn.inspect = f };
}
static inline struct docker_op_cb
docker_op_cb_list (docker_list_cb f)
{
  return (struct docker_op_cb){ .type = DOCKER_RES_LIST, .fn.list = f };
}
static inline struct docker_op_cb
docker_op_cb_image_list (docker_image_list_cb f)
{
  return (struct docker_op_cb){ .type = DOCKER_RES_IMAGE_LIST, .fn.image_list = f };
}
static inline struct docker_op_cb
docker_op_cb_volume (docker_volume_cb f)
{
  return (struct docker_op_cb){ .type = DOCKER_RES_VOLUME, .fn.volume = f };
}

static inline struct docker_op_cb
docker_op_cb_stats (docker_stats_cb f)
{
  return (struct docker_op_cb){ .type = DOCKER_RES_STATS, .fn.stats = f };
}

typedef void (*docker_progress_cb) (const struct docker_pull_progress *p, void *data);

struct docker_op
{
  docker_client_t *c; /* NULL once unlinked (cancelled / client freed) */
  enum docker_op_kind kind;
  const char *what; /* transition name for timeout messages */
  char *method;
  char *path;
  char *body;
  char *api_want; /* create, start: dockerConfig.version (docker_api_version_for at send) */
  char *auth; /* X-Registry-Auth value (secret) */
  long timeout_ms;
  bool versioned;
  bool internal; /* negotiation op: no user callback */
  struct docker_op_cb cb;
  void *data;
  http_call_t *call;
  agent_error_t err; /* deferred completion */
  bool deferred, waiting_neg;
  bool in_data, cancelled;
  /* pull */
  struct docker_json_stream js;
  bool got_data;
  agent_error_t stream_err;
  uv_timer_t *begin_timer; /* pull begin, then inactivity */
  long begin_ms, inactivity_ms;
  docker_progress_cb on_progress;
  struct docker_pull_layers *layers; /* pull: layer sizes being downloaded */
  uint64_t started_ns;               /* util_now_ns () at creation (metrics) */
  /* create on Podman: its links checked (links.c), and the inspects of
     their targets in flight before the create is sent */
  bool links_checked;
  struct docker_links_job *links_job;
  TAILQ_ENTRY (docker_op) link;
};

/* A pull's layers seen "Downloading" with their size, until "Download
   complete" adds the size to the pull-bytes metric.  Bounded: layers past
   the limit are not counted. */
#define DOCKER_PULL_MAX_LAYERS 64
struct docker_pull_layers
{
  size_t n;
  struct
  {
    char id[72];
    int64_t total;
  } l[DOCKER_PULL_MAX_LAYERS];
};

/* op_metrics.c: record a finished op (any outcome) in the metrics
   registry; count a pull progress line's downloaded layer bytes. */
void docker_op_record_metrics (const docker_op_t *op, const agent_error_t *err);
void docker_pull_count_bytes (docker_op_t *op, const char *status, const char *id, int64_t total);

/* A new op linked into c (path is taken over); send it with docker_op_send. */
docker_op_t *docker_op_new (docker_client_t *c, enum docker_op_kind kind, const char *method,
                            char *path, long timeout_ms, struct docker_op_cb cb, void *data);
/* Start the request (after API version negotiation for versioned ops). */
void docker_op_send (docker_op_t *op);
/* Complete op with *err (taken over) on a later loop turn; returns op. */
docker_op_t *docker_op_fail_later (docker_op_t *op, agent_error_t *err);

/* "http://localhost/v1.41/containers/json" (versioned) or unversioned. */
char *docker_url (const docker_client_t *c, bool versioned, const char *path);
/* Start a long-lived versioned GET of path (the event and stats streams),
   its body streamed to on_data: the call, or NULL with *err in the
   client's wording (docker_transport_error) when it cannot start. */
http_call_t *docker_stream_get (docker_client_t *c, const char *path, http_data_cb on_data,
                                http_headers_cb on_headers, http_done_cb on_done, void *data,
                                agent_error_t *err);
/* Map a transport error (http layer) to the client's message/kind. */
int docker_transport_error (const docker_client_t *c, agent_error_t *err, const agent_error_t *in);
/* Percent-encode with libcurl (RFC 3986 unreserved kept), leaving the
   characters in keep (NULL = none) as they are. */
char *docker_escape (const char *s, const char *keep);
/* A list path: base with filters={"label":[label_filter]} (escaped) added
   to its query, or base alone when label_filter is NULL or empty;
   malloc'd.  NULL when label_filter is not UTF-8. */
char *docker_label_filter_path (const char *base, const char *label_filter);
/* "1.41": digits and dots, starting with a digit, shorter than 16 (api.c). */
bool docker_api_version_valid (const char *v);
/* Cancel event streams (client free). */
void docker_events_detach_all (docker_client_t *c);
/* Stop stats streams (client free). */
void docker_stats_streams_detach_all (docker_client_t *c);

/* links.c (docker/links.h): a create on Podman whose body links
   containers.  true: the op is taken over (its link targets are inspected,
   then it is sent with ExtraHosts, or it fails); false: send it as it is.
   docker_links_op_free (from op_destroy) cancels the inspects in flight. */
bool docker_links_begin (docker_op_t *op);
void docker_links_op_free (docker_op_t *op);

/* inspect_extra.c: the networking and logging members of a container
   inspect (root: the parsed body) into i; their free. */
void docker_inspect_extra_read (json_t *root, struct docker_container_info *i);
void docker_inspect_extra_free (struct docker_container_info *i);

#endif
