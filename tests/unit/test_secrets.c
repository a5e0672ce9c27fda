/* Unit tests for container secrets without I/O: the ACS and checkpoint
 * forms of the definitions (task/secrets_decode.h: member names, provider,
 * limits, no value in the checkpoint), the resource's values (registered
 * with the logger while held), and the fetch plan of aws/secrets_wire.h as
 * tables: SSM batching by region (at most 10, cached and repeated names left
 * out), the GetParameters answer (InvalidParameters -> error, values under
 * "<Name>_<region>"), Secrets Manager ARN forms, JSON-key extraction in
 * Go's text form, the error texts and the task reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "acs/task_codec.h"
#include "aws/secrets_wire.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include "state/checkpoint_tasks.h"
#include "task/secrets.h"
#include "task/secrets_decode.h"
#include "helpers/log_quiet.h"

static struct task *
acs_task (const char *secrets_json, agent_error_t *err)
{
  cleanup_free char *text = xasprintf ("{\"arn\":\"arn:aws:ecs:us-west-2:1:task/c/t1\",\"family\":\"f\","
                                       "\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":[{"
                                       "\"name\":\"app\",\"image\":\"busybox\",\"secrets\":%s}]}",
                                       secrets_json);
  json_t *j = json_loads (text, 0, NULL);
  assert_non_null (j);
  struct task *t = NULL;
  acs_task_from_json (j, &t, err);
  json_decref (j);
  return t;
}

static void
test_decode (void **st)
{
  (void) st;
  agent_error_t err = NULL;
  struct task *t = acs_task (
      "[{\"name\":\"DB_PASS\",\"valueFrom\":\"/prod/db\",\"provider\":\"ssm\",\"region\":\"us-west-2\","
      "\"type\":\"ENVIRONMENT_VARIABLE\"},"
      "{\"name\":\"splunk-token\",\"valueFrom\":\"arn:aws:secretsmanager:eu-west-1:1:secret:tok\","
      "\"provider\":\"asm\",\"region\":\"eu-west-1\",\"target\":\"LOG_DRIVER\",\"containerPath\":null}]",
      &err);
  assert_non_null (t);
  const struct task_container_secrets *s = &t->containers[0].secrets;
  assert_int_equal (s->n, 2);
  assert_string_equal (s->v[0].name, "DB_PASS");
  assert_string_equal (s->v[0].value_from, "/prod/db");
  assert_int_equal (s->v[0].provider, TASK_SECRET_SSM);
  assert_true (task_secret_is_env (&s->v[0]));
  assert_false (task_secret_is_log_driver (&s->v[0]));
  assert_int_equal (s->v[1].provider, TASK_SECRET_ASM);
  assert_true (task_secret_is_log_driver (&s->v[1]));
  assert_false (task_secret_is_env (&s->v[1]));
  assert_null (s->v[1].container_path);
  cleanup_free char *key = task_secret_key (&s->v[0]);
  assert_string_equal (key, "/prod/db_us-west-2");
  assert_true (task_container_secrets_use (s, TASK_SECRET_SSM));
  assert_true (task_container_secrets_use (s, TASK_SECRET_ASM));

  /* the checkpoint keeps the definitions, never a value */
  task_secret_resource_put (&t->secret_res[TASK_SECRET_SSM], key, "hunter2-value");
  t->secret_res[TASK_SECRET_SSM].status = TASK_RES_CREATED;
  json_t *cj = state_task_to_json (t);
  char *dump = json_dumps (cj, JSON_COMPACT);
  assert_null (strstr (dump, "hunter2-value"));
  assert_non_null (strstr (dump, "\"valueFrom\":\"/prod/db\""));
  struct task *back = NULL;
  assert_int_equal (state_task_from_json (cj, &back, &err), 0);
  assert_int_equal (back->containers[0].secrets.n, 2);
  assert_string_equal (back->containers[0].secrets.v[1].target, "LOG_DRIVER");
  assert_int_equal (back->containers[0].secrets.v[1].provider, TASK_SECRET_ASM);
  assert_int_equal (back->secret_res[TASK_SECRET_SSM].status, TASK_RES_NONE);
  assert_int_equal (back->secret_res[TASK_SECRET_SSM].n_values, 0);
  free (dump);
  json_decref (cj);
  task_free (back);
  task_free (t);
}

static void
test_decode_errors (void **st)
{
  (void) st;
  static const struct
  {
    const char *secrets, *msg;
  } cases[] = {
    { "{}", "containers[0].secrets must be an array" },
    { "[1]", "containers[0].secrets[0] must be an object" },
    { "[{\"valueFrom\":\"x\",\"provider\":\"ssm\"}]", "containers[0].secrets[0].name is required" },
    { "[{\"name\":\"A\",\"provider\":\"ssm\"}]", "containers[0].secrets[0].valueFrom is required" },
    { "[{\"name\":\"A\",\"valueFrom\":\"x\",\"provider\":\"s3\"}]",
      "containers[0].secrets[0].provider must be \"ssm\" or \"asm\"" },
    { "[{\"name\":\"A\",\"valueFrom\":\"x\"}]", "containers[0].secrets[0].provider is required" },
    { "[{\"name\":\"A\",\"valueFrom\":\"x\",\"provider\":\"ssm\",\"region\":3}]",
      "containers[0].secrets[0].region must be a string" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      agent_error_t err = NULL;
      struct task *t = acs_task (cases[i].secrets, &err);
      assert_null (t);
      if (!strstr (error_msg (&err), cases[i].msg))
        fail_msg ("case %zu: %s", i, error_msg (&err));
      error_free (&err);
    }
  /* null and [] are no secrets */
  agent_error_t err = NULL;
  struct task *t = acs_task ("null", &err);
  assert_non_null (t);
  assert_int_equal (t->containers[0].secrets.n, 0);
  task_free (t);
  /* more than the limit */
  struct sbuf b = { 0 };
  sbuf_puts (&b, "[");
  for (int i = 0; i <= TASK_SECRETS_MAX; i++)
    sbuf_printf (&b, "%s{\"name\":\"N%d\",\"valueFrom\":\"v\",\"provider\":\"ssm\"}", i ? "," : "", i);
  sbuf_puts (&b, "]");
  cleanup_free char *many = sbuf_steal (&b);
  assert_null (acs_task (many, &err));
  assert_non_null (strstr (error_msg (&err), "at most 100"));
  error_free (&err);
}

static void
test_resource_values (void **st)
{
  (void) st;
  struct task_secret_resource r = { 0 };
  task_secret_resource_put (&r, "a_r", "first-value");
  task_secret_resource_put (&r, "b_r", "second-value");
  task_secret_resource_put (&r, "a_r", "third-value");
  assert_int_equal (r.n_values, 2);
  assert_string_equal (task_secret_resource_get (&r, "a_r"), "third-value");
  assert_null (task_secret_resource_get (&r, "c_r"));
  char *line = xstrdup ("x second-value y third-value first-value");
  line = log_redact (line);
  assert_null (strstr (line, "second-value"));
  assert_null (strstr (line, "third-value"));
  assert_non_null (strstr (line, "first-value")); /* replaced: no longer held */
  free (line);
  task_secret_resource_clear (&r);
  line = log_redact (xstrdup ("second-value"));
  assert_string_equal (line, "second-value");
  free (line);
}

/* ---- SSM plan ---- */

static struct task_secret
sec (const char *name, const char *from, enum task_secret_provider p, const char *region)
{
  return (struct task_secret){ .name = (char *) name, .value_from = (char *) from, .provider = p,
                               .region = (char *) region };
}

static void
test_ssm_plan (void **st)
{
  (void) st;
  struct task_secret s[30];
  const struct task_secret *ps[30];
  char names[30][16];
  size_t n = 0;
  /* 23 names in us-east-1, 2 in eu-west-1, one repeated, one cached, one ASM */
  for (int i = 0; i < 23; i++)
    {
      snprintf (names[n], sizeof names[n], "/p/%d", i);
      s[n] = sec ("N", names[n], TASK_SECRET_SSM, "us-east-1");
      n++;
      if (i == 3)
        {
          s[n] = sec ("E1", "/eu/a", TASK_SECRET_SSM, "eu-west-1");
          n++;
        }
    }
  s[n++] = sec ("DUP", "/p/5", TASK_SECRET_SSM, "us-east-1");
  s[n++] = sec ("E2", "/eu/b", TASK_SECRET_SSM, "eu-west-1");
  s[n++] = sec ("C", "/cached", TASK_SECRET_SSM, "eu-west-1");
  s[n++] = sec ("A", "arn:aws:secretsmanager:r:1:secret:x", TASK_SECRET_ASM, "us-east-1");
  for (size_t i = 0; i < n; i++)
    ps[i] = &s[i];
  struct task_secret_resource have = { 0 };
  task_secret_resource_put (&have, "/cached_eu-west-1", "v");
  struct aws_ssm_batch *b = NULL;
  size_t nb = aws_ssm_plan (ps, n, &have, &b);
  assert_int_equal (nb, 4);
  assert_string_equal (b[0].region, "us-east-1");
  assert_int_equal (b[0].n, 10);
  assert_string_equal (b[0].names[0], "/p/0");
  assert_string_equal (b[1].region, "us-east-1");
  assert_int_equal (b[1].n, 10);
  assert_string_equal (b[2].region, "us-east-1");
  assert_int_equal (b[2].n, 3);
  assert_string_equal (b[2].names[2], "/p/22");
  assert_string_equal (b[3].region, "eu-west-1");
  assert_int_equal (b[3].n, 2);
  assert_string_equal (b[3].names[0], "/eu/a");
  assert_string_equal (b[3].names[1], "/eu/b");
  char *body = aws_ssm_request_body (&b[3]);
  assert_string_equal (body, "{\"Names\":[\"/eu/a\",\"/eu/b\"],\"WithDecryption\":true}");
  free (body);
  free (b);
  /* everything cached: no call */
  nb = aws_ssm_plan (ps + n - 2, 1, &have, &b);
  assert_int_equal (nb, 0);
  free (b);
  task_secret_resource_clear (&have);
}

static void
test_ssm_response (void **st)
{
  (void) st;
  agent_error_t err = NULL;
  struct aws_ssm_response r;
  static const char ok[] = "{\"Parameters\":[{\"Name\":\"/p/a\",\"Type\":\"SecureString\",\"Value\":\"s3cr3t-a\","
                           "\"Version\":1,\"ARN\":\"arn:aws:ssm:us-east-1:1:parameter/p/a\"},"
                           "{\"Name\":\"/p/b\",\"Type\":\"String\",\"Value\":\"\"}],\"InvalidParameters\":[]}";
  assert_int_equal (aws_ssm_parse_response (ok, strlen (ok), &r, &err), 0);
  assert_int_equal (r.n_params, 2);
  struct task_secret_resource res = { 0 };
  assert_null (aws_ssm_apply (&r, "us-east-1", &res));
  assert_string_equal (task_secret_resource_get (&res, "/p/a_us-east-1"), "s3cr3t-a");
  assert_string_equal (task_secret_resource_get (&res, "/p/b_us-east-1"), "");
  aws_ssm_response_clear (&r);
  task_secret_resource_clear (&res);

  static const char bad[] = "{\"Parameters\":[],\"InvalidParameters\":[\"/x\",\"/y\"]}";
  assert_int_equal (aws_ssm_parse_response (bad, strlen (bad), &r, &err), 0);
  char *e = aws_ssm_apply (&r, "us-east-1", &res);
  assert_string_equal (e, "invalid parameters: /x,/y");
  assert_int_equal (res.n_values, 0);
  char *text = aws_ssm_error_text ("us-east-1", e);
  cleanup_free char *reason = aws_secrets_reason (text);
  assert_string_equal (reason, "Fetching secret data from SSM Parameter Store in us-east-1: invalid parameters: /x,/y");
  free (text);
  free (e);
  aws_ssm_response_clear (&r);

  static const char *const malformed[] = {
    "", "[]", "nope", "{\"Parameters\":{}}", "{\"Parameters\":[{\"Value\":\"v\"}]}",
    "{\"Parameters\":[{\"Name\":\"n\",\"Value\":3}]}", "{\"InvalidParameters\":[1]}",
    "{\"Parameters\":[{\"Name\":\"a\\u0000b\",\"Value\":\"v\"}]}",
  };
  for (size_t i = 0; i < ARRAY_SIZE (malformed); i++)
    {
      if (aws_ssm_parse_response (malformed[i], strlen (malformed[i]), &r, &err) >= 0)
        fail_msg ("case %zu parsed", i);
      assert_int_equal (error_kind (&err), ERR_MALFORMED);
      assert_int_equal (r.n_params, 0);
      error_free (&err);
    }
  /* absent members are fine */
  assert_int_equal (aws_ssm_parse_response ("{}", 2, &r, &err), 0);
  aws_ssm_response_clear (&r);
}

/* ---- Secrets Manager ---- */

static void
test_asm_value_from (void **st)
{
  (void) st;
  static const struct
  {
    const char *v, *id, *key, *stage, *version, *body;
  } ok[] = {
    { "arn:aws:secretsmanager:us-east-1:123:secret:db-AbCdEf", "arn:aws:secretsmanager:us-east-1:123:secret:db-AbCdEf",
      NULL, NULL, NULL, "{\"SecretId\":\"arn:aws:secretsmanager:us-east-1:123:secret:db-AbCdEf\"}" },
    { "arn:aws:secretsmanager:us-east-1:123:secret:db:password::", "arn:aws:secretsmanager:us-east-1:123:secret:db",
      "password", NULL, NULL, "{\"SecretId\":\"arn:aws:secretsmanager:us-east-1:123:secret:db\"}" },
    { "arn:aws:secretsmanager:us-east-1:123:secret:db::AWSPREVIOUS:", "arn:aws:secretsmanager:us-east-1:123:secret:db",
      NULL, "AWSPREVIOUS", NULL,
      "{\"SecretId\":\"arn:aws:secretsmanager:us-east-1:123:secret:db\",\"VersionStage\":\"AWSPREVIOUS\"}" },
    { "arn:aws:secretsmanager:us-east-1:123:secret:db:user:AWSCURRENT:v-1", "arn:aws:secretsmanager:us-east-1:123:secret:db",
      "user", "AWSCURRENT", "v-1",
      "{\"SecretId\":\"arn:aws:secretsmanager:us-east-1:123:secret:db\",\"VersionStage\":\"AWSCURRENT\",\"VersionId\":\"v-1\"}" },
    { "arn:aws:secretsmanager:us-east-1:123:secret:db:::v-2", "arn:aws:secretsmanager:us-east-1:123:secret:db", NULL,
      NULL, "v-2", "{\"SecretId\":\"arn:aws:secretsmanager:us-east-1:123:secret:db\",\"VersionId\":\"v-2\"}" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (ok); i++)
    {
      struct aws_asm_ref r;
      char *e = NULL;
      assert_int_equal (aws_asm_parse_value_from (ok[i].v, &r, &e), 0);
      assert_null (e);
      assert_string_equal (r.secret_id, ok[i].id);
#define OPT_EQ(a, b) ((b) ? assert_non_null (a), assert_string_equal ((a), (b)) : assert_null (a))
      OPT_EQ (r.json_key, ok[i].key);
      OPT_EQ (r.version_stage, ok[i].stage);
      OPT_EQ (r.version_id, ok[i].version);
      char *body = aws_asm_request_body (&r);
      assert_string_equal (body, ok[i].body);
      free (body);
      aws_asm_ref_clear (&r);
    }
  static const char *const bad[] = { "my-secret", "arn:aws:secretsmanager:us-east-1:123:secret",
                                     "arn:aws:secretsmanager:us-east-1:123:secret:db:k",
                                     "arn:aws:secretsmanager:us-east-1:123:secret:db:k:s:v:extra", "" };
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    {
      struct aws_asm_ref r;
      char *e = NULL;
      assert_true (aws_asm_parse_value_from (bad[i], &r, &e) < 0);
      assert_null (r.secret_id);
      cleanup_free char *want = xasprintf (
          "trying to retrieve secret with value %s resulted in error: an invalid ARN format for the AWS "
          "Secrets Manager secret was specified. Specify a valid ARN and try again.",
          bad[i]);
      assert_string_equal (e, want);
      free (e);
    }
}

static void
test_asm_plan (void **st)
{
  (void) st;
  struct task_secret s[] = {
    sec ("A", "arn:x:1", TASK_SECRET_ASM, "r1"), sec ("B", "/ssm", TASK_SECRET_SSM, "r1"),
    sec ("C", "arn:x:1", TASK_SECRET_ASM, "r1"), sec ("D", "arn:x:1", TASK_SECRET_ASM, "r2"),
    sec ("E", "arn:x:2", TASK_SECRET_ASM, "r1"),
  };
  const struct task_secret *ps[ARRAY_SIZE (s)];
  for (size_t i = 0; i < ARRAY_SIZE (s); i++)
    ps[i] = &s[i];
  struct task_secret_resource have = { 0 };
  task_secret_resource_put (&have, "arn:x:2_r1", "v");
  size_t *idx = NULL;
  size_t k = aws_asm_plan (ps, ARRAY_SIZE (s), &have, &idx);
  assert_int_equal (k, 2);
  assert_int_equal (idx[0], 0);
  assert_int_equal (idx[1], 3);
  free (idx);
  task_secret_resource_clear (&have);
}

static void
test_asm_response_and_extract (void **st)
{
  (void) st;
  agent_error_t err = NULL;
  char *ss = NULL;
  static const char ok[] = "{\"ARN\":\"arn\",\"Name\":\"db\",\"SecretString\":\"{\\\"user\\\":\\\"admin\\\"}\","
                           "\"VersionId\":\"v\",\"VersionStages\":[\"AWSCURRENT\"]}";
  assert_int_equal (aws_asm_parse_response (ok, strlen (ok), &ss, &err), 0);
  assert_string_equal (ss, "{\"user\":\"admin\"}");
  free (ss);
  assert_int_equal (aws_asm_parse_response ("{\"SecretBinary\":\"AAA=\"}", 23, &ss, &err), 0);
  assert_string_equal (ss, "");
  free (ss);
  assert_true (aws_asm_parse_response ("{\"SecretString\":1}", 18, &ss, &err) < 0);
  assert_null (ss);
  error_free (&err);
  assert_true (aws_asm_parse_response ("x", 1, &ss, &err) < 0);
  error_free (&err);

  static const char js[] = "{\"user\":\"admin\",\"port\":5432,\"ratio\":1.5,\"big\":1000000,\"small\":0.00001,"
                           "\"on\":true,\"none\":null,\"list\":[1,\"a\",false],\"obj\":{\"z\":1,\"a\":\"b\"},"
                           "\"empty\":\"\",\"neg\":-12.25,\"e\":123456,\"f\":1234567,\"tiny\":0.0001}";
  static const struct
  {
    const char *key, *value;
  } cases[] = {
    { NULL, js },          { "", js },         { "user", "admin" },        { "port", "5432" },
    { "ratio", "1.5" },    { "big", "1e+06" }, { "small", "1e-05" },       { "on", "true" },
    { "none", "<nil>" },   { "list", "[1 a false]" }, { "obj", "map[a:b z:1]" }, { "empty", "" },
    { "neg", "-12.25" },   { "e", "123456" },  { "f", "1.234567e+06" },    { "tiny", "0.0001" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      char *v = NULL, *e = NULL;
      if (aws_asm_extract (js, cases[i].key, &v, &e) < 0)
        fail_msg ("case %zu: %s", i, e);
      assert_null (e);
      assert_string_equal (v, cases[i].value);
      free (v);
    }
  static const struct
  {
    const char *ss, *key, *e;
  } bad[] = {
    { js, "missing", "retrieved secret from Secrets Manager did not contain json key missing" },
    { "null", "k", "retrieved secret from Secrets Manager did not contain json key k" },
    { "\"plain\"", "k", "json: cannot unmarshal string into Go value of type map[string]interface {}" },
    { "[1]", "k", "json: cannot unmarshal array into Go value of type map[string]interface {}" },
    { "not-json-TOPSECRET", "k", "invalid character in the secret value: it is not valid JSON" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    {
      char *v = NULL, *e = NULL;
      assert_true (aws_asm_extract (bad[i].ss, bad[i].key, &v, &e) < 0);
      assert_null (v);
      assert_string_equal (e, bad[i].e);
      free (e);
    }
  char num[40];
  static const struct
  {
    double v;
    const char *s;
  } nums[] = { { 0, "0" },          { 1, "1" },           { 100000, "100000" }, { 1e21, "1e+21" },
               { 0.1, "0.1" },      { 1e-7, "1e-07" },    { 3.14159, "3.14159" }, { -1e6, "-1e+06" },
               { 1e100, "1e+100" }, { 123.456, "123.456" }, { 9007199254740993.0, "9.007199254740992e+15" } };
  for (size_t i = 0; i < ARRAY_SIZE (nums); i++)
    {
      aws_go_float_text (nums[i].v, num, sizeof num);
      assert_string_equal (num, nums[i].s);
    }
}

static void
test_error_texts (void **st)
{
  (void) st;
  const char *id = "arn:aws:secretsmanager:us-east-1:1:secret:gone";
  assert_true (aws_secrets_is_not_found ("ResourceNotFoundException: Secrets Manager can't find the specified secret."));
  assert_true (aws_secrets_is_not_found ("ResourceNotFoundException"));
  assert_false (aws_secrets_is_not_found ("ResourceNotFoundExceptionX: y"));
  assert_false (aws_secrets_is_not_found ("AccessDeniedException: no"));
  assert_false (aws_secrets_is_not_found (NULL));
  char *t = aws_asm_error_text (id, true, "ResourceNotFoundException: Secrets Manager can't find the specified secret.");
  cleanup_free char *r = aws_secrets_reason (t);
  assert_string_equal (r, "ResourceNotFoundException: The task can't retrieve the secret with ARN "
                          "'arn:aws:secretsmanager:us-east-1:1:secret:gone' from AWS Secrets Manager. Check "
                          "whether the secret exists in the specified Region: ResourceNotFoundException: "
                          "Secrets Manager can't find the specified secret.");
  free (t);
  t = aws_asm_error_text (id, false, "AccessDeniedException: denied");
  cleanup_free char *r2 = aws_secrets_reason (t);
  assert_string_equal (r2, "Secret arn:aws:secretsmanager:us-east-1:1:secret:gone: AccessDeniedException: denied: "
                           "AccessDeniedException: denied");
  free (t);
  static const struct
  {
    const char *in, *out;
  } reasons[] = {
    { "ssm secret resource: unable to find execution role credentials",
      "Ssm secret resource: unable to find execution role credentials" },
    { "  a\n\tb   c  ", "A b c" },
    { "", "" },
    { "Already", "Already" },
    { "1 two", "1 two" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (reasons); i++)
    {
      char *x = aws_secrets_reason (reasons[i].in);
      assert_string_equal (x, reasons[i].out);
      free (x);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_decode, test_log_quiet_setup, test_log_quiet_teardown),
    cmocka_unit_test_setup_teardown (test_decode_errors, test_log_quiet_setup, test_log_quiet_teardown),
    cmocka_unit_test_setup_teardown (test_resource_values, test_log_quiet_setup, test_log_quiet_teardown),
    cmocka_unit_test_setup_teardown (test_ssm_plan, test_log_quiet_setup, test_log_quiet_teardown),
    cmocka_unit_test_setup_teardown (test_ssm_response, test_log_quiet_setup, test_log_quiet_teardown),
    cmocka_unit_test_setup_teardown (test_asm_value_from, test_log_quiet_setup, test_log_quiet_teardown),
    cmocka_unit_test_setup_teardown (test_asm_plan, test_log_quiet_setup, test_log_quiet_teardown),
    cmocka_unit_test_setup_teardown (test_asm_response_and_extract, test_log_quiet_setup, test_log_quiet_teardown),
    cmocka_unit_test_setup_teardown (test_error_texts, test_log_quiet_setup, test_log_quiet_teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
