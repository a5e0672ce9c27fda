/* Unit tests for engine/slice.c (pure parts): the properties of a task's
 * systemd slice (table, against what containerd's cgroups library sends
 * for upstream's resource spec), systemd's Version as the library reads
 * it, and the planner's gate (creates wait for the slice). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include "engine/plan.h"
#include "engine/slice.h"
#include "systemd/systemd.h"
#include "test_engine_util.h"

/* The properties as compact JSON: [name, dbus signature, value]. */
static char *
props_json (const struct engine_slice_props *p)
{
  static const char *const sig[] = { "b", "t", "s", "as" };
  json_t *a = json_array ();
  for (size_t i = 0; i < p->n; i++)
    {
      const struct systemd_prop *v = &p->v[i];
      json_t *val = NULL;
      switch (v->type)
        {
        case SYSTEMD_PROP_BOOL:
          val = json_boolean (v->b);
          break;
        case SYSTEMD_PROP_U64:
          val = json_integer ((json_int_t) v->u64);
          break;
        case SYSTEMD_PROP_STRING:
          val = json_string (v->s);
          break;
        case SYSTEMD_PROP_STRINGS:
          val = json_array ();
          for (size_t k = 0; k < v->n_strings; k++)
            json_array_append_new (val, json_string (v->strings[k]));
          break;
        }
      json_array_append_new (a, json_pack ("[s,s,o]", v->name, sig[v->type], val));
    }
  char *s = json_dumps (a, JSON_COMPACT);
  json_decref (a);
  return s;
}

#define HEAD                                                                                                 \
  "[[\"Description\",\"s\",\"cgroup ecstasks-abc.slice\"],[\"DefaultDependencies\",\"b\",false],"           \
  "[\"MemoryAccounting\",\"b\",true],[\"CPUAccounting\",\"b\",true],[\"IOAccounting\",\"b\",true],"         \
  "[\"Wants\",\"as\",[\"system.slice\"]]"

static void
test_props (void **st)
{
  (void) st;
  struct
  {
    double cpu;           /* task vCPU, 0 = none */
    int64_t mem;          /* task MiB */
    int64_t period_ms;    /* ECS_CGROUP_CPU_PERIOD, 0 = 100 ms */
    int version;          /* systemd's, -1 = unknown */
    uint32_t ccpu[2];     /* the containers' cpu units */
    const char *want;     /* after HEAD */
  } rows[] = {
    /* the integration test's task: 0.5 vCPU, 256 MiB */
    { 0.5, 256, 0, 252, { 0, 0 },
      ",[\"MemoryMax\",\"t\",268435456],[\"CPUQuotaPeriodUSec\",\"t\",100000],[\"CPUQuotaPerSecUSec\",\"t\",500000]]" },
    /* systemd older than 242 (or unknown): no period property */
    { 0.5, 256, 0, 241, { 0, 0 }, ",[\"MemoryMax\",\"t\",268435456],[\"CPUQuotaPerSecUSec\",\"t\",500000]]" },
    { 0.5, 0, 0, -1, { 0, 0 }, ",[\"CPUQuotaPerSecUSec\",\"t\",500000]]" },
    /* the quota per second follows the period */
    { 0.25, 0, 50, 252, { 0, 0 }, ",[\"CPUQuotaPeriodUSec\",\"t\",50000],[\"CPUQuotaPerSecUSec\",\"t\",250000]]" },
    /* rounded up to whole percents of a CPU */
    { 0.333, 0, 0, 252, { 0, 0 }, ",[\"CPUQuotaPeriodUSec\",\"t\",100000],[\"CPUQuotaPerSecUSec\",\"t\",340000]]" },
    { 0.001, 0, 0, 252, { 0, 0 }, ",[\"CPUQuotaPeriodUSec\",\"t\",100000],[\"CPUQuotaPerSecUSec\",\"t\",10000]]" },
    { 4, 0, 0, 252, { 0, 0 }, ",[\"CPUQuotaPeriodUSec\",\"t\",100000],[\"CPUQuotaPerSecUSec\",\"t\",4000000]]" },
    /* no task cpu: the containers' shares (each at least 2) as the weight */
    { 0, 512, 0, 252, { 0, 0 }, ",[\"MemoryMax\",\"t\",536870912],[\"CPUWeight\",\"t\",1]]" },
    { 0, 0, 0, 252, { 0, 1024 }, ",[\"CPUWeight\",\"t\",40]]" },
    /* the sum is held to the kernel's 262144 shares: weight 10000, the
       most systemd takes (unreachable from ECS: 10240 units per container) */
    { 0, 0, 0, 252, { 262144, 262144 }, ",[\"CPUWeight\",\"t\",10000]]" },
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
    {
      struct task *t = teu_task_must ("{\"arn\":\"arn:aws:ecs:us-west-2:1:task/c/abc\",\"desiredStatus\":\"RUNNING\","
                                      "\"containers\":[{\"name\":\"a\",\"image\":\"i\"},{\"name\":\"b\",\"image\":\"i\"}]}");
      t->opts.cpu = rows[i].cpu;
      t->opts.memory_mib = rows[i].mem;
      t->containers[0].cpu = rows[i].ccpu[0];
      t->containers[1].cpu = rows[i].ccpu[1];
      struct engine_cgroup_cfg cfg = { true, rows[i].period_ms * 1000 };
      struct engine_cgroup_spec s;
      agent_error_t err = NULL;
      assert_int_equal (engine_cgroup_spec (t, &cfg, &s, &err), 0);
      struct engine_slice_props p;
      engine_slice_props (&s, rows[i].version, &p);
      char *got = props_json (&p);
      char *want = xasprintf ("%s%s", HEAD, rows[i].want);
      if (strcmp (got, want) != 0)
        fail_msg ("row %zu:\n got  %s\n want %s", i, got, want);
      free (got);
      free (want);
      task_free (t);
    }
}

static void
test_version_parse (void **st)
{
  (void) st;
  struct
  {
    const char *in;
    int want;
  } rows[] = {
    { "252.38-1~deb12u1", 252 }, { "v245", 245 }, { "\"249.11\"", 249 }, { "242", 242 },
    { "", -1 },                  { "abc", -1 },   { "v", -1 },
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
    assert_int_equal (systemd_version_parse (rows[i].in), rows[i].want);
}

/* A pulled container is created only once the slice is there (or none is
   asked for); a failed slice never lets it be created. */
static void
test_plan_gate (void **st)
{
  (void) st;
  struct
  {
    enum task_resource_status res;
    enum task_action want;
  } rows[] = {
    { TASK_RES_NONE, TASK_ACTION_CREATE },
    { TASK_RES_PENDING, TASK_ACTION_NONE },
    { TASK_RES_CREATED, TASK_ACTION_CREATE },
    { TASK_RES_FAILED, TASK_ACTION_NONE },
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
    {
      struct task *t = teu_task_must ("{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":"
                                      "[{\"name\":\"a\",\"image\":\"i\",\"essential\":true}]}");
      t->containers[0].desired_status = TASK_STATUS_RUNNING;
      t->containers[0].known_status = TASK_STATUS_PULLED;
      t->slice_res = rows[i].res;
      assert_int_equal (engine_plan_container_action (t, 0), rows[i].want);
      /* waiting for the slice is not being stuck */
      if (rows[i].res == TASK_RES_PENDING)
        assert_int_equal (engine_plan_stuck (t), ENGINE_PLAN_NOT_STUCK);
      task_free (t);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_props),
    cmocka_unit_test (test_version_parse),
    cmocka_unit_test (test_plan_gate),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
