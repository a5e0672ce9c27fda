/* Integration test of the image records, automated image cleanup and
 * image pre-caching against the real Docker engine and the private
 * registry (tests/lib/registry.sh): three images of this run (distinct
 * ids) are pushed and removed locally, so the engine really pulls them.
 *   - a: its task exits; while the stopped task is not removed, cleanup
 *     cycles keep a; after a restart (records from the checkpoint) with a
 *     short cleanup wait the task is removed and the next cycle removes a;
 *   - b: its task keeps running: kept;
 *   - c: pre-cached at start (pulled without any task): kept;
 *   - an image the agent never pulled (untracked) is left alone. */
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

int
main (void)
{
  log_set_level (LOG_WARN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_image_cleanup_real, it_setup, it_teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
