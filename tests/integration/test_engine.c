/* Integration tests of the task engine against the real Docker engine:
 * upstream fixture tasks run to completion, a linked web + client pair,
 * host + empty volumes shared between containers, dynamic host ports,
 * essential / non-essential exits, stopping a running task, cleanup.
 * Everything carries ecs-agent-c-test=1 and a per-run label; teardown
 * removes this run's containers and volumes, also after a failure. */
#include "test_engine_itest.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include "docker/auth.h"

static char *
arn (struct it *x, const char *name)
{
  return xasprintf ("arn:aws:ecs:us-west-2:123456789012:task/itest-%s-%s", x->run, name);
}

static void
replace_images (struct task *t, const char *image)
{
  for (size_t i = 0; i < t->n_containers; i++)
    {
      free (t->containers[i].image);
      t->containers[i].image = xstrdup (image);
    }
}

/* The upstream engine fixtures (internal task format), image swapped for
   the local test image, unique ARNs: all run and finish with exit 0. */
static void
test_upstream_fixture_tasks (void **st)
{
  struct it *x = *st;
  it_engine_up (x);
  const char *files[] = { "fixtures/agent-1.1.0/engine/testdata/test_tasks/sleep5.json",
                          "samples/sleep5TwoContainers.json__task-sleep5-two-containers.json",
                          "samples/sleep5PortMappings.json__task-sleep5-port-mappings.json" };
  char *arns[3] = { 0 };
  for (size_t i = 0; i < ARRAY_SIZE (files); i++)
    {
      json_t *j = teu_load_protocol_json (files[i]);
      if (!j)
        fail_msg ("fixture %s not found (SHARED_DIR)", files[i]);
      struct task *t = NULL;
      agent_error_t err = NULL;
      if (state_task_from_json (j, &t, &err) < 0)
        fail_msg ("%s: %s", files[i], error_msg (&err));
      json_decref (j);
      replace_images (t, x->image);
      arns[i] = xasprintf ("%s-%zu", t->arn, i);
      free (t->arn);
      t->arn = arn (x, strrchr (arns[i], '/') + 1);
      free (arns[i]);
      arns[i] = xstrdup (t->arn);
      assert_int_equal (engine_task_add (x->e, t, &err), 0);
    }
  for (size_t i = 0; i < ARRAY_SIZE (files); i++)
    assert_true (it_wait_task (x, arns[i], TASK_STATUS_RUNNING, 30000));
  /* sleep5 with a dynamic port: Docker chose a host port. */
  const struct task *pm = it_task (x, arns[2]);
  assert_int_equal (pm->containers[0].n_known_bindings >= 1, 1);
  assert_int_equal (pm->containers[0].known_bindings[0].container_port, 8080);
  assert_true (pm->containers[0].known_bindings[0].host_port > 0);
  for (size_t i = 0; i < ARRAY_SIZE (files); i++)
    {
      assert_true (it_wait_task (x, arns[i], TASK_STATUS_STOPPED, 30000));
      const struct task *t = it_task (x, arns[i]);
      for (size_t k = 0; k < t->n_containers; k++)
        {
          assert_int_equal (t->containers[k].known_status, TASK_STATUS_STOPPED);
          assert_true (t->containers[k].has_exit_code);
          assert_int_equal (t->containers[k].exit_code, 0);
          assert_null (t->containers[k].reason);
        }
      free (arns[i]);
    }
  /* The queue holds, per container, RUNNING then STOPPED (exit 0) and the
     task's RUNNING then STOPPED after its containers'. */
  size_t n = state_change_count (x->state);
  assert_int_equal (n, 2 * 4 + 2 * 3);
}

static void
test_linked_pair (void **st)
{
  struct it *x = *st;
  it_engine_up (x);
  cleanup_free char *a = arn (x, "linked");
  cleanup_free char *json = xasprintf (
      "{\"arn\":\"%s\",\"family\":\"linked\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":["
      "{\"name\":\"web\",\"image\":\"%s\",\"essential\":false,\"memory\":32,\"cpu\":1,"
      " \"command\":[\"sh\",\"-c\",\"mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www\"]},"
      "{\"name\":\"client\",\"image\":\"%s\",\"essential\":true,\"links\":[\"web:webalias\"],"
      " \"environment\":{\"TARGET\":\"webalias\"},"
      " \"command\":[\"sh\",\"-c\",\"for i in $(seq 1 50); do wget -q -O - http://$TARGET/ | grep -q hello-from-web && exit 0; sleep 0.2; done; exit 1\"]}]}",
      a, x->image, x->image);
  it_add (x, json);
  assert_true (it_wait_task (x, a, TASK_STATUS_STOPPED, 60000));
  const struct task *t = it_task (x, a);
  const struct task_container *client = task_find_container (t, "client");
  const struct task_container *web = task_find_container (t, "web");
  assert_true (client->has_exit_code);
  assert_int_equal (client->exit_code, 0); /* reached web by its alias */
  /* Essential client exited -> web stopped by the engine. */
  assert_int_equal (web->known_status, TASK_STATUS_STOPPED);
  assert_true (web->exit_code == 137 || web->exit_code == 143);
}

static void
test_volumes (void **st)
{
  struct it *x = *st;
  x->cleanup_ms = 1500;
  it_engine_up (x);
  cleanup_free char *hostdir = xasprintf ("%s/hostvol", x->dir);
  assert_int_equal (mkdir (hostdir, 0777), 0);
  cleanup_free char *a = arn (x, "volumes");
  cleanup_free char *json = xasprintf (
      "{\"arn\":\"%s\",\"family\":\"vols\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
      "\"volumes\":[{\"name\":\"host\",\"host\":{\"sourcePath\":\"%s\"}},{\"name\":\"scratch\",\"host\":{}}],"
      "\"containers\":["
      "{\"name\":\"writer\",\"image\":\"%s\",\"essential\":false,"
      " \"mountPoints\":[{\"sourceVolume\":\"host\",\"containerPath\":\"/host\"},{\"sourceVolume\":\"scratch\",\"containerPath\":\"/scratch\"}],"
      " \"command\":[\"sh\",\"-c\",\"echo data-host > /host/f && echo data-empty > /scratch/f && touch /scratch/done\"]},"
      "{\"name\":\"reader\",\"image\":\"%s\",\"essential\":true,"
      " \"volumesFrom\":[{\"sourceContainer\":\"writer\",\"readOnly\":true}],"
      " \"command\":[\"sh\",\"-c\",\"for i in $(seq 1 100); do [ -f /scratch/done ] && break; sleep 0.1; done; "
      "grep -q data-host /host/f && grep -q data-empty /scratch/f && ! touch /scratch/ro-check 2>/dev/null\"]}]}",
      a, hostdir, x->image, x->image);
  it_add (x, json);
  assert_true (it_wait_task (x, a, TASK_STATUS_STOPPED, 60000));
  const struct task *t = it_task (x, a);
  const struct task_container *writer = task_find_container (t, "writer");
  const struct task_container *reader = task_find_container (t, "reader");
  assert_int_equal (writer->exit_code, 0);
  assert_int_equal (reader->exit_code, 0); /* saw both files; volumesFrom read-only */
  cleanup_free char *vol = xstrdup (t->volumes[1].docker_name);
  /* The host volume really is the host directory. */
  cleanup_free char *hf = xasprintf ("%s/f", hostdir);
  char *content = NULL;
  size_t len;
  agent_error_t err = NULL;
  assert_int_equal (util_read_file (hf, &content, &len, &err), 0);
  assert_string_equal (content, "data-host\n");
  free (content);
  char cmd[256];
  snprintf (cmd, sizeof cmd, "docker volume inspect %s >/dev/null 2>&1", vol);
  assert_int_equal (system (cmd), 0);
  /* Cleanup after the wait: containers and the empty volume are removed. */
  uint64_t deadline = util_now_ms () + 30000;
  while (engine_task_count (x->e) > 0 && util_now_ms () < deadline)
    uv_run (&x->loop, UV_RUN_ONCE);
  assert_int_equal (engine_task_count (x->e), 0);
  assert_int_equal (it_count_containers (x, a, NULL), 0);
  assert_true (system (cmd) != 0);
}

static int
tcp_connect (uint16_t port)
{
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (port) };
  sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  int rc = connect (fd, (struct sockaddr *) &sa, sizeof sa);
  close (fd);
  return rc;
}

static bool
port_open (struct it *x, void *data)
{
  (void) x;
  return tcp_connect (*(uint16_t *) data) == 0;
}

static void
test_dynamic_port (void **st)
{
  struct it *x = *st;
  it_engine_up (x);
  cleanup_free char *a = arn (x, "port");
  cleanup_free char *json = xasprintf (
      "{\"arn\":\"%s\",\"family\":\"port\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":["
      "{\"name\":\"web\",\"image\":\"%s\",\"essential\":true,\"portMappings\":[{\"containerPort\":80,\"hostPort\":0}],"
      " \"command\":[\"httpd\",\"-f\",\"-p\",\"80\",\"-h\",\"/\"]}]}",
      a, x->image);
  it_add (x, json);
  assert_true (it_wait_task (x, a, TASK_STATUS_RUNNING, 30000));
  const struct task *t = it_task (x, a);
  const struct task_container *c = &t->containers[0];
  assert_true (c->n_known_bindings >= 1);
  uint16_t hp = 0;
  for (size_t i = 0; i < c->n_known_bindings; i++)
    if (c->known_bindings[i].container_port == 80 && strcmp (c->known_bindings[i].bind_ip, "0.0.0.0") == 0)
      hp = c->known_bindings[i].host_port;
  assert_true (hp > 0);
  /* The RUNNING change reports the same binding. */
  const struct state_change *ch = state_change_peek (x->state, 0);
  assert_string_equal (ch->status, "RUNNING");
  assert_true (ch->n_bindings >= 1);
  assert_int_equal (ch->bindings[0].host_port, hp);
  /* And Docker really listens there. */
  assert_true (it_wait_until (x, port_open, &hp, 5000));
  /* Stop the running task: exit 137 (SIGKILL after the grace) or 143 (SIGTERM). */
  cleanup_free char *stop = xasprintf ("{\"arn\":\"%s\",\"desiredStatus\":\"STOPPED\"}", a);
  it_add (x, stop);
  assert_true (it_wait_task (x, a, TASK_STATUS_STOPPED, 30000));
  c = &it_task (x, a)->containers[0];
  assert_true (c->exit_code == 137 || c->exit_code == 143);
  const struct state_change *last = state_change_peek (x->state, state_change_count (x->state) - 1);
  assert_int_equal (last->kind, STATE_CHANGE_TASK);
  assert_string_equal (last->status, "STOPPED");
}

/* An essential container exiting stops its task (the others get stopped);
   a non-essential one exiting does not. */
static void
test_essential_semantics (void **st)
{
  struct it *x = *st;
  it_engine_up (x);
  cleanup_free char *a = arn (x, "ess");
  cleanup_free char *b = arn (x, "noness");
  cleanup_free char *ja = xasprintf (
      "{\"arn\":\"%s\",\"family\":\"ess\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":["
      "{\"name\":\"quitter\",\"image\":\"%s\",\"essential\":true,\"command\":[\"sh\",\"-c\",\"sleep 1; exit 3\"]},"
      "{\"name\":\"sleeper\",\"image\":\"%s\",\"essential\":false,\"command\":[\"sleep\",\"300\"]}]}",
      a, x->image, x->image);
  cleanup_free char *jb = xasprintf (
      "{\"arn\":\"%s\",\"family\":\"noness\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":["
      "{\"name\":\"quitter\",\"image\":\"%s\",\"essential\":false,\"command\":[\"sh\",\"-c\",\"exit 5\"]},"
      "{\"name\":\"sleeper\",\"image\":\"%s\",\"essential\":true,\"command\":[\"sleep\",\"300\"]}]}",
      b, x->image, x->image);
  it_add (x, ja);
  it_add (x, jb);
  assert_true (it_wait_task (x, a, TASK_STATUS_STOPPED, 60000));
  const struct task *t = it_task (x, a);
  assert_int_equal (task_find_container (t, "quitter")->exit_code, 3);
  int sx = task_find_container (t, "sleeper")->exit_code;
  assert_true (sx == 137 || sx == 143);
  /* Non-essential quitter: exit 5 recorded, task still RUNNING. */
  /* (the essential rule runs in the same loop turn that records the exit) */
  assert_true (it_wait_container (x, b, "quitter", TASK_STATUS_STOPPED, 30000));
  t = it_task (x, b);
  assert_int_equal (task_find_container (t, "quitter")->exit_code, 5);
  assert_int_equal (t->known_status, TASK_STATUS_RUNNING);
  assert_int_equal (task_find_container (t, "sleeper")->known_status, TASK_STATUS_RUNNING);
  assert_int_equal (it_count_containers (x, b, "--filter status=running"), 1);
  cleanup_free char *stop = xasprintf ("{\"arn\":\"%s\",\"desiredStatus\":\"STOPPED\"}", b);
  it_add (x, stop);
  assert_true (it_wait_task (x, b, TASK_STATUS_STOPPED, 30000));
  sx = task_find_container (it_task (x, b), "sleeper")->exit_code;
  assert_true (sx == 137 || sx == 143);
}

/* Docker errors become reasons: an image that exists nowhere. */
static void
test_missing_image (void **st)
{
  struct it *x = *st;
  it_engine_up (x);
  cleanup_free char *a = arn (x, "noimage");
  cleanup_free char *json = xasprintf (
      "{\"arn\":\"%s\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\","
      "\"image\":\"ecs-agent-c-test/does-not-exist-%s:latest\",\"essential\":true}]}",
      a, x->run);
  it_add (x, json);
  assert_true (it_wait_task (x, a, TASK_STATUS_STOPPED, 60000));
  const struct task_container *c = &it_task (x, a)->containers[0];
  assert_non_null (c->reason);
  assert_int_equal (strncmp (c->reason, "CannotPullContainerError: ", 26), 0);
  assert_int_equal (it_count_containers (x, a, NULL), 0);
}

/* Pull from the private registry (tests/lib/registry.sh) with credentials
   from ECS_ENGINE_AUTH_DATA-style config: right credentials -> pulled and
   running; wrong ones -> CannotPullContainerError, nothing created.  Uses
   its own repository name so nothing else is disturbed. */
static void
test_registry_pull_with_auth (void **st)
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
    {
      error_free (&err);
      print_message ("no private registry (tests/lib/registry.sh): skipping\n");
      skip ();
    }
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
  cleanup_free char *image = xasprintf ("127.0.0.1:%s/ecs-agent-c-test/engine-%s:v1", port, x->run);
  cleanup_free char *push = xasprintf (
      "set -e; d=$(mktemp -d); export DOCKER_CONFIG=$d; echo '%s' | docker login -u '%s' --password-stdin 127.0.0.1:%s >/dev/null 2>&1;"
      "docker tag %s %s; docker push %s >/dev/null 2>&1; docker rmi %s >/dev/null; rm -rf $d",
      password, user, port, x->image, image, image, image);
  assert_int_equal (system (push), 0);
  x->extra_cleanup = xasprintf ("docker rmi -f %s >/dev/null 2>&1; true", image);

  /* Wrong password first (the image is nowhere locally). */
  cleanup_free char *bad = xasprintf ("{\"127.0.0.1:%s\":{\"username\":\"%s\",\"password\":\"wrong\"}}", port, user);
  struct docker_auth_config *cfg = NULL;
  assert_int_equal (docker_auth_parse ("docker", bad, &cfg, &err), 0);
  x->auth = cfg;
  it_engine_up (x);
  cleanup_free char *a1 = arn (x, "reg-bad");
  cleanup_free char *j1 = xasprintf ("{\"arn\":\"%s\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\","
                                     "\"image\":\"%s\",\"essential\":true,\"command\":[\"sleep\",\"300\"]}]}", a1, image);
  it_add (x, j1);
  assert_true (it_wait_task (x, a1, TASK_STATUS_STOPPED, 60000));
  const struct task_container *c = &it_task (x, a1)->containers[0];
  assert_int_equal (strncmp (c->reason, "CannotPullContainerError: ", 26), 0);
  assert_null (strstr (c->reason, "wrong")); /* never the credentials */
  assert_int_equal (it_count_containers (x, a1, NULL), 0);
  it_engine_down (x);
  docker_auth_config_free (cfg);

  /* Right credentials. */
  cleanup_free char *good = xasprintf ("{\"127.0.0.1:%s\":{\"username\":\"%s\",\"password\":\"%s\"}}", port, user, password);
  assert_int_equal (docker_auth_parse ("docker", good, &cfg, &err), 0);
  x->auth = cfg;
  it_state_up (x);
  it_engine_up (x);
  cleanup_free char *a2 = arn (x, "reg-good");
  cleanup_free char *j2 = xasprintf ("{\"arn\":\"%s\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\","
                                     "\"image\":\"%s\",\"essential\":true,\"command\":[\"sleep\",\"300\"]}]}", a2, image);
  it_add (x, j2);
  assert_true (it_wait_task (x, a2, TASK_STATUS_RUNNING, 60000));
  assert_null (it_task (x, a2)->containers[0].reason);
  cleanup_free char *check = xasprintf ("docker image inspect %s >/dev/null 2>&1", image);
  assert_int_equal (system (check), 0);
  it_engine_down (x);
  docker_auth_config_free (cfg);
  x->auth = NULL;
}

int
main (void)
{
  log_set_level (LOG_WARN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_upstream_fixture_tasks, it_setup, it_teardown),
    cmocka_unit_test_setup_teardown (test_linked_pair, it_setup, it_teardown),
    cmocka_unit_test_setup_teardown (test_volumes, it_setup, it_teardown),
    cmocka_unit_test_setup_teardown (test_dynamic_port, it_setup, it_teardown),
    cmocka_unit_test_setup_teardown (test_essential_semantics, it_setup, it_teardown),
    cmocka_unit_test_setup_teardown (test_missing_image, it_setup, it_teardown),
    cmocka_unit_test_setup_teardown (test_registry_pull_with_auth, it_setup, it_teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
