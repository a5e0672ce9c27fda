/* Unit tests for aws/credentials and the pure parts of aws/imds: refresh
 * scheduling rule, static (env) provider, secrets registered with the log
 * redactor, identity document / role credential / time parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "aws/credentials.h"
#include "aws/imds.h"
#include "core/xmalloc.h"
#include "log/log.h"

static void
test_refresh_at (void **state)
{
  /* 6 h role credentials: refresh 5 min before expiry */
  assert_int_equal (aws_creds_refresh_at (1000, 1000 + 6 * 3600, 300), 1000 + 6 * 3600 - 300);
  /* default refresh_before */
  assert_int_equal (aws_creds_refresh_at (1000, 1000 + 3600, 0), 1000 + 3600 - 300);
  /* short-lived (<= 2x before): at half of the remaining life */
  assert_int_equal (aws_creds_refresh_at (1000, 1000 + 600, 300), 1000 + 300);
  assert_int_equal (aws_creds_refresh_at (1000, 1000 + 10, 300), 1005);
  /* already expired: now */
  assert_int_equal (aws_creds_refresh_at (1000, 900, 300), 1000);
  assert_int_equal (aws_creds_refresh_at (1000, 1000, 300), 1000);
  /* custom window */
  assert_int_equal (aws_creds_refresh_at (0, 100, 10), 90);
}

static int n_cb;
static char *last_ak;

static void
creds_cb (const struct aws_credentials *c, agent_error_t err, void *data)
{
  n_cb++;
  free (last_ak);
  last_ak = c ? xstrdup (c->access_key_id) : NULL;
  int *kind = data;
  *kind = err ? error_kind (&err) : 0;
}

static void
test_static_provider (void **state)
{
  struct aws_creds_options o = { .access_key_id = "AKIDSTATIC", .secret_access_key = "SECRETSTATIC",
                                 .session_token = "TOKENSTATIC" };
  agent_error_t err = NULL;
  aws_creds_provider_t *p = aws_creds_provider_new (NULL, NULL, &o, &err);
  assert_non_null (p);
  assert_true (aws_creds_is_static (p));
  const struct aws_credentials *c = aws_creds_current (p);
  assert_non_null (c);
  assert_string_equal (c->access_key_id, "AKIDSTATIC");
  assert_string_equal (c->session_token, "TOKENSTATIC");
  assert_int_equal (c->expiration, 0);
  int kind = -1;
  n_cb = 0;
  aws_creds_fetch (p, creds_cb, &kind); /* synchronous for static credentials */
  assert_int_equal (n_cb, 1);
  assert_int_equal (kind, 0);
  assert_string_equal (last_ak, "AKIDSTATIC");
  aws_creds_invalidate (p); /* no-op for static */
  assert_non_null (aws_creds_current (p));
  assert_int_equal (aws_creds_next_refresh (p), 0);

  /* every member is redacted in logs */
  char *line = xstrdup ("k=AKIDSTATIC s=SECRETSTATIC t=TOKENSTATIC");
  line = log_redact (line);
  assert_null (strstr (line, "AKIDSTATIC"));
  assert_null (strstr (line, "SECRETSTATIC"));
  assert_null (strstr (line, "TOKENSTATIC"));
  free (line);
  aws_creds_provider_free (p);
  /* unregistered once the provider is gone */
  line = xstrdup ("SECRETSTATIC");
  line = log_redact (line);
  assert_string_equal (line, "SECRETSTATIC");
  free (line);

  /* no token: session_token NULL */
  struct aws_creds_options o2 = { .access_key_id = "AKID2", .secret_access_key = "SECRET2",
                                  .session_token = "" };
  p = aws_creds_provider_new (NULL, NULL, &o2, &err);
  assert_null (aws_creds_current (p)->session_token);
  aws_creds_provider_free (p);
}

static void
test_no_credentials (void **state)
{
  /* one of the pair missing, instance role disabled: ERR_AUTH, synchronously */
  struct aws_creds_options o = { .access_key_id = "AKID", .secret_access_key = "", .no_imds = true };
  agent_error_t err = NULL;
  aws_creds_provider_t *p = aws_creds_provider_new (NULL, NULL, &o, &err);
  assert_non_null (p);
  assert_false (aws_creds_is_static (p));
  assert_null (aws_creds_current (p));
  int kind = -1;
  n_cb = 0;
  aws_creds_fetch (p, creds_cb, &kind);
  assert_int_equal (n_cb, 1);
  assert_int_equal (kind, ERR_AUTH);
  assert_null (last_ak);
  aws_creds_provider_free (p);
  /* instance role without a loop: error */
  struct aws_creds_options o3 = { 0 };
  p = aws_creds_provider_new (NULL, NULL, &o3, &err);
  assert_null (p);
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);
}

static void
test_getenv_provider (void **state)
{
  setenv ("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  setenv ("AWS_SECRET_ACCESS_KEY", "SECRETENV", 1);
  unsetenv ("AWS_SESSION_TOKEN");
  struct aws_creds_options o = { .use_getenv = true };
  agent_error_t err = NULL;
  aws_creds_provider_t *p = aws_creds_provider_new (NULL, NULL, &o, &err);
  assert_true (aws_creds_is_static (p));
  assert_string_equal (aws_creds_current (p)->access_key_id, "AKIDENV");
  assert_null (aws_creds_current (p)->session_token);
  aws_creds_provider_free (p);
  unsetenv ("AWS_ACCESS_KEY_ID");
  unsetenv ("AWS_SECRET_ACCESS_KEY");
}

static void
test_dup_free (void **state)
{
  struct aws_credentials c = { "a", "b", NULL, 5 };
  struct aws_credentials *d = aws_credentials_dup (&c);
  assert_string_equal (d->access_key_id, "a");
  assert_null (d->session_token);
  assert_int_equal (d->expiration, 5);
  aws_credentials_free (d);
  assert_null (aws_credentials_dup (NULL));
  aws_credentials_free (NULL);
}

static void
test_parse_time (void **state)
{
  time_t t;
  assert_int_equal (imds_parse_time ("2015-05-19T12:00:00Z", &t), 0);
  assert_int_equal (t, 1432036800);
  assert_int_equal (imds_parse_time ("2015-05-19T12:00:00.123Z", &t), 0);
  assert_int_equal (t, 1432036800);
  assert_int_equal (imds_parse_time ("2015-05-19T14:00:00+02:00", &t), 0);
  assert_int_equal (t, 1432036800);
  assert_int_equal (imds_parse_time ("2015-05-19T11:30:00-00:30", &t), 0);
  assert_int_equal (t, 1432036800);
  const char *bad[] = { "", "2015-05-19", "2015-05-19T12:00:00", "2015-13-19T12:00:00Z",
                        "2015-05-19T25:00:00Z", "2015-05-19T12:00:00Zx", "2015-05-19T12:00:00.Z",
                        "2015-05-19T12:00:00+0200", "abcd-ef-ghTij:kl:mnZ" };
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    assert_true (imds_parse_time (bad[i], &t) < 0);
  assert_true (imds_parse_time (NULL, &t) < 0);
}

static void
test_parse_credentials (void **state)
{
  const char *ok = "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2015-05-19T11:00:00Z\",\n"
                   "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"ASIAEXAMPLE\",\n"
                   "  \"SecretAccessKey\" : \"sec/ret+\",\n  \"Token\" : \"tok==\",\n"
                   "  \"Expiration\" : \"2015-05-19T12:00:00Z\"\n}";
  struct aws_credentials *c = NULL;
  agent_error_t err = NULL;
  assert_int_equal (imds_credentials_parse (ok, strlen (ok), &c, &err), 0);
  assert_string_equal (c->access_key_id, "ASIAEXAMPLE");
  assert_string_equal (c->secret_access_key, "sec/ret+");
  assert_string_equal (c->session_token, "tok==");
  assert_int_equal (c->expiration, 1432036800);
  aws_credentials_free (c);
  /* no Code, no Expiration: accepted, expiration 0 */
  const char *min = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}";
  assert_int_equal (imds_credentials_parse (min, strlen (min), &c, &err), 0);
  assert_int_equal (c->expiration, 0);
  assert_null (c->session_token);
  aws_credentials_free (c);
  struct
  {
    const char *s;
    int kind;
  } bad[] = {
    { "", ERR_MALFORMED },
    { "[]", ERR_MALFORMED },
    { "{\"Code\":\"Failure\",\"Message\":\"no\"}", ERR_AUTH },
    { "{\"AccessKeyId\":\"A\"}", ERR_MALFORMED },
    { "{\"AccessKeyId\":\"\",\"SecretAccessKey\":\"S\"}", ERR_MALFORMED },
    { "{\"AccessKeyId\":1,\"SecretAccessKey\":\"S\"}", ERR_MALFORMED },
    { "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":\"tomorrow\"}", ERR_MALFORMED },
  };
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    {
      assert_true (imds_credentials_parse (bad[i].s, strlen (bad[i].s), &c, &err) < 0);
      assert_null (c);
      assert_int_equal (error_kind (&err), bad[i].kind);
      error_free (&err);
    }
}

static void
test_parse_identity (void **state)
{
  const char *doc = "{\n  \"accountId\" : \"123456789012\",\n  \"availabilityZone\" : \"us-west-2a\",\n"
                    "  \"instanceId\" : \"i-0123\",\n  \"instanceType\" : \"m5.large\",\n"
                    "  \"region\" : \"us-west-2\",\n  \"billingProducts\" : null\n}";
  struct imds_identity id;
  agent_error_t err = NULL;
  assert_int_equal (imds_identity_parse (doc, strlen (doc), &id, &err), 0);
  assert_string_equal (id.instance_id, "i-0123");
  assert_string_equal (id.region, "us-west-2");
  assert_string_equal (id.availability_zone, "us-west-2a");
  assert_string_equal (id.account_id, "123456789012");
  assert_string_equal (id.instance_type, "m5.large");
  assert_string_equal (id.document, doc);
  assert_string_equal (id.signature, "");
  imds_identity_clear (&id);
  imds_identity_clear (&id); /* idempotent */
  const char *bad[] = { "", "{", "[]", "{\"instanceId\":\"i\"}", "{\"region\":\"r\"}",
                        "{\"instanceId\":\"i\",\"region\":\"\"}", "{\"instanceId\":1,\"region\":\"r\"}",
                        "{\"instanceId\":\"i\",\"instanceId\":\"j\",\"region\":\"r\"}" };
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    {
      assert_true (imds_identity_parse (bad[i], strlen (bad[i]), &id, &err) < 0);
      assert_int_equal (error_kind (&err), ERR_MALFORMED);
      assert_null (id.instance_id);
      error_free (&err);
    }
}

static void
test_first_role (void **state)
{
  char *r = imds_first_role ("ecs-role\nother\n", 15);
  assert_string_equal (r, "ecs-role");
  free (r);
  r = imds_first_role ("\n  \n role-b \r\n", 14);
  assert_string_equal (r, "role-b");
  free (r);
  assert_null (imds_first_role ("", 0));
  assert_null (imds_first_role ("\n\n", 2));
  assert_null (imds_first_role ("a/b", 3)); /* never a path */
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_refresh_at),      cmocka_unit_test (test_static_provider),
    cmocka_unit_test (test_no_credentials),  cmocka_unit_test (test_getenv_provider),
    cmocka_unit_test (test_dup_free),        cmocka_unit_test (test_parse_time),
    cmocka_unit_test (test_parse_credentials), cmocka_unit_test (test_parse_identity),
    cmocka_unit_test (test_first_role),
  };
  int rc = cmocka_run_group_tests (tests, NULL, NULL);
  free (last_ak);
  return rc;
}
