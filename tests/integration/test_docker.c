/* test_docker.c - the Docker client against the real Docker Engine
 * (test_docker_fixture.h): ping and version negotiation, a container's
 * lifecycle, create errors and kill, volumes.  Events and an
 * unreachable daemon: test_docker_events.c; pulls: test_docker_pull.c.
 *
 * Expects:
 *  - a Docker daemon at $DOCKER_HOST (default unix:///var/run/docker.sock);
 *  - the test image: $TEST_IMAGE, else `tests/lib/test-image.sh` is run
 *    (from the repo root) to build/find ecs-agent-c-test/busybox:latest.
 * Every container / volume carries ecs-agent-c-test=1 plus a per-run label
 * ecs-agent-c-test-run=<random>; teardown removes (only) this run's objects,
 * also after a failure.  Other containers on the engine are tolerated.
 * Each test runs its own uv loop and checks that every handle was closed.
 */
#include "test_docker_fixture.h"

/* ---- tests ------------------------------------------------------------- */

static void
info_cb (const struct docker_info *i, agent_error_t err, void *data)
{
  struct res *r = data;
  if (i)
    {
      r->version = xstrdup (i->server_version ? i->server_version : "?");
      r->exit_code = (int) i->containers;
    }
  res_err (r, err);
}

static void
test_ping_version_negotiation (void **state)
{
  struct it *x = *state;
  struct res r = { 0 };
  assert_null (docker_client_api_version (x->c));
  docker_ping (x->c, res_done_cb, &r);
  assert_false (r.done); /* never called from inside the call */
  WAIT_RES (&x->l, &r, 10000);
  ASSERT_OK (&r);

  res_reset (&r);
  docker_version (x->c, res_version_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  ASSERT_OK (&r);
  assert_non_null (r.api);
  const char *neg = docker_client_api_version (x->c);
  assert_non_null (neg);
  /* min(daemon, ours), never below the daemon's minimum */
  if (docker_api_version_cmp (r.api, DOCKER_API_MAX) <= 0)
    assert_string_equal (neg, r.api);
  else
    assert_string_equal (neg, DOCKER_API_MAX);
  assert_true (docker_api_version_cmp (neg, r.min_api) >= 0);
  printf ("# daemon %s API %s (min %s): using %s\n", r.version, r.api, r.min_api, neg);
  res_reset (&r);

  /* a fresh client negotiates by itself before its first versioned call */
  agent_error_t err = NULL;
  docker_client_t *c2 = docker_client_new (&x->l.loop, getenv ("DOCKER_HOST"), &err);
  assert_non_null (c2);
  struct res a = { 0 }, b = { 0 };
  docker_container_list (c2, x->label_run, res_list_cb, &a);
  docker_container_list (c2, NULL, res_list_cb, &b);
  WAIT_RES (&x->l, &a, 10000);
  WAIT_RES (&x->l, &b, 10000);
  ASSERT_OK (&a);
  ASSERT_OK (&b);
  assert_int_equal (a.n_items, 0);
  assert_string_equal (docker_client_api_version (c2), neg);
  res_reset (&a);
  res_reset (&b);
  docker_client_free (c2);

  /* info */
  docker_info (x->c, info_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  ASSERT_OK (&r);
  assert_non_null (r.version);
  printf ("# info: server %s, %d containers\n", r.version, r.exit_code);
  res_reset (&r);
  docker_info (x->c, NULL, NULL); /* fire and forget, NULL cb tolerated */
  WAIT_FOR (&x->l, docker_client_active (x->c) == 0, 10000);
}

static void
test_container_lifecycle (void **state)
{
  struct it *x = *state;
  struct res r = { 0 };
  struct docker_label labels[3];
  labels_for (x, labels);
  labels[2] = (struct docker_label){ "com.example.k", "v=1" };

  char path[128];
  snprintf (path, sizeof path, "%s/f", x->tmpdir);
  assert_int_equal (util_write_file_atomic (path, "hello\n", 6, 0644, NULL), 0);
  char bind_rw[160], bind_ro[160];
  snprintf (bind_ro, sizeof bind_ro, "%s:/data:ro", x->tmpdir);
  snprintf (bind_rw, sizeof bind_rw, "%s:/rw", x->tmpdir);

  uint16_t fixed = free_tcp_port ();
  struct docker_port_spec ports[] = {
    { .container_port = 80, .host_port = 0 },                          /* Docker picks */
    { .container_port = 8080, .host_port = fixed, .host_ip = "127.0.0.1" },
    { .container_port = 53, .proto = "udp", .host_port = 0 },
    { .container_port = 9999, .expose_only = true },
  };
  char name_a[64], name_b[64];
  snprintf (name_a, sizeof name_a, "ecs-agent-c-test-%s-a", x->run);
  snprintf (name_b, sizeof name_b, "ecs-agent-c-test-%s-b", x->run);

  /* A: web server, anonymous volume /vol written for B */
  const char *cmd_a[] = { "sh", "-c",
                          "echo shared > /vol/f; httpd -p 8080 -h /www; exec httpd -f -p 80 -h /www",
                          NULL };
  const char *vols[] = { "/vol", NULL };
  const char *binds_a[] = { bind_rw, NULL };
  const char *env_a[] = { "A=1", NULL };
  struct docker_create_opts oa = {
    .name = name_a,
    .image = test_image (),
    .cmd = cmd_a,
    .env = env_a,
    .ports = ports,
    .n_ports = ARRAY_SIZE (ports),
    .volumes = vols,
    .binds = binds_a,
    .labels = labels,
    .n_labels = 3,
  };
  char *id_a = xstrdup (create_sync (x, &oa, &r));
  ASSERT_OK (&r);
  assert_true (strlen (id_a) == 64);

  /* same name again: 409 conflict with the daemon's message */
  create_sync (x, &oa, &r);
  assert_int_equal (r.kind, ERR_CONFLICT);
  assert_int_equal (r.status, 409);
  assert_non_null (strstr (r.msg, "already in use"));

  /* created: inspect says not running, exit code 0 */
  inspect_sync (x, id_a, &r);
  ASSERT_OK (&r);
  assert_false (r.running);
  assert_string_equal (r.state, "created");
  assert_string_equal (r.name, name_a);

  start_sync (x, id_a, &r);
  ASSERT_OK (&r);
  start_sync (x, name_a, &r); /* 304: already started = success */
  ASSERT_OK (&r);

  inspect_sync (x, id_a, &r);
  ASSERT_OK (&r);
  assert_true (r.running);
  assert_true (r.started_ns > 0);
  uint16_t hp80 = 0, hp8080 = 0, hp53 = 0;
  for (size_t k = 0; k < r.n_ports; k++)
    {
      /* IPv4 binding (Docker may give the IPv6 one another port) */
      if (r.ports[k].cport == 80 && strcmp (r.ports[k].proto, "tcp") == 0
          && strcmp (r.ports[k].ip, "0.0.0.0") == 0)
        hp80 = r.ports[k].hport;
      if (r.ports[k].cport == 8080)
        {
          hp8080 = r.ports[k].hport;
          assert_string_equal (r.ports[k].ip, "127.0.0.1");
        }
      if (r.ports[k].cport == 53)
        {
          assert_string_equal (r.ports[k].proto, "udp");
          hp53 = r.ports[k].hport;
        }
      assert_int_not_equal (r.ports[k].cport, 9999); /* exposed only */
    }
  assert_int_not_equal (hp80, 0);
  assert_int_equal (hp8080, fixed);
  assert_int_not_equal (hp53, 0);
  bool l1 = false, l2 = false, l3 = false;
  for (size_t k = 0; k < r.n_labels; k++)
    {
      l1 |= strcmp (r.labels[k], "ecs-agent-c-test=1") == 0;
      l2 |= strncmp (r.labels[k], "ecs-agent-c-test-run=", 21) == 0;
      l3 |= strcmp (r.labels[k], "com.example.k=v=1") == 0;
    }
  assert_true (l1 && l2 && l3);
  bool m_vol = false, m_rw = false;
  for (size_t k = 0; k < r.n_mounts; k++)
    {
      m_vol |= strcmp (r.mounts[k].dst, "/vol") == 0;
      if (strcmp (r.mounts[k].dst, "/rw") == 0)
        m_rw = r.mounts[k].rw && strcmp (r.mounts[k].src, x->tmpdir) == 0;
    }
  assert_true (m_vol && m_rw);

  /* the Docker-chosen port and the fixed one really serve */
  char url[128];
  snprintf (url, sizeof url, "http://127.0.0.1:%u/index.html", hp80);
  char *body = http_get_until (&x->l, url, 30000);
  assert_non_null (body);
  assert_string_equal (body, "ecs-agent-c-test\n");
  free (body);
  snprintf (url, sizeof url, "http://127.0.0.1:%u/index.html", fixed);
  body = http_get_until (&x->l, url, 30000);
  assert_non_null (body);
  free (body);

  /* B: checks env, ro bind, link alias, volumes-from, memory; exits 7 if all good */
  const char *cmd_b[] = {
    "sh", "-c",
    "[ \"$FOO\" = 'bar baz' ] || exit 11; "
    "[ \"$(cat /data/f)\" = hello ] || exit 12; "
    "grep -q web /etc/hosts || exit 13; "
    "i=0; while [ ! -s /vol/f ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; "
    "[ \"$(cat /vol/f)\" = shared ] || exit 14; "
    "m=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max); "
    "[ \"$m\" = 67108864 ] || exit 15; "
    "touch /data/x 2>/dev/null && exit 16; "
    "wget -q -O - http://web/index.html | grep -q ecs-agent-c-test || exit 17; "
    "exit 7",
    NULL
  };
  char link[96], vfrom[96];
  snprintf (link, sizeof link, "%s:web", name_a);
  snprintf (vfrom, sizeof vfrom, "%s:ro", name_a);
  const char *links[] = { link, NULL };
  const char *vf[] = { vfrom, NULL };
  const char *binds_b[] = { bind_ro, NULL };
  const char *env_b[] = { "FOO=bar baz", NULL };
  const char *ep[] = { NULL }; /* empty entrypoint: not sent */
  struct docker_create_opts ob = {
    .name = name_b,
    .image = test_image (),
    .cmd = cmd_b,
    .entrypoint = ep,
    .env = env_b,
    .links = links,
    .binds = binds_b,
    .volumes_from = vf,
    .memory = 64 * 1024 * 1024,
    .cpu_shares = 512,
    .labels = labels,
    .n_labels = 2,
  };
  char *id_b = xstrdup (create_sync (x, &ob, &r));
  ASSERT_OK (&r);
  start_sync (x, id_b, &r);
  ASSERT_OK (&r);
  wait_exit (x, id_b, &r, 30000);
  assert_false (r.running);
  assert_int_equal (r.exit_code, 7);
  assert_true (r.finished_ns >= r.started_ns);

  /* stop A (grace 1 s), stop again = 304 success */
  res_reset (&r);
  docker_container_stop (x->c, id_a, 1, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 40000);
  ASSERT_OK (&r);
  inspect_sync (x, id_a, &r);
  assert_false (r.running);
  assert_string_equal (r.state, "exited");
  res_reset (&r);
  docker_container_stop (x->c, id_a, 1, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 40000);
  ASSERT_OK (&r);

  /* list by this run's label */
  res_reset (&r);
  docker_container_list (x->c, x->label_run, res_list_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  ASSERT_OK (&r);
  assert_int_equal (r.n_items, 2);

  /* remove (with volumes), then everything about it is 404 */
  res_reset (&r);
  docker_container_remove (x->c, id_b, true, false, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 60000);
  ASSERT_OK (&r);
  res_reset (&r);
  docker_container_remove (x->c, id_a, true, false, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 60000);
  ASSERT_OK (&r);
  inspect_sync (x, id_a, &r);
  assert_int_equal (r.kind, ERR_NOT_FOUND);
  assert_non_null (strstr (r.msg, "No such container"));
  res_reset (&r);
  docker_container_remove (x->c, id_a, true, false, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  assert_int_equal (r.kind, ERR_NOT_FOUND);
  start_sync (x, id_a, &r);
  assert_int_equal (r.kind, ERR_NOT_FOUND);

  res_reset (&r);
  free (id_a);
  free (id_b);
}

static void
test_create_errors_and_kill (void **state)
{
  struct it *x = *state;
  struct res r = { 0 };
  struct docker_label labels[2];
  labels_for (x, labels);

  /* unknown image: 404 with Docker's message */
  struct docker_create_opts o = {
    .image = "ecs-agent-c-test/no-such-image:nope",
    .labels = labels,
    .n_labels = 2,
  };
  create_sync (x, &o, &r);
  assert_int_equal (r.kind, ERR_NOT_FOUND);
  assert_non_null (strstr (r.msg, "No such image"));

  /* invalid extra config: ERR_INVALID, reported asynchronously */
  o.image = test_image ();
  o.extra_host_config_json = "[1]";
  create_sync (x, &o, &r);
  assert_int_equal (r.kind, ERR_INVALID);

  /* extra config overlay reaches Docker (Hostname): the container exits 0
     only if it sees it */
  const char *check[] = { "sh", "-c", "[ \"$(hostname)\" = overlay-host ]", NULL };
  o.cmd = check;
  o.extra_host_config_json = NULL;
  o.extra_config_json = "{\"Hostname\":\"overlay-host\"}";
  char *id = xstrdup (create_sync (x, &o, &r));
  ASSERT_OK (&r);
  start_sync (x, id, &r);
  ASSERT_OK (&r);
  wait_exit (x, id, &r, 10000);
  assert_false (r.running);
  assert_int_equal (r.exit_code, 0);
  res_reset (&r);
  docker_container_remove (x->c, id, true, true, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 30000);
  ASSERT_OK (&r);
  free (id);

  /* kill a running container */
  const char *cmd[] = { "sleep", "300", NULL };
  o.cmd = cmd;
  o.extra_config_json = NULL;
  id = xstrdup (create_sync (x, &o, &r));
  ASSERT_OK (&r);
  start_sync (x, id, &r);
  ASSERT_OK (&r);
  inspect_sync (x, id, &r);
  assert_true (r.running);

  res_reset (&r);
  docker_container_kill (x->c, id, NULL, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  ASSERT_OK (&r);
  wait_exit (x, id, &r, 10000);
  assert_false (r.running);
  assert_int_equal (r.exit_code, 137);

  /* kill a stopped container: 409 */
  res_reset (&r);
  docker_container_kill (x->c, id, "TERM", res_done_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  assert_int_equal (r.kind, ERR_CONFLICT);

  /* force remove */
  res_reset (&r);
  docker_container_remove (x->c, id, true, true, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 30000);
  ASSERT_OK (&r);

  /* bad arguments: async ERR_INVALID */
  res_reset (&r);
  docker_container_start (x->c, "", res_done_cb, &r);
  assert_false (r.done);
  WAIT_RES (&x->l, &r, 1000);
  assert_int_equal (r.kind, ERR_INVALID);

  /* image inspect */
  res_reset (&r);
  docker_image_inspect (x->c, test_image (), res_image_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  ASSERT_OK (&r);
  assert_non_null (strstr (r.id, "sha256:"));
  res_reset (&r);
  docker_image_inspect (x->c, "ecs-agent-c-test/no-such-image:nope", res_image_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  assert_int_equal (r.kind, ERR_NOT_FOUND);

  res_reset (&r);
  free (id);
}

static void
test_volumes (void **state)
{
  struct it *x = *state;
  struct res r = { 0 };
  struct docker_label labels[2];
  labels_for (x, labels);
  char name[64];
  snprintf (name, sizeof name, "ecs-agent-c-test-%s-vol", x->run);
  docker_volume_create (x->c, name, NULL, labels, 2, res_volume_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  ASSERT_OK (&r);
  assert_string_equal (r.id, name);
  assert_true (strlen (r.name) > 0); /* mountpoint */

  /* a container using it via a bind of the volume name */
  char bind[128];
  snprintf (bind, sizeof bind, "%s:/ev", name);
  const char *binds[] = { bind, NULL };
  const char *cmd[] = { "sh", "-c", "echo x > /ev/y", NULL };
  struct docker_create_opts o
      = { .image = test_image (), .cmd = cmd, .binds = binds, .labels = labels, .n_labels = 2 };
  char *id = xstrdup (create_sync (x, &o, &r));
  ASSERT_OK (&r);
  start_sync (x, id, &r);
  ASSERT_OK (&r);
  wait_exit (x, id, &r, 10000);
  assert_int_equal (r.exit_code, 0);

  /* in use: 409 */
  res_reset (&r);
  docker_volume_remove (x->c, name, false, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  assert_int_equal (r.kind, ERR_CONFLICT);

  res_reset (&r);
  docker_container_remove (x->c, id, false, false, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 30000);
  ASSERT_OK (&r);
  res_reset (&r);
  docker_volume_remove (x->c, name, false, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  ASSERT_OK (&r);
  res_reset (&r);
  docker_volume_remove (x->c, name, false, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  assert_int_equal (r.kind, ERR_NOT_FOUND);
  res_reset (&r);
  free (id);
}

int
main (void)
{
  log_init (LOG_WARN, NULL, NULL);
  curl_global_init (CURL_GLOBAL_DEFAULT);
  printf ("# test image: %s\n", test_image ());
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_ping_version_negotiation, setup, teardown),
    cmocka_unit_test_setup_teardown (test_container_lifecycle, setup, teardown),
    cmocka_unit_test_setup_teardown (test_create_errors_and_kill, setup, teardown),
    cmocka_unit_test_setup_teardown (test_volumes, setup, teardown),
  };
  int rc = cmocka_run_group_tests (tests, NULL, NULL);
  log_close ();
  curl_global_cleanup ();
  return rc;
}
