/* docker/docker.h - asynchronous Docker Engine API client on the agent's loop.
 *
 * Contract:
 *  - One docker_client per loop; every request goes through core/http.h
 *    (libcurl multi on libuv) to DOCKER_HOST (unix:///var/run/docker.sock by
 *    default, or tcp://host:port).  Nothing blocks.
 *  - API version: the first versioned call negotiates it (GET /version):
 *    min(daemon ApiVersion, DOCKER_API_MAX) and never below the daemon's
 *    MinAPIVersion nor DOCKER_API_MIN.  Works with Docker 20.10 (1.41) and
 *    28.x (1.50).  Calls issued before negotiation finishes wait for it.
 *  - Every async call returns a docker_op_t handle (never NULL).  Its callback
 *    is invoked EXACTLY ONCE, always later on the loop (never from inside the
 *    call that started it), unless docker_op_cancel() was called first (then
 *    never).  The handle is invalid once the callback has started; callers
 *    that do not need to cancel can ignore it (fire-and-forget).
 *    docker_client_free() cancels everything in flight WITHOUT callbacks.
 *  - Results handed to callbacks are BORROWED: valid only during the
 *    callback, freed by this module afterwards.  Copy what you keep.
 *  - Errors (agent_error_t, core/error.h) have a typed kind:
 *      ERR_NOT_FOUND   404: no such image / container / volume, unknown image on pull
 *      ERR_AUTH        registry denied the pull (bad or missing credentials)
 *      ERR_CONFLICT    409: name in use, container in use
 *      ERR_UNREACHABLE daemon not reachable (socket missing, connection refused/reset)
 *      ERR_TIMEOUT     agent time limit hit (begin / inactivity / total)
 *      ERR_MALFORMED   response not parseable
 *      ERR_SERVER      other 5xx;  ERR_CLIENT other 4xx;  ERR_INVALID bad arguments
 *    error msg is the daemon's own message (it becomes the container reason);
 *    status is the HTTP status when there was one.  Registry credentials never
 *    appear in error messages or logs.
 *  - Parsers of Docker JSON are pure functions (string -> typed struct, one
 *    *_free each), exported for unit tests and fuzzing.
 */
#ifndef DOCKER_DOCKER_H
#define DOCKER_DOCKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "core/error.h"
#include "task/task.h"

#define DOCKER_API_MIN "1.24"
#define DOCKER_API_MAX "1.50"
#define DOCKER_DEFAULT_HOST "unix:///var/run/docker.sock"
/* An ERR_TIMEOUT of the agent's own deadline reads "Could not transition to
   <what>; timed out after waiting <Go duration>" (upstream's
   DockerTimeoutError text; the engine names it so from the kind, or from
   this prefix once only the text was kept). */
#define DOCKER_TIMEOUT_MSG_PREFIX "Could not transition to "
/* A create whose dockerConfig.version the daemon does not serve fails with
   a message that starts so (upstream's CannotGetDockerClientVersionError). */
#define DOCKER_API_VERSION_MSG_PREFIX "Docker API version "

typedef struct docker_client docker_client_t;
typedef struct docker_op docker_op_t;
typedef struct docker_events docker_events_t;

/* ---- plain data ------------------------------------------------------- */

struct docker_kv
{
  char *key;
  char *value;
};

struct docker_version_info
{
  char *version;         /* "20.10.24" */
  char *api_version;     /* daemon's ApiVersion "1.41" */
  char *min_api_version; /* daemon's MinAPIVersion "1.12" */
  char *os, *arch, *kernel_version;
  bool podman; /* Podman's Docker-compatible API (Components: "Podman Engine") */
};

struct docker_info
{
  char *id, *name, *server_version, *os_type, *kernel_version, *driver;
  char *cgroup_driver, *cgroup_version, *docker_root_dir;
  int64_t containers, containers_running, images, ncpu, mem_total;
};

struct docker_image_info
{
  char *id;                 /* "sha256:..." */
  char **repo_tags;         /* n_repo_tags */
  size_t n_repo_tags;
  char **repo_digests;
  size_t n_repo_digests;
  char *created;            /* RFC 3339 as given */
  int64_t size;
  struct docker_kv *labels; /* Config.Labels */
  size_t n_labels;
  char **env;               /* Config.Env ("KEY=value"), n_env */
  size_t n_env;
};

struct docker_mount
{
  char *type;        /* "bind" / "volume" */
  char *name;        /* volume name, NULL for binds */
  char *source;      /* host path */
  char *destination; /* container path */
  bool rw;
};

struct docker_container_info
{
  char *id;
  char *name;       /* without the leading '/' */
  char *image;      /* Config.Image as created */
  char *image_id;   /* "sha256:..." */
  char *created;
  char *status;     /* State.Status: created/running/paused/restarting/removing/exited/dead */
  bool running, paused, restarting, oom_killed, dead;
  int pid;
  int exit_code;
  char *error;      /* State.Error, NULL if empty */
  char *health_status; /* State.Health.Status: "starting" / "healthy" / "unhealthy"; NULL without a health check */
  /* State.Health.Log's last entry (docker/inspect_extra.c): Output (at most
     DOCKER_HEALTH_OUTPUT_MAX bytes kept, NULL when absent) and ExitCode */
  char *health_output;
  int health_exit_code;
  char *started_at, *finished_at; /* RFC 3339 as given */
  int64_t started_at_ns, finished_at_ns; /* unix ns; 0 for Docker's zero time */
  /* Published ports (NetworkSettings.Ports), one per host binding, in the
     agent's one port-binding type (bind_ip "0.0.0.0", "::" or ""); bindings
     of protocols other than tcp and udp (sctp) are left out: a task cannot
     ask for them. */
  struct task_port_binding *ports;
  size_t n_ports;
  struct docker_kv *labels;
  size_t n_labels;
  struct docker_mount *mounts;
  size_t n_mounts;
  /* Networking and logging, for the task metadata endpoints
     (docker/inspect_extra.c): NetworkSettings.Networks (name -> IPAddress,
     at most DOCKER_MAX_NETWORKS), NetworkSettings.IPAddress,
     HostConfig.NetworkMode, HostConfig.LogConfig. */
  bool has_network_settings;
  struct docker_kv *networks;
  size_t n_networks;
  char *ip_address;
  char *network_mode;
  char *log_driver;
  struct docker_kv *log_options;
  size_t n_log_options;
};

#define DOCKER_MAX_NETWORKS 64
/* Bytes of a health check output kept from an inspect (the agent keeps 1024). */
#define DOCKER_HEALTH_OUTPUT_MAX 4096

struct docker_container_summary
{
  char *id;
  char **names;  /* without leading '/' */
  size_t n_names;
  char *image, *image_id, *state, *status;
  int64_t created; /* unix seconds */
  struct docker_kv *labels;
  size_t n_labels;
};

struct docker_container_list
{
  struct docker_container_summary *items;
  size_t n;
};

/* One entry of GET /images/json (docker/image_list.c).  RepoTags lists
   real tags only: the "<none>:<none>" placeholder of older engines is
   dropped, so a dangling image has none. */
struct docker_image_summary
{
  char *id;         /* "sha256:..." */
  char **repo_tags; /* n_repo_tags */
  size_t n_repo_tags;
  int64_t size;
  int64_t created;  /* unix seconds */
};

struct docker_image_list
{
  struct docker_image_summary *items;
  size_t n;
};

struct docker_volume_info
{
  char *name, *driver, *mountpoint, *scope;
  struct docker_kv *labels;
  size_t n_labels;
};

enum docker_event_action
{
  DOCKER_EV_OTHER = 0, /* see .action for the raw string */
  DOCKER_EV_CREATE,
  DOCKER_EV_START,
  DOCKER_EV_DIE,
  DOCKER_EV_STOP,
  DOCKER_EV_KILL,
  DOCKER_EV_DESTROY,
  DOCKER_EV_OOM,
  DOCKER_EV_PAUSE,
  DOCKER_EV_UNPAUSE,
  DOCKER_EV_RESTART,
  DOCKER_EV_HEALTH_STATUS, /* "health_status: healthy|unhealthy|starting" */
};

struct docker_event
{
  enum docker_event_action kind;
  char *action;     /* raw Action ("die", "exec_start: sh -c ...") */
  char *type;       /* "container" */
  char *id;         /* Actor.ID */
  int exit_code;    /* attribute exitCode (die), -1 when absent */
  int64_t time_ns;  /* timeNano */
  struct docker_kv *attributes; /* Actor.Attributes (name, image, labels, exitCode, signal) */
  size_t n_attributes;
};

/* ---- client ------------------------------------------------------------ */

/* Time limits in ms (0 = none).  docker_client_new starts with the values
   in the comments (upstream agent's); docker_client_set_timeouts replaces them. */
struct docker_timeouts
{
  long pull_total_ms;    /* 2 h */
  long pull_begin_ms;    /* 5 min until the first line of pull output */
  long pull_inactivity_ms; /* 1 min without any byte of pull output; 0 = off */
  long create_ms;        /* 1 min */
  long start_ms;         /* 1 min */
  long stop_margin_ms;   /* 30 s added to the stop grace period */
  long remove_ms;        /* 5 min */
  long inspect_ms;       /* 10 s (container and image inspect) */
  long other_ms;         /* 30 s: ping, version, info, list, kill, volumes */
  long connect_ms;       /* 5 s */
};

/* docker_host NULL or "" -> DOCKER_DEFAULT_HOST.  Accepts unix:///path and
   tcp://host:port (plain http).  ERR_INVALID for anything else.  Does not
   connect: use docker_ping (or any call) to check the daemon. */
docker_client_t *docker_client_new (uv_loop_t *loop, const char *docker_host, agent_error_t *err);
/* Cancels every op and the event streams (no callbacks), frees the client
   once the loop has closed its handles (run the loop afterwards). */
void docker_client_free (docker_client_t *c);
void docker_client_get_timeouts (const docker_client_t *c, struct docker_timeouts *out);
void docker_client_set_timeouts (docker_client_t *c, const struct docker_timeouts *t);
/* Negotiated API version ("1.41") or NULL before negotiation. */
const char *docker_client_api_version (const docker_client_t *c);
/* The daemon of the last negotiation is Podman (false before one).  On
   Podman a create's links become /etc/hosts entries (docker/links.h). */
bool docker_client_is_podman (const docker_client_t *c);
/* Operations in flight (tests). */
size_t docker_client_active (const docker_client_t *c);

/* Cancel an op: its callback will not run.  Safe on NULL.  Must not be
   called after the callback has started. */
void docker_op_cancel (docker_op_t *op);

/* ---- calls ------------------------------------------------------------- */

typedef void (*docker_done_cb) (agent_error_t err, void *data);
typedef void (*docker_version_cb) (const struct docker_version_info *v, agent_error_t err, void *data);
typedef void (*docker_info_cb) (const struct docker_info *info, agent_error_t err, void *data);
typedef void (*docker_image_cb) (const struct docker_image_info *img, agent_error_t err, void *data);
typedef void (*docker_create_cb) (const char *id, agent_error_t err, void *data);
typedef void (*docker_inspect_cb) (const struct docker_container_info *info, agent_error_t err,
                                   void *data);
typedef void (*docker_list_cb) (const struct docker_container_list *list, agent_error_t err,
                                void *data);
typedef void (*docker_image_list_cb) (const struct docker_image_list *list, agent_error_t err,
                                      void *data);
typedef void (*docker_volume_cb) (const struct docker_volume_info *vol, agent_error_t err, void *data);

/* GET /_ping (unversioned). */
docker_op_t *docker_ping (docker_client_t *c, docker_done_cb cb, void *data);
/* GET /version (unversioned); also (re)negotiates the client's API version. */
docker_op_t *docker_version (docker_client_t *c, docker_version_cb cb, void *data);
docker_op_t *docker_info (docker_client_t *c, docker_info_cb cb, void *data);

/* One status line of a pull's progress stream (borrowed by callbacks). */
struct docker_pull_progress
{
  char *status;    /* "Downloading", "Pull complete", ... or NULL */
  char *id;        /* layer id, or NULL for whole-image lines */
  int64_t current; /* progressDetail.current, -1 when absent */
  int64_t total;   /* progressDetail.total, -1 when absent */
};
void docker_pull_progress_clear (struct docker_pull_progress *p);

struct docker_pull_opts
{
  const char *image;         /* as in the task; ":latest" is added when it has no tag/digest */
  const char *registry_auth; /* X-Registry-Auth value (docker_auth_for_image) or NULL: no header */
  /* optional: each status line of the progress stream ("Downloading", ...) */
  void (*on_progress) (const struct docker_pull_progress *p, void *data);
};
/* POST /images/create?fromImage=...  Succeeds when the progress stream ends
   without an "error"/"errorDetail" line.  Error kinds: ERR_AUTH (denied),
   ERR_NOT_FOUND (unknown repository / manifest), ERR_TIMEOUT (pull begin,
   inactivity or total limit; message says which), others as above. */
docker_op_t *docker_image_pull (docker_client_t *c, const struct docker_pull_opts *o,
                                docker_done_cb cb, void *data);
docker_op_t *docker_image_inspect (docker_client_t *c, const char *image, docker_image_cb cb,
                                   void *data);
docker_op_t *docker_image_remove (docker_client_t *c, const char *image, bool force,
                                  docker_done_cb cb, void *data);
/* GET /images/json (top-level images); label_filter "k" or "k=v" adds
   filters={"label":[...]}, NULL = every image. */
docker_op_t *docker_image_list (docker_client_t *c, const char *label_filter,
                                docker_image_list_cb cb, void *data);

struct docker_port_spec
{
  uint16_t container_port;
  const char *proto;   /* NULL = "tcp" */
  const char *host_ip; /* NULL = not sent (Docker binds all addresses) */
  uint16_t host_port;  /* 0 = Docker picks an ephemeral port */
  bool expose_only;    /* exposed, not published */
};

struct docker_label
{
  const char *key;
  const char *value;
};

/* NULL-terminated string arrays; NULL = field not sent (image default). */
struct docker_create_opts
{
  const char *name; /* NULL = Docker generates one */
  const char *image;
  const char *const *cmd;
  const char *const *entrypoint; /* NULL or empty -> not sent */
  const char *const *env;        /* "KEY=VALUE" */
  const struct docker_port_spec *ports;
  size_t n_ports;
  const char *const *links;        /* "name:alias" */
  const char *const *binds;        /* "src:dst[:ro]" */
  const char *const *volumes_from; /* "ctr[:ro]" */
  const char *const *volumes;      /* Config.Volumes: anonymous volume paths */
  int64_t cpu_shares;              /* 0 = not sent */
  int64_t memory;                  /* bytes; 0 = not sent */
  const struct docker_label *labels;
  size_t n_labels;
  /* Optional JSON object texts decoded into the generated Config and
     HostConfig (ACS dockerConfig.config / hostConfig) as upstream does
     (docker/overlay.h); a decode error fails the create (ERR_INVALID,
     "DockerClientConfigError: ..." / "HostConfigError: ..."). */
  const char *extra_config_json;
  const char *extra_host_config_json;
  /* Set after the overlay (they win over it); NULL = not set.  Labels
     above are merged over the overlay's Labels too. */
  const char *network_mode;  /* NULL = overlay's or the daemon default (bridge) */
  const char *pid_mode;
  const char *ipc_mode;
  const char *cgroup_parent;
  /* Set in HostConfig.LogConfig.Config after the overlay, when
     LogConfig.Type is set: the agent's own log options
     (engine/log_opts.h), then the secrets whose target is the log driver. */
  const struct docker_label *log_options;
  size_t n_log_options;
  /* dockerConfig.version (NULL/"" = the negotiated version): the create
     asks for max(it, daemon's MinAPIVersion, DOCKER_API_MIN), as upstream
     (docker_api_version_for). */
  const char *api_version;
};
/* The label (the project's own namespace; ECS task definitions have no
   stop-signal field) whose value becomes Config.StopSignal when the
   dockerConfig overlay sets none, e.g. dockerLabels
   {"ecs-agent-c.stop-signal": "SIGUSR1"}.  Without it Docker uses the
   image's STOPSIGNAL, else SIGTERM. */
#define DOCKER_LABEL_STOP_SIGNAL "ecs-agent-c.stop-signal"

/* POST /containers/create?name=...  cb gets the new id. 409 -> ERR_CONFLICT,
   404 (no such image) -> ERR_NOT_FOUND. */
docker_op_t *docker_container_create (docker_client_t *c, const struct docker_create_opts *o,
                                      docker_create_cb cb, void *data);
/* 304 (already started) is success. */
docker_op_t *docker_container_start (docker_client_t *c, const char *id, docker_done_cb cb,
                                     void *data);
/* The same with the container's dockerConfig.version (NULL/"" = the
   negotiated version): upstream's startContainer asks for the version its
   createContainer asked for (docker_api_version_for; a version the daemon
   does not serve fails before any request, as for the create). */
docker_op_t *docker_container_start_version (docker_client_t *c, const char *id,
                                             const char *api_version, docker_done_cb cb,
                                             void *data);
/* POST /containers/<id>/stop?t=grace.  304 (already stopped) is success.
   HTTP time limit = grace + stop_margin_ms. */
docker_op_t *docker_container_stop (docker_client_t *c, const char *id, int grace_s,
                                    docker_done_cb cb, void *data);
/* signal NULL = SIGKILL. */
docker_op_t *docker_container_kill (docker_client_t *c, const char *id, const char *signal,
                                    docker_done_cb cb, void *data);
docker_op_t *docker_container_inspect (docker_client_t *c, const char *id, docker_inspect_cb cb,
                                       void *data);
/* DELETE /containers/<id>?v=&force= */
docker_op_t *docker_container_remove (docker_client_t *c, const char *id, bool remove_volumes,
                                      bool force, docker_done_cb cb, void *data);
/* GET /containers/json?all=1&filters={"label":[label_filter]}; label_filter
   "k" or "k=v", NULL = every container. */
docker_op_t *docker_container_list (docker_client_t *c, const char *label_filter,
                                    docker_list_cb cb, void *data);

/* POST /volumes/create.  driver NULL = "local". */
docker_op_t *docker_volume_create (docker_client_t *c, const char *name, const char *driver,
                                   const struct docker_label *labels, size_t n_labels,
                                   docker_volume_cb cb, void *data);
docker_op_t *docker_volume_remove (docker_client_t *c, const char *name, bool force,
                                   docker_done_cb cb, void *data);

/* ---- events ------------------------------------------------------------ */

typedef void (*docker_event_cb) (const struct docker_event *ev, void *data);
/* connected=true when the stream is open (HTTP 200 received); false with
   the reason each time it breaks (a reconnect follows automatically). */
typedef void (*docker_events_state_cb) (bool connected, agent_error_t err, void *data);

struct docker_events_opts
{
  int64_t since_ns;         /* replay from this time (unix ns); 0 = from now */
  const char *label_filter; /* optional "k" or "k=v" */
  /* optional, NULL-terminated: only these actions, filtered by Docker ("event"
     filter; "health_status" matches "health_status: <status>"), so the
     exec_* events of every health check run never reach the agent.  Not
     applied on Podman: the caller still ignores actions it does not use. */
  const char *const *actions;
  docker_event_cb on_event; /* container events only, in daemon order */
  docker_events_state_cb on_state; /* optional */
  void *data;
  /* reconnect back-off (0 = defaults 200 ms .. 2 s, x1.5, jitter 0.2) */
  uint64_t backoff_min_ms, backoff_max_ms;
};
/* GET /events?filters={"type":["container"],...}.  Long-lived: when the
   stream breaks it reconnects with since=<time of the last event seen> (or
   of the first connect attempt), with back-off, forever; events replayed by
   the daemon that were already delivered are dropped, so each event is
   delivered once.  (The daemon keeps only its last 256 events: an outage
   with more events than that loses the oldest.) */
docker_events_t *docker_events_start (docker_client_t *c, const struct docker_events_opts *o);
/* Stop the stream; no callback runs afterwards.  Safe on NULL. */
void docker_events_stop (docker_events_t *ev);
bool docker_events_connected (const docker_events_t *ev);
/* Test hook: close the current connection as if the daemon dropped it; the
   reconnect is held back by hold_ms (plus back-off). */
void docker_events_test_drop (docker_events_t *ev, uint64_t hold_ms);

/* ---- parsers (pure; exported for tests and fuzzing) --------------------- */

int docker_parse_version (const char *s, size_t len, struct docker_version_info **out,
                          agent_error_t *err);
void docker_version_info_free (struct docker_version_info *v);
int docker_parse_info (const char *s, size_t len, struct docker_info **out, agent_error_t *err);
void docker_info_free (struct docker_info *i);
int docker_parse_image_inspect (const char *s, size_t len, struct docker_image_info **out,
                                agent_error_t *err);
void docker_image_info_free (struct docker_image_info *i);
int docker_parse_container_inspect (const char *s, size_t len,
                                    struct docker_container_info **out, agent_error_t *err);
void docker_container_info_free (struct docker_container_info *i);
/* Deep copy (to keep an inspect result past its callback). */
struct docker_container_info *docker_container_info_dup (const struct docker_container_info *i);
int docker_parse_container_list (const char *s, size_t len, struct docker_container_list **out,
                                 agent_error_t *err);
void docker_container_list_free (struct docker_container_list *l);
int docker_parse_image_list (const char *s, size_t len, struct docker_image_list **out,
                             agent_error_t *err);
void docker_image_list_free (struct docker_image_list *l);
int docker_parse_volume (const char *s, size_t len, struct docker_volume_info **out,
                         agent_error_t *err);
void docker_volume_info_free (struct docker_volume_info *v);
int docker_parse_event (const char *s, size_t len, struct docker_event **out, agent_error_t *err);
void docker_event_free (struct docker_event *e);
enum docker_event_action docker_event_action_parse (const char *action);
/* "id" of a create response. */
int docker_parse_create_response (const char *s, size_t len, char **id, agent_error_t *err);
/* Compare API versions "1.41" vs "1.9": <0, 0, >0. */
int docker_api_version_cmp (const char *a, const char *b);
/* Pick the API version to use (xstrdup'd into *out); ERR_GENERIC when the
   daemon's range [daemon_min, daemon_api] does not meet ours. */
int docker_api_version_negotiate (const char *daemon_api, const char *daemon_min, char **out,
                                  agent_error_t *err);
/* The version a create with dockerConfig.version want uses, as upstream:
   max(want, daemon_min, DOCKER_API_MIN) into *out (malloc'd).  want not a
   version, or above negotiated (what the daemon serves, up to
   DOCKER_API_MAX): < 0, ERR_INVALID, message DOCKER_API_VERSION_MSG_PREFIX... */
int docker_api_version_for (const char *want, const char *daemon_min, const char *negotiated,
                            char **out, agent_error_t *err);
/* Image reference with ":latest" added when it has neither tag nor digest. */
char *docker_image_ref_normalize (const char *image);
/* Map an error response (status + body) to a typed error; returns -kind. */
int docker_error_from_response (agent_error_t *err, long status, const char *body, size_t len,
                                bool is_pull);

/* Newline/concatenated JSON stream splitter (pull progress, events);
   json_stream.c. */
struct docker_json_stream
{
  /* settings (zero = defaults), set before the first feed */
  size_t max_value; /* largest value accepted (bytes); 0 = 1 MiB */
  bool unchecked;   /* values handed on without a jansson check (the
                       consumer parses them itself); framing still applies */
  char *buf;
  size_t len, cap;
  /* framing scan state (private) */
  size_t scan;
  int depth;
  bool in_str, esc;
};
/* Feed a chunk; calls on_value for each complete JSON value (as text,
   NUL-terminated).  on_value returns < 0 to stop (that return is passed up).
   Returns < 0 with ERR_MALFORMED on garbage or a value over max_value
   (1 MiB by default): the buffer holds at most max_value + one chunk.
   docker_json_stream_free keeps the settings. */
typedef int (*docker_json_value_cb) (const char *json, size_t len, void *data);
int docker_json_stream_feed (struct docker_json_stream *s, const char *chunk, size_t len,
                             docker_json_value_cb on_value, void *data, agent_error_t *err);
/* True if only whitespace is buffered (a clean end of stream). */
bool docker_json_stream_empty (const struct docker_json_stream *s);
void docker_json_stream_free (struct docker_json_stream *s);

/* Pull progress: parse one line.  Returns 0 for a progress/status line
   (*out filled: status/id may be NULL, current/total -1 when absent; free
   with docker_pull_progress_clear), < 0 with the pull error (ERR_AUTH /
   ERR_NOT_FOUND / ERR_GENERIC... carrying the daemon's message) for an
   "error"/"errorDetail" line (*out left empty), ERR_MALFORMED for a
   non-object. */
int docker_parse_pull_line (const char *s, size_t len, struct docker_pull_progress *out,
                            agent_error_t *err);

#endif
