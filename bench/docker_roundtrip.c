/* docker_roundtrip.c - create + start + inspect + remove(force) round trip
 * through the agent's Docker client (src/docker), N times; prints each
 * round trip and the median in ms.  Usage: docker_roundtrip IMAGE [N]
 * With N = "-" it does one round trip per line read on stdin and prints
 * its ms (bench/docker_roundtrip.sh interleaves it with the docker CLI).
 * Containers are labelled ecs-agent-c-test=1 and removed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "core/util.h"
#include "docker/docker.h"
#include "log/log.h"

struct st
{
  bool done;
  int kind;
  char msg[512];
  char id[80];
};

static void
set_err (struct st *s, agent_error_t err)
{
  s->done = true;
  s->kind = error_kind (&err);
  if (err)
    snprintf (s->msg, sizeof s->msg, "%s", err->msg);
}
static void
done_cb (agent_error_t err, void *d)
{
  set_err (d, err);
}
static void
create_cb (const char *id, agent_error_t err, void *d)
{
  struct st *s = d;
  if (id)
    snprintf (s->id, sizeof s->id, "%s", id);
  set_err (s, err);
}
static void
inspect_cb (const struct docker_container_info *i, agent_error_t err, void *d)
{
  struct st *s = d;
  if (i && !i->running)
    fprintf (stderr, "container not running after start\n");
  set_err (s, err);
}

static void
wait (uv_loop_t *l, struct st *s)
{
  while (!s->done)
    uv_run (l, UV_RUN_ONCE);
  if (s->kind)
    {
      fprintf (stderr, "docker error %d: %s\n", s->kind, s->msg);
      exit (1);
    }
  s->done = false;
}

static int
cmp (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

int
main (int argc, char **argv)
{
  const char *image = argc > 1 ? argv[1] : "ecs-agent-c-test/busybox:latest";
  bool interactive = argc > 2 && strcmp (argv[2], "-") == 0;
  int n = argc > 2 && !interactive ? atoi (argv[2]) : 20;
  if (interactive)
    n = 1000;
  if (n < 1 || n > 1000)
    n = 20;
  log_init (LOG_WARN, NULL, NULL);
  uv_loop_t loop;
  uv_loop_init (&loop);
  agent_error_t err = NULL;
  docker_client_t *c = docker_client_new (&loop, getenv ("DOCKER_HOST"), &err);
  if (!c)
    {
      fprintf (stderr, "%s\n", error_msg (&err));
      return 1;
    }
  struct st s = { 0 };
  docker_ping (c, done_cb, &s); /* connection + negotiation outside the timing */
  wait (&loop, &s);
  docker_version (c, (docker_version_cb) NULL, NULL);
  double *ms = calloc ((size_t) n, sizeof *ms);
  struct docker_label labels[] = { { "ecs-agent-c-test", "1" }, { "ecs-agent-c-test-bench", "1" } };
  const char *cmd[] = { "sleep", "300", NULL };
  int done = 0;
  char line[16];
  for (int i = 0; i < n; i++)
    {
      if (interactive && !fgets (line, sizeof line, stdin))
        break;
      struct docker_create_opts o
          = { .image = image, .cmd = cmd, .labels = labels, .n_labels = 2 };
      uint64_t t0 = uv_hrtime ();
      docker_container_create (c, &o, create_cb, &s);
      wait (&loop, &s);
      uint64_t t1 = uv_hrtime ();
      docker_container_start (c, s.id, done_cb, &s);
      wait (&loop, &s);
      uint64_t t2 = uv_hrtime ();
      docker_container_inspect (c, s.id, inspect_cb, &s);
      wait (&loop, &s);
      uint64_t t3 = uv_hrtime ();
      docker_container_remove (c, s.id, true, true, done_cb, &s);
      wait (&loop, &s);
      uint64_t t4 = uv_hrtime ();
      ms[i] = (double) (t4 - t0) / 1e6;
      done++;
      if (interactive)
        {
          printf ("%.3f\n", ms[i]);
          fflush (stdout);
          continue;
        }
      printf ("client round trip %2d: %.1f ms (create %.1f, start %.1f, inspect %.1f, remove %.1f)\n",
              i + 1, ms[i], (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6, (t4 - t3) / 1e6);
    }
  n = done;
  if (n == 0)
    return 0;
  qsort (ms, (size_t) n, sizeof *ms, cmp);
  double med = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
  printf ("client median: %.1f ms (n=%d, min %.1f, max %.1f)\n", med, n, ms[0], ms[n - 1]);
  free (ms);
  docker_client_free (c);
  uv_run (&loop, UV_RUN_DEFAULT);
  uv_loop_close (&loop);
  log_close ();
  return 0;
}
