/* engine/images.h - the engine's decisions about images, pure (no I/O, no
 * clock): whether a container's image is pulled under the configured pull
 * behaviour, how a pull's progress is summed up for the log, whether a
 * launch may take a slot under the concurrency limit, and which image
 * record the image cleanup removes next.
 *
 * Contract:
 *  - Pull behaviour (ECS_IMAGE_PULL_BEHAVIOR, upstream's semantics):
 *    default pulls and falls back to a local copy when the pull fails;
 *    always pulls and a failed pull stops the task; once pulls unless a
 *    record holding this exact image string says a pull succeeded, a failed
 *    pull stopping the task; prefer-cached looks for a local copy first and
 *    pulls only without one (failures then handled as default).
 *  - Progress: one line per pull at most every ENGINE_PULL_PROGRESS_LOG_MS
 *    (layers done / known, bytes downloaded / announced), never per chunk;
 *    at most ENGINE_PULL_LAYERS_MAX layers are followed.
 *  - Cleanup (upstream's cycle, step 3): among records none of whose names
 *    is excluded, not used by any container, and pulled longer than the
 *    minimum age ago, the least recently used goes first.
 */
#ifndef ENGINE_IMAGES_H
#define ENGINE_IMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "config/config.h"
#include "docker/docker.h"
#include "task/image_record.h"

/* ---- pull behaviour ---------------------------------------------------- */

enum engine_pull_policy
{
  ENGINE_POLICY_PULL,        /* pull now */
  ENGINE_POLICY_SKIP,        /* no pull: PULLED at once (once, pulled before) */
  ENGINE_POLICY_CHECK_LOCAL, /* inspect the local image first (prefer-cached) */
};

/* pulled_before: a record with this exact image name has pull_succeeded. */
enum engine_pull_policy engine_decide_pull_policy (enum config_pull_behavior b, bool pulled_before);
/* After a failed pull: may a local copy stand in (default, prefer-cached),
   or does the task stop (always, once)? */
bool engine_pull_failure_falls_back (enum config_pull_behavior b);
const char *engine_pull_behavior_name (enum config_pull_behavior b);

/* ---- pull progress ------------------------------------------------------- */

#define ENGINE_PULL_LAYERS_MAX 128
#define ENGINE_PULL_PROGRESS_LOG_MS 5000ULL

struct engine_pull_progress
{
  struct
  {
    char id[80];
    int64_t current, total; /* download bytes; total -1 until announced */
    bool done;
  } layers[ENGINE_PULL_LAYERS_MAX];
  size_t n;
  uint64_t started_ms, logged_ms;
};

/* Take one progress line; true when a log line is due now. */
bool engine_pull_progress_update (struct engine_pull_progress *p,
                                  const struct docker_pull_progress *line, uint64_t now_ms);
struct engine_pull_summary
{
  size_t layers_done, layers;
  int64_t bytes_done, bytes_total; /* of layers whose size is announced */
};
void engine_pull_progress_sum (const struct engine_pull_progress *p, struct engine_pull_summary *s);

/* ---- launch concurrency -------------------------------------------------- */

/* May another pull / create / start begin, with in_flight of them running
   and limit the configured bound (0 = unlimited)? */
bool engine_decide_launch_slot (int limit, size_t in_flight);

/* ---- image cleanup ------------------------------------------------------- */

struct engine_cleanup_view
{
  const struct image_records *records;
  const bool *in_use;  /* per record: a container not yet removed uses it */
  const bool *skip;    /* per record: failed earlier this cycle */
  const char *const *excluded; /* image strings never removed */
  size_t n_excluded;
  int64_t now_ns;
  uint64_t min_age_ms;
};

/* Index of the record to remove next, or -1 when none qualifies. */
ssize_t engine_decide_image_to_remove (const struct engine_cleanup_view *v);
/* Is any name of r in the excluded list? */
bool engine_image_excluded (const struct image_record *r, const char *const *excluded, size_t n);

#endif
