/* fuzz_tmds.c - libFuzzer target for the task metadata and credentials
 * router (tmds_route, tmds_stats_answer, tmds_tags_answer with the input's
 * body as a ListTagsForResource response) and the Docker inspect members it
 * reads (docker/inspect_extra.c through docker_parse_container_inspect).
 *
 * Input format (text):
 *
 *     /path?query            first line: the request target (query split on '&')
 *     1.2.3.4                second line: the caller's address
 *     {...}                  the rest: a Docker inspect body for container "app"
 *
 * A fixed task (two containers, endpoint ids "eid-a" / "eid-b", one with
 * task role credentials "cid-1", one id only expected, one Elastic
 * Inference association "dev1" of container "app") is served.
 * Checked: the status is one upstream uses; JSON answers parse; the secret
 * key appears only in a 200 of a credentials route (or when the input
 * itself carries it); a stats route lists
 * only Docker ids of the task and its answer parses whatever the samples.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs/task_codec.h"
#include "core/xmalloc.h"
#include "docker/docker.h"
#include "log/log.h"
#include "tmds/tmds.h"

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SECRET "fuzz-secret-0123456789"

static struct task *task;
static task_creds_store_t *creds;
static struct docker_container_info *info_a;

static size_t
count (void *data)
{
  (void) data;
  return 1;
}

static const struct task *
at (void *data, size_t i)
{
  (void) data;
  (void) i;
  return task;
}

static const struct docker_container_info *
inspect (void *data, const char *id)
{
  (void) data;
  return strcmp (id, ID_A) == 0 ? info_a : NULL;
}

static void
init (void)
{
  log_init (LOG_NONE, NULL, NULL);
  const char *tj = "{\"arn\":\"arn:t\",\"family\":\"f\",\"version\":\"1\",\"containers\":["
                   "{\"name\":\"app\",\"image\":\"i\"},{\"name\":\"b\",\"image\":\"i\"}],"
                   "\"associations\":[{\"name\":\"dev1\",\"type\":\"elastic-inference\","
                   "\"content\":{\"value\":\"{\\\"d\\\":1}\",\"encoding\":\"identity\"},"
                   "\"containers\":[\"app\"]}]}";
  json_t *j = json_loads (tj, 0, NULL);
  agent_error_t err = NULL;
  if (acs_task_from_json (j, &task, &err) < 0)
    abort ();
  json_decref (j);
  free (task->containers[0].v3_endpoint_id);
  task->containers[0].v3_endpoint_id = xstrdup ("eid-a");
  task->containers[0].docker_id = xstrdup (ID_A);
  task->containers[0].known_status = TASK_STATUS_RUNNING;
  free (task->containers[1].v3_endpoint_id);
  task->containers[1].v3_endpoint_id = xstrdup ("eid-b");
  task->containers[1].docker_id = xstrdup (ID_B);
  task->containers[1].known_status = TASK_STATUS_STOPPED;
  creds = task_creds_store_new ();
  struct task_role_credentials *c = xcalloc (1, sizeof *c);
  c->credentials_id = xstrdup ("cid-1");
  c->secret_access_key = xstrdup (SECRET);
  if (task_creds_store_put (creds, "arn:t", TASK_CREDS_TASK_ROLE, c, &err) < 0)
    abort ();
  task_creds_store_expect (creds, "arn:t", TASK_CREDS_EXECUTION_ROLE, "cid-2");
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (!task)
    init ();
  char *in = xmalloc (size + 1);
  memcpy (in, data, size);
  in[size] = 0;
  char *rest = in;
  char *target = strsep (&rest, "\n");
  char *peer = rest ? strsep (&rest, "\n") : (char *) "";
  info_a = NULL;
  if (rest && *rest)
    {
      agent_error_t err = NULL;
      if (docker_parse_container_inspect (rest, strlen (rest), &info_a, &err) < 0)
        error_free (&err);
    }
  char *query = strchr (target, '?');
  const char *args[16];
  size_t n_args = 0;
  if (query)
    {
      *query++ = 0;
      char *q = query;
      while (q && n_args < 16)
        args[n_args++] = strsep (&q, "&");
    }
  struct tmds_config cfg = { .cluster = "default" };
  struct tmds_provider prov = { .task_count = count, .task_at = at };
  struct tmds_view v = { .cfg = &cfg, .prov = &prov, .creds = creds, .inspect = inspect };
  struct tmds_answer a;
  tmds_route (&v, target, args, n_args, peer, &a);
  if (a.want_tags)
    {
      /* the rest of the input, also as the tags of the task */
      const char *b = rest ? rest : "";
      struct tmds_tags_result r[2] = { { .resource_arn = "arn:ci", .error = "X: y: z", .status = 400 },
                                       { .resource_arn = "arn:t", .body = b, .len = strlen (b) } };
      tmds_tags_answer (&a, r);
    }
  if (!a.body)
    {
      /* a stats route: ids of this task only */
      const char *raws[4] = { "{\"read\":1}", "not json", NULL, NULL };
      if (a.n_stats_ids > 2)
        abort ();
      for (size_t i = 0; i < a.n_stats_ids; i++)
        {
          const char *id = a.stats_ids[i][0] == '!' ? a.stats_ids[i] + 1 : a.stats_ids[i];
          if (strcmp (id, ID_A) != 0 && strcmp (id, ID_B) != 0)
            abort ();
        }
      tmds_stats_answer (&a, raws, NULL);
    }
  static const int ok[] = { 200, 400, 404, 500, 503 };
  bool known = false;
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
    known |= a.status == ok[i];
  if (!known || !a.body)
    abort ();
  if (strcmp (a.ctype, "application/json") == 0)
    {
      json_t *j = json_loads (a.body, JSON_DECODE_ANY, NULL);
      if (!j)
        {
          fprintf (stderr, "unparsable answer: %s\n", a.body);
          abort ();
        }
      json_decref (j);
    }
  /* (an input spelling it - "f" may come from a JSON-escaped \f - is
     echoed, not a leak) */
  if (strstr (a.body, SECRET) && !(a.status == 200 && a.creds_request)
      && !memmem (data, size, &SECRET[1], strlen (SECRET) - 1))
    abort ();
  tmds_answer_clear (&a);
  docker_container_info_free (info_a);
  info_a = NULL;
  free (in);
  return 0;
}
