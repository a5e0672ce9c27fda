/* test_docker_fake.c - the Docker client against a tiny fake daemon
 * (test_docker_fake_daemon.h): garbage answers, connections closed
 * mid-stream, API version negotiation for Docker 20.10 / 28.x style daemons
 * and the create's version, Podman's links as /etc/hosts entries.  Pulls,
 * events and cancels: test_docker_fake_streams.c.  Needs no Docker; run it
 * under SAN=1 for the leak check.
 */
#include "test_docker_fake_daemon.h"

/* ---- garbage ----------------------------------------------------------- */

static void
garbage_handler (struct fake *f, struct fconn *c, const struct freq *r)
{
  const char *p = r->path;
  if (strcmp (p, "/version") == 0)
    answer_version (f, c);
  else if (strcmp (p, "/_ping") == 0)
    fconn_write2 (c, "garbage garbage\r\n\r\n", 19, true); /* not HTTP */
  else if (strstr (p, "/containers/notjson/json"))
    fconn_json (c, 200, "not json at all");
  else if (strstr (p, "/containers/trunc/json"))
    fconn_json (c, 200, "{\"Id\":\"x\",\"State\":{");
  else if (strstr (p, "/containers/array/json"))
    fconn_json (c, 200, "[1,2,3]");
  else if (strstr (p, "/containers/badport/json"))
    fconn_json (c, 200, "{\"Id\":\"x\",\"NetworkSettings\":{\"Ports\":{\"http/tcp\":[{\"HostPort\":\"1\"}]}}}");
  else if (strstr (p, "/containers/html500/json"))
    fconn_respond (c, 500, "text/html", "<html><body>Internal error</body></html>\n");
  else if (strstr (p, "/containers/close/json"))
    fconn_close (c); /* no response at all */
  else if (strstr (p, "/containers/halfbody/json"))
    {
      /* promises 100 bytes, sends 10, closes */
      fconn_write2 (c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"Id\":\"x\",", 50, true);
    }
  else if (strstr (p, "/containers/json"))
    fconn_json (c, 200, "{}");
  else if (strstr (p, "/containers/create"))
    fconn_json (c, 201, "{\"Warnings\":[]}");
  else if (strstr (p, "/containers/s304/start") || strstr (p, "/containers/s304/stop"))
    fconn_write2 (c, "HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n", 47, true);
  else
    fconn_json (c, 404, "{\"message\":\"page not found\"}");
}

static void
test_fake_garbage (void **state)
{
  struct fx *x = *state;
  fx_start (x, garbage_handler);
  struct res r = { 0 };

  docker_ping (x->c, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  assert_true (r.kind == ERR_MALFORMED || r.kind == ERR_UNREACHABLE);

  struct
  {
    const char *id;
    int kind;
    const char *msg;
  } cases[] = {
    { "notjson", ERR_MALFORMED, NULL },
    { "trunc", ERR_MALFORMED, NULL },
    { "array", ERR_MALFORMED, NULL },
    { "badport", ERR_MALFORMED, "UnparseablePort" },
    { "html500", ERR_SERVER, "<html><body>Internal error</body></html>" },
    { "close", ERR_UNREACHABLE, NULL },
    { "halfbody", 0, NULL }, /* any error */
    { "nosuch", ERR_NOT_FOUND, "page not found" },
  };
  for (size_t k = 0; k < ARRAY_SIZE (cases); k++)
    {
      res_reset (&r);
      docker_container_inspect (x->c, cases[k].id, res_inspect_cb, &r);
      WAIT_RES (&x->l, &r, 5000);
      if (cases[k].kind)
        {
          if (r.kind != cases[k].kind)
            fail_msg ("%s: kind %d (%s), want %d", cases[k].id, r.kind, r.msg, cases[k].kind);
        }
      else
        assert_int_not_equal (r.kind, 0);
      if (cases[k].msg)
        assert_non_null (strstr (r.msg, cases[k].msg));
      assert_null (r.id);
    }

  res_reset (&r);
  docker_container_list (x->c, "a=b", res_list_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  assert_int_equal (r.kind, ERR_MALFORMED);
  /* the label filter went out URL-encoded JSON */
  bool seen = false;
  for (int i = 0; i < x->f->n_reqs; i++)
    if (strstr (x->f->reqs[i].path, "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"))
      seen = true;
  assert_true (seen);
  /* a label filter that is not UTF-8 fails the list, no request goes out */
  res_reset (&r);
  int n_before = x->f->n_reqs;
  docker_container_list (x->c, "a=\xff", res_list_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  assert_int_equal (r.kind, ERR_INVALID);
  assert_int_equal (x->f->n_reqs, n_before);

  res_reset (&r);
  struct docker_create_opts o = { .name = "n", .image = "img" };
  docker_container_create (x->c, &o, res_create_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  assert_int_equal (r.kind, ERR_MALFORMED);

  /* a string that is not UTF-8 is refused, not dropped */
  res_reset (&r);
  const char *cmd[] = { "echo", "bad\xff", NULL };
  struct docker_create_opts ob = { .image = "img", .cmd = cmd };
  int before = x->f->n_reqs;
  docker_container_create (x->c, &ob, res_create_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  assert_int_equal (r.kind, ERR_INVALID);
  assert_int_equal (x->f->n_reqs, before);

  res_reset (&r);
  docker_container_start (x->c, "s304", res_done_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  ASSERT_OK (&r);
  res_reset (&r);
  docker_container_stop (x->c, "s304", 3, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  ASSERT_OK (&r);
  bool stop_t = false;
  for (int i = 0; i < x->f->n_reqs; i++)
    stop_t |= strcmp (x->f->reqs[i].path, "/v1.41/containers/s304/stop?t=3") == 0;
  assert_true (stop_t);
  res_reset (&r);
}

/* ---- version negotiation ----------------------------------------------- */

static void
neg_handler (struct fake *f, struct fconn *c, const struct freq *r)
{
  if (strcmp (r->path, "/version") == 0)
    answer_version (f, c);
  else
    fconn_json (c, 200, "{\"Id\":\"abc\",\"State\":{\"Running\":true}}");
}

static void
test_fake_negotiation (void **state)
{
  struct fx *x = *state;
  fx_start (x, neg_handler);
  struct
  {
    const char *api, *min, *want; /* want NULL = must fail */
  } cases[] = {
    { "1.41", "1.12", "1.41" }, /* Docker 20.10 */
    { "1.50", "1.24", "1.50" }, /* Docker 28.x */
    { "1.52", "1.44", DOCKER_API_MAX },
    { "1.43", "1.12", "1.43" },
    { "1.60", "1.55", NULL },
    { "1.20", "1.12", NULL },
    { "x.y", "1.12", NULL },
  };
  for (size_t k = 0; k < ARRAY_SIZE (cases); k++)
    {
      x->f->api = cases[k].api;
      x->f->min_api = cases[k].min;
      docker_client_free (x->c);
      agent_error_t err = NULL;
      x->c = docker_client_new (&x->l.loop, x->f->host, &err);
      int before = x->f->n_reqs;
      struct res r = { 0 }, r2 = { 0 };
      /* two calls queue behind one negotiation */
      docker_container_inspect (x->c, "abc", res_inspect_cb, &r);
      docker_container_inspect (x->c, "abc", res_inspect_cb, &r2);
      WAIT_RES (&x->l, &r, 5000);
      WAIT_RES (&x->l, &r2, 5000);
      int nver = 0, nins = 0;
      char want[64];
      snprintf (want, sizeof want, "/v%s/containers/abc/json", cases[k].want ? cases[k].want : "");
      for (int i = before; i < x->f->n_reqs; i++)
        {
          if (strcmp (x->f->reqs[i].path, "/version") == 0)
            nver++;
          else
            {
              nins++;
              assert_string_equal (x->f->reqs[i].path, want);
            }
        }
      assert_int_equal (nver, 1);
      if (cases[k].want)
        {
          ASSERT_OK (&r);
          ASSERT_OK (&r2);
          assert_int_equal (nins, 2);
          assert_string_equal (docker_client_api_version (x->c), cases[k].want);
        }
      else
        {
          assert_int_not_equal (r.kind, 0);
          assert_int_not_equal (r2.kind, 0);
          assert_int_equal (nins, 0);
          assert_null (docker_client_api_version (x->c));
          assert_non_null (strstr (r.msg, "negotiation"));
        }
      res_reset (&r);
      res_reset (&r2);
    }
}

/* A create with dockerConfig.version asks for max(it, daemon minimum,
   DOCKER_API_MIN); a version the daemon does not serve fails before any
   request, with the text the engine names CannotGetDockerClientVersionError.
   Other calls keep the negotiated version; the start of the container asks
   for what its create asked for. */
static void
test_fake_create_api_version (void **state)
{
  struct fx *x = *state;
  fx_start (x, neg_handler);
  x->f->api = "1.41";
  x->f->min_api = "1.12";
  struct
  {
    const char *want, *path; /* path NULL = refused */
  } cases[] = {
    { NULL, "/v1.41/containers/create" },
    { "1.17", "/v1.24/containers/create" },
    { "1.25", "/v1.25/containers/create" },
    { "1.41", "/v1.41/containers/create" },
    { "1.44", NULL },
  };
  for (size_t k = 0; k < ARRAY_SIZE (cases); k++)
    {
      struct docker_create_opts o = { .image = "busybox", .api_version = cases[k].want };
      int before = x->f->n_reqs;
      struct res r = { 0 };
      docker_container_create (x->c, &o, res_create_cb, &r);
      WAIT_RES (&x->l, &r, 5000);
      int ncreate = 0;
      for (int i = before; i < x->f->n_reqs; i++)
        if (strstr (x->f->reqs[i].path, "/containers/create"))
          {
            ncreate++;
            assert_string_equal (x->f->reqs[i].path, cases[k].path);
          }
      if (cases[k].path)
        {
          ASSERT_OK (&r);
          assert_int_equal (ncreate, 1);
        }
      else
        {
          assert_int_equal (ncreate, 0);
          assert_int_equal (strncmp (r.msg, DOCKER_API_VERSION_MSG_PREFIX,
                                     strlen (DOCKER_API_VERSION_MSG_PREFIX)),
                            0);
        }
      res_reset (&r);
    }
  struct res r = { 0 };
  int before = x->f->n_reqs;
  docker_container_inspect (x->c, "abc", res_inspect_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  assert_string_equal (x->f->reqs[before].path, "/v1.41/containers/abc/json");
  res_reset (&r);
  /* the start of such a container asks for the version its create asked
     for (upstream's startContainer: WithVersion of the payload's version) */
  for (size_t k = 0; k < ARRAY_SIZE (cases); k++)
    {
      const char *v = cases[k].path ? strchr (cases[k].path + 1, '/') : NULL;
      cleanup_free char *want = v ? xasprintf ("%.*s/containers/s304/start", (int) (v - cases[k].path),
                                               cases[k].path)
                                  : NULL;
      before = x->f->n_reqs;
      docker_container_start_version (x->c, "s304", cases[k].want, res_done_cb, &r);
      WAIT_RES (&x->l, &r, 5000);
      int nstart = 0;
      for (int i = before; i < x->f->n_reqs; i++)
        if (strstr (x->f->reqs[i].path, "/start"))
          {
            nstart++;
            assert_string_equal (x->f->reqs[i].path, want);
          }
      assert_int_equal (nstart, want ? 1 : 0);
      if (!want)
        assert_int_equal (strncmp (r.msg, DOCKER_API_VERSION_MSG_PREFIX, strlen (DOCKER_API_VERSION_MSG_PREFIX)),
                          0);
      res_reset (&r);
    }
}

/* ---- Podman: links as /etc/hosts entries (docker/links.h) -------------- */

static void
podman_handler (struct fake *f, struct fconn *c, const struct freq *r)
{
  (void) f;
  const char *p = r->path;
  if (strcmp (p, "/version") == 0)
    fconn_json (c, 200, "{\"Version\":\"4.3.1\",\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.24\","
                        "\"Components\":[{\"Name\":\"Podman Engine\",\"Version\":\"4.3.1\"}]}");
  else if (strstr (p, "/containers/db1/json"))
    fconn_json (c, 200, "{\"Id\":\"d1\",\"Name\":\"/db1\",\"State\":{\"Status\":\"running\",\"Running\":true},"
                        "\"NetworkSettings\":{\"IPAddress\":\"10.88.0.5\"}}");
  else if (strstr (p, "/containers/host1/json"))
    fconn_json (c, 200, "{\"Id\":\"h1\",\"Name\":\"/host1\",\"NetworkSettings\":{\"IPAddress\":\"\"}}");
  else if (strstr (p, "/containers/create"))
    {
      if (strstr (r->body, "\"Links\""))
        fconn_json (c, 400, "{\"message\":\"bad parameter: link is not supported\"}");
      else
        fconn_json (c, 201, "{\"Id\":\"new\",\"Warnings\":[]}");
    }
  else if (strstr (p, "/containers/slow/json"))
    return; /* never answers */
  else
    fconn_json (c, 404, "{\"message\":\"no such container\"}");
}

/* The last create request's body, or NULL. */
static const char *
last_create_body (const struct fake *f, int from)
{
  for (int i = f->n_reqs - 1; i >= from; i--)
    if (strstr (f->reqs[i].path, "/containers/create"))
      return f->reqs[i].body;
  return NULL;
}

static void
test_fake_podman_links (void **state)
{
  struct fx *x = *state;
  fx_start (x, podman_handler);
  struct res r = { 0 };
  docker_version (x->c, res_version_cb, &r);
  WAIT_RES (&x->l, &r, 3000);
  ASSERT_OK (&r);
  assert_true (docker_client_is_podman (x->c));
  res_reset (&r);

  /* the target inspected, then the create with ExtraHosts and no Links */
  const char *links[] = { "db1:database", NULL };
  struct docker_create_opts o = { .name = "app", .image = "busybox", .links = links };
  int from = x->f->n_reqs;
  docker_container_create (x->c, &o, res_create_cb, &r);
  WAIT_RES (&x->l, &r, 3000);
  ASSERT_OK (&r);
  assert_string_equal (r.id, "new");
  assert_true (fake_saw (x->f, from, "/containers/db1/json"));
  const char *body = last_create_body (x->f, from);
  assert_non_null (body);
  assert_null (strstr (body, "Links"));
  assert_non_null (strstr (body, "\"ExtraHosts\":[\"database:10.88.0.5\",\"db1:10.88.0.5\"]"));
  res_reset (&r);

  /* no links: straight to the create */
  from = x->f->n_reqs;
  struct docker_create_opts plain = { .image = "busybox" };
  docker_container_create (x->c, &plain, res_create_cb, &r);
  WAIT_RES (&x->l, &r, 3000);
  ASSERT_OK (&r);
  assert_int_equal (x->f->n_reqs - from, 1);
  res_reset (&r);

  /* a target without an address, a missing target: no create, a reason */
  const char *nohost[] = { "host1:x", NULL }, *missing[] = { "db1:a", "gone:b", NULL };
  const struct
  {
    const char *const *links;
    const char *want;
  } bad[] = { { nohost, "link to host1: the container has no IP address" },
              { missing, "link to gone (on Podman an /etc/hosts entry with its address): " } };
  for (size_t i = 0; i < 2; i++)
    {
      from = x->f->n_reqs;
      o.links = bad[i].links;
      docker_container_create (x->c, &o, res_create_cb, &r);
      WAIT_RES (&x->l, &r, 3000);
      assert_int_equal (r.kind, ERR_CLIENT);
      assert_true (has_prefix (r.msg, bad[i].want));
      assert_null (last_create_body (x->f, from));
      res_reset (&r);
    }

  /* cancelled while its target is being inspected: no callback, the
     inspect's connection closed; and the client freed in the same state */
  const char *slow[] = { "slow:s", NULL };
  o.links = slow;
  from = x->f->n_reqs;
  docker_op_t *op = docker_container_create (x->c, &o, res_create_cb, &r);
  WAIT_FOR (&x->l, fake_saw (x->f, from, "/containers/slow/json"), 3000);
  docker_op_cancel (op);
  assert_int_equal (docker_client_active (x->c), 0);
  WAIT_FOR (&x->l, fake_idle (x->f), 3000);
  from = x->f->n_reqs;
  docker_container_create (x->c, &o, res_create_cb, &r);
  WAIT_FOR (&x->l, fake_saw (x->f, from, "/containers/slow/json"), 3000);
  docker_client_free (x->c);
  x->c = NULL;
  WAIT_FOR (&x->l, fake_idle (x->f), 3000);
  assert_false (r.done);
}

int
main (void)
{
  log_init (LOG_CRIT, NULL, NULL);
  /* The fake daemon writes to sockets the client may have closed (the
     mid-stream tests): a write error, not a death by SIGPIPE, as in the
     agent, which ignores SIGPIPE too (agent/agent.c). */
  signal (SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_fake_garbage, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fake_negotiation, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fake_create_api_version, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fake_podman_links, setup, teardown),
  };
  int rc = cmocka_run_group_tests (tests, NULL, NULL);
  log_close ();
  return rc;
}
