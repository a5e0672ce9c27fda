/* test_engine_util.h - helpers shared by the engine / state tests (header
 * only: locating shared/protocol samples, building tasks from JSON). */
#ifndef TEST_ENGINE_UTIL_H
#define TEST_ENGINE_UTIL_H

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/util.h"
#include "core/xmalloc.h"
#include "task/task.h"
#include "acs/task_codec.h"
#include "state/checkpoint_tasks.h"

/* <shared>/protocol: $SHARED_DIR/protocol, else walk up from cwd looking for
   <dir>/../shared/protocol (the layout of /work/main next to /work/shared). */
static inline char *
teu_protocol_dir (void)
{
  const char *sd = getenv ("SHARED_DIR");
  struct stat st;
  if (sd && *sd)
    {
      char *p = xasprintf ("%s/protocol", sd);
      if (stat (p, &st) == 0)
        return p;
      free (p);
    }
  char cwd[PATH_MAX];
  if (!getcwd (cwd, sizeof cwd))
    return NULL;
  for (;;)
    {
      char *p = xasprintf ("%s/../shared/protocol", cwd);
      if (stat (p, &st) == 0)
        return p;
      free (p);
      p = xasprintf ("%s/shared/protocol", cwd);
      if (stat (p, &st) == 0)
        return p;
      free (p);
      char *slash = strrchr (cwd, '/');
      if (!slash || slash == cwd)
        break;
      *slash = '\0';
    }
  return NULL;
}

/* Contents of <protocol>/<rel> (NUL-terminated), NULL if absent. */
static inline char *
teu_read_protocol (const char *rel, size_t *len)
{
  char *dir = teu_protocol_dir ();
  if (!dir)
    return NULL;
  char *path = xasprintf ("%s/%s", dir, rel);
  free (dir);
  char *data = NULL;
  agent_error_t err = NULL;
  if (util_read_file (path, &data, len, &err) < 0)
    data = NULL;
  error_free (&err);
  free (path);
  return data;
}

static inline json_t *
teu_load_protocol_json (const char *rel)
{
  size_t len = 0;
  char *data = teu_read_protocol (rel, &len);
  if (!data)
    return NULL;
  json_t *j = json_loadb (data, len, 0, NULL);
  free (data);
  return j;
}

/* Parse an ACS task from JSON text; NULL (and *err) on failure. */
static inline struct task *
teu_task (const char *json_text, agent_error_t *err)
{
  json_error_t jerr;
  json_t *j = json_loads (json_text, 0, &jerr);
  if (!j)
    {
      error_set (err, ERR_INVALID, "test JSON: %s", jerr.text);
      return NULL;
    }
  struct task *t = NULL;
  acs_task_from_json (j, &t, err);
  json_decref (j);
  return t;
}

#ifdef fail_msg
/* teu_task for a table test that includes <cmocka.h> first: a JSON the test
   wrote that does not parse fails the running test. */
static inline struct task *
teu_task_must (const char *json_text)
{
  agent_error_t err = NULL;
  struct task *t = teu_task (json_text, &err);
  if (!t)
    fail_msg ("test task does not parse: %s", error_msg (&err));
  return t;
}
#endif

/* Status shorthands of the plan and dependency tables. */
#define TEU_N TASK_STATUS_NONE
#define TEU_P TASK_STATUS_PULLED
#define TEU_C TASK_STATUS_CREATED
#define TEU_R TASK_STATUS_RUNNING
#define TEU_S TASK_STATUS_STOPPED

#endif
