/* engine/decide.h - what a Docker answer means for a container: pure
 * functions from one observation to one outcome (no I/O, no clock, no
 * allocation).
 *
 * Contract:
 *  - Every Docker callback of the engine (pull, image check, create, adopt,
 *    start, stop, each inspect, each event) fills one struct
 *    engine_observation and calls engine_decide() (events:
 *    engine_decide_event()); the executor then only records what the
 *    outcome lists, in order, and issues its next call.
 *  - An inspect result is interpreted once, by engine_inspect_read().
 *  - Retry delays (stop, cleanup), cleanup deadlines and pull reuse
 *    are decided here too, with the constants below.
 */
#ifndef ENGINE_DECIDE_H
#define ENGINE_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/util.h"
#include "docker/docker.h"
#include "task/task.h"

/* An unconfirmed stop is tried again after these (x2, 20 % jitter). */
#define ENGINE_STOP_RETRY_MIN_MS 500ULL
#define ENGINE_STOP_RETRY_MAX_MS 30000ULL
/* A cleanup round that left something in Docker. */
#define ENGINE_CLEANUP_RETRY_MIN_MS 1000ULL
#define ENGINE_CLEANUP_RETRY_MAX_MS (5ULL * 60 * 1000)
/* Reconciliation after a failed container list (x1.5, 20 % jitter). */
#define ENGINE_RECONCILE_RETRY_MIN_MS 200ULL
#define ENGINE_RECONCILE_RETRY_MAX_MS 5000ULL
/* An image pulled (or found locally) this recently is not pulled again. */
#define ENGINE_PULL_REUSE_MS 10000ULL
#define ENGINE_PULL_CACHE_SIZE 16

/* ---- one interpretation of an inspect ------------------------------------ */

struct engine_inspect
{
  enum task_status status; /* RUNNING, CREATED (never started) or STOPPED */
  bool started;              /* it ran at some point */
  int64_t started_at_ns;     /* Docker's StartedAt of the last run, 0 = never */
  bool has_exit_code;        /* not running: exit_code is Docker's */
  int exit_code;
  const char *error_name, *error_msg; /* OutOfMemoryError / DockerStateError, or NULL */
  const struct task_port_binding *ports;    /* borrowed from the docker answer */
  size_t n_ports;
  bool has_ports;
};

/* NULL info (an inspect that failed): everything unknown (zeroed). */
void engine_inspect_read (const struct docker_container_info *info, struct engine_inspect *out);

/* ---- observations and outcomes ------------------------------------------- */

enum engine_obs_source
{
  ENGINE_OBS_PULL,             /* image pull answered */
  ENGINE_OBS_PULL_LOCAL_IMAGE, /* after a failed pull: is the image here? */
  ENGINE_OBS_PULL_CACHED,      /* prefer-cached, before pulling: is the image here? */
  ENGINE_OBS_CREATE,           /* container create answered (id) */
  ENGINE_OBS_CREATE_ADOPT,     /* create failed: inspect by the name */
  ENGINE_OBS_START,            /* start answered */
  ENGINE_OBS_START_INSPECT,    /* inspect after start (host ports) */
  ENGINE_OBS_STOP,             /* stop answered */
  ENGINE_OBS_STOP_INSPECT,     /* inspect after stop: did it stop? */
  ENGINE_OBS_EVENT_INSPECT,    /* inspect after a Docker event (reported set) */
  ENGINE_OBS_RESYNC_INSPECT,   /* inspect after events may have been lost */
  ENGINE_OBS_RECONCILE_INSPECT /* inspect at start-up reconciliation */
};

struct engine_observation
{
  enum engine_obs_source source;
  int err_kind;        /* enum error_kind of a failed call, 0 = success */
  const char *err_msg; /* its text */
  const char *err_name; /* PULL: the error's name when not CannotPullContainerError (registry
                           credentials: CannotPullECRContainerError), sticky reason */
  const char *carried; /* error text from the previous phase of the same operation */
  bool has_info;       /* inspects: the answer, read by engine_inspect_read */
  struct engine_inspect info;
  bool labels_match;           /* CREATE_ADOPT: the container carries this task's labels */
  bool image_present;          /* PULL_LOCAL_IMAGE, PULL_CACHED */
  bool pull_strict;            /* PULL: a failed pull stops the task, no local copy
                                  (behaviour always / once, engine/images.h) */
  enum task_status reported; /* EVENT_INSPECT: status the event announced */
};

enum engine_next
{
  ENGINE_NEXT_NONE = 0,
  ENGINE_NEXT_INSPECT_IMAGE, /* same op: look for the image locally */
  ENGINE_NEXT_INSPECT_NAME,  /* same op: inspect the container by its Docker name */
  ENGINE_NEXT_INSPECT_ID,    /* same op: inspect the container by id */
  ENGINE_NEXT_STOP_LATER,    /* stop not confirmed: try again after a back-off */
  ENGINE_NEXT_PULL,          /* same op: pull the image (no local copy) */
};

#define ENGINE_MAX_STEPS 3

struct engine_outcome
{
  /* Known statuses to record, in order (each only if newer). */
  struct
  {
    enum task_status status;
    bool with_info; /* exit code, reason and ports from the observation's info */
  } steps[ENGINE_MAX_STEPS];
  size_t n_steps;
  const char *reason_name, *reason_msg; /* sticky reason to set first */
  const char *fail_name, *fail_msg;     /* failed transition: reason + desired STOPPED */
  bool set_id;        /* take the Docker id (create answer / adopted container) */
  bool adopted;       /* an existing container was adopted (log it) */
  bool pulled;        /* the image is here: remember it, wake containers waiting for it */
  bool stop_confirmed; /* reset the stop back-off */
  bool stop_task;     /* the task's desired status becomes STOPPED (failed pull, always/once) */
  bool force_stop;    /* a failed start that may have started it: docker stop it all the same */
  enum engine_next next;
  const char *carry;  /* error text for the next phase (or the retry log line) */
  const char *warn;   /* a Docker error worth a log line, or NULL */
};

/* The error name of a failed Docker call: "DockerTimeoutError" when the
   agent's deadline expired (err_kind ERR_TIMEOUT, or a kept text that is
   the client's timeout text, docker.h), "CannotGetDockerClientVersionError"
   for a dockerConfig.version the daemon does not serve (docker.h), else
   fallback. */
const char *engine_error_name (int err_kind, const char *msg, const char *fallback);
/* A failed start (error name and text) after which the container may be
   running anyway, so a docker stop is forced (as upstream does):
   DockerTimeoutError, CannotInspectContainerError, or
   CannotStartContainerError whose text ends in "EOF".  Any other failed
   start only sets desired STOPPED. */
bool engine_start_error_forces_stop (const char *name, const char *msg);

/* The outcome of observation o for container ci of t. */
void engine_decide (const struct task *t, size_t ci, const struct engine_observation *o,
                    struct engine_outcome *out);

/* ---- events ----------------------------------------------------------- */

enum engine_event_verdict
{
  ENGINE_EVENT_IGNORE = 0,
  ENGINE_EVENT_OOM,     /* set the OutOfMemoryError reason (the die follows) */
  ENGINE_EVENT_DIED,    /* record STOPPED with the event's exit code, no inspect */
  ENGINE_EVENT_PENDING, /* busy: remember *reported, handled when idle */
  ENGINE_EVENT_INSPECT, /* inspect, then ENGINE_OBS_EVENT_INSPECT with *reported */
};

/* A container event for container ci (ready: start-up reconciliation is
   done; exit_code < 0 when the event carries none; time_ns: the event's
   timeNano, 0 = none).  Before reconciliation is done an event is only
   remembered (PENDING: reconciliation inspects every container; the
   remembered status is looked at once it is done).  The die shortcut: a
   die of a RUNNING idle container after reconciliation carries everything
   a STOPPED report needs, unless it may predate the container's last
   restart in place (then the inspect tells). */
enum engine_event_verdict engine_decide_event (const struct task *t, size_t ci,
                                               enum docker_event_action kind, int exit_code,
                                               int64_t time_ns, bool ready, enum task_status *reported);
/* Does the engine act on this kind of container event at all?  (create,
   start, die, oom; kill and stop precede a die, which tells the exit.) */
bool engine_event_relevant (enum docker_event_action kind);
/* A status remembered while busy (pending_event), now that it is idle. */
enum engine_event_verdict engine_decide_pending (const struct task *t, size_t ci,
                                                 enum task_status reported);

/* ---- steady-state inspects ------------------------------------------------ */

/* Every live container (known CREATED or RUNNING, with a Docker id) is
   inspected every ENGINE_STEADY_INTERVAL_MS plus a random jitter below
   ENGINE_STEADY_JITTER_MS (upstream's steady-state check: 5 min + up to
   30 s), so health, exits and ports missed by events are caught; at most
   ENGINE_STEADY_MAX_INFLIGHT such inspects at once over the engine; the
   schedule is looked at every ENGINE_STEADY_TICK_MS (a pass over the
   containers, no Docker call unless one is due).  After the event stream
   reconnected every live container is made due at once (same bound). */
#define ENGINE_STEADY_INTERVAL_MS (5ULL * 60 * 1000)
#define ENGINE_STEADY_JITTER_MS 30000ULL
#define ENGINE_STEADY_MAX_INFLIGHT 4
#define ENGINE_STEADY_TICK_MS 5000ULL

enum engine_steady_verdict
{
  ENGINE_STEADY_NONE = 0, /* not live (or its task is being removed): unscheduled */
  ENGINE_STEADY_SCHEDULE, /* (re)schedule: new, or due while busy (its op looks at Docker) */
  ENGINE_STEADY_WAIT,     /* scheduled, not due yet */
  ENGINE_STEADY_DUE,      /* inspect now (if the bound allows; else stays due) */
};

/* Container c of t at loop time now_ms, by c->steady_at_ms (0 = none). */
enum engine_steady_verdict engine_decide_steady (const struct task *t, const struct task_container *c,
                                                 uint64_t now_ms);

/* ---- reconciliation -------------------------------------------------------- */

/* Container c of t has a Docker name but no id (its create answer was lost
   in a crash): the index of the listed container that is it - by that
   name, or by this task's ARN and container-name labels - or -1. */
ssize_t engine_decide_adopt_match (const struct task *t, const struct task_container *c,
                                   const struct docker_container_list *list);

/* ---- pulls ----------------------------------------------------------------- */

struct engine_pull_cache
{
  struct
  {
    char *image; /* owned */
    char *digest; /* owned, the registry digest the pull reported; NULL = none */
    uint64_t at_ms;
  } e[ENGINE_PULL_CACHE_SIZE];
};

enum engine_pull_verdict
{
  ENGINE_PULL_REUSE, /* pulled moments ago: PULLED at once */
  ENGINE_PULL_WAIT,  /* the same image is being pulled: wait for it */
  ENGINE_PULL_ISSUE, /* pull it */
};

enum engine_pull_verdict engine_decide_pull (const struct engine_pull_cache *c, const char *image,
                                             bool pull_in_flight, uint64_t now_ms);
/* Remember image as pulled at now_ms with its digest (NULL = none known;
   replaces the oldest entry). */
void engine_pull_cache_remember (struct engine_pull_cache *c, const char *image, const char *digest,
                                 uint64_t now_ms);
/* The digest remembered with image's pull, NULL if none: a container that
   shares the pull takes it (upstream pulls again and learns it). */
const char *engine_pull_cache_digest (const struct engine_pull_cache *c, const char *image);
void engine_pull_cache_free (struct engine_pull_cache *c);

/* ---- retries and deadlines ------------------------------------------------ */

/* Next delay of a lazily initialised back-off b (min_ms 0 = never used). */
uint64_t engine_retry_delay_ms (struct backoff *b, uint64_t min_ms, uint64_t max_ms);
/* Errors after which a removal is retried: anything but "not there" (done)
   and a request Docker will refuse again the same way. */
bool engine_removal_retriable (int err_kind);
/* Unix ns at which a STOPPED task is cleaned up: cleanup_wait after its
   STOPPED time, or the retry time of a failed round if later. */
int64_t engine_cleanup_deadline_ns (const struct task *t, uint64_t cleanup_wait_ms);

#endif
