/* fuzz_introspection.c - libFuzzer target for the introspection router
 * (introspection_route): the request path and query plus a fake engine.
 *
 * Input format (text):
 *
 *     /path?name=value&name2=value2      first line: the request target
 *     arn|family|version|D|K|id:name:f,id:name:f,...
 *     ...                                 one task per following line
 *
 * D and K are status digits (0..9, modulo 5: NONE..STOPPED), f is a flag digit (bit 0: has a docker
 * record, bit 1: internal).  Missing fields are empty.  The query is split
 * on '&' as lws hands it over (already decoded).
 *
 * Checked: status is 200, 400 or 404; JSON answers parse; /license is text;
 * a 200 for ?taskarn= returns that ARN and a 200 for ?dockerid= returns a
 * task that has a matching container; DesiredStatus omission rules hold;
 * unlisted (internal / recordless) containers never appear.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "introspection/introspection.h"

#define MAX_TASKS 64
#define MAX_CONTS 16

struct ftask
{
  struct introspection_task t;
  struct introspection_container c[MAX_CONTS];
};

struct fstate
{
  struct ftask tasks[MAX_TASKS];
  size_t n;
};

static void
foreach (void *data, introspection_task_cb cb, void *arg)
{
  struct fstate *s = data;
  for (size_t i = 0; i < s->n; i++)
    cb (&s->tasks[i].t, arg);
}

/* strsep that tolerates NULL */
static char *
field (char **p, const char *delim)
{
  if (!*p)
    return (char *) "";
  char *r = strsep (p, delim);
  return r ? r : (char *) "";
}

static int
digit (const char *s)
{
  return s[0] >= '0' && s[0] <= '9' ? s[0] - '0' : 0;
}

/* A task status from a digit: NONE..STOPPED, modulo their count. */
static enum task_status
status_digit (const char *s)
{
  return (enum task_status) (digit (s) % (TASK_STATUS_STOPPED + 1));
}

static void
parse_task (struct fstate *s, char *line)
{
  if (s->n >= MAX_TASKS)
    return;
  struct ftask *ft = &s->tasks[s->n++];
  memset (ft, 0, sizeof *ft);
  char *p = line;
  ft->t.arn = field (&p, "|");
  ft->t.family = field (&p, "|");
  ft->t.version = field (&p, "|");
  ft->t.desired_status = status_digit (field (&p, "|"));
  ft->t.known_status = status_digit (field (&p, "|"));
  char *conts = field (&p, "|");
  ft->t.containers = ft->c;
  while (conts && *conts && ft->t.n_containers < MAX_CONTS)
    {
      char *one = strsep (&conts, ",");
      struct introspection_container *c = &ft->c[ft->t.n_containers++];
      c->docker_id = field (&one, ":");
      c->name = field (&one, ":");
      int f = digit (field (&one, ":"));
      c->has_docker_record = f & 1;
      c->internal = (f & 2) != 0;
      c->docker_name = c->name;
    }
}

static bool
task_has_id (const struct fstate *s, const char *arn, const char *id, bool prefix)
{
  for (size_t i = 0; i < s->n; i++)
    {
      const struct introspection_task *t = &s->tasks[i].t;
      if (strcmp (t->arn, arn) != 0)
        continue;
      for (size_t k = 0; k < t->n_containers; k++)
        {
          const char *d = t->containers[k].docker_id;
          if (*d && (prefix ? strncmp (d, id, strlen (id)) == 0 : strcmp (d, id) == 0))
            return true;
        }
    }
  return false;
}

static void
check_task (json_t *t)
{
  json_t *known = json_object_get (t, "KnownStatus");
  json_t *desired = json_object_get (t, "DesiredStatus");
  if (!json_is_string (known) || !json_is_string (json_object_get (t, "Arn")))
    abort ();
  const char *k = json_string_value (known);
  if (strcmp (k, "RUNNING") && strcmp (k, "STOPPED") && strcmp (k, "PENDING"))
    abort ();
  if (desired)
    {
      const char *d = json_string_value (desired);
      if (!d || (strcmp (k, "STOPPED") == 0 && strcmp (d, "STOPPED") != 0)
          || (strcmp (k, "RUNNING") == 0 && strcmp (d, "PENDING") == 0))
        abort ();
    }
  json_t *cs = json_object_get (t, "Containers");
  if (!json_is_array (cs))
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size > 65536)
    return 0;
  char *buf = xmalloc (size + 1);
  memcpy (buf, data, size);
  buf[size] = 0;
  if (strlen (buf) != size) /* NUL bytes cannot come from lws */
    {
      free (buf);
      return 0;
    }

  static struct fstate st;
  memset (&st, 0, sizeof st);
  char *rest = buf;
  char *target = strsep (&rest, "\n");
  while (rest && *rest)
    parse_task (&st, strsep (&rest, "\n"));

  char *query = strchr (target, '?');
  if (query)
    *query++ = 0;
  const char *args[64];
  size_t n_args = 0;
  while (query && n_args < 64)
    args[n_args++] = strsep (&query, "&");

  struct introspection_provider prov = { .foreach_task = foreach, .data = &st };
  struct introspection_config cfg = { .cluster = "c", .container_instance_arn = "arn:ci" };
  char *body = NULL;
  const char *ct = NULL;
  int status = introspection_route (&cfg, &prov, target, args, n_args, &body, &ct);
  if (!body || !ct || (status != 200 && status != 400 && status != 404))
    abort ();
  if (strcmp (target, "/license") == 0)
    {
      if (status != 200 || strncmp (ct, "text/plain", 10) != 0)
        abort ();
    }
  else
    {
      json_error_t je;
      json_t *j = json_loads (body, 0, &je);
      if (!j)
        abort ();
      if (strcmp (target, "/v1/tasks") == 0)
        {
          const char *taskarn = NULL, *dockerid = NULL;
          for (size_t i = 0; i < n_args; i++)
            {
              if (!taskarn && strncmp (args[i], "taskarn", 7) == 0
                  && (args[i][7] == '=' || args[i][7] == 0))
                taskarn = args[i][7] ? args[i] + 8 : "";
              if (!dockerid && strncmp (args[i], "dockerid", 8) == 0
                  && (args[i][8] == '=' || args[i][8] == 0))
                dockerid = args[i][8] ? args[i] + 9 : "";
            }
          if (taskarn && dockerid && status != 400)
            abort ();
          if (status == 200 && (taskarn || dockerid))
            {
              check_task (j);
              const char *arn = json_string_value (json_object_get (j, "Arn"));
              json_t *valid = taskarn ? json_string (taskarn) : NULL; /* UTF-8 only */
              if (valid && strcmp (arn, taskarn) != 0)
                abort ();
              json_decref (valid);
              /* invalid UTF-8 ARNs come out as "": nothing to compare then */
              if (dockerid && *arn && !task_has_id (&st, arn, dockerid, strlen (dockerid) <= 12))
                abort ();
            }
          else if (status == 200)
            {
              json_t *tasks = json_object_get (j, "Tasks");
              if (!json_is_array (tasks) || json_array_size (tasks) != st.n)
                abort ();
              for (size_t i = 0; i < json_array_size (tasks); i++)
                {
                  json_t *t = json_array_get (tasks, i);
                  check_task (t);
                  size_t listed = 0;
                  for (size_t k = 0; k < st.tasks[i].t.n_containers; k++)
                    listed += st.tasks[i].c[k].has_docker_record && !st.tasks[i].c[k].internal;
                  if (json_array_size (json_object_get (t, "Containers")) != listed)
                    abort ();
                }
            }
          else if (json_object_get (j, "Arn") == NULL)
            abort ();
        }
      json_decref (j);
    }
  free (body);
  free (buf);
  return 0;
}
