/* Unit tests for engine/task.c: ACS task parsing (upstream samples with
 * their expected accept / reject), status names, checkpoint codec, names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include "engine/engine.h"
#include "task/task.h"
#include "core/time.h"
#include "test_engine_util.h"

#define SAMPLES "samples/"

/* Expect rejection; returns the message (caller frees) for content checks. */
static char *
must_reject (const char *text)
{
  agent_error_t err = NULL;
  struct task *t = teu_task (text, &err);
  if (t)
    {
      task_free (t);
      fail_msg ("accepted: %s", text);
    }
  assert_int_equal (error_kind (&err), ERR_INVALID);
  char *m = xstrdup (error_msg (&err));
  error_free (&err);
  return m;
}

/* Wrap an overrides value (JSON text) into a one-container task. */
static char *
task_with_overrides (const char *ov)
{
  return xasprintf ("{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"overrides\":%s}]}", ov);
}

static json_t *
sample_or_fail (const char *name)
{
  cleanup_free char *rel = xasprintf (SAMPLES "%s", name);
  json_t *j = teu_load_protocol_json (rel);
  if (!j)
    fail_msg ("shared/protocol sample %s not found (SHARED_DIR)", name); /* a missing fixture fails */
  return j;
}

static void
test_payload_one_task_redis (void **st)
{
  (void) st;
  json_t *frame = sample_or_fail ("acs_client_test.go__payload-message-one-task-redis.json");
  json_t *task = json_array_get (json_object_get (json_object_get (frame, "message"), "tasks"), 0);
  struct task *t = NULL;
  agent_error_t err = NULL;
  assert_int_equal (acs_task_from_json (task, &t, &err), 0);
  assert_string_equal (t->arn, "arn1");
  assert_string_equal (t->family, "test");
  assert_string_equal (t->version, "v1");
  assert_int_equal (t->desired_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->n_containers, 1);
  struct task_container *c = &t->containers[0];
  assert_string_equal (c->name, "c1");
  assert_string_equal (c->image, "redis");
  assert_int_equal (task_strv_len (c->command), 2);
  assert_string_equal (c->command[0], "arg1");
  assert_string_equal (c->command[1], "arg2");
  assert_int_equal (c->cpu, 10);
  assert_int_equal (c->memory, 20);
  assert_string_equal (c->links[0], "db");
  assert_null (c->links[1]);
  assert_int_equal (c->n_port_mappings, 1);
  assert_int_equal (c->port_mappings[0].container_port, 22);
  assert_int_equal (c->port_mappings[0].host_port, 22);
  assert_int_equal (c->port_mappings[0].protocol, TASK_PROTO_TCP);
  assert_true (c->essential);
  assert_string_equal (c->entry_point[0], "bash");
  assert_int_equal (c->n_environment, 1);
  assert_string_equal (c->environment[0].key, "key");
  assert_string_equal (c->environment[0].value, "val");
  assert_false (c->has_override_command); /* "{}" */
  assert_int_equal (c->known_status, TASK_STATUS_NONE);
  assert_int_equal (c->desired_status, TASK_STATUS_NONE); /* raised from the task by the engine */
  task_free (t);
  json_decref (frame);
}

static void
test_payload_minimal_arn_only (void **st)
{
  (void) st;
  json_t *frame = sample_or_fail ("acs_client_test.go__payload-message-minimal-task-arn-only.json");
  json_t *task = json_array_get (json_object_get (json_object_get (frame, "message"), "tasks"), 0);
  struct task *t = NULL;
  agent_error_t err = NULL;
  assert_int_equal (acs_task_from_json (task, &t, &err), 0);
  assert_string_equal (t->arn, "arn");
  assert_int_equal (t->n_containers, 0);
  assert_int_equal (t->n_volumes, 0);
  assert_int_equal (t->desired_status, TASK_STATUS_NONE);
  task_free (t);
  json_decref (frame);
}

/* samples/json_test.go__*.json: overrides accepted or rejected as the
   upstream json_test.go cases say (the file name tells which). */
static void
test_overrides_samples (void **st)
{
  (void) st;
  static const struct
  {
    const char *file;
    bool wrapped; /* the sample is {"overrides":...} rather than the value */
    bool accept;
    const char *cmd2; /* expected 3rd argv when accepted */
  } cases[] = {
    { "json_test.go__container-overrides-bare-object.json", false, true, "sleep 300" },
    { "json_test.go__overrides-as-object.json", true, true, "sleep 15" },
    { "json_test.go__overrides-object-unknown-key.json", true, false, NULL },
    { "json_test.go__overrides-as-string-unknown-key.json", true, false, NULL },
    { "json_test.go__overrides-as-string-not-json.json", true, false, NULL },
    { "json_test.go__overrides-as-array-wrong-type.json", true, false, NULL },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      json_t *j = sample_or_fail (cases[i].file);
      json_t *value = cases[i].wrapped ? json_object_get (j, "overrides") : j;
      assert_non_null (value);
      cleanup_free char *vtext = json_dumps (value, JSON_ENCODE_ANY);
      cleanup_free char *text = task_with_overrides (vtext);
      if (cases[i].accept)
        {
          struct task *t = teu_task_must (text);
          assert_true (t->containers[0].has_override_command);
          char **cmd = task_container_effective_command (&t->containers[0]);
          assert_string_equal (cmd[2], cases[i].cmd2);
          task_free (t);
        }
      else
        {
          cleanup_free char *m = must_reject (text);
          assert_non_null (strstr (m, "overrides"));
        }
      json_decref (j);
    }
  /* The string-encoded form built in code by upstream's test: accepted. */
  struct task *t = teu_task_must (
      "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"command\":[\"x\"],"
      "\"overrides\":\"{\\\"command\\\":[\\\"sh\\\",\\\"-c\\\",\\\"sleep 15\\\"]}\"}]}");
  char **cmd = task_container_effective_command (&t->containers[0]);
  assert_string_equal (cmd[2], "sleep 15");
  assert_string_equal (t->containers[0].command[0], "x");
  task_free (t);
  /* command null inside overrides: no override. */
  t = teu_task_must ("{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"command\":[\"x\"],"
                  "\"overrides\":{\"command\":null}}]}");
  assert_false (t->containers[0].has_override_command);
  assert_string_equal (task_container_effective_command (&t->containers[0])[0], "x");
  task_free (t);
  /* Unknown key message names the key. */
  cleanup_free char *m = must_reject (
      "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"overrides\":{\"environment\":{}}}]}");
  assert_non_null (strstr (m, "environment"));
}

static void
test_volume_samples (void **st)
{
  (void) st;
  static const struct
  {
    const char *file;
    const char *source; /* NULL = empty volume */
  } cases[] = {
    { "types_unmarshal_test.go__task-volume-host-empty.json", NULL },
    { "types_unmarshal_test.go__task-volume-host-source-path.json", "/path" },
    { "types_unmarshal_test.go__head-task-volume-typed-host-empty.json", NULL },
    { "types_unmarshal_test.go__head-task-volume-typed-host-source-path.json", "/path" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      json_t *j = sample_or_fail (cases[i].file);
      json_object_set_new (j, "arn", json_string ("a"));
      struct task *t = NULL;
      agent_error_t err = NULL;
      assert_int_equal (acs_task_from_json (j, &t, &err), 0);
      assert_int_equal (t->n_volumes, 1);
      assert_string_equal (t->volumes[0].name, "test");
      if (cases[i].source)
        assert_string_equal (t->volumes[0].source_path, cases[i].source);
      else
        assert_null (t->volumes[0].source_path);
      task_free (t);
      json_decref (j);
    }
  /* volumesFrom list: c1 readOnly false (default), c2 true. */
  json_t *vf = sample_or_fail ("types_unmarshal_test.go__volumes-from-list.json");
  json_t *task = json_pack ("{s:s,s:[{s:s,s:s,s:O}]}", "arn", "a", "containers", "name", "c", "image", "i",
                            "volumesFrom", vf);
  struct task *t = NULL;
  agent_error_t err = NULL;
  assert_int_equal (acs_task_from_json (task, &t, &err), 0);
  assert_int_equal (t->containers[0].n_volumes_from, 2);
  assert_string_equal (t->containers[0].volumes_from[0].source_container, "c1");
  assert_false (t->containers[0].volumes_from[0].read_only);
  assert_string_equal (t->containers[0].volumes_from[1].source_container, "c2");
  assert_true (t->containers[0].volumes_from[1].read_only);
  task_free (t);
  json_decref (task);
  json_decref (vf);
}

static void
test_reject_cases (void **st)
{
  (void) st;
  static const struct
  {
    const char *json;
    const char *needle;
  } cases[] = {
    { "[]", "object" },
    { "{}", "arn" },
    { "{\"arn\":\"\"}", "arn" },
    { "{\"arn\":5}", "arn" },
    { "{\"arn\":\"a\",\"desiredStatus\":\"BOGUS\"}", "BOGUS" },
    { "{\"arn\":\"a\",\"volumes\":[{\"name\":\"v\"}]}", "unrecognized volume type" },
    { "{\"arn\":\"a\",\"volumes\":[{\"host\":{}}]}", "name" },
    { "{\"arn\":\"a\",\"volumes\":[{\"name\":\"v\",\"host\":{}},{\"name\":\"v\",\"host\":{}}]}", "duplicate volume" },
    { "{\"arn\":\"a\",\"volumes\":[{\"name\":\"v\",\"type\":\"efs\",\"host\":{}}]}", "unsupported volume type" },
    { "{\"arn\":\"a\",\"volumes\":[{\"name\":\"v\",\"host\":{}},{\"name\":\"w\",\"host\":{}},{\"name\":\"v\",\"host\":{}}]}", "volumes[2]: duplicate volume name \"v\"" },
    { "{\"arn\":\"a\",\"volumes\":[{\"name\":\"v\"}]}", "volumes[0] (v): unrecognized volume type: no \"host\" object" },
    { "{\"arn\":\"a\",\"volumes\":[{\"name\":\"v\",\"host\":{\"sourcePath\":1}}]}", "volumes[0].host.sourcePath must be a string" },
    { "{\"arn\":\"a\",\"volumes\":{}}", "volumes must be an array" },
    { "{\"arn\":\"a\",\"volumes\":[1]}", "volumes[0] must be an object" },
    { "{\"arn\":\"a\",\"containers\":{}}", "containers" },
    { "{\"arn\":\"a\",\"containers\":[{\"image\":\"i\"}]}", "name" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\"}]}", "image" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\"},{\"name\":\"c\",\"image\":\"i\"}]}", "duplicate container" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"cpu\":-1}]}", "cpu" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"memory\":\"10\"}]}", "memory" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"memory\":1.5}]}", "memory" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"essential\":\"yes\"}]}", "essential" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"command\":\"ls\"}]}", "command" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"command\":[1]}]}", "command" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"environment\":{\"k\":1}}]}", "environment" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"environment\":{\"a=b\":\"1\"}}]}", "environment" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"environment\":[{\"name\":\"a=b\"}]}]}", "environment[0]: invalid variable name" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"environment\":[{\"name\":\"A\",\"value\":1}]}]}", "environment[0].value must be a string" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"environment\":[\"A=1\"]}]}", "environment[0] must be an object" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"portMappings\":[{\"hostPort\":1}]}]}", "containerPort" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"portMappings\":[{\"containerPort\":0}]}]}", "containerPort" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"portMappings\":[{\"containerPort\":70000}]}]}", "containerPort" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"portMappings\":[{\"containerPort\":80,\"hostPort\":-1}]}]}", "hostPort" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"portMappings\":[{\"containerPort\":80,\"protocol\":\"sctp\"}]}]}", "protocol" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"links\":[\"a:b:c\"]}]}", "Invalid link format" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"links\":[\":b\"]}]}", "Invalid link format" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"links\":[\"a:\"]}]}", "Invalid link format" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"mountPoints\":[{\"sourceVolume\":\"nope\",\"containerPath\":\"/x\"}]}]}", "unknown volume" },
    { "{\"arn\":\"a\",\"volumes\":[{\"name\":\"v\",\"host\":{}}],\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"mountPoints\":[{\"sourceVolume\":\"v\"}]}]}", "containerPath" },
    { "{\"arn\":\"a\",\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"volumesFrom\":[{\"readOnly\":true}]}]}", "sourceContainer" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      cleanup_free char *m = must_reject (cases[i].json);
      if (!strstr (m, cases[i].needle))
        fail_msg ("case %zu: message \"%s\" lacks \"%s\"", i, m, cases[i].needle);
    }
}

static void
test_accept_variants (void **st)
{
  (void) st;
  /* Case-insensitive keys, env as a list, udp, links with alias, missing
     dependency targets (rejected later by the engine, not here). */
  struct task *t = teu_task_must (
      "{\"Arn\":\"a\",\"Family\":\"f\",\"Version\":\"3\",\"DesiredStatus\":\"STOPPED\","
      "\"Containers\":[{\"Name\":\"c\",\"Image\":\"i\",\"Environment\":[{\"name\":\"A\",\"value\":\"1\"}],"
      "\"PortMappings\":[{\"ContainerPort\":53,\"protocol\":\"udp\"}],\"Links\":[\"ghost:alias\"],"
      "\"volumesFrom\":[{\"sourceContainer\":\"ghost2\"}],\"cpu\":1,\"memory\":0,\"essential\":null}]}");
  assert_string_equal (t->family, "f");
  assert_int_equal (t->desired_status, TASK_STATUS_STOPPED);
  assert_string_equal (t->containers[0].environment[0].key, "A");
  assert_int_equal (t->containers[0].port_mappings[0].protocol, TASK_PROTO_UDP);
  assert_int_equal (t->containers[0].port_mappings[0].host_port, 0);
  assert_false (t->containers[0].essential);
  task_free (t);
  /* Legacy status names. */
  t = teu_task_must ("{\"arn\":\"a\",\"desiredStatus\":\"DEAD\"}");
  assert_int_equal (t->desired_status, TASK_STATUS_STOPPED);
  task_free (t);
}

static void
test_status_names (void **st)
{
  (void) st;
  enum task_status s;
  agent_error_t err = NULL;
  const char *names[] = { "NONE", "PULLED", "CREATED", "RUNNING", "STOPPED" };
  for (int i = 0; i < 5; i++)
    {
      assert_int_equal (task_status_parse (names[i], &s, &err), 0);
      assert_int_equal (s, i);
      assert_string_equal (task_container_status_str (s), names[i]);
    }
  assert_string_equal (task_status_str (TASK_STATUS_PULLED), "NONE");
  assert_int_equal (task_status_parse ("DEAD", &s, &err), 0);
  assert_int_equal (s, TASK_STATUS_STOPPED);
  assert_int_equal (task_status_parse ("UNKNOWN", &s, &err), 0);
  assert_int_equal (s, TASK_STATUS_NONE);
  assert_int_equal (task_status_parse (NULL, &s, &err), 0);
  assert_int_equal (s, TASK_STATUS_NONE);
  assert_true (task_status_parse ("ZOMBIE", &s, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);
  assert_string_equal (task_status_ecs_str (TASK_STATUS_CREATED), "PENDING");
  assert_string_equal (task_status_ecs_str (TASK_STATUS_RUNNING), "RUNNING");
  assert_string_equal (task_status_ecs_str (TASK_STATUS_STOPPED), "STOPPED");
  /* Ordering the whole engine relies on. */
  assert_true (TASK_STATUS_NONE < TASK_STATUS_PULLED && TASK_STATUS_PULLED < TASK_STATUS_CREATED
               && TASK_STATUS_CREATED < TASK_STATUS_RUNNING && TASK_STATUS_RUNNING < TASK_STATUS_STOPPED);
}

static void
test_time (void **st)
{
  (void) st;
  int64_t ns;
  assert_int_equal (time_rfc3339_parse ("2015-04-28T17:29:48.129140193Z", &ns), 0);
  assert_int_equal (ns, 1430242188129140193LL);
  char buf[48];
  time_rfc3339_format (ns, buf, sizeof buf);
  assert_string_equal (buf, "2015-04-28T17:29:48.129140193Z");
  assert_int_equal (time_rfc3339_parse ("0001-01-01T00:00:00Z", &ns), 0);
  assert_int_equal (ns, 0);
  time_rfc3339_format (0, buf, sizeof buf);
  assert_string_equal (buf, "0001-01-01T00:00:00Z");
  assert_int_equal (time_rfc3339_parse ("2015-04-28T19:29:48+02:00", &ns), 0);
  assert_int_equal (ns, 1430242188000000000LL);
  /* int64 unix ns spans 1677-09-21 .. 2262-04-11: outside is refused, not UB */
  assert_true (time_rfc3339_parse ("0002-01-01T00:00:00Z", &ns) < 0);
  assert_true (time_rfc3339_parse ("9999-12-31T23:59:59Z", &ns) < 0);
  assert_true (time_rfc3339_parse ("2262-04-11T23:47:17Z", &ns) < 0);
  assert_int_equal (time_rfc3339_parse ("2262-04-11T23:47:16.854775807Z", &ns), 0);
  assert_int_equal (ns, INT64_MAX);
  assert_true (time_rfc3339_parse ("2015-01-01T-1:00:00Z", &ns) < 0);
  assert_true (time_rfc3339_parse ("yesterday", &ns) < 0);
  assert_true (time_rfc3339_parse ("2015-04-28T17:29:48", &ns) < 0);
}

static void
test_checkpoint_round_trip (void **st)
{
  (void) st;
  struct task *t = teu_task_must (
      "{\"arn\":\"arn:t\",\"family\":\"fam\",\"version\":\"7\",\"desiredStatus\":\"RUNNING\","
      "\"volumes\":[{\"name\":\"h\",\"host\":{\"sourcePath\":\"/tmp\"}},{\"name\":\"e\",\"host\":{}}],"
      "\"containers\":[{\"name\":\"web\",\"image\":\"busybox\",\"command\":[\"httpd\",\"-f\"],"
      "\"entryPoint\":[\"/bin/sh\",\"-c\"],\"cpu\":10,\"memory\":32,\"essential\":true,"
      "\"environment\":{\"A\":\"1\",\"B\":\"two\"},\"links\":[\"db:database\"],"
      "\"portMappings\":[{\"containerPort\":80,\"hostPort\":0},{\"containerPort\":53,\"hostPort\":5353,\"protocol\":\"udp\"}],"
      "\"mountPoints\":[{\"sourceVolume\":\"h\",\"containerPath\":\"/h\",\"readOnly\":true},{\"sourceVolume\":\"e\",\"containerPath\":\"/e\"}],"
      "\"volumesFrom\":[{\"sourceContainer\":\"db\",\"readOnly\":true}],\"overrides\":{\"command\":[\"x\"]}},"
      "{\"name\":\"db\",\"image\":\"busybox\"}]}");
  struct task_container *c = &t->containers[0];
  c->known_status = TASK_STATUS_STOPPED;
  c->desired_status = TASK_STATUS_STOPPED;
  c->sent_status = TASK_STATUS_RUNNING;
  c->reason = xstrdup ("CannotStartContainerError: boom");
  c->has_exit_code = true;
  c->exit_code = 137;
  c->docker_id = xstrdup ("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  c->docker_name = xstrdup ("ecs-fam-7-web-00");
  c->known_bindings = xcalloc (1, sizeof *c->known_bindings);
  c->known_bindings[0] = (struct task_port_binding){ 80, 32768, xstrdup ("0.0.0.0"), TASK_PROTO_TCP, 0, 0 };
  c->n_known_bindings = 1;
  c->restopped = true;
  t->known_status = TASK_STATUS_RUNNING;
  t->sent_status = TASK_STATUS_RUNNING;
  t->known_time_ns = 1430242188129140193LL;
  t->start_seq = 5;
  t->stop_seq = 9;
  t->reason = xstrdup ("why");
  t->volumes[1].docker_name = xstrdup ("ecs-fam-7-e-abc");
  t->volumes[1].created = true;

  json_t *j = state_task_to_json (t);
  char *text = json_dumps (j, JSON_COMPACT);
  json_decref (j);
  j = json_loads (text, 0, NULL);
  free (text);
  struct task *r = NULL;
  agent_error_t err = NULL;
  if (state_task_from_json (j, &r, &err) < 0)
    fail_msg ("%s", error_msg (&err));
  json_decref (j);

  assert_string_equal (r->arn, "arn:t");
  assert_string_equal (r->family, "fam");
  assert_string_equal (r->version, "7");
  assert_int_equal (r->desired_status, TASK_STATUS_RUNNING);
  assert_int_equal (r->known_status, TASK_STATUS_RUNNING);
  assert_int_equal (r->sent_status, TASK_STATUS_RUNNING);
  assert_int_equal (r->known_time_ns, 1430242188129140193LL);
  assert_int_equal (r->start_seq, 5);
  assert_int_equal (r->stop_seq, 9);
  assert_string_equal (r->reason, "why");
  assert_int_equal (r->n_volumes, 2);
  assert_string_equal (r->volumes[0].source_path, "/tmp");
  assert_null (r->volumes[1].source_path);
  assert_string_equal (r->volumes[1].docker_name, "ecs-fam-7-e-abc");
  assert_true (r->volumes[1].created);
  struct task_container *rc = &r->containers[0];
  assert_string_equal (rc->name, "web");
  assert_string_equal (rc->command[1], "-f");
  assert_string_equal (rc->entry_point[0], "/bin/sh");
  assert_int_equal (rc->cpu, 10);
  assert_int_equal (rc->memory, 32);
  assert_true (rc->essential);
  assert_int_equal (rc->n_environment, 2);
  assert_string_equal (rc->links[0], "db:database");
  assert_int_equal (rc->n_port_mappings, 2);
  assert_int_equal (rc->port_mappings[1].host_port, 5353);
  assert_int_equal (rc->port_mappings[1].protocol, TASK_PROTO_UDP);
  assert_int_equal (rc->n_mount_points, 2);
  assert_true (rc->mount_points[0].read_only);
  assert_true (rc->volumes_from[0].read_only);
  assert_true (rc->has_override_command);
  assert_string_equal (rc->override_command[0], "x");
  assert_int_equal (rc->known_status, TASK_STATUS_STOPPED);
  assert_int_equal (rc->desired_status, TASK_STATUS_STOPPED);
  assert_int_equal (rc->sent_status, TASK_STATUS_RUNNING);
  assert_string_equal (rc->reason, "CannotStartContainerError: boom");
  assert_true (rc->has_exit_code);
  assert_int_equal (rc->exit_code, 137);
  assert_string_equal (rc->docker_id, c->docker_id);
  assert_string_equal (rc->docker_name, "ecs-fam-7-web-00");
  assert_int_equal (rc->n_known_bindings, 1);
  assert_int_equal (rc->known_bindings[0].host_port, 32768);
  assert_string_equal (rc->known_bindings[0].bind_ip, "0.0.0.0");
  assert_true (rc->restopped);
  assert_false (r->containers[1].has_exit_code);
  assert_null (r->containers[1].docker_id);
  task_free (r);
  task_free (t);
}

/* The internal-format fixtures (checkpoint form) parse. */
static void
test_internal_fixtures (void **st)
{
  (void) st;
  const char *files[] = { "fixtures/agent-1.1.0/engine/testdata/test_tasks/sleep5.json",
                          "samples/sleep5PortMappings.json__task-sleep5-port-mappings.json",
                          "samples/sleep5TwoContainers.json__task-sleep5-two-containers.json",
                          "samples/circular_dependency.json__task-circular-dependency.json" };
  for (size_t i = 0; i < ARRAY_SIZE (files); i++)
    {
      json_t *j = teu_load_protocol_json (files[i]);
      if (!j)
        fail_msg ("fixture %s not found (SHARED_DIR)", files[i]);
      struct task *t = NULL;
      agent_error_t err = NULL;
      if (state_task_from_json (j, &t, &err) < 0)
        fail_msg ("%s: %s", files[i], error_msg (&err));
      assert_true (t->n_containers >= 1);
      assert_int_equal (t->desired_status, TASK_STATUS_RUNNING);
      if (i == 1)
        {
          assert_int_equal (t->containers[0].port_mappings[0].container_port, 8080);
          assert_int_equal (t->containers[0].port_mappings[0].host_port, 0);
        }
      task_free (t);
      json_decref (j);
    }
}

static void
test_docker_names (void **st)
{
  (void) st;
  struct task *t = teu_task_must ("{\"arn\":\"arn:aws:ecs:us-west-2:1:task/x\",\"family\":\"my_fam!\","
                                      "\"version\":\"2\",\"containers\":[{\"name\":\"web.1\",\"image\":\"i\"},"
                                      "{\"name\":\"web1\",\"image\":\"i\"}],"
                                      "\"volumes\":[{\"name\":\"data\",\"host\":{}}]}");
  char *a = engine_docker_container_name (t, &t->containers[0]);
  char *b = engine_docker_container_name (t, &t->containers[0]);
  char *c = engine_docker_container_name (t, &t->containers[1]);
  assert_string_equal (a, b); /* deterministic */
  assert_int_equal (strncmp (a, "ecs-myfam-2-web1-", 17), 0);
  assert_int_equal (strlen (a), 17 + 20);
  assert_string_not_equal (a, c); /* same sanitised name, different hash */
  char *v = engine_docker_volume_name (t, &t->volumes[0]);
  assert_int_equal (strncmp (v, "ecs-myfam-2-data-", 17), 0);
  free (a);
  free (b);
  free (c);
  free (v);
  task_free (t);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_payload_one_task_redis),
    cmocka_unit_test (test_payload_minimal_arn_only),
    cmocka_unit_test (test_overrides_samples),
    cmocka_unit_test (test_volume_samples),
    cmocka_unit_test (test_reject_cases),
    cmocka_unit_test (test_accept_variants),
    cmocka_unit_test (test_status_names),
    cmocka_unit_test (test_time),
    cmocka_unit_test (test_checkpoint_round_trip),
    cmocka_unit_test (test_internal_fixtures),
    cmocka_unit_test (test_docker_names),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
