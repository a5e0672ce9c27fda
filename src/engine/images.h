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
 *  - A create waits for its image's record (ManagedEnvKeys, the keys of
 *    AWS_REGION / AWS_DEFAULT_REGION the image's Config.Env sets) when the
 *    agent would inject the region: a record inspect in flight for that
 *    image string (the one after every pull step) is waited for, a record
 *    that knows its ManagedEnvKeys lets the create go, a missing one asks
 *    for an inspect first; an inspect that failed lets the create go (Docker
 *    reports the missing image).
 *  - Cleanup (upstream's cycle, step 3): among records none of whose names
 *    is excluded, not used by any container, and pulled longer than the
 *    minimum age ago, the least recently used goes first.
 *  - Untracked cleanup (steps 4-5, ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP): a
 *    container the agent does not track goes when it is exited, dead or
 *    created and finished longer than the task cleanup wait ago (a never
 *    started one has Docker's zero FinishedAt: always); images neither
 *    tracked nor carrying an excluded tag, created longer than the non-ECS
 *    minimum age ago, go smallest first within a budget of N - k (k =
 *    step 3's tries; upstream's quirk: all N tried gives 1, not 0).
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

/* ---- the image record before a create -------------------------------------- */

enum engine_create_image
{
  ENGINE_CREATE_IMAGE_READY,   /* create now */
  ENGINE_CREATE_IMAGE_INSPECT, /* inspect the image into its record first */
  ENGINE_CREATE_IMAGE_WAIT,    /* a record inspect of this image is in flight */
};

/* region_wanted: the agent would inject the region (engine/create_opts.h);
   r: the record listing the container's image string (NULL: none);
   record_in_flight: an image record inspect of that string is running;
   inspect_failed: the last one failed for this container. */
enum engine_create_image engine_decide_create_image (bool region_wanted, const struct image_record *r,
                                                     bool record_in_flight, bool inspect_failed);

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

/* ---- image digests (imageDigest of state changes) ---------------------- */

/* The digest a pull stream announces: a whole-image status line
   "Digest: sha256:<64 hex>" gives a pointer to "sha256:..." inside status;
   anything else NULL. */
const char *engine_pull_status_digest (const char *status);
/* The digest of image among an image's RepoDigests ("repo@sha256:..."): the
   entry of image's repository (image without its tag or digest; Docker Hub
   names also match their docker.io/ and library/ forms) first, else the
   only entry; NULL when none fits.  Points into digests. */
const char *engine_repo_digest_for (const char *image, char *const *digests, size_t n);

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

/* ---- untracked cleanup (steps 4 and 5) ------------------------------------ */

/* Step 4: may an untracked container be removed?  finished_known: the
   inspect had a FinishedAt that parsed (finished_ns 0 = Docker's zero time). */
bool engine_decide_untracked_container (const char *status, bool finished_known, int64_t finished_ns,
                                        int64_t now_ns, uint64_t wait_ms);

/* Step 5's budget: per_cycle - tracked_tries, except 1 when all per_cycle
   tries of step 3 were used (upstream counts the last loop index). */
int engine_untracked_image_budget (int per_cycle, int tracked_tries);

struct engine_untracked_view
{
  const struct docker_image_list *images;
  const struct image_records *records; /* tracked: their ids are skipped */
  const char *const *excluded;         /* an image with any of these tags is skipped */
  size_t n_excluded;
  int64_t now_ns;
  uint64_t min_age_ms; /* NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE, against Created */
};

/* The images step 5 may remove, in removal order (size ascending; equal
   sizes keep the list's order): their indexes in v->images written to
   order (room for v->images->n), the count returned. */
size_t engine_untracked_images_order (const struct engine_untracked_view *v, size_t *order);

/* The references removed for one such image: each of its tags when it has
   more than one (each removal counts against the budget), else its id. */
size_t engine_untracked_image_refs (const struct docker_image_summary *img, const char **refs,
                                    size_t max);

#endif
