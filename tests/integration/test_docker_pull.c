/* test_docker_pull.c - the Docker client's pulls against the real Docker
 * Engine and a real registry (test_docker_fixture.h): every registry
 * authentication type, pull failures.  Expects a registry started by
 * `tests/lib/registry.sh start` whose info file is $REGISTRY_INFO (default
 * /tmp/ecs-agent-c-test-registry/info); without it those tests skip. */
#include "test_docker_fixture.h"

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

int
main (void)
{
  log_init (LOG_WARN, NULL, NULL);
  curl_global_init (CURL_GLOBAL_DEFAULT);
  printf ("# test image: %s\n", test_image ());
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_pull_auth_types, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_failures, setup, teardown),
  };
  int rc = cmocka_run_group_tests (tests, NULL, NULL);
  log_close ();
  curl_global_cleanup ();
  return rc;
}
