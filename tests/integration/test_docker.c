/* test_docker.c - the Docker client against the real Docker Engine and a
 * real registry.
 *
 * Expects:
 *  - a Docker daemon at $DOCKER_HOST (default unix:///var/run/docker.sock);
 *  - the test image: $TEST_IMAGE, else `tests/lib/test-image.sh` is run
 *    (from the repo root) to build/find ecs-agent-c-test/busybox:latest;
 *  - for the pull tests, a registry started by `tests/lib/registry.sh start`
 *    whose info file is $REGISTRY_INFO (default
 *    /tmp/ecs-agent-c-test-registry/info); without it those tests skip.
 * Every container / volume carries ecs-agent-c-test=1 plus a per-run label
 * ecs-agent-c-test-run=<random>; teardown removes (only) this run's objects,
 * also after a failure.  Other containers on the engine are tolerated.
 * Each test runs its own uv loop and checks that every handle was closed.
 */
#include "test_docker_util.h"
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include "docker/auth.h"
#include "log/log.h"

struct it
{
  struct tloop l;
  docker_client_t *c;
  char run[17];
  char label_run[64];
  char tmpdir[64];
};

static char image[256];

static const char *
test_image (void)
{
  if (image[0])
    return image;
  const char *env = getenv ("TEST_IMAGE");
  if (env && *env)
    snprintf (image, sizeof image, "%s", env);
  else
    {
      FILE *p = popen ("sh tests/lib/test-image.sh 2>/dev/null || sh ../tests/lib/test-image.sh", "r");
      if (p)
        {
          if (!fgets (image, sizeof image, p))
            image[0] = '\0';
          pclose (p);
        }
      image[strcspn (image, "\n")] = '\0';
      if (!image[0])
        snprintf (image, sizeof image, "ecs-agent-c-test/busybox:latest");
    }
  return image;
}

static void
run_cleanup (const char *run)
{
  char cmd[512];
  snprintf (cmd, sizeof cmd,
            "ids=$(docker ps -aq --filter label=ecs-agent-c-test-run=%s); "
            "[ -z \"$ids\" ] || docker rm -fv $ids >/dev/null 2>&1; "
            "vs=$(docker volume ls -q --filter label=ecs-agent-c-test-run=%s); "
            "[ -z \"$vs\" ] || docker volume rm -f $vs >/dev/null 2>&1; true",
            run, run);
  if (system (cmd) != 0)
    fprintf (stderr, "cleanup command failed\n");
}

static int
setup (void **state)
{
  struct it *x = xcalloc (1, sizeof *x);
  tloop_init (&x->l);
  util_random_hex (x->run, 8);
  snprintf (x->label_run, sizeof x->label_run, "ecs-agent-c-test-run=%s", x->run);
  snprintf (x->tmpdir, sizeof x->tmpdir, "/tmp/ecs-agent-c-test-XXXXXX");
  if (!mkdtemp (x->tmpdir))
    return -1;
  agent_error_t err = NULL;
  x->c = docker_client_new (&x->l.loop, getenv ("DOCKER_HOST"), &err);
  if (!x->c)
    {
      fprintf (stderr, "docker_client_new: %s\n", error_msg (&err));
      return -1;
    }
  *state = x;
  return 0;
}

static int
teardown (void **state)
{
  struct it *x = *state;
  run_cleanup (x->run);
  docker_client_free (x->c);
  int r = tloop_close (&x->l);
  char cmd[128];
  snprintf (cmd, sizeof cmd, "rm -rf %s", x->tmpdir);
  if (system (cmd) != 0)
    fprintf (stderr, "rm failed\n");
  free (x);
  if (r != 0)
    fprintf (stderr, "uv loop still had open handles: leak\n");
  return r == 0 ? 0 : -1;
}

static void
labels_for (struct it *x, struct docker_label *l)
{
  l[0] = (struct docker_label){ "ecs-agent-c-test", "1" };
  l[1] = (struct docker_label){ "ecs-agent-c-test-run", x->run };
}

/* ---- small blocking wrappers ------------------------------------------ */

static char *
create_sync (struct it *x, struct docker_create_opts *o, struct res *r)
{
  res_reset (r);
  docker_container_create (x->c, o, res_create_cb, r);
  WAIT_RES (&x->l, r, 60000);
  return r->kind ? NULL : r->id;
}

static void
start_sync (struct it *x, const char *id, struct res *r)
{
  res_reset (r);
  docker_container_start (x->c, id, res_done_cb, r);
  WAIT_RES (&x->l, r, 60000);
}

static void
inspect_sync (struct it *x, const char *id, struct res *r)
{
  res_reset (r);
  docker_container_inspect (x->c, id, res_inspect_cb, r);
  WAIT_RES (&x->l, r, 15000);
}

/* Inspect until not running (or timeout); returns the last inspect. */
static void
wait_exit (struct it *x, const char *id, struct res *r, uint64_t timeout_ms)
{
  uint64_t end = util_now_ms () + timeout_ms;
  for (;;)
    {
      inspect_sync (x, id, r);
      ASSERT_OK (r);
      if (!r->running || util_now_ms () > end)
        return;
      tloop_poll_pause (&x->l, 100);
    }
}

static uint16_t
free_tcp_port (void)
{
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  assert_int_equal (bind (fd, (struct sockaddr *) &a, sizeof a), 0);
  assert_int_equal (getsockname (fd, (struct sockaddr *) &a, &len), 0);
  close (fd);
  return ntohs (a.sin_port);
}

static size_t
curl_sink (char *p, size_t s, size_t n, void *d)
{
  struct sbuf *b = d;
  sbuf_append (b, p, s * n);
  return s * n;
}

/* Blocking GET (test only), repeated until it answers 200 (the server in
   the container starts) or timeout_ms pass; the loop runs between tries. */
static char *
http_get_until (struct tloop *l, const char *url, uint64_t timeout_ms)
{
  uint64_t end = util_now_ms () + timeout_ms;
  for (;;)
    {
      struct sbuf b = { 0 };
      CURL *e = curl_easy_init ();
      curl_easy_setopt (e, CURLOPT_URL, url);
      curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, curl_sink);
      curl_easy_setopt (e, CURLOPT_WRITEDATA, &b);
      curl_easy_setopt (e, CURLOPT_TIMEOUT, 2L);
      CURLcode rc = curl_easy_perform (e);
      long st = 0;
      curl_easy_getinfo (e, CURLINFO_RESPONSE_CODE, &st);
      curl_easy_cleanup (e);
      if (rc == CURLE_OK && st == 200)
        return sbuf_steal (&b);
      sbuf_free (&b);
      if (util_now_ms () > end)
        return NULL;
      tloop_poll_pause (l, 200);
    }
}

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

/* ---- events ------------------------------------------------------------ */

struct evlog
{
  size_t n;
  struct
  {
    enum docker_event_action kind;
    char id[65];
    int exit_code;
    int64_t t;
  } ev[256];
  int ups, downs;
  bool connected;
  int dups;
};

static void
evlog_event_cb (const struct docker_event *e, void *data)
{
  struct evlog *l = data;
  for (size_t i = 0; i < l->n; i++)
    if (l->ev[i].t == e->time_ns && l->ev[i].kind == e->kind && strcmp (l->ev[i].id, e->id) == 0)
      l->dups++;
  if (l->n < 256)
    {
      l->ev[l->n].kind = e->kind;
      snprintf (l->ev[l->n].id, sizeof l->ev[l->n].id, "%s", e->id ? e->id : "");
      l->ev[l->n].exit_code = e->exit_code;
      l->ev[l->n].t = e->time_ns;
      l->n++;
    }
}

static void
evlog_state_cb (bool connected, agent_error_t err, void *data)
{
  struct evlog *l = data;
  l->connected = connected;
  if (connected)
    l->ups++;
  else
    l->downs++;
  (void) err;
}

static int
evlog_find (const struct evlog *l, const char *id, enum docker_event_action k)
{
  int n = 0;
  for (size_t i = 0; i < l->n; i++)
    if (l->ev[i].kind == k && strcmp (l->ev[i].id, id) == 0)
      n++;
  return n;
}

struct ev_wait
{
  struct evlog *l;
  const char *id;
  enum docker_event_action k;
  bool done;
};

static bool
wait_event (struct it *x, struct evlog *l, const char *id, enum docker_event_action k,
            uint64_t timeout_ms)
{
  return TLOOP_UNTIL (&x->l, evlog_find (l, id, k) > 0, timeout_ms);
}

static bool
wait_connected (struct it *x, struct evlog *l, uint64_t timeout_ms)
{
  return tloop_until (&x->l, &l->connected, timeout_ms);
}

static void
test_events_start_die (void **state)
{
  struct it *x = *state;
  struct evlog *l = xcalloc (1, sizeof *l);
  struct docker_events_opts eo = {
    .label_filter = x->label_run,
    .on_event = evlog_event_cb,
    .on_state = evlog_state_cb,
    .data = l,
  };
  docker_events_t *ev = docker_events_start (x->c, &eo);
  assert_false (l->connected); /* connects on the loop */
  assert_true (wait_connected (x, l, 10000));
  assert_true (docker_events_connected (ev));

  struct res r = { 0 };
  struct docker_label labels[2];
  labels_for (x, labels);
  const char *cmd[] = { "sleep", "300", NULL };
  struct docker_create_opts o
      = { .image = test_image (), .cmd = cmd, .labels = labels, .n_labels = 2 };
  char *id = xstrdup (create_sync (x, &o, &r));
  ASSERT_OK (&r);
  start_sync (x, id, &r);
  ASSERT_OK (&r);
  assert_true (wait_event (x, l, id, DOCKER_EV_START, 10000));
  res_reset (&r);
  docker_container_kill (x->c, id, NULL, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  ASSERT_OK (&r);
  assert_true (wait_event (x, l, id, DOCKER_EV_DIE, 10000));
  assert_int_equal (evlog_find (l, id, DOCKER_EV_CREATE), 1);
  assert_int_equal (evlog_find (l, id, DOCKER_EV_START), 1);
  assert_int_equal (evlog_find (l, id, DOCKER_EV_KILL), 1);
  for (size_t i = 0; i < l->n; i++)
    if (l->ev[i].kind == DOCKER_EV_DIE)
      assert_int_equal (l->ev[i].exit_code, 137);
  /* order: create < start < die */
  int64_t tc = 0, ts = 0, td = 0;
  for (size_t i = 0; i < l->n; i++)
    {
      if (l->ev[i].kind == DOCKER_EV_CREATE)
        tc = l->ev[i].t;
      if (l->ev[i].kind == DOCKER_EV_START)
        ts = l->ev[i].t;
      if (l->ev[i].kind == DOCKER_EV_DIE)
        td = l->ev[i].t;
    }
  assert_true (tc > 0 && tc <= ts && ts <= td);

  res_reset (&r);
  docker_container_remove (x->c, id, true, true, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 30000);
  ASSERT_OK (&r);
  assert_true (wait_event (x, l, id, DOCKER_EV_DESTROY, 10000));
  assert_int_equal (l->dups, 0);
  docker_events_stop (ev);
  res_reset (&r);
  free (id);
  free (l);
}

struct health_seen
{
  bool done;
  char *status, *output;
  int exit_code;
};

static void
health_seen_cb (const struct docker_container_info *i, agent_error_t err, void *data)
{
  struct health_seen *h = data;
  (void) err;
  h->done = true;
  if (!i)
    return;
  h->status = i->health_status ? xstrdup (i->health_status) : NULL;
  h->output = i->health_output ? xstrdup (i->health_output) : NULL;
  h->exit_code = i->health_exit_code;
}

/* The action filter (what the engine asks for): a health-checked container's
   health_status events come through ("health_status: healthy" matched by
   "health_status"), its exec_* events of every check run and its kill do
   not; the inspect carries the last check's output and exit code. */
static void
test_events_action_filter_health (void **state)
{
  struct it *x = *state;
  struct evlog *l = xcalloc (1, sizeof *l);
  static const char *const actions[] = { "create", "start", "die", "oom", "health_status", NULL };
  struct docker_events_opts eo = {
    .label_filter = x->label_run,
    .actions = actions,
    .on_event = evlog_event_cb,
    .on_state = evlog_state_cb,
    .data = l,
  };
  docker_events_t *ev = docker_events_start (x->c, &eo);
  assert_true (wait_connected (x, l, 10000));
  struct res r = { 0 };
  struct docker_label labels[2];
  labels_for (x, labels);
  const char *cmd[] = { "sleep", "300", NULL };
  struct docker_create_opts o = {
    .image = test_image (), .cmd = cmd, .labels = labels, .n_labels = 2,
    .extra_config_json = "{\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"echo checked; exit 0\"],"
                         "\"Interval\":500000000,\"Timeout\":2000000000,\"Retries\":1}}",
  };
  char *id = xstrdup (create_sync (x, &o, &r));
  ASSERT_OK (&r);
  start_sync (x, id, &r);
  ASSERT_OK (&r);
  assert_true (wait_event (x, l, id, DOCKER_EV_HEALTH_STATUS, 20000));
  struct health_seen h = { 0 };
  docker_container_inspect (x->c, id, health_seen_cb, &h);
  assert_true (tloop_until (&x->l, &h.done, 10000));
  assert_string_equal (h.status, "healthy");
  assert_string_equal (h.output, "checked\n");
  assert_int_equal (h.exit_code, 0);
  free (h.status);
  free (h.output);
  res_reset (&r);
  docker_container_kill (x->c, id, NULL, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  ASSERT_OK (&r);
  assert_true (wait_event (x, l, id, DOCKER_EV_DIE, 10000));
  for (size_t i = 0; i < l->n; i++)
    if (l->ev[i].kind == DOCKER_EV_OTHER || l->ev[i].kind == DOCKER_EV_KILL)
      fail_msg ("event %zu of kind %d came through the action filter", i, l->ev[i].kind);
  assert_int_equal (evlog_find (l, id, DOCKER_EV_START), 1);
  res_reset (&r);
  docker_container_remove (x->c, id, true, true, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 30000);
  ASSERT_OK (&r);
  docker_events_stop (ev);
  res_reset (&r);
  free (id);
  free (l);
}

/* An inspect started from inside the event callback (what the engine does). */
struct ev_inspect
{
  docker_client_t *c;
  struct res r;
  bool started;
};

static void
ev_inspect_cb (const struct docker_event *e, void *data)
{
  struct ev_inspect *s = data;
  if (e->kind == DOCKER_EV_START && !s->started)
    {
      s->started = true;
      docker_container_inspect (s->c, e->id, res_inspect_cb, &s->r);
    }
}

static void
test_events_reconnect_no_loss (void **state)
{
  struct it *x = *state;
  struct evlog *l = xcalloc (1, sizeof *l);
  struct docker_events_opts eo = {
    .label_filter = x->label_run,
    .on_event = evlog_event_cb,
    .on_state = evlog_state_cb,
    .data = l,
    .backoff_min_ms = 50,
    .backoff_max_ms = 200,
  };
  docker_events_t *ev = docker_events_start (x->c, &eo);
  assert_true (wait_connected (x, l, 10000));

  struct res r = { 0 };
  struct docker_label labels[2];
  labels_for (x, labels);
  const char *cmd[] = { "sleep", "300", NULL };
  struct docker_create_opts o
      = { .image = test_image (), .cmd = cmd, .labels = labels, .n_labels = 2 };
  char *id = xstrdup (create_sync (x, &o, &r));
  ASSERT_OK (&r);
  assert_true (wait_event (x, l, id, DOCKER_EV_CREATE, 10000));

  /* drop the stream and hold the reconnect for 3 s; meanwhile start and
     kill the container */
  docker_events_test_drop (ev, 3000);
  assert_false (docker_events_connected (ev));
  assert_int_equal (l->downs, 1);
  start_sync (x, id, &r);
  ASSERT_OK (&r);
  res_reset (&r);
  docker_container_kill (x->c, id, NULL, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  ASSERT_OK (&r);
  size_t before = l->n;
  assert_int_equal (evlog_find (l, id, DOCKER_EV_START), 0); /* still disconnected */

  /* after the reconnect the daemon replays them (since=), exactly once */
  assert_true (wait_event (x, l, id, DOCKER_EV_DIE, 15000));
  assert_true (l->n > before);
  assert_int_equal (l->ups, 2);
  assert_int_equal (evlog_find (l, id, DOCKER_EV_CREATE), 1); /* replayed create dropped */
  assert_int_equal (evlog_find (l, id, DOCKER_EV_START), 1);
  assert_int_equal (evlog_find (l, id, DOCKER_EV_KILL), 1);
  assert_int_equal (evlog_find (l, id, DOCKER_EV_DIE), 1);
  assert_int_equal (l->dups, 0);
  for (size_t i = 0; i < l->n; i++)
    if (l->ev[i].kind == DOCKER_EV_DIE)
      assert_int_equal (l->ev[i].exit_code, 137);

  /* drop again with nothing happening in between: the replay brings no
     duplicates (checked below, once a later event has come through) */
  docker_events_test_drop (ev, 0);
  WAIT_FOR (&x->l, l->ups == 3 && docker_events_connected (ev), 10000);

  /* the engine's pattern: inspect from inside the event callback */
  struct ev_inspect *s = xcalloc (1, sizeof *s);
  s->c = x->c;
  struct docker_events_opts eo2 = { .label_filter = x->label_run, .on_event = ev_inspect_cb, .data = s };
  docker_events_t *ev2 = docker_events_start (x->c, &eo2);
  WAIT_FOR (&x->l, docker_events_connected (ev2), 10000); /* or the start would not be seen */
  start_sync (x, id, &r);
  ASSERT_OK (&r);
  WAIT_RES (&x->l, &s->r, 10000);
  ASSERT_OK (&s->r);
  assert_string_equal (s->r.id, id);
  res_reset (&s->r);
  free (s);

  /* the first stream delivers the new start after whatever the daemon
     replayed on its reconnect: by then a duplicate would have shown */
  WAIT_FOR (&x->l, evlog_find (l, id, DOCKER_EV_START) == 2, 10000);
  assert_int_equal (l->ups, 3);
  assert_int_equal (l->dups, 0);
  docker_events_stop (ev);
  /* leave this stream running: docker_client_free (teardown) stops it */

  res_reset (&r);
  free (id);
  free (l);
}

/* ---- pulls from the real registry ------------------------------------- */

struct reg
{
  char port[16], user[64], password[128], image[256];
};

static bool
registry_info (struct reg *g)
{
  const char *path = getenv ("REGISTRY_INFO");
  if (!path || !*path)
    path = "/tmp/ecs-agent-c-test-registry/info";
  FILE *f = fopen (path, "r");
  if (!f)
    return false;
  memset (g, 0, sizeof *g);
  char line[512];
  while (fgets (line, sizeof line, f))
    {
      line[strcspn (line, "\n")] = '\0';
      char *eq = strchr (line, '=');
      if (!eq)
        continue;
      *eq = '\0';
      const char *v = eq + 1;
      if (strcmp (line, "port") == 0)
        snprintf (g->port, sizeof g->port, "%s", v);
      else if (strcmp (line, "user") == 0)
        snprintf (g->user, sizeof g->user, "%s", v);
      else if (strcmp (line, "password") == 0)
        snprintf (g->password, sizeof g->password, "%s", v);
      else if (strcmp (line, "image") == 0)
        snprintf (g->image, sizeof g->image, "%s", v);
    }
  fclose (f);
  return g->port[0] && g->user[0] && g->password[0] && g->image[0];
}

static void
untag (const char *image_ref)
{
  char cmd[400];
  snprintf (cmd, sizeof cmd, "docker rmi %s >/dev/null 2>&1", image_ref);
  if (system (cmd) != 0)
    { /* not present */
    }
}

static void
pull_sync (struct it *x, const char *img, const char *auth, struct res *r)
{
  res_reset (r);
  struct docker_pull_opts po = { .image = img, .registry_auth = auth };
  docker_image_pull (x->c, &po, res_done_cb, r);
  WAIT_RES (&x->l, r, 120000);
}

static void
pull_with (struct it *x, const char *type, const char *doc, const char *img, struct res *r)
{
  struct docker_auth_config *cfg = NULL;
  agent_error_t err = NULL;
  if (docker_auth_parse (type, doc, &cfg, &err) < 0)
    fail_msg ("auth parse: %s", error_msg (&err));
  char *h = docker_auth_for_image (cfg, img);
  pull_sync (x, img, h, r);
  free (h);
  docker_auth_config_free (cfg);
}

static void
test_pull_auth_types (void **state)
{
  struct it *x = *state;
  struct reg g;
  if (!registry_info (&g))
    {
      printf ("# no registry (run tests/lib/registry.sh start): skipped\n");
      skip ();
    }
  struct res r = { 0 };
  untag (g.image);

  /* type docker: plain user/password under host:port */
  char *doc = xasprintf ("{\"127.0.0.1:%s\":{\"username\":\"%s\",\"password\":\"%s\","
                         "\"email\":\"t@example.com\"}}",
                         g.port, g.user, g.password);
  pull_with (x, "docker", doc, g.image, &r);
  ASSERT_OK (&r);
  free (doc);
  res_reset (&r);
  docker_image_inspect (x->c, g.image, res_image_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  ASSERT_OK (&r);
  untag (g.image);

  /* type dockercfg: base64 auth under an http:// key with a /v2/ path */
  char up[256];
  snprintf (up, sizeof up, "%s:%s", g.user, g.password);
  char b64[512];
  {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen (up), o = 0;
    for (size_t i = 0; i < n; i += 3)
      {
        unsigned v = (unsigned char) up[i] << 16;
        if (i + 1 < n)
          v |= (unsigned char) up[i + 1] << 8;
        if (i + 2 < n)
          v |= (unsigned char) up[i + 2];
        b64[o++] = t[(v >> 18) & 63];
        b64[o++] = t[(v >> 12) & 63];
        b64[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        b64[o++] = i + 2 < n ? t[v & 63] : '=';
      }
    b64[o] = '\0';
  }
  doc = xasprintf ("{\"http://127.0.0.1:%s/v2/\":{\"auth\":\"%s\",\"email\":\"t@example.com\"}}",
                   g.port, b64);
  /* image without a tag: ":latest" is added */
  char *untagged = xstrdup (g.image);
  untagged[strlen (untagged) - strlen (":latest")] = '\0';
  pull_with (x, "dockercfg", doc, untagged, &r);
  ASSERT_OK (&r);
  free (doc);
  free (untagged);
  res_reset (&r);
  docker_image_inspect (x->c, g.image, res_image_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  ASSERT_OK (&r);
  untag (g.image);
  res_reset (&r);
}

static void
test_pull_failures (void **state)
{
  struct it *x = *state;
  struct reg g;
  if (!registry_info (&g))
    skip ();
  struct res r = { 0 };
  untag (g.image);

  /* wrong password: ERR_AUTH with the registry's message, no secret in it */
  char *doc = xasprintf ("{\"127.0.0.1:%s\":{\"username\":\"%s\",\"password\":\"WrongPassw0rd\"}}",
                         g.port, g.user);
  pull_with (x, "docker", doc, g.image, &r);
  free (doc);
  assert_int_equal (r.kind, ERR_AUTH);
  printf ("# wrong credentials: %s\n", r.msg);
  assert_non_null (strstr (r.msg, "unauthorized"));
  assert_null (strstr (r.msg, "WrongPassw0rd"));

  /* unknown image (right credentials): ERR_NOT_FOUND */
  char *missing = xasprintf ("127.0.0.1:%s/ecs-agent-c-test/does-not-exist:1", g.port);
  doc = xasprintf ("{\"127.0.0.1:%s\":{\"username\":\"%s\",\"password\":\"%s\"}}", g.port, g.user,
                   g.password);
  pull_with (x, "docker", doc, missing, &r);
  assert_int_equal (r.kind, ERR_NOT_FOUND);
  printf ("# unknown image: %s\n", r.msg);
  free (doc);
  free (missing);

  /* credentials only for another registry: no header is sent, the
     registry refuses (ERR_AUTH) */
  doc = xasprintf ("{\"127.0.0.2:%s\":{\"username\":\"%s\",\"password\":\"%s\"}}", g.port, g.user,
                   g.password);
  struct docker_auth_config *cfg = NULL;
  assert_int_equal (docker_auth_parse ("docker", doc, &cfg, NULL), 0);
  assert_null (docker_auth_for_image (cfg, g.image));
  docker_auth_config_free (cfg);
  free (doc);
  pull_sync (x, g.image, NULL, &r);
  assert_int_equal (r.kind, ERR_AUTH);
  printf ("# no credentials: %s\n", r.msg);

  /* unreachable registry */
  pull_sync (x, "127.0.0.1:1/ecs-agent-c-test/x:1", NULL, &r);
  assert_true (r.kind != 0);
  printf ("# unreachable registry: kind %d: %s\n", r.kind, r.msg);
  res_reset (&r);
}

/* ---- daemon unreachable ------------------------------------------------ */

static void
test_unreachable_daemon (void **state)
{
  struct it *x = *state;
  agent_error_t err = NULL;
  assert_null (docker_client_new (&x->l.loop, "ftp://x", &err));
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);
  assert_null (docker_client_new (&x->l.loop, "unix://relative", &err));
  error_free (&err);

  docker_client_t *c = docker_client_new (&x->l.loop, "unix:///nonexistent/docker.sock", &err);
  assert_non_null (c);
  struct res r = { 0 }, r2 = { 0 };
  docker_ping (c, res_done_cb, &r);
  docker_container_inspect (c, "abc", res_inspect_cb, &r2); /* waits for negotiation, which fails */
  WAIT_RES (&x->l, &r, 5000);
  WAIT_RES (&x->l, &r2, 5000);
  assert_int_equal (r.kind, ERR_UNREACHABLE);
  assert_int_equal (r2.kind, ERR_UNREACHABLE);
  assert_non_null (strstr (r.msg, "/nonexistent/docker.sock"));

  /* an event stream keeps retrying without crashing */
  struct evlog *l = xcalloc (1, sizeof *l);
  struct docker_events_opts eo = { .on_event = evlog_event_cb, .on_state = evlog_state_cb, .data = l,
                                   .backoff_min_ms = 20, .backoff_max_ms = 40 };
  docker_events_start (c, &eo);
  WAIT_FOR (&x->l, l->downs >= 3, 5000);
  assert_int_equal (l->ups, 0);
  docker_client_free (c); /* stops the stream too: no callback after this */
  free (l);
  res_reset (&r);
  res_reset (&r2);

  /* tcp:// form: nothing listens on port 1 */
  c = docker_client_new (&x->l.loop, "tcp://127.0.0.1:1", &err);
  assert_non_null (c);
  docker_ping (c, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  assert_int_equal (r.kind, ERR_UNREACHABLE);
  docker_client_free (c);
  res_reset (&r);
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
    cmocka_unit_test_setup_teardown (test_events_action_filter_health, setup, teardown),
    cmocka_unit_test_setup_teardown (test_events_start_die, setup, teardown),
    cmocka_unit_test_setup_teardown (test_events_reconnect_no_loss, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_auth_types, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_failures, setup, teardown),
    cmocka_unit_test_setup_teardown (test_unreachable_daemon, setup, teardown),
  };
  int rc = cmocka_run_group_tests (tests, NULL, NULL);
  log_close ();
  curl_global_cleanup ();
  return rc;
}
