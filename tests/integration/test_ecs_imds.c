/* Integration tests for aws/ against the local control plane
 * (test_ecs_fixture.h): instance metadata over IMDSv2 and the IMDSv1
 * fallback (403/405 and a hanging token PUT, through a small proxy),
 * credential rotation.
 * Only 127.0.0.1 is used. */
#include "test_ecs_fixture.h"

/* ---- IMDS ---- */

static void
id_cb (const struct imds_identity *id, agent_error_t err, void *data)
{
  struct result *r = data;
  set_err (r, err);
  if (id)
    {
      r->s1 = xasprintf ("%s|%s|%s|%s|%s", id->instance_id, id->region, id->availability_zone,
                         id->account_id, id->instance_type);
      r->s2 = xstrdup (id->signature);
    }
}

static void
icreds_cb (const struct aws_credentials *c, agent_error_t err, void *data)
{
  struct result *r = data;
  set_err (r, err);
  if (c)
    {
      r->s1 = xstrdup (c->access_key_id);
      r->s2 = xstrdup (c->session_token);
    }
}

static void
get_cb (const char *body, size_t len, agent_error_t err, void *data)
{
  struct result *r = data;
  set_err (r, err);
  r->s1 = body ? xstrndup (body, len) : NULL;
}

static void
imds_checks (const char *base, bool want_v2, long timeout_ms)
{
  struct world w = { 0 };
  uv_loop_init (&w.loop);
  w.http = http_client_new (&w.loop);
  agent_error_t err = NULL;
  struct imds_options io = { .endpoint = base, .timeout_ms = timeout_ms };
  imds_client_t *c = imds_client_new (&w.loop, w.http, &io, &err);
  assert_non_null (c);
  struct result r = { 0 };
  assert_non_null (imds_get_identity (c, id_cb, &r, &err));
  run_until (&w, &r.done, 20000);
  if (r.kind)
    fail_msg ("identity via %s: %s", base, r.msg);
  assert_string_equal (r.s1, "i-0123456789abcdef0|us-west-2|us-west-2a|123456789012|m5.large");
  assert_true (strlen (r.s2) > 10);
  assert_int_equal (imds_client_used_v2 (c), want_v2);
  result_clear (&r);

  assert_non_null (imds_get_role_credentials (c, icreds_cb, &r, &err));
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, 0);
  assert_true (strncmp (r.s1, "ASIA", 4) == 0);
  assert_non_null (r.s2);
  result_clear (&r);

  assert_non_null (imds_get (c, "/latest/meta-data/instance-id", get_cb, &r, &err));
  run_until (&w, &r.done, 20000);
  assert_string_equal (r.s1, "i-0123456789abcdef0");
  result_clear (&r);
  assert_non_null (imds_get (c, "/latest/meta-data/nope", get_cb, &r, &err));
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, ERR_NOT_FOUND);
  result_clear (&r);
  assert_null (imds_get (c, "relative", get_cb, &r, &err));
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);

  /* cancel and free with calls in flight: no callbacks */
  imds_call_t *call = imds_get (c, "/latest/meta-data/instance-id", get_cb, &r, &err);
  imds_call_cancel (call);
  imds_get_identity (c, id_cb, &r, &err);
  imds_client_free (c);
  http_client_free (w.http);
  uv_run (&w.loop, UV_RUN_DEFAULT);
  assert_false (r.done);
  assert_int_equal (uv_loop_close (&w.loop), 0);
}

static void
test_imds_v2 (void **state)
{
  char base[128];
  snprintf (base, sizeof base, "http://%s", cp.imds);
  imds_checks (base, true, 0);
  /* IMDS requiring v2 still works */
  set_faults (&cp, "{\"imds_require_v2\":true}");
  imds_checks (base, true, 0);
  clear_faults (&cp);
}

static void
test_imds_v1_fallback (void **state)
{
  const char *modes[] = { "403", "405", "404", "hang" };
  for (size_t i = 0; i < ARRAY_SIZE (modes); i++)
    {
      struct proc px;
      assert_int_equal (proxy_start (&px, modes[i], cp.imds), 0);
      char base[128];
      snprintf (base, sizeof base, "http://%s", px.listen);
      imds_checks (base, false, strcmp (modes[i], "hang") == 0 ? 800 : 0);
      proc_stop (&px);
    }
}

static void
test_imds_unreachable (void **state)
{
  struct world w;
  memset (&w, 0, sizeof w);
  uv_loop_init (&w.loop);
  w.http = http_client_new (&w.loop);
  agent_error_t err = NULL;
  struct imds_options io = { .endpoint = "http://127.0.0.1:1" };
  imds_client_t *c = imds_client_new (&w.loop, w.http, &io, &err);
  struct result r = { 0 };
  imds_get_identity (c, id_cb, &r, &err);
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, ERR_UNREACHABLE);
  result_clear (&r);
  imds_client_free (c);
  /* bad endpoint */
  struct imds_options bad = { .endpoint = "169.254.169.254" };
  assert_null (imds_client_new (&w.loop, w.http, &bad, &err));
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);
  http_client_free (w.http);
  uv_run (&w.loop, UV_RUN_DEFAULT);
  assert_int_equal (uv_loop_close (&w.loop), 0);
}

struct rotation
{
  aws_creds_provider_t *creds;
  const char *first;
};

static bool
creds_rotated (void *arg)
{
  struct rotation *rot = arg;
  const struct aws_credentials *c = aws_creds_current (rot->creds);
  return c && strcmp (c->access_key_id, rot->first) != 0;
}

static void
test_credentials_rotation (void **state)
{
  struct proc cp2;
  assert_int_equal (cp_start (&cp2, "--imds-cred-lifetime", "6"), 0);
  struct world w;
  world_init (&w, &cp2, NULL, NULL, 3);
  struct result r = { 0 };
  aws_creds_fetch (w.creds, icreds_cb, &r);
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, 0);
  char *first = xstrdup (r.s1);
  result_clear (&r);
  /* background refreshes (at half life, as the lifetime is short) pick up
     the rotated credentials within the lifetime */
  struct rotation rot = { .creds = w.creds, .first = first };
  run_until_pred (&w, creds_rotated, &rot, 15000);
  /* and the new ones sign valid requests */
  struct ecs_task_state_change bad = { .cluster = "default", .task_arn = "x", .status = "RUNNING" };
  ecs_submit_task_state_change (w.ecs, &bad, sub_cb, &r);
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, ERR_CLIENT); /* ClusterNotFound: authenticated */
  assert_null (strstr (r.msg, "Unrecognized"));
  assert_null (strstr (r.msg, "Expired"));
  result_clear (&r);
  free (first);
  world_free (&w);
  proc_stop (&cp2);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_imds_v2),
    cmocka_unit_test (test_imds_v1_fallback),
    cmocka_unit_test (test_imds_unreachable),
    cmocka_unit_test (test_credentials_rotation),
  };
  return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
