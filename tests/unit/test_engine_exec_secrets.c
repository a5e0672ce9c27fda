/* Unit tests of the engine against a fake Docker (test_engine_fixture.h):
 * secret resources (engine/secrets.h) - fetched with the execution role,
 * injected, failures, re-fetched after a restart. */
#include "test_engine_fixture.h"

/* ---- secret resources (engine/secrets.h) ------------------------------------ */

/* A fake fetcher: each fetch waits until the test answers it. */
struct fsec_fetch
{
  enum task_secret_provider provider;
  size_t n_secrets;
  char names[256];     /* valueFrom of each secret, ' '-separated */
  char akid[64];       /* the credentials' access key id */
  aws_secrets_done_cb cb;
  void *data;
  bool open, cancelled;
};

struct fsec
{
  struct fsec_fetch f[8];
  size_t n;
};

static void *
fsec_fetch (void *ctx, const struct aws_secrets_fetch_req *req, aws_secrets_done_cb cb, void *data)
{
  struct fsec *s = ctx;
  assert_true (s->n < ARRAY_SIZE (s->f));
  struct fsec_fetch *f = &s->f[s->n++];
  memset (f, 0, sizeof *f);
  f->provider = req->provider;
  for (size_t i = 0; i < req->n; i++)
    if (req->secrets[i]->provider == req->provider)
      {
        size_t l = strlen (f->names);
        snprintf (f->names + l, sizeof f->names - l, "%s%s", l ? " " : "", req->secrets[i]->value_from);
        f->n_secrets++;
      }
  snprintf (f->akid, sizeof f->akid, "%s", req->creds && req->creds->access_key_id ? req->creds->access_key_id : "");
  f->cb = cb;
  f->data = data;
  f->open = true;
  return f;
}

static void
fsec_cancel (void *ctx, void *handle)
{
  (void) ctx;
  struct fsec_fetch *f = handle;
  f->open = false;
  f->cancelled = true;
}

static const struct engine_secrets_ops fsec_ops = { fsec_fetch, fsec_cancel };

/* Answer fetch i with key=value pairs (NULL-terminated), or with error. */
static void
fsec_answer (struct fsec *s, size_t i, const char *const *kv, const char *error)
{
  assert_true (i < s->n && s->f[i].open);
  s->f[i].open = false;
  struct task_secret_resource r = { 0 };
  for (size_t k = 0; kv && kv[k]; k += 2)
    task_secret_resource_put (&r, kv[k], kv[k + 1]);
  s->f[i].cb (error ? NULL : &r, error, s->f[i].data);
  task_secret_resource_clear (&r);
}

static void
secrets_fixture (struct fx *x, struct fsec *s, const char *arn)
{
  x->secrets_ops = &fsec_ops;
  x->secrets_ctx = s;
  x->creds = task_creds_store_new ();
  if (!arn)
    return;
  struct task_role_credentials *c = xcalloc (1, sizeof *c);
  c->credentials_id = xstrdup ("exec-1");
  c->role_arn = xstrdup ("arn:aws:iam::1:role/exec");
  c->access_key_id = xstrdup ("AKIDEXEC");
  c->secret_access_key = xstrdup ("exec-secret-key");
  c->session_token = xstrdup ("exec-token");
  agent_error_t err = NULL;
  assert_int_equal (task_creds_store_put (x->creds, arn, TASK_CREDS_EXECUTION_ROLE, c, &err), 0);
}

#define SECRET_TASK(arn, exec)                                                                          \
  "{\"arn\":\"" arn "\",\"family\":\"sec\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\"," exec         \
  "\"containers\":[{\"name\":\"app\",\"image\":\"busybox\",\"essential\":true,"                           \
  "\"environment\":{\"A\":\"1\",\"DB\":\"plain\"},"                                                      \
  "\"dockerConfig\":{\"hostConfig\":\"{\\\"LogConfig\\\":{\\\"Type\\\":\\\"json-file\\\","                  \
  "\\\"Config\\\":{\\\"tag\\\":\\\"x\\\"}}}\"},"                                                         \
  "\"secrets\":[{\"name\":\"DB\",\"valueFrom\":\"/db\",\"provider\":\"ssm\",\"region\":\"r1\","          \
  "\"type\":\"ENVIRONMENT_VARIABLE\"},"                                                                  \
  "{\"name\":\"MISSING\",\"valueFrom\":\"/none\",\"provider\":\"ssm\",\"region\":\"r1\","                \
  "\"type\":\"ENVIRONMENT_VARIABLE\"},"                                                                  \
  "{\"name\":\"fluentd-token\",\"valueFrom\":\"arn:aws:secretsmanager:r1:1:secret:tok\","                \
  "\"provider\":\"asm\",\"region\":\"r1\",\"target\":\"LOG_DRIVER\"},"                                  \
  "{\"name\":\"empty-opt\",\"valueFrom\":\"/empty\",\"provider\":\"ssm\",\"region\":\"r1\","             \
  "\"target\":\"LOG_DRIVER\"}]},"                                                                        \
  "{\"name\":\"side\",\"image\":\"busybox\",\"essential\":false}]}"

#define EXEC_CREDS                                                                                      \
  "\"executionRoleCredentials\":{\"credentialsId\":\"exec-1\",\"accessKeyId\":\"AKIDEXEC\","             \
  "\"secretAccessKey\":\"exec-secret-key\",\"sessionToken\":\"exec-token\"},"

static void
secrets_teardown (struct fx *x)
{
  teardown_engine (x);
  task_creds_store_free (x->creds);
  x->creds = NULL;
}

/* Both resources are fetched with the execution role while the images are
   pulled; the container using them is created only once both are there,
   with the values injected; nothing of them reaches the checkpoint. */
static void
test_secrets_injected (void **st)
{
  struct fx *x = *st;
  struct fsec s = { 0 };
  secrets_fixture (x, &s, "arn:sec1");
  engine_up (x);
  add (x, SECRET_TASK ("arn:sec1", EXEC_CREDS));
  for (int i = 0; i < 5000 && task_of (x, "arn:sec1")->containers[1].known_status < TASK_STATUS_RUNNING; i++)
    uv_run (&x->loop, UV_RUN_ONCE);
  run_turns (x, 100);
  assert_int_equal (s.n, 2);
  assert_int_equal (s.f[0].provider, TASK_SECRET_SSM);
  assert_string_equal (s.f[0].names, "/db /none /empty");
  assert_string_equal (s.f[0].akid, "AKIDEXEC");
  assert_int_equal (s.f[1].provider, TASK_SECRET_ASM);
  assert_string_equal (s.f[1].names, "arn:aws:secretsmanager:r1:1:secret:tok");
  /* the side container runs; app is pulled and waits */
  const struct task *t = task_of (x, "arn:sec1");
  assert_int_equal (t->containers[1].known_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_PULLED);
  assert_int_equal (x->fake.n_create, 1);
  fsec_answer (&s, 0, (const char *const[]){ "/db_r1", "db-secret-value", "/empty_r1", "", NULL }, NULL);
  run_turns (x, 100);
  assert_int_equal (x->fake.n_create, 1);
  fsec_answer (&s, 1, (const char *const[]){ "arn:aws:secretsmanager:r1:1:secret:tok_r1", "tok-secret-value", NULL },
               NULL);
  assert_true (spin_task (x, "arn:sec1", TASK_STATUS_RUNNING));
  struct fctr *k = fake_by_cname (&x->fake, "app");
  assert_non_null (k);
  cleanup_free char *env = NULL;
  {
    struct sbuf b = { 0 };
    for (size_t i = 0; k->env[i]; i++)
      sbuf_printf (&b, "%s|", k->env[i]);
    env = sbuf_steal (&b);
  }
  assert_non_null (strstr (env, "|DB=db-secret-value|"));
  assert_null (strstr (env, "DB=plain"));
  assert_non_null (strstr (env, "MISSING=|"));
  assert_true (strncmp (env, "A=1|", 4) == 0);
  json_t *body = json_loads (k->body, 0, NULL);
  json_t *lc = json_object_get (json_object_get (json_object_get (body, "HostConfig"), "LogConfig"), "Config");
  assert_string_equal (json_string_value (json_object_get (lc, "fluentd-token")), "tok-secret-value");
  assert_string_equal (json_string_value (json_object_get (lc, "tag")), "x");
  assert_null (json_object_get (lc, "empty-opt")); /* empty values are not log options */
  json_decref (body);
  /* never in the checkpoint */
  for (int i = 0; i < 200; i++)
    run_turns (x, 1);
  char *text = NULL;
  size_t len;
  agent_error_t err = NULL;
  cleanup_free char *path = xasprintf ("%s/%s", x->dir, STATE_FILE_NAME);
  assert_int_equal (util_read_file (path, &text, &len, &err), 0);
  assert_null (strstr (text, "db-secret-value"));
  assert_null (strstr (text, "tok-secret-value"));
  assert_non_null (strstr (text, "arn:aws:secretsmanager:r1:1:secret:tok"));
  free (text);
  /* held as log secrets */
  char *line = log_redact (xstrdup ("v=db-secret-value"));
  assert_null (strstr (line, "db-secret-value"));
  free (line);
  /* dropped with the task at cleanup */
  add (x, "{\"arn\":\"arn:sec1\",\"desiredStatus\":\"STOPPED\"}");
  assert_true (spin_task (x, "arn:sec1", TASK_STATUS_STOPPED));
  secrets_teardown (x);
}

/* A failed fetch stops the task with the reason; the container that needs
   the secrets is never created and reports STOPPED without a reason. */
static void
test_secrets_failure (void **st)
{
  struct fx *x = *st;
  struct fsec s = { 0 };
  secrets_fixture (x, &s, "arn:sec2");
  engine_up (x);
  add (x, SECRET_TASK ("arn:sec2", EXEC_CREDS));
  run_turns (x, 200);
  assert_int_equal (s.n, 2);
  fsec_answer (&s, 0, NULL, "fetching secret data from SSM Parameter Store in r1: invalid parameters: /none");
  assert_true (spin_task (x, "arn:sec2", TASK_STATUS_STOPPED));
  const struct task *t = task_of (x, "arn:sec2");
  assert_string_equal (t->reason,
                       "Fetching secret data from SSM Parameter Store in r1: invalid parameters: /none");
  assert_null (t->containers[0].reason);
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_STOPPED);
  assert_null (t->containers[0].docker_id);
  assert_null (fake_by_cname (&x->fake, "app"));
  /* the other fetch may still answer: nothing happens */
  fsec_answer (&s, 1, NULL, "secret x: AccessDeniedException: no: AccessDeniedException: no");
  run_turns (x, 50);
  assert_string_equal (task_of (x, "arn:sec2")->reason,
                       "Fetching secret data from SSM Parameter Store in r1: invalid parameters: /none");
  bool seen = false;
  for (size_t i = 0; i < state_change_count (x->state); i++)
    {
      const struct state_change *c = state_change_peek (x->state, i);
      if (c->kind == STATE_CHANGE_CONTAINER && strcmp (c->container_name, "app") == 0)
        assert_null (c->reason);
      if (c->kind == STATE_CHANGE_TASK && strcmp (c->status, "STOPPED") == 0)
        {
          seen = true;
          assert_string_equal (c->reason,
                               "Fetching secret data from SSM Parameter Store in r1: invalid parameters: /none");
        }
    }
  assert_true (seen);
  secrets_teardown (x);
}

/* Without execution-role credentials the task stops at once. */
static void
test_secrets_no_execution_role (void **st)
{
  struct fx *x = *st;
  struct fsec s = { 0 };
  secrets_fixture (x, &s, NULL);
  engine_up (x);
  add (x, SECRET_TASK ("arn:sec3", ""));
  assert_true (spin_task (x, "arn:sec3", TASK_STATUS_STOPPED));
  assert_int_equal (s.n, 0);
  assert_string_equal (task_of (x, "arn:sec3")->reason,
                       "Ssm secret resource: unable to find execution role credentials");
  assert_null (fake_by_cname (&x->fake, "app"));
  secrets_teardown (x);
}

/* After an agent restart, a task not yet CREATED fetches again (values are
   never saved); a restored task whose credentials ACS has not re-sent waits
   for them. */
static void
test_secrets_refetched_after_restart (void **st)
{
  struct fx *x = *st;
  struct fsec s = { 0 };
  secrets_fixture (x, &s, "arn:sec4");
  engine_up (x);
  add (x, SECRET_TASK ("arn:sec4", EXEC_CREDS));
  run_turns (x, 200);
  assert_int_equal (s.n, 2);
  fsec_answer (&s, 0, (const char *const[]){ "/db_r1", "db-secret-value", NULL }, NULL);
  cleanup_free char *path = xasprintf ("%s/%s", x->dir, STATE_FILE_NAME);
  bool saved = false;
  for (int i = 0; i < 5000 && !saved; i++)
    {
      char *text = NULL;
      size_t len;
      agent_error_t err = NULL;
      saved = util_read_file (path, &text, &len, &err) == 0 && strstr (text, "arn:sec4");
      if (saved)
        assert_null (strstr (text, "db-secret-value"));
      free (text);
      error_free (&err);
      uv_run (&x->loop, UV_RUN_ONCE);
    }
  assert_true (saved);
  teardown_engine (x); /* the agent stops: the open fetch is cancelled */
  assert_true (s.f[1].cancelled);
  /* restarted: the credentials are expected only, then arrive */
  task_creds_store_free (x->creds);
  x->creds = task_creds_store_new ();
  task_creds_store_expect (x->creds, "arn:sec4", TASK_CREDS_EXECUTION_ROLE, "exec-1");
  state_up (x);
  engine_up (x);
  run_turns (x, 200);
  assert_int_equal (s.n, 2);
  const struct task *t = task_of (x, "arn:sec4");
  assert_int_equal (t->secret_res[TASK_SECRET_SSM].status, TASK_RES_PENDING);
  assert_int_equal (t->secret_res[TASK_SECRET_SSM].n_values, 0);
  assert_int_equal (t->containers[0].known_status < TASK_STATUS_CREATED, true);
  struct task_role_credentials *c = xcalloc (1, sizeof *c);
  c->credentials_id = xstrdup ("exec-1");
  c->access_key_id = xstrdup ("AKIDEXEC2");
  c->secret_access_key = xstrdup ("exec-secret-key2");
  agent_error_t err = NULL;
  assert_int_equal (task_creds_store_put (x->creds, "arn:sec4", TASK_CREDS_EXECUTION_ROLE, c, &err), 0);
  for (int i = 0; i < 5000 && s.n < 4; i++)
    uv_run (&x->loop, UV_RUN_ONCE);
  assert_int_equal (s.n, 4);
  assert_string_equal (s.f[2].akid, "AKIDEXEC2");
  fsec_answer (&s, 2, (const char *const[]){ "/db_r1", "db-secret-value", NULL }, NULL);
  fsec_answer (&s, 3, (const char *const[]){ "arn:aws:secretsmanager:r1:1:secret:tok_r1", "tok", NULL }, NULL);
  assert_true (spin_task (x, "arn:sec4", TASK_STATUS_RUNNING));
  add (x, "{\"arn\":\"arn:sec4\",\"desiredStatus\":\"STOPPED\"}");
  assert_true (spin_task (x, "arn:sec4", TASK_STATUS_STOPPED));
  secrets_teardown (x);
}

int
main (void)
{
  log_set_level (getenv ("TEST_DEBUG") ? LOG_DEBUG : LOG_WARN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_secrets_injected, setup, teardown),
    cmocka_unit_test_setup_teardown (test_secrets_failure, setup, teardown),
    cmocka_unit_test_setup_teardown (test_secrets_no_execution_role, setup, teardown),
    cmocka_unit_test_setup_teardown (test_secrets_refetched_after_restart, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
