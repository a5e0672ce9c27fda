/* acs/task_codec.c - one ACS Task object -> struct task (see task_codec.h). */
#include "acs/task_codec.h"
#include "task/task_decode.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <stdlib.h>
#include <string.h>

/* ---- ACS form ----------------------------------------------------------------- */

int
acs_task_from_json (json_t *j, struct task **out, agent_error_t *err)
{
  *out = NULL;
  if (!json_is_object (j))
    return error_set (err, ERR_INVALID, "task must be a JSON object");
  cleanup_task struct task *t = xcalloc (1, sizeof *t);
  char *ds = NULL;
  if (task_json_string (j, "arn", "", true, &t->arn, err) < 0
      || task_json_string (j, "family", "", false, &t->family, err) < 0
      || task_json_string (j, "version", "", false, &t->version, err) < 0
      || task_json_string (j, "desiredStatus", "", false, &ds, err) < 0)
    return -ERR_INVALID;
  if (!t->family)
    t->family = xstrdup ("");
  if (!t->version)
    t->version = xstrdup ("");
  int rc = task_status_parse (ds, &t->desired_status, err);
  free (ds);
  if (rc < 0)
    return error_wrap (err, "task %s: desiredStatus", t->arn);
  if (t->desired_status == TASK_STATUS_PULLED)
    t->desired_status = TASK_STATUS_NONE;
  if (task_json_volumes (j, t, false, err) < 0)
    return error_wrap (err, "task %s", t->arn);
  json_t *cs = task_json_get (j, "containers");
  if (!task_json_null (cs) && !json_is_array (cs))
    return error_set (err, ERR_INVALID, "task %s: containers must be an array", t->arn);
  size_t n = json_array_size (cs);
  t->containers = xcalloc (n ? n : 1, sizeof *t->containers);
  for (size_t i = 0; i < n; i++)
    {
      json_t *cj = json_array_get (cs, i);
      cleanup_free char *path = xasprintf ("containers[%zu]", i);
      if (!json_is_object (cj))
        return error_set (err, ERR_INVALID, "task %s: %s must be an object", t->arn, path);
      struct task_container *c = &t->containers[t->n_containers++];
      if (task_json_container_common (cj, path, c, err) < 0)
        return error_wrap (err, "task %s", t->arn);
      if (!c->image || !*c->image)
        return error_set (err, ERR_INVALID, "task %s: %s.image is required", t->arn, path);
    }
  if (task_json_check_refs (t, err) < 0)
    return error_wrap (err, "task %s", t->arn);
  *out = t;
  t = NULL;
  return 0;
}

/* ---- checkpoint form --------------------------------------------------------- */
