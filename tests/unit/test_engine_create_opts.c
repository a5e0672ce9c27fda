/* Unit tests for engine/create_opts.c (pure): a task container as Docker
 * create options - command override, environment, ports, links and
 * volumesFrom by Docker name, binds, CPU / memory floors, labels - and
 * the errors for what cannot be resolved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/create_opts.h"
#include "task/image_record.h"
#include "test_engine_util.h"

#define TASK_JSON                                                                                  \
  "{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"volumes\":[{\"name\":\"scratch\",\"host\":{}},"  \
  "{\"name\":\"host\",\"host\":{\"sourcePath\":\"/srv\"}}],\"containers\":["                       \
  "{\"name\":\"web\",\"image\":\"busybox\",\"command\":[\"sh\"],\"cpu\":1,\"memory\":2,"           \
  "\"environment\":{\"A\":\"1\"},\"links\":[\"db:database\",\"db\"],"                              \
  "\"portMappings\":[{\"containerPort\":80,\"hostPort\":8080,\"protocol\":\"udp\"}],"              \
  "\"volumesFrom\":[{\"sourceContainer\":\"db\",\"readOnly\":true}],"                              \
  "\"mountPoints\":[{\"sourceVolume\":\"scratch\",\"containerPath\":\"/s\"},"                      \
  "{\"sourceVolume\":\"host\",\"containerPath\":\"/h\",\"readOnly\":true}],"                       \
  "\"overrides\":{\"command\":[\"echo\",\"hi\"]}},"                                               \
  "{\"name\":\"db\",\"image\":\"busybox\",\"cpu\":512,\"memory\":64}]}"

static struct task *
task_fixture (void)
{
  agent_error_t err = NULL;
  struct task *t = teu_task (TASK_JSON, &err);
  if (!t)
    fail_msg ("%s", error_msg (&err));
  t->containers[0].docker_name = xstrdup ("ecs-web");
  t->containers[1].docker_name = xstrdup ("ecs-db");
  t->volumes[0].docker_name = xstrdup ("ecs-scratch");
  return t;
}

static struct docker_label *
labels (size_t *n)
{
  struct docker_label *l = xcalloc (1, sizeof *l);
  l[0] = (struct docker_label){ "k", "v" };
  *n = 1;
  return l;
}

static void
test_translation (void **st)
{
  (void) st;
  struct task *t = task_fixture ();
  struct engine_create_req r;
  char *errmsg = NULL;
  size_t nl;
  struct docker_label *l = labels (&nl);
  assert_int_equal (engine_create_req_build (t, &t->containers[0], l, nl, &r, &errmsg), 0);
  const struct docker_create_opts *o = &r.opts;
  assert_string_equal (o->name, "ecs-web");
  assert_string_equal (o->image, "busybox");
  assert_string_equal (o->cmd[0], "echo"); /* the override wins */
  assert_string_equal (o->cmd[1], "hi");
  assert_null (o->cmd[2]);
  assert_string_equal (o->env[0], "A=1");
  /* The endpoint variables follow, from the container's endpoint id. */
  const char *eid = t->containers[0].v3_endpoint_id;
  assert_non_null (eid);
  assert_int_equal (strlen (eid), 36);
  assert_int_equal (eid[14], '4');
  char want[200];
  snprintf (want, sizeof want, "ECS_CONTAINER_METADATA_URI=http://169.254.170.2/v3/%s", eid);
  assert_string_equal (o->env[1], want);
  snprintf (want, sizeof want, "ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/%s", eid);
  assert_string_equal (o->env[2], want);
  snprintf (want, sizeof want, "ECS_AGENT_URI=http://169.254.170.2/api/%s", eid);
  assert_string_equal (o->env[3], want);
  assert_null (o->env[4]); /* no task role: no credentials URI */
  assert_int_equal (o->n_ports, 1);
  assert_int_equal (o->ports[0].container_port, 80);
  assert_int_equal (o->ports[0].host_port, 8080);
  assert_string_equal (o->ports[0].proto, "udp");
  assert_null (o->ports[0].host_ip); /* Docker publishes on every address */
  assert_string_equal (o->links[0], "ecs-db:database");
  assert_string_equal (o->links[1], "ecs-db:db");
  assert_null (o->links[2]);
  assert_string_equal (o->volumes_from[0], "ecs-db:ro");
  assert_string_equal (o->binds[0], "ecs-scratch:/s");
  assert_string_equal (o->binds[1], "/srv:/h:ro");
  assert_int_equal (o->cpu_shares, ENGINE_MIN_CPU_SHARES);    /* 1 unit -> the floor */
  assert_int_equal (o->memory, ENGINE_MIN_MEMORY_BYTES);      /* 2 MiB -> the floor */
  assert_int_equal (o->n_labels, 1);
  assert_string_equal (o->labels[0].key, "k");
  engine_create_req_free (&r);
  /* The other container: no links, no environment, values above the floors. */
  l = labels (&nl);
  assert_int_equal (engine_create_req_build (t, &t->containers[1], l, nl, &r, &errmsg), 0);
  assert_non_null (r.opts.env);
  assert_null (r.opts.env[3]); /* the three endpoint variables only */
  assert_null (r.opts.links);
  assert_null (r.opts.binds);
  assert_null (r.opts.volumes_from);
  assert_null (r.opts.cmd);
  assert_int_equal (r.opts.cpu_shares, 512);
  assert_int_equal (r.opts.memory, 64LL * 1024 * 1024);
  engine_create_req_free (&r);
  task_free (t);
}

/* A task role: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, written over a
   same-named task-definition value (as upstream), like the endpoint URIs. */
static void
test_role_environment (void **st)
{
  (void) st;
  struct task *t = task_fixture ();
  struct task_container *c = &t->containers[0];
  free (c->environment[0].key);
  c->environment[0].key = xstrdup ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  t->credentials_id = xstrdup ("cred-1");
  free (c->v3_endpoint_id);
  c->v3_endpoint_id = xstrdup ("eid");
  struct engine_create_req r;
  char *errmsg = NULL;
  size_t nl;
  struct docker_label *l = labels (&nl);
  assert_int_equal (engine_create_req_build (t, c, l, nl, &r, &errmsg), 0);
  const char *const *env = r.opts.env;
  assert_string_equal (env[0], "ECS_CONTAINER_METADATA_URI=http://169.254.170.2/v3/eid");
  assert_string_equal (env[1], "ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/eid");
  assert_string_equal (env[2], "ECS_AGENT_URI=http://169.254.170.2/api/eid");
  assert_string_equal (env[3], "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/cred-1");
  assert_null (env[4]);
  engine_create_req_free (&r);
  /* with the agent's region: AWS_REGION and AWS_DEFAULT_REGION, unless the
     task definition sets either */
  l = labels (&nl);
  assert_int_equal (engine_create_req_build_region (t, c, "eu-west-1", 0, l, nl, &r, &errmsg), 0);
  assert_string_equal (r.opts.env[4], "AWS_REGION=eu-west-1");
  assert_string_equal (r.opts.env[5], "AWS_DEFAULT_REGION=eu-west-1");
  assert_null (r.opts.env[6]);
  engine_create_req_free (&r);
  free (c->environment[0].key);
  c->environment[0].key = xstrdup ("AWS_DEFAULT_REGION");
  l = labels (&nl);
  assert_int_equal (engine_create_req_build_region (t, c, "eu-west-1", 0, l, nl, &r, &errmsg), 0);
  assert_string_equal (r.opts.env[0], "AWS_DEFAULT_REGION=1");
  assert_null (r.opts.env[5]);
  engine_create_req_free (&r);
  task_free (t);
}

/* The region against the image's ManagedEnvKeys and the task definition
   (container-options §2 step 10): either name set by the task definition
   or by the image's ENV keeps both out; the task definition's value wins. */
static void
test_region_image_env (void **st)
{
  (void) st;
  static const struct
  {
    const char *td_key; /* the task definition's variable, NULL: none */
    unsigned image_env; /* IMAGE_ENV_* */
    bool internal;
    const char *region;
    const char *want_region, *want_default; /* NULL: absent */
  } cases[] = {
    { NULL, 0, false, "eu-west-1", "eu-west-1", "eu-west-1" },
    { NULL, IMAGE_ENV_AWS_REGION, false, "eu-west-1", NULL, NULL },
    { NULL, IMAGE_ENV_AWS_DEFAULT_REGION, false, "eu-west-1", NULL, NULL },
    { NULL, IMAGE_ENV_AWS_REGION | IMAGE_ENV_AWS_DEFAULT_REGION, false, "eu-west-1", NULL, NULL },
    { "AWS_REGION", 0, false, "eu-west-1", "td", NULL },
    { "AWS_REGION", IMAGE_ENV_AWS_DEFAULT_REGION, false, "eu-west-1", "td", NULL },
    { "AWS_DEFAULT_REGION", IMAGE_ENV_AWS_DEFAULT_REGION, false, "eu-west-1", NULL, "td" },
    { NULL, 0, true, "eu-west-1", NULL, NULL },
    { NULL, 0, false, NULL, NULL, NULL },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      struct task *t = task_fixture ();
      struct task_container *c = &t->containers[0];
      for (size_t k = 0; k < c->n_environment; k++)
        {
          free (c->environment[k].key);
          free (c->environment[k].value);
        }
      c->n_environment = 0;
      free (c->environment);
      c->environment = xcalloc (1, sizeof *c->environment);
      if (cases[i].td_key)
        {
          c->environment[0].key = xstrdup (cases[i].td_key);
          c->environment[0].value = xstrdup ("td");
          c->n_environment = 1;
        }
      c->is_internal = cases[i].internal;
      assert_int_equal (engine_create_region_wanted (c, cases[i].region),
                        cases[i].region && !cases[i].internal && !cases[i].td_key);
      struct engine_create_req r;
      char *errmsg = NULL;
      size_t nl;
      struct docker_label *l = labels (&nl);
      assert_int_equal (engine_create_req_build_region (t, c, cases[i].region, cases[i].image_env, l, nl, &r,
                                                        &errmsg),
                        0);
      const char *got_region = NULL, *got_default = NULL;
      for (size_t k = 0; r.opts.env && r.opts.env[k]; k++)
        {
          if (strncmp (r.opts.env[k], "AWS_REGION=", 11) == 0)
            {
              assert_null (got_region); /* once */
              got_region = r.opts.env[k] + 11;
            }
          if (strncmp (r.opts.env[k], "AWS_DEFAULT_REGION=", 19) == 0)
            {
              assert_null (got_default);
              got_default = r.opts.env[k] + 19;
            }
        }
      if (cases[i].want_region)
        assert_string_equal (got_region, cases[i].want_region);
      else
        assert_null (got_region);
      if (cases[i].want_default)
        assert_string_equal (got_default, cases[i].want_default);
      else
        assert_null (got_default);
      engine_create_req_free (&r);
      task_free (t);
    }
}

static void
test_unresolved (void **st)
{
  (void) st;
  static const char *const want[] = {
    "Link target not available: db",
    "Volumes-from source not available: db",
    "Unable to resolve volume mounts; invalid path: :/s",
  };
  for (size_t i = 0; i < ARRAY_SIZE (want); i++)
    {
      struct task *t = task_fixture ();
      struct task_container *web = &t->containers[0];
      if (i <= 1)
        {
          free (t->containers[1].docker_name); /* db has no Docker name yet */
          t->containers[1].docker_name = NULL;
          if (i == 1)
            {
              task_strv_free (web->links);
              web->links = NULL;
            }
        }
      else
        {
          free (t->volumes[0].docker_name); /* the empty volume was never named */
          t->volumes[0].docker_name = NULL;
        }
      struct engine_create_req r;
      char *errmsg = NULL;
      size_t nl;
      struct docker_label *l = labels (&nl);
      assert_int_equal (engine_create_req_build (t, web, l, nl, &r, &errmsg), -1);
      assert_string_equal (errmsg, want[i]);
      free (errmsg);
      engine_create_req_free (&r);
      task_free (t);
    }
}

/* Secrets at create: ENVIRONMENT_VARIABLE values written over same-named
   variables (a region secret keeps the agent's region out), a value the
   resource lacks as "", LOG_DRIVER values as log options when not empty. */
static void
test_secrets_injected (void **st)
{
  (void) st;
  agent_error_t err = NULL;
  struct task *t = teu_task (
      "{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"web\",\"image\":\"busybox\","
      "\"environment\":{\"A\":\"1\",\"PASS\":\"plain\"},\"secrets\":["
      "{\"name\":\"PASS\",\"valueFrom\":\"/p\",\"provider\":\"ssm\",\"region\":\"r\",\"type\":\"ENVIRONMENT_VARIABLE\"},"
      "{\"name\":\"AWS_REGION\",\"valueFrom\":\"/reg\",\"provider\":\"ssm\",\"region\":\"r\",\"type\":\"ENVIRONMENT_VARIABLE\"},"
      "{\"name\":\"GONE\",\"valueFrom\":\"/gone\",\"provider\":\"ssm\",\"region\":\"r\",\"type\":\"ENVIRONMENT_VARIABLE\"},"
      "{\"name\":\"KEY\",\"valueFrom\":\"arn:aws:secretsmanager:r:1:secret:s:k::\",\"provider\":\"asm\",\"region\":\"r\",\"type\":\"ENVIRONMENT_VARIABLE\"},"
      "{\"name\":\"splunk-token\",\"valueFrom\":\"arn:aws:secretsmanager:r:1:secret:s:k::\",\"provider\":\"asm\",\"region\":\"r\",\"target\":\"LOG_DRIVER\"},"
      "{\"name\":\"empty\",\"valueFrom\":\"/gone\",\"provider\":\"ssm\",\"region\":\"r\",\"target\":\"LOG_DRIVER\"}]}]}",
      &err);
  if (!t)
    fail_msg ("%s", error_msg (&err));
  t->containers[0].docker_name = xstrdup ("ecs-web");
  task_secret_resource_put (&t->secret_res[TASK_SECRET_SSM], "/p_r", "ssm-pass");
  task_secret_resource_put (&t->secret_res[TASK_SECRET_SSM], "/reg_r", "eu-north-1");
  task_secret_resource_put (&t->secret_res[TASK_SECRET_ASM], "arn:aws:secretsmanager:r:1:secret:s:k::_r", "asm-key");
  struct engine_create_req r;
  char *msg = NULL;
  assert_int_equal (engine_create_req_build_region (t, &t->containers[0], "us-west-2", 0, NULL, 0, &r, &msg), 0);
  struct sbuf b = { 0 };
  for (size_t i = 0; r.opts.env[i]; i++)
    sbuf_printf (&b, "%s|", r.opts.env[i]);
  cleanup_free char *env = sbuf_steal (&b);
  assert_non_null (strstr (env, "A=1|PASS=ssm-pass|"));
  assert_null (strstr (env, "plain"));
  assert_non_null (strstr (env, "|AWS_REGION=eu-north-1|GONE=|KEY=asm-key|"));
  assert_null (strstr (env, "AWS_DEFAULT_REGION"));
  assert_null (strstr (env, "us-west-2"));
  assert_int_equal (r.opts.n_log_options, 1);
  assert_string_equal (r.opts.log_options[0].key, "splunk-token");
  assert_string_equal (r.opts.log_options[0].value, "asm-key");
  engine_create_req_free (&r);
  task_free (t);
}

/* CpuShares always sent, clamped to upstream's 2..262144; memory 0 stays
   0 (no limit), else at least the floor. */
static void
test_cpu_memory_floors (void **st)
{
  (void) st;
  struct
  {
    uint32_t cpu;
    int mem_mib;
    int64_t shares, bytes;
  } cases[] = {
    { 0, 0, 2, 0 },
    { 1, 1, 2, ENGINE_MIN_MEMORY_BYTES },
    { 2, 5, 2, ENGINE_MIN_MEMORY_BYTES },
    { 3, 6, 3, 6LL << 20 },
    { 1024, 512, 1024, 512LL << 20 },
    { 262144, 7, 262144, 7LL << 20 },
    { 300000, 8, 262144, 8LL << 20 },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      struct task *t = task_fixture ();
      struct task_container *c = &t->containers[1];
      c->cpu = cases[i].cpu;
      c->memory = cases[i].mem_mib;
      struct engine_create_req r;
      char *errmsg = NULL;
      size_t nl;
      struct docker_label *l = labels (&nl);
      assert_int_equal (engine_create_req_build (t, c, l, nl, &r, &errmsg), 0);
      assert_int_equal (r.opts.cpu_shares, cases[i].shares);
      assert_int_equal (r.opts.memory, cases[i].bytes);
      engine_create_req_free (&r);
      task_free (t);
    }
}

static const char *
opt (const struct engine_log_opts *l, const char *key)
{
  for (size_t i = 0; i < l->n; i++)
    if (strcmp (l->kv[i].key, key) == 0)
      return l->kv[i].value;
  return NULL;
}

/* The log options the agent adds after the overlay (engine/log_opts.h),
   and the create's API version from dockerConfig.version. */
static void
test_log_options (void **st)
{
  (void) st;
  struct
  {
    const char *host_config, *strategy, *exec_id, *region;
    const char *endpoint, *creds, *buffer; /* NULL: not added */
    bool fails;
    bool ipv6_only; /* the host (config/ipcompat.h) */
  } cases[] = {
    { NULL, NULL, NULL, "us-west-2", NULL, NULL, NULL, false, false },
    { "{\"LogConfig\":{\"Type\":\"awslogs\",\"Config\":{\"awslogs-group\":\"g\"}}}",
      "ExecutionRole", "exec-1", "us-west-2", NULL, "/v2/credentials/exec-1", NULL, false, false },
    { "{\"LogConfig\":{\"Type\":\"awslogs\"}}", "executionrole", NULL, "us-west-2", NULL, NULL,
      NULL, true, false },
    { "{\"logconfig\":{\"type\":\"awslogs\"}}", NULL, NULL, "us-iso-east-1",
      "https://logs.us-iso-east-1.c2s.ic.gov", NULL, NULL, false, false },
    { "{\"LogConfig\":{\"Type\":\"awslogs\"}}", NULL, NULL, "us-isob-east-1",
      "https://logs.us-isob-east-1.sc2s.sgov.gov", NULL, NULL, false, false },
    { "{\"LogConfig\":{\"Type\":\"awslogs\"}}", NULL, NULL, "eusc-de-east-1",
      "https://logs.eusc-de-east-1.amazonaws.eu", NULL, NULL, false, false },
    { "{\"LogConfig\":{\"Type\":\"json-file\"}}", NULL, NULL, "us-iso-east-1", NULL, NULL, NULL,
      false, false },
    { "{\"LogConfig\":{\"Type\":\"json-file\",\"Config\":{\"mode\":\"non-blocking\"}}}",
      NULL, NULL, "us-west-2", NULL, NULL, "10m", false, false },
    { "{\"LogConfig\":{\"Type\":\"json-file\",\"Config\":{\"mode\":\"non-blocking\","
      "\"max-buffer-size\":\"4m\"}}}",
      NULL, NULL, "us-west-2", NULL, NULL, NULL, false, false },
    { "{\"LogConfig\":{\"Type\":\"json-file\",\"Config\":{\"mode\":\"blocking\"}}}", NULL,
      NULL, "us-west-2", NULL, NULL, NULL, false, false },
    { "{\"LogConfig\":{\"Type\":7}}", NULL, NULL, "us-iso-east-1", NULL, NULL, NULL, false, false },
    /* IPv6-only host: the dual-stack endpoint for awslogs, nothing for other drivers */
    { "{\"LogConfig\":{\"Type\":\"awslogs\"}}", NULL, NULL, "us-west-2", "https://logs.us-west-2.api.aws",
      NULL, NULL, false, true },
    { "{\"LogConfig\":{\"Type\":\"awslogs\",\"Config\":{\"mode\":\"non-blocking\"}}}", "ExecutionRole",
      "exec-2", "cn-north-1", "https://logs.cn-north-1.api.amazonwebservices.com.cn", "/v2/credentials/exec-2",
      "10m", false, true },
    { "{\"LogConfig\":{\"Type\":\"json-file\"}}", NULL, NULL, "us-west-2", NULL, NULL, NULL, false, true },
    { "{\"LogConfig\":{\"Type\":\"awslogs\"}}", NULL, NULL, "us-iso-east-1",
      "https://logs.us-iso-east-1.c2s.ic.gov", NULL, NULL, false, true },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      struct task *t = task_fixture ();
      struct task_container *c = &t->containers[1];
      c->opts.dc_host_config = cases[i].host_config ? xstrdup (cases[i].host_config) : NULL;
      c->opts.logs_auth_strategy = cases[i].strategy ? xstrdup (cases[i].strategy) : NULL;
      c->opts.dc_version = xstrdup ("1.25");
      t->execution_credentials_id = cases[i].exec_id ? xstrdup (cases[i].exec_id) : NULL;
      struct engine_log_opts lo;
      char *errmsg = NULL;
      int rc = engine_log_options (t, c, cases[i].region, cases[i].ipv6_only, &lo, &errmsg);
      if (cases[i].fails)
        {
          assert_int_equal (rc, -1);
          assert_string_equal (errmsg, "No execution credentials set for the task");
          free (errmsg);
        }
      else
        {
          assert_int_equal (rc, 0);
          const char *got = opt (&lo, "awslogs-endpoint");
          if (cases[i].endpoint)
            assert_string_equal (got, cases[i].endpoint);
          else
            assert_null (got);
          got = opt (&lo, "awslogs-credentials-endpoint");
          if (cases[i].creds)
            assert_string_equal (got, cases[i].creds);
          else
            assert_null (got);
          got = opt (&lo, "max-buffer-size");
          if (cases[i].buffer)
            assert_string_equal (got, cases[i].buffer);
          else
            assert_null (got);
          engine_log_opts_free (&lo);
        }
      /* the same through the create options */
      struct engine_create_req r;
      size_t nl;
      struct docker_label *l = labels (&nl);
      rc = engine_create_req_build_host (t, c, cases[i].region, 0, cases[i].ipv6_only, l, nl, &r, &errmsg);
      if (cases[i].fails)
        {
          assert_int_equal (rc, -1);
          free (errmsg);
        }
      else
        {
          assert_int_equal (rc, 0);
          assert_int_equal (r.opts.n_log_options, (cases[i].endpoint != NULL)
                                                      + (cases[i].creds != NULL)
                                                      + (cases[i].buffer != NULL));
          assert_string_equal (r.opts.api_version, "1.25");
        }
      engine_create_req_free (&r);
      task_free (t);
    }
}

/* engine_awslogs_endpoint: the isolated regions' own endpoints always;
   elsewhere the dual-stack one (upstream's SDK resolver with UseDualStack)
   on an IPv6-only host, none otherwise (Docker's driver picks it). */
static void
test_awslogs_endpoint (void **st)
{
  (void) st;
  struct
  {
    const char *region;
    bool ipv6_only;
    const char *want;
  } cases[] = {
    { "us-east-1", false, NULL },
    { "us-east-1", true, "https://logs.us-east-1.api.aws" },
    { "sa-east-1", true, "https://logs.sa-east-1.api.aws" },
    { "us-gov-west-1", true, "https://logs.us-gov-west-1.api.aws" },
    { "cn-northwest-1", true, "https://logs.cn-northwest-1.api.amazonwebservices.com.cn" },
    { "cn-north-1", false, NULL },
    { "us-iso-west-1", false, "https://logs.us-iso-west-1.c2s.ic.gov" },
    { "eu-isoe-west-1", true, "https://logs.eu-isoe-west-1.cloud.adc-e.uk" },
    { "", true, NULL },
    { NULL, true, NULL },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      cleanup_free char *got = engine_awslogs_endpoint (cases[i].region, cases[i].ipv6_only);
      if (cases[i].want)
        assert_string_equal (got, cases[i].want);
      else
        assert_null (got);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_cpu_memory_floors),
    cmocka_unit_test (test_log_options),
    cmocka_unit_test (test_awslogs_endpoint),
    cmocka_unit_test (test_translation),
    cmocka_unit_test (test_role_environment),
    cmocka_unit_test (test_region_image_env),
    cmocka_unit_test (test_unresolved),
    cmocka_unit_test (test_secrets_injected),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
