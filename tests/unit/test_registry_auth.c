/* Unit tests (tables, no I/O) of registry authentication: the ECR wire
 * (aws/registry_auth.h: request, answer, endpoint, cache key, refresh
 * window, LRU/TTL cache), the Secrets Manager registry secret, the
 * registryAuthentication JSON of the task model (ACS and checkpoint forms),
 * the engine's choice of credentials and its task reason
 * (engine/pull_auth.h), and the secrets kept out of log lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "aws/registry_auth.h"
#include "core/xmalloc.h"
#include "ecs/ecs.h"
#include "engine/pull_auth.h"
#include "log/log.h"
#include "task/registry_auth_decode.h"

/* base64("AWS:ecr-pass-123") */
#define TOKEN "QVdTOmVjci1wYXNzLTEyMw=="

static void
test_ecr_parse (void **state)
{
  static const struct
  {
    const char *body;
    bool ok;
    const char *user, *pass, *proxy;
    double exp;
  } t[] = {
    { "{\"authorizationData\":[{\"authorizationToken\":\"" TOKEN "\",\"expiresAt\":1700000000.5,"
      "\"proxyEndpoint\":\"https://123.dkr.ecr.us-west-2.amazonaws.com\"}]}",
      true, "AWS", "ecr-pass-123", "https://123.dkr.ecr.us-west-2.amazonaws.com", 1700000000.5 },
    /* split at the first ':' only; no expiresAt = 0 */
    { "{\"authorizationData\":[{\"authorizationToken\":\"dTpwYXNzOndvcmQ=\",\"proxyEndpoint\":\"http://h:5000\"}]}",
      true, "u", "pass:word", "http://h:5000", 0 },
    { "{\"authorizationData\":[]}", false, NULL, NULL, NULL, 0 },
    { "{\"authorizationData\":[{\"authorizationToken\":\"" TOKEN "\",\"proxyEndpoint\":\"x\"},"
      "{\"authorizationToken\":\"" TOKEN "\",\"proxyEndpoint\":\"y\"}]}", false, NULL, NULL, NULL, 0 },
    { "{\"authorizationData\":[{\"authorizationToken\":\"not base64!\",\"proxyEndpoint\":\"x\"}]}",
      false, NULL, NULL, NULL, 0 },
    /* base64 of "nocolon" */
    { "{\"authorizationData\":[{\"authorizationToken\":\"bm9jb2xvbg==\",\"proxyEndpoint\":\"x\"}]}",
      false, NULL, NULL, NULL, 0 },
    { "{\"authorizationData\":[{\"authorizationToken\":\"" TOKEN "\"}]}", false, NULL, NULL, NULL, 0 },
    { "{\"authorizationData\":[{\"authorizationToken\":\"" TOKEN "\",\"proxyEndpoint\":\"x\","
      "\"expiresAt\":\"soon\"}]}", false, NULL, NULL, NULL, 0 },
    { "[]", false, NULL, NULL, NULL, 0 },
    { "", false, NULL, NULL, NULL, 0 },
  };
  for (size_t i = 0; i < ARRAY_SIZE (t); i++)
    {
      struct aws_registry_creds c;
      agent_error_t err = NULL;
      int rc = aws_ecr_parse_response (t[i].body, strlen (t[i].body), &c, &err);
      if (!t[i].ok)
        {
          assert_true (rc < 0);
          assert_int_equal (error_kind (&err), ERR_MALFORMED);
          assert_null (strstr (error_msg (&err), "ecr-pass"));
          assert_null (c.password);
          error_free (&err);
          continue;
        }
      assert_int_equal (rc, 0);
      assert_string_equal (c.username, t[i].user);
      assert_string_equal (c.password, t[i].pass);
      assert_string_equal (c.serveraddress, t[i].proxy);
      assert_true (c.expires_at == t[i].exp);
      /* the password is redacted while held */
      char *line = log_redact (xasprintf ("pw=%s", t[i].pass));
      assert_null (strstr (line, t[i].pass));
      free (line);
      aws_registry_creds_clear (&c);
    }
}

static void
test_ecr_request_and_endpoint (void **state)
{
  char *b = aws_ecr_request_body ("123456789012");
  assert_string_equal (b, "{\"registryIds\":[\"123456789012\"]}");
  free (b);
  b = aws_ecr_request_body ("");
  assert_string_equal (b, "{}");
  free (b);
  unsetenv ("AWS_ENDPOINT_URL");
  unsetenv ("AWS_ENDPOINT_URL_ECR");
  static const struct
  {
    const char *override, *region, *want;
  } t[] = {
    { "", "us-west-2", "https://api.ecr.us-west-2.amazonaws.com" },
    { NULL, "cn-north-1", "https://api.ecr.cn-north-1.amazonaws.com.cn" },
    { "api.ecr.example.com", "us-west-2", "https://api.ecr.example.com" },
    { "http://127.0.0.1:8080", "us-west-2", "http://127.0.0.1:8080" },
    { "https://ecr-fips.us-east-1.amazonaws.com", "us-east-1", "https://ecr-fips.us-east-1.amazonaws.com" },
    { "", "", NULL },
  };
  for (size_t i = 0; i < ARRAY_SIZE (t); i++)
    {
      agent_error_t err = NULL;
      char *e = aws_ecr_endpoint (t[i].override, t[i].region, &err);
      if (t[i].want)
        assert_string_equal (e, t[i].want);
      else
        {
          assert_null (e);
          assert_non_null (err);
        }
      free (e);
      error_free (&err);
    }
  setenv ("AWS_ENDPOINT_URL_ECR", "http://127.0.0.1:9", 1);
  char *e = aws_ecr_endpoint ("", "us-west-2", NULL);
  assert_string_equal (e, "http://127.0.0.1:9");
  free (e);
  unsetenv ("AWS_ENDPOINT_URL_ECR");
}

static void
test_ecr_key_and_window (void **state)
{
  char *k = aws_ecr_cache_key ("cid", "arn:aws:iam::1:role/r", "us-west-2", "123", "");
  assert_string_equal (k, "cidarn:aws:iam::1:role/r-us-west-2-123-");
  free (k);
  k = aws_ecr_cache_key ("", "", "eu-west-1", "9", "https://x");
  assert_string_equal (k, "-eu-west-1-9-https://x");
  free (k);
  k = aws_ecr_cache_key (NULL, NULL, NULL, NULL, NULL);
  assert_string_equal (k, "---");
  free (k);
  static const struct
  {
    double expires;
    time_t now;
    double r;
    bool usable;
  } t[] = {
    { 10000, 10000 - 1801, 0, true },   /* 30 min + 1 s left, r = 0 */
    { 10000, 10000 - 1800, 0, false },  /* exactly at the window */
    { 10000, 10000 - 3599, 0.9999, false }, /* r near 1: the window is nearly 60 min */
    { 10000, 10000 - 3601, 0.9999, true },
    { 10000, 10000 - 2701, 0.5, true }, /* 45 min window */
    { 10000, 10000 - 2700, 0.5, false },
    { 0, 0, 0, false },                 /* unknown expiry: never used */
    { 10000, 10000 - 1801, -1, true },  /* r out of range counts as 0 */
    { 10000, 10000 - 1801, 1, true },
  };
  for (size_t i = 0; i < ARRAY_SIZE (t); i++)
    assert_int_equal (aws_ecr_token_usable (t[i].expires, t[i].now, t[i].r), t[i].usable);
}

static void
test_ecr_cache (void **state)
{
  aws_ecr_cache_t *c = aws_ecr_cache_new ();
  time_t now = 1000000;
  struct aws_registry_creds rc = { .username = "AWS", .password = "cache-secret-pw",
                                   .serveraddress = "https://r", .expires_at = now + 12 * 3600 };
  aws_ecr_cache_put (c, "k1", &rc, now);
  const struct aws_registry_creds *g = aws_ecr_cache_get (c, "k1", now + 10, 0.3);
  assert_non_null (g);
  assert_string_equal (g->password, "cache-secret-pw");
  assert_ptr_not_equal (g->password, rc.password); /* a copy */
  assert_null (aws_ecr_cache_get (c, "k2", now, 0));
  /* inside the refresh window: evicted */
  assert_null (aws_ecr_cache_get (c, "k1", (time_t) rc.expires_at - 1800, 0));
  assert_int_equal (aws_ecr_cache_size (c), 0);
  /* 12 h TTL even for a token that lives longer */
  rc.expires_at = now + 48 * 3600;
  aws_ecr_cache_put (c, "k1", &rc, now);
  assert_non_null (aws_ecr_cache_get (c, "k1", now + 12 * 3600 - 1, 0));
  assert_null (aws_ecr_cache_get (c, "k1", now + 12 * 3600, 0));
  /* replace keeps one entry */
  aws_ecr_cache_put (c, "k1", &rc, now);
  aws_ecr_cache_put (c, "k1", &rc, now);
  assert_int_equal (aws_ecr_cache_size (c), 1);
  /* LRU: 100 entries, using k1 keeps it; the least recently used goes */
  for (int i = 0; i < AWS_ECR_CACHE_MAX - 1; i++)
    {
      char key[16];
      snprintf (key, sizeof key, "f%d", i);
      aws_ecr_cache_put (c, key, &rc, now);
    }
  assert_int_equal (aws_ecr_cache_size (c), AWS_ECR_CACHE_MAX);
  assert_non_null (aws_ecr_cache_get (c, "k1", now, 0)); /* k1 is the most recent now */
  aws_ecr_cache_put (c, "new", &rc, now);
  assert_int_equal (aws_ecr_cache_size (c), AWS_ECR_CACHE_MAX);
  assert_null (aws_ecr_cache_get (c, "f0", now, 0)); /* the oldest went */
  assert_non_null (aws_ecr_cache_get (c, "k1", now, 0));
  assert_non_null (aws_ecr_cache_get (c, "f1", now, 0));
  /* cached passwords are redacted; freed ones are not registered anymore */
  char *line = log_redact (xstrdup ("cache-secret-pw"));
  assert_null (strstr (line, "cache-secret-pw"));
  free (line);
  aws_ecr_cache_free (c);
  line = log_redact (xstrdup ("cache-secret-pw"));
  assert_non_null (strstr (line, "cache-secret-pw"));
  free (line);
}

static void
test_sm_secret (void **state)
{
  char *b = aws_sm_registry_request_body ("arn:aws:secretsmanager:us-west-2:1:secret:reg");
  assert_string_equal (b, "{\"SecretId\":\"arn:aws:secretsmanager:us-west-2:1:secret:reg\"}");
  free (b);
  static const struct
  {
    const char *body;
    const char *user, *pass; /* NULL: error */
    const char *which;       /* empty field */
  } t[] = {
    { "{\"SecretString\":\"{\\\"username\\\":\\\"u1\\\",\\\"password\\\":\\\"p-sm-1\\\"}\"}", "u1", "p-sm-1", NULL },
    { "{\"SecretString\":\"{\\\"UserName\\\":\\\"u2\\\",\\\"PASSWORD\\\":\\\"p-sm-2\\\",\\\"x\\\":1}\"}", "u2", "p-sm-2", NULL },
    { "{\"SecretString\":\"{\\\"username\\\":\\\"\\\",\\\"password\\\":\\\"p\\\"}\"}", NULL, NULL, "username" },
    { "{\"SecretString\":\"{\\\"username\\\":\\\"u\\\"}\"}", NULL, NULL, "password" },
    { "{\"SecretString\":\"{\\\"username\\\":\\\"u\\\",\\\"password\\\":null}\"}", NULL, NULL, "password" },
    { "{\"SecretString\":\"null\"}", NULL, NULL, "username" },
    { "{\"SecretString\":\"{\\\"username\\\":1,\\\"password\\\":\\\"p\\\"}\"}", NULL, NULL, NULL },
    { "{\"SecretString\":\"not json\"}", NULL, NULL, NULL },
    { "{\"SecretString\":\"[1]\"}", NULL, NULL, NULL },
    { "{\"SecretBinary\":\"AAAA\"}", NULL, NULL, NULL },
    { "{}", NULL, NULL, NULL },
    { "garbage", NULL, NULL, NULL },
  };
  for (size_t i = 0; i < ARRAY_SIZE (t); i++)
    {
      struct aws_registry_creds c;
      const char *which = "x";
      agent_error_t err = NULL;
      int rc = aws_sm_parse_registry_secret (t[i].body, strlen (t[i].body), &c, &which, &err);
      if (t[i].user)
        {
          assert_int_equal (rc, 0);
          assert_string_equal (c.username, t[i].user);
          assert_string_equal (c.password, t[i].pass);
          assert_null (c.serveraddress);
          char *line = log_redact (xstrdup (t[i].pass));
          assert_null (strstr (line, t[i].pass));
          free (line);
          aws_registry_creds_clear (&c);
          continue;
        }
      assert_true (rc < 0);
      if (t[i].which)
        {
          assert_string_equal (which, t[i].which);
          assert_string_equal (error_msg (&err), "AuthorizationData is malformed, empty field");
        }
      else
        {
          assert_null (which);
          assert_string_equal (error_msg (&err), "unable to unmarshal secret value, invalid schema");
        }
      error_free (&err);
    }
}

static void
test_decode_put (void **state)
{
  static const struct
  {
    const char *json;
    int ok;
    enum task_registry_auth_type type;
    const char *region, *registry, *endpoint, *param;
    bool exec;
  } t[] = {
    { "{}", 1, TASK_REGISTRY_AUTH_NONE, NULL, NULL, NULL, NULL, false },
    { "{\"registryAuthentication\":null}", 1, TASK_REGISTRY_AUTH_NONE, NULL, NULL, NULL, NULL, false },
    { "{\"registryAuthentication\":{\"type\":\"ecr\",\"ecrAuthData\":{\"registryId\":\"123\","
      "\"region\":\"us-west-2\",\"endpointOverride\":\"http://cp:1\",\"useExecutionRole\":true}}}",
      1, TASK_REGISTRY_AUTH_ECR, "us-west-2", "123", "http://cp:1", "", true },
    { "{\"RegistryAuthentication\":{\"Type\":\"ecr\",\"EcrAuthData\":{\"RegistryId\":\"9\",\"Region\":\"eu-west-1\"}}}",
      1, TASK_REGISTRY_AUTH_ECR, "eu-west-1", "9", "", "", false },
    { "{\"registryAuthentication\":{\"type\":\"ecr\"}}", 1, TASK_REGISTRY_AUTH_ECR, "", "", "", "", false },
    { "{\"registryAuthentication\":{\"type\":\"asm\",\"asmAuthData\":{\"credentialsParameter\":"
      "\"arn:aws:secretsmanager:us-west-2:1:secret:reg\",\"region\":\"us-west-2\"}}}",
      1, TASK_REGISTRY_AUTH_ASM, "us-west-2", "", "", "arn:aws:secretsmanager:us-west-2:1:secret:reg", false },
    { "{\"registryAuthentication\":{\"type\":\"other\"}}", 1, TASK_REGISTRY_AUTH_NONE, NULL, NULL, NULL, NULL, false },
    { "{\"registryAuthentication\":[]}", 0, 0, NULL, NULL, NULL, NULL, false },
    { "{\"registryAuthentication\":{\"type\":5}}", 0, 0, NULL, NULL, NULL, NULL, false },
    { "{\"registryAuthentication\":{\"type\":\"ecr\",\"ecrAuthData\":\"x\"}}", 0, 0, NULL, NULL, NULL, NULL, false },
    { "{\"registryAuthentication\":{\"type\":\"ecr\",\"ecrAuthData\":{\"useExecutionRole\":\"yes\"}}}", 0, 0, NULL, NULL, NULL, NULL, false },
    { "{\"registryAuthentication\":{\"type\":\"asm\",\"asmAuthData\":{\"region\":7}}}", 0, 0, NULL, NULL, NULL, NULL, false },
  };
  for (size_t i = 0; i < ARRAY_SIZE (t); i++)
    {
      json_error_t je;
      json_t *j = json_loads (t[i].json, 0, &je);
      assert_non_null (j);
      struct task_registry_auth a;
      agent_error_t err = NULL;
      int rc = task_json_container_registry_auth (j, "containers[0]", &a, &err);
      if (!t[i].ok)
        {
          assert_true (rc < 0);
          assert_int_equal (error_kind (&err), ERR_INVALID);
          assert_non_null (strstr (error_msg (&err), "containers[0].registryAuthentication"));
          error_free (&err);
          json_decref (j);
          continue;
        }
      assert_int_equal (rc, 0);
      assert_int_equal (a.type, t[i].type);
      if (t[i].type != TASK_REGISTRY_AUTH_NONE)
        {
          assert_string_equal (a.region, t[i].region);
          assert_string_equal (a.registry_id, t[i].registry);
          assert_string_equal (a.endpoint_override, t[i].endpoint);
          assert_string_equal (a.credentials_parameter, t[i].param);
          assert_int_equal (a.use_execution_role, t[i].exec);
        }
      /* the checkpoint form reads back the same */
      json_t *o = json_object ();
      task_json_container_registry_auth_put (o, &a);
      struct task_registry_auth b;
      assert_int_equal (task_json_container_registry_auth (o, "", &b, &err), 0);
      assert_int_equal (b.type, a.type);
      if (a.type != TASK_REGISTRY_AUTH_NONE)
        {
          assert_string_equal (b.region, a.region);
          assert_string_equal (b.registry_id, a.registry_id);
          assert_string_equal (b.endpoint_override, a.endpoint_override);
          assert_string_equal (b.credentials_parameter, a.credentials_parameter);
          assert_int_equal (b.use_execution_role, a.use_execution_role);
        }
      else
        assert_int_equal (json_object_size (o), 0);
      task_registry_auth_free (&a);
      task_registry_auth_free (&b);
      json_decref (o);
      json_decref (j);
    }
  assert_string_equal (task_registry_auth_type_str (TASK_REGISTRY_AUTH_ECR), "ecr");
  assert_string_equal (task_registry_auth_type_str (TASK_REGISTRY_AUTH_ASM), "asm");
}

static void
test_choose (void **state)
{
  struct task_role_credentials exec = { .credentials_id = "c", .role_arn = "r", .access_key_id = "AK",
                                        .secret_access_key = "SK", .session_token = "T" };
  struct task_role_credentials nokeys = { .credentials_id = "c" };
  struct task_registry_auth none = { 0 };
  struct task_registry_auth ecr_exec = { .type = TASK_REGISTRY_AUTH_ECR, .use_execution_role = true };
  struct task_registry_auth ecr_inst = { .type = TASK_REGISTRY_AUTH_ECR };
  struct task_registry_auth asm_auth = { .type = TASK_REGISTRY_AUTH_ASM };
  static const char *const ecr_name = ENGINE_ECR_ERROR_NAME;
  const struct
  {
    const struct task_registry_auth *a;
    const struct task_role_credentials *exec;
    bool inst;
    enum engine_pull_auth_kind kind;
    const char *name, *msg;
  } t[] = {
    { &none, NULL, false, ENGINE_PULL_AUTH_ENGINE, NULL, NULL },
    { NULL, &exec, true, ENGINE_PULL_AUTH_ENGINE, NULL, NULL },
    { &ecr_exec, &exec, false, ENGINE_PULL_AUTH_ECR_EXEC, NULL, NULL },
    { &ecr_exec, NULL, true, ENGINE_PULL_AUTH_FAIL_PULL, ecr_name, "engine ecr credentials: not found" },
    { &ecr_exec, &nokeys, true, ENGINE_PULL_AUTH_FAIL_PULL, ecr_name, "engine ecr credentials: not found" },
    { &ecr_inst, NULL, true, ENGINE_PULL_AUTH_ECR_INSTANCE, NULL, NULL },
    { &ecr_inst, &exec, true, ENGINE_PULL_AUTH_ECR_INSTANCE, NULL, NULL },
    { &ecr_inst, &exec, false, ENGINE_PULL_AUTH_FAIL_PULL, ecr_name, "engine ecr credentials: not found" },
    { &asm_auth, &exec, false, ENGINE_PULL_AUTH_ASM, NULL, NULL },
    { &asm_auth, NULL, true, ENGINE_PULL_AUTH_FAIL_TASK, NULL,
      "asm resource: unable to find execution role credentials" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (t); i++)
    {
      struct engine_pull_auth_choice c = engine_pull_auth_choose (t[i].a, t[i].exec, t[i].inst);
      assert_int_equal (c.kind, t[i].kind);
      if (t[i].name)
        assert_string_equal (c.err_name, t[i].name);
      else
        assert_null (c.err_name);
      if (t[i].msg)
        assert_string_equal (c.err_msg, t[i].msg);
      else
        assert_null (c.err_msg);
    }
}

static void
test_task_reason (void **state)
{
  static const struct
  {
    const char *in, *want;
  } t[] = {
    { "asm fetching secret from the service for x: AccessDeniedException: no",
      "Asm fetching secret from the service for x: AccessDeniedException: no" },
    { "  asm  fetching\tusername:\n AuthorizationData is malformed, empty field ",
      "Asm fetching username: AuthorizationData is malformed, empty field" },
    { "", "" },
    { NULL, "" },
    { "9 lives", "9 lives" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (t); i++)
    {
      char *r = engine_pull_auth_task_reason (t[i].in);
      assert_string_equal (r, t[i].want);
      free (r);
    }
}

static void
test_capabilities (void **state)
{
  size_t n = 0;
  struct ecs_attribute *a = ecs_registry_auth_attributes (44, &n);
  assert_int_equal (n, 4);
  assert_string_equal (a[0].name, "ecs.capability.private-registry-authentication.secretsmanager");
  assert_string_equal (a[1].name, "ecs.capability.ecr-endpoint");
  assert_string_equal (a[2].name, "com.amazonaws.ecs.capability.ecr-auth");
  assert_string_equal (a[3].name, "ecs.capability.execution-role-ecr-pull");
  for (size_t i = 0; i < n; i++)
    assert_null (a[i].value);
  ecs_attributes_free (a, n);
  a = ecs_registry_auth_attributes (18, &n); /* before Docker API 1.19 */
  assert_int_equal (n, 2);
  ecs_attributes_free (a, n);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_ecr_parse),    cmocka_unit_test (test_ecr_request_and_endpoint),
    cmocka_unit_test (test_ecr_key_and_window), cmocka_unit_test (test_ecr_cache),
    cmocka_unit_test (test_sm_secret),    cmocka_unit_test (test_decode_put),
    cmocka_unit_test (test_choose),       cmocka_unit_test (test_task_reason),
    cmocka_unit_test (test_capabilities),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
