/* Integration test of the image records, automated image cleanup and
 * image pre-caching against the real Docker engine and the private
 * registry (tests/lib/registry.sh): three images of this run (distinct
 * ids) are pushed and removed locally, so the engine really pulls them.
 *   - a: its task exits; while the stopped task is not removed, cleanup
 *     cycles keep a; after a restart (records from the checkpoint) with a
 *     short cleanup wait the task is removed and the next cycle removes a;
 *   - b: its task keeps running: kept;
 *   - c: pre-cached at start (pulled without any task): kept;
 *   - an image the agent never pulled (untracked) is left alone.
 * Untracked cleanup (ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP): the engine runs
 * on the real Docker client through a wrapper that scopes its two
 * listings of everything (containers, images) to this run's label, so the
 * cleanup only ever sees objects this test created, never other tests'
 * images on the shared engine; the wrapper also records each call. */
#include "test_engine_itest.h"
#include "docker/auth.h"

static char *
arn (struct it *x, const char *name)
{
  return xasprintf ("arn:aws:ecs:us-west-2:123456789012:task/itest-%s-%s", x->run, name);
}

static bool
image_present (const char *image)
{
  cleanup_free char *cmd = xasprintf ("docker image inspect %s >/dev/null 2>&1", image);
  return system (cmd) == 0;
}

struct gone
{
  const char *image;
  int checks;
};

/* Polled from the loop: the docker CLI every 20th turn at most. */
static bool
image_gone_pred (struct it *x, void *data)
{
  (void) x;
  struct gone *g = data;
  if (g->checks++ % 20)
    return false;
  return !image_present (g->image);
}

static bool
turns_pred (struct it *x, void *data)
{
  (void) x;
  uint64_t *until = data;
  return util_now_ms () >= *until;
}

static void
test_image_cleanup_real (void **st)
{
  struct it *x = *st;
  FILE *p = popen ("sh tests/lib/registry.sh start 2>/dev/null", "r");
  char info[512] = "";
  if (p)
    {
      if (!fgets (info, sizeof info, p))
        info[0] = '\0';
      pclose (p);
    }
  info[strcspn (info, "\n")] = '\0';
  char *text = NULL;
  size_t len;
  agent_error_t err = NULL;
  if (!info[0] || util_read_file (info, &text, &len, &err) < 0)
    fail_msg ("the private registry (tests/lib/registry.sh) did not start: %s", error_msg (&err));
  char port[16] = "", user[64] = "", password[128] = "";
  for (char *line = strtok (text, "\n"); line; line = strtok (NULL, "\n"))
    {
      if (!strncmp (line, "port=", 5))
        snprintf (port, sizeof port, "%s", line + 5);
      else if (!strncmp (line, "user=", 5))
        snprintf (user, sizeof user, "%s", line + 5);
      else if (!strncmp (line, "password=", 9))
        snprintf (password, sizeof password, "%s", line + 9);
    }
  free (text);
  cleanup_free char *repo = xasprintf ("127.0.0.1:%s/ecs-agent-c-test/cleanup-%s", port, x->run);
  cleanup_free char *img_a = xasprintf ("%s:a", repo);
  cleanup_free char *img_b = xasprintf ("%s:b", repo);
  cleanup_free char *img_c = xasprintf ("%s:c", repo);
  cleanup_free char *untracked = xasprintf ("ecs-agent-c-test/untracked-%s:x", x->run);
  x->extra_cleanup = xasprintf ("docker rmi -f %s %s %s %s >/dev/null 2>&1; true", img_a, img_b, img_c, untracked);
  /* distinct image ids: one LABEL each on top of the test image */
  cleanup_free char *build = xasprintf (
      "set -e; d=$(mktemp -d); export DOCKER_CONFIG=$d;"
      "echo '%s' | docker login -u '%s' --password-stdin 127.0.0.1:%s >/dev/null 2>&1;"
      "for t in a b c; do printf 'FROM %s\\nLABEL ecs-agent-c-test=1 variant=%s-'$t'\\n' | docker build -q -t %s:$t - >/dev/null 2>&1;"
      "  docker push %s:$t >/dev/null 2>&1; docker rmi %s:$t >/dev/null; done;"
      "printf 'FROM %s\\nLABEL ecs-agent-c-test=1 variant=%s-u\\n' | docker build -q -t %s - >/dev/null 2>&1; rm -rf $d",
      password, user, port, x->image, x->run, repo, repo, repo, x->image, x->run, untracked);
  assert_int_equal (system (build), 0);
  assert_false (image_present (img_a));

  cleanup_free char *authj = xasprintf ("{\"127.0.0.1:%s\":{\"username\":\"%s\",\"password\":\"%s\"}}", port, user, password);
  struct docker_auth_config *auth = NULL;
  assert_int_equal (docker_auth_parse ("docker", authj, &auth, &err), 0);
  x->auth = auth;
  char *precache[] = { img_c };
  struct config_images ci = { .cleanup_enabled = true, .cleanup_interval_ms = 300, .min_cleanup_age_ms = 0,
                              .images_per_cycle = 5, .precache = precache, .n_precache = 1 };
  x->images = &ci;

  /* 1: a stopped task that is not removed keeps its image */
  it_engine_up (x);
  cleanup_free char *ta = arn (x, "a"), *tb = arn (x, "b");
  cleanup_free char *ja = xasprintf ("{\"arn\":\"%s\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\","
                                     "\"image\":\"%s\",\"essential\":true,\"command\":[\"true\"]}]}", ta, img_a);
  cleanup_free char *jb = xasprintf ("{\"arn\":\"%s\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\","
                                     "\"image\":\"%s\",\"essential\":true,\"command\":[\"sleep\",\"300\"]}]}", tb, img_b);
  it_add (x, ja);
  it_add (x, jb);
  assert_true (it_wait_task (x, ta, TASK_STATUS_STOPPED, 60000));
  assert_true (it_wait_task (x, tb, TASK_STATUS_RUNNING, 60000));
  uint64_t until = util_now_ms () + 1500; /* several cycles */
  it_wait_until (x, turns_pred, &until, 5000);
  assert_true (image_present (img_a));
  assert_true (image_present (img_b));
  assert_true (image_present (img_c)); /* pre-cached without any task */
  it_engine_down (x);

  /* 2: restart with a short cleanup wait: the task goes, then its image */
  x->cleanup_ms = 100;
  it_state_up (x);
  it_engine_up (x);
  struct gone g = { img_a, 0 };
  assert_true (it_wait_until (x, image_gone_pred, &g, 30000));
  assert_null (it_task (x, ta));
  until = util_now_ms () + 1000;
  it_wait_until (x, turns_pred, &until, 5000);
  assert_true (image_present (img_b));
  assert_true (image_present (img_c));
  assert_true (image_present (untracked));
  it_engine_down (x);
  docker_auth_config_free (auth);
  x->auth = NULL;
}

/* ---- untracked cleanup ------------------------------------------------------------ */

struct scoped
{
  docker_client_t *docker;
  char label[64]; /* ecs-agent-c-test-run=<run> */
  bool untracked; /* between the untracked container list and the image list */
  char log[16384];
};

static void
slog (struct scoped *w, const char *what, const char *arg)
{
  size_t n = strlen (w->log);
  snprintf (w->log + n, sizeof w->log - n, "%s:%s ", what, arg ? arg : "");
}

#define D(ctx) (((struct scoped *) (ctx))->docker)
static void *
s_pull (void *ctx, const struct docker_pull_opts *o, docker_done_cb cb, void *data)
{
  return engine_docker_ops_default.pull (D (ctx), o, cb, data);
}
static void *
s_inspect_image (void *ctx, const char *i, docker_image_cb cb, void *data)
{
  return engine_docker_ops_default.inspect_image (D (ctx), i, cb, data);
}
static void *
s_create (void *ctx, const struct docker_create_opts *o, docker_create_cb cb, void *data)
{
  return engine_docker_ops_default.create (D (ctx), o, cb, data);
}
static void *
s_start (void *ctx, const char *id, const char *v, docker_done_cb cb, void *data)
{
  return engine_docker_ops_default.start (D (ctx), id, v, cb, data);
}
static void *
s_stop (void *ctx, const char *id, int g, docker_done_cb cb, void *data)
{
  return engine_docker_ops_default.stop (D (ctx), id, g, cb, data);
}
static void *
s_inspect (void *ctx, const char *id, docker_inspect_cb cb, void *data)
{
  struct scoped *w = ctx;
  if (w->untracked)
    slog (w, "inspect", id);
  return engine_docker_ops_default.inspect (D (ctx), id, cb, data);
}
static void *
s_remove (void *ctx, const char *id, docker_done_cb cb, void *data)
{
  return engine_docker_ops_default.remove (D (ctx), id, cb, data);
}
static void *
s_list (void *ctx, const char *f, docker_list_cb cb, void *data)
{
  struct scoped *w = ctx;
  if (f == NULL) /* the untracked step: only this run's containers */
    {
      w->untracked = true;
      slog (w, "clist", NULL);
      f = w->label;
    }
  return engine_docker_ops_default.list_by_label (D (ctx), f, cb, data);
}
static void *
s_vcreate (void *ctx, const char *n, const struct docker_label *l, size_t nl, docker_volume_cb cb, void *data)
{
  return engine_docker_ops_default.volume_create (D (ctx), n, l, nl, cb, data);
}
static void *
s_vremove (void *ctx, const char *n, docker_done_cb cb, void *data)
{
  return engine_docker_ops_default.volume_remove (D (ctx), n, cb, data);
}
static void *
s_image_remove (void *ctx, const char *image, docker_done_cb cb, void *data)
{
  slog (ctx, "rmi", image);
  return engine_docker_ops_default.image_remove (D (ctx), image, cb, data);
}
static void
s_cancel (void *ctx, void *h)
{
  engine_docker_ops_default.cancel (D (ctx), h);
}
static void *
s_events_start (void *ctx, const struct docker_events_opts *o)
{
  return engine_docker_ops_default.events_start (D (ctx), o);
}
static void
s_events_stop (void *ctx, void *st)
{
  engine_docker_ops_default.events_stop (D (ctx), st);
}
static void *
s_image_list (void *ctx, const char *f, docker_image_list_cb cb, void *data)
{
  struct scoped *w = ctx;
  w->untracked = false;
  slog (w, "ilist", NULL);
  return engine_docker_ops_default.image_list (D (ctx), f ? f : w->label, cb, data);
}
static void *
s_remove_idle (void *ctx, const char *id, docker_done_cb cb, void *data)
{
  slog (ctx, "rm", id);
  return engine_docker_ops_default.remove_idle (D (ctx), id, cb, data);
}
#undef D

static const struct engine_docker_ops scoped_ops = {
  .pull = s_pull, .inspect_image = s_inspect_image, .create = s_create, .start = s_start,
  .stop = s_stop, .inspect = s_inspect, .remove = s_remove, .list_by_label = s_list,
  .volume_create = s_vcreate, .volume_remove = s_vremove, .image_remove = s_image_remove,
  .cancel = s_cancel, .events_start = s_events_start, .events_stop = s_events_stop,
  .image_list = s_image_list, .remove_idle = s_remove_idle,
};

/* One line of a shell command's output (trimmed), "" on failure. */
static void
sh_line (const char *cmd, char *out, size_t n)
{
  out[0] = '\0';
  FILE *p = popen (cmd, "r");
  if (p)
    {
      if (!fgets (out, (int) n, p))
        out[0] = '\0';
      pclose (p);
    }
  out[strcspn (out, "\n")] = '\0';
}

static bool
container_present (const char *id)
{
  cleanup_free char *cmd = xasprintf ("docker container inspect %s >/dev/null 2>&1", id);
  return system (cmd) == 0;
}

struct count_in_log
{
  struct scoped *w;
  const char *what;
  int n;
};

static bool
log_count_pred (struct it *x, void *data)
{
  (void) x;
  struct count_in_log *c = data;
  int n = 0;
  for (const char *p = c->w->log; (p = strstr (p, c->what)); p++)
    n++;
  return n >= c->n;
}

/* Untracked containers and images (labelled with this run) go as upstream
   orders it; tracked, excluded, too young and running ones stay. */
static void
test_untracked_cleanup_real (void **st)
{
  struct it *x = *st;
  struct scoped w = { .docker = x->docker };
  snprintf (w.label, sizeof w.label, "ecs-agent-c-test-run=%s", x->run);
  x->ops = &scoped_ops;
  x->ops_ctx = &w;
  /* images of distinct sizes, each labelled with this run: small (one tag),
     multi (two tags, middle size), big (one tag), excluded (smallest, its
     tag excluded), tracked (a task runs it) */
  cleanup_free char *repo = xasprintf ("ecs-agent-c-test/untracked-%s", x->run);
  x->extra_cleanup = xasprintf ("docker rmi -f %s:small %s:multi %s:multi2 %s:big %s:excluded %s:tracked >/dev/null 2>&1; true",
                                repo, repo, repo, repo, repo, repo);
  cleanup_free char *build = xasprintf (
      "set -e; b() { printf 'FROM %s\\nLABEL ecs-agent-c-test=1 ecs-agent-c-test-run=%s v=%s-'$1'\\n"
      "RUN head -c '$2' /dev/zero > /pad\\n' | docker build -q -t %s:$1 - >/dev/null 2>&1; };"
      "b small 20000; b multi 200000; b big 900000; b excluded 1000; b tracked 5000;"
      "docker tag %s:multi %s:multi2",
      x->image, x->run, x->run, repo, repo, repo);
  assert_int_equal (system (build), 0);
  char small_id[128], big_id[128];
  cleanup_free char *q1 = xasprintf ("docker image inspect -f '{{.Id}}' %s:small", repo);
  cleanup_free char *q2 = xasprintf ("docker image inspect -f '{{.Id}}' %s:big", repo);
  sh_line (q1, small_id, sizeof small_id);
  sh_line (q2, big_id, sizeof big_id);
  assert_true (small_id[0] && big_id[0]);
  /* untracked containers: exited, created (never started), running */
  char exited[128], created[128], running[128];
  cleanup_free char *c1 = xasprintf ("docker run --label ecs-agent-c-test=1 --label %s %s true >/dev/null 2>&1;"
                                     "docker ps -aq --no-trunc --filter label=%s --filter status=exited | head -1",
                                     w.label, x->image, w.label);
  sh_line (c1, exited, sizeof exited);
  cleanup_free char *c2 = xasprintf ("docker create --label ecs-agent-c-test=1 --label %s %s true", w.label, x->image);
  sh_line (c2, created, sizeof created);
  cleanup_free char *c3 = xasprintf ("docker run -d --label ecs-agent-c-test=1 --label %s %s sleep 300", w.label, x->image);
  sh_line (c3, running, sizeof running);
  assert_true (exited[0] && created[0] && running[0]);

  cleanup_free char *excluded = xasprintf ("%s:excluded", repo);
  char *exclude[] = { excluded, x->image };
  struct config_images ci = { .cleanup_enabled = true, .cleanup_interval_ms = 300, .min_cleanup_age_ms = 3600 * 1000,
                              .images_per_cycle = 1, .exclude = exclude, .n_exclude = 2,
                              .untracked_cleanup = true, .nonecs_min_age_ms = 3600 * 1000,
                              .nonecs_containers_per_cycle = 5 };
  x->images = &ci;
  x->cleanup_ms = 500; /* the untracked containers' wait too */

  /* 1: images younger than the non-ECS minimum age stay; the exited and
     the created containers go, the running one and the task's stay */
  it_engine_up (x);
  cleanup_free char *ta = arn (x, "tracked");
  cleanup_free char *ja = xasprintf ("{\"arn\":\"%s\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\","
                                     "\"image\":\"%s:tracked\",\"essential\":true,\"command\":[\"sleep\",\"300\"]}]}", ta, repo);
  it_add (x, ja);
  assert_true (it_wait_task (x, ta, TASK_STATUS_RUNNING, 60000));
  const char *task_ctr = it_task (x, ta)->containers[0].docker_id;
  assert_non_null (task_ctr);
  struct count_in_log cycles = { &w, "ilist:", 3 };
  assert_true (it_wait_until (x, log_count_pred, &cycles, 30000));
  assert_false (container_present (exited));
  assert_false (container_present (created));
  assert_true (container_present (running));
  assert_true (container_present (task_ctr));
  assert_null (strstr (w.log, "rmi:")); /* nothing old enough */
  assert_null (strstr (w.log, task_ctr)); /* the task's container never inspected or removed */
  cleanup_free char *rm_running = xasprintf ("rm:%s", running);
  assert_null (strstr (w.log, rm_running));
  it_engine_down (x);

  /* 2: no minimum age, one image per cycle (budget 1 each: nothing tracked
     goes): smallest first, a two-tag image by each tag, then the biggest;
     the excluded and the tracked images stay */
  ci.nonecs_min_age_ms = 0;
  w.log[0] = '\0';
  it_state_up (x);
  it_engine_up (x);
  struct count_in_log big_gone = { &w, "rmi:", 4 };
  assert_true (it_wait_until (x, log_count_pred, &big_gone, 30000));
  struct count_in_log more = { &w, "ilist:", 6 };
  assert_true (it_wait_until (x, log_count_pred, &more, 30000)); /* later cycles: nothing else */
  /* the image list of each cycle and the removals, in order */
  char seq[4096] = "";
  for (char *tok = w.log; *tok;)
    {
      size_t len = strcspn (tok, " ");
      if (!strncmp (tok, "ilist:", 6) || !strncmp (tok, "rmi:", 4))
        snprintf (seq + strlen (seq), sizeof seq - strlen (seq), "%.*s ", (int) len, tok);
      tok += len;
      tok += *tok == ' ';
    }
  cleanup_free char *want = xasprintf ("ilist: rmi:%s ilist: rmi:%s:multi rmi:%s:multi2 ilist: rmi:%s ilist: ilist: ilist: ",
                                       small_id, repo, repo, big_id);
  if (strncmp (seq, want, strlen (want)) != 0)
    fail_msg ("calls: %s\nwanted: %s", seq, want);
  assert_null (strstr (seq + strlen (want), "rmi:")); /* later cycles: nothing else */
  cleanup_free char *img_small = xasprintf ("%s:small", repo), *img_multi = xasprintf ("%s:multi", repo),
                    *img_big = xasprintf ("%s:big", repo), *img_tracked = xasprintf ("%s:tracked", repo);
  assert_false (image_present (img_small));
  assert_false (image_present (img_multi));
  assert_false (image_present (img_big));
  assert_true (image_present (excluded));
  assert_true (image_present (img_tracked));
  assert_true (image_present (x->image));
  it_engine_down (x);
  x->ops = NULL;
  x->ops_ctx = NULL;
}

int
main (void)
{
  log_set_level (LOG_WARN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_image_cleanup_real, it_setup, it_teardown),
    cmocka_unit_test_setup_teardown (test_untracked_cleanup_real, it_setup, it_teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
