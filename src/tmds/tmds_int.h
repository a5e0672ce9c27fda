/* tmds/tmds_int.h - shared by the files of tmds/ only: meta.c builds the
 * JSON shapes, routes.c routes, tmds.c serves. */
#ifndef TMDS_TMDS_INT_H
#define TMDS_TMDS_INT_H

#include <jansson.h>
#include "tmds/tmds.h"

/* Upstream's container object for version 2, 3 or 4.  Returns NULL when it
   cannot be built (v3/v4: no Docker network settings recorded). */
json_t *tmds_container_json (const struct tmds_view *v, const struct task_container *c,
                             int version);
/* Upstream's task object.  v2/v3: NULL when a listed container cannot be
   built; v4 leaves such a container's Networks out. */
json_t *tmds_task_json (const struct tmds_view *v, const struct task *t, int version);
/* Containers listed in a task object: those with a Docker id (v4 also
   those pulled, not created yet). */
bool tmds_container_listed (const struct task_container *c, int version);

/* A float as Go's JSON encoder prints it (whole values without ".0"). */
json_t *tmds_json_float (double d);

/* ---- throttle.c: the request limiter (pure; times in ns) ---- */

/* Buckets kept at most (the least recently used one goes beyond). */
#define TMDS_THROTTLE_MAX_BUCKETS 4096

struct tmds_throttle;
struct tmds_throttle *tmds_throttle_new (unsigned rate, unsigned burst, size_t max_buckets);
void tmds_throttle_free (struct tmds_throttle *t);
/* One request of ip for path at now_ns: true when a token was taken. */
bool tmds_throttle_allow (struct tmds_throttle *t, const char *ip, const char *path, int64_t now_ns);
double tmds_throttle_rate (const struct tmds_throttle *t);
size_t tmds_throttle_buckets (const struct tmds_throttle *t);

#endif
