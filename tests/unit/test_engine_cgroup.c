/* Unit tests for engine/cgroup.c: the task cgroup's path and limits (table)
 * and its creation / removal under a test root laid out as cgroup v1
 * (controller folders) and v2 (cgroup.controllers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/xmalloc.h"
#include "docker/docker.h"
#include "engine/cgroup.h"

static void
test_spec (void **st)
{
  (void) st;
  struct
  {
    const char *arn;
    bool systemd;
    int64_t period; /* 0 = the default 100 ms */
    double cpu;
    int64_t mem;
    const char *path, *parent;
    int64_t quota, bytes;
  } cases[] = {
    { "arn:aws:ecs:us-west-2:1:task/c/abc123", false, 0, 0.25, 128, "/ecs/abc123", "/ecs/abc123", 25000,
      128LL << 20 },
    { "arn:aws:ecs:us-west-2:1:task/abc", false, 0, 2, 0, "/ecs/abc", "/ecs/abc", 200000, 0 },
    { "arn:aws:ecs:us-west-2:1:task/c/x", false, 0, 0, 0, "/ecs/x", "/ecs/x", 0, 0 },
    { "arn:aws:ecs:us-west-2:1:task/c/x", false, 0, 0.001, 0, "/ecs/x", "/ecs/x", 1000, 0 }, /* kernel minimum */
    { "arn:aws:ecs:us-west-2:1:task/c/..", false, 0, 1, 0, NULL, NULL, 0, 0 },
    { "arn:aws:ecs:us-west-2:1:task/c/", false, 0, 1, 0, NULL, NULL, 0, 0 },
    /* Docker's systemd driver: a slice per task, as upstream names it */
    { "arn:aws:ecs:us-west-2:1:task/c/0123456789abcdef0123456789abcdef", true, 0, 1, 256,
      "/ecstasks.slice/ecstasks-0123456789abcdef0123456789abcdef.slice",
      "ecstasks-0123456789abcdef0123456789abcdef.slice", 100000, 256LL << 20 },
    /* an old dashed task id: systemd nests one slice per '-' */
    { "arn:aws:ecs:us-west-2:1:task/1b2c-3d", true, 0, 0, 0,
      "/ecstasks.slice/ecstasks-1b2c.slice/ecstasks-1b2c-3d.slice", "ecstasks-1b2c-3d.slice", 0, 0 },
    { "arn:aws:ecs:us-west-2:1:task/c/..", true, 0, 1, 0, NULL, NULL, 0, 0 },
    /* ECS_CGROUP_CPU_PERIOD: the quota follows the period */
    { "arn:aws:ecs:us-west-2:1:task/c/p", false, 10000, 0.5, 0, "/ecs/p", "/ecs/p", 5000, 0 },
    { "arn:aws:ecs:us-west-2:1:task/c/p", false, 8000, 0.05, 0, "/ecs/p", "/ecs/p", 1000, 0 },
    /* no agent-side vCPU maximum (upstream's old one was 10): 16 and 192
       vCPU (ECS's largest task, ecs.capability.increased-task-cpu-limit) */
    { "arn:aws:ecs:us-west-2:1:task/c/big", false, 0, 16, 0, "/ecs/big", "/ecs/big", 1600000, 0 },
    { "arn:aws:ecs:us-west-2:1:task/c/big", false, 0, 192, 0, "/ecs/big", "/ecs/big", 19200000, 0 },
    { "arn:aws:ecs:us-west-2:1:task/c/big", false, 10000, 192, 0, "/ecs/big", "/ecs/big", 1920000, 0 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      struct task t = { .arn = (char *) cases[i].arn };
      t.opts.cpu = cases[i].cpu;
      t.opts.memory_mib = cases[i].mem;
      struct engine_cgroup_spec s;
      agent_error_t err = NULL;
      struct engine_cgroup_cfg cfg = { cases[i].systemd, cases[i].period };
      int rc = engine_cgroup_spec (&t, &cfg, &s, &err);
      if (!cases[i].path)
        {
          assert_true (rc < 0);
          error_free (&err);
          continue;
        }
      assert_int_equal (rc, 0);
      assert_string_equal (s.path, cases[i].path);
      assert_string_equal (s.parent, cases[i].parent);
      assert_int_equal (s.cpu_quota_us, cases[i].quota);
      assert_int_equal (s.memory_bytes, cases[i].bytes);
    }
}

/* A container's memory above the task's refuses the task, upstream's
   buildLinuxMemorySpec text; equal, below, reservation only (memory 0) or
   no task memory pass. */
static void
test_check_memory (void **st)
{
  (void) st;
  struct
  {
    int64_t task_mib;
    uint32_t c1, c2;
    const char *reason; /* NULL = accepted */
  } cases[] = {
    { 0, 4096, 0, NULL },
    { 512, 256, 512, NULL },
    { 512, 0, 0, NULL },
    { 512, 256, 513,
      "resource cannot be initialized for task arn:aws:ecs:us-west-2:1:task/c/m: cgroup resource: unable to "
      "build resource spec for task: task memory spec builder: container memory limit(513) greater than task "
      "memory limit(512)" },
    { 128, 1024, 64,
      "resource cannot be initialized for task arn:aws:ecs:us-west-2:1:task/c/m: cgroup resource: unable to "
      "build resource spec for task: task memory spec builder: container memory limit(1024) greater than task "
      "memory limit(128)" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      struct task_container c[2] = { { .name = (char *) "a", .memory = cases[i].c1 },
                                     { .name = (char *) "b", .memory = cases[i].c2 } };
      struct task t = { .arn = (char *) "arn:aws:ecs:us-west-2:1:task/c/m", .containers = c, .n_containers = 2 };
      t.opts.memory_mib = cases[i].task_mib;
      char *reason = (char *) "unset";
      int rc = engine_cgroup_check (&t, &reason);
      if (!cases[i].reason)
        {
          assert_int_equal (rc, 0);
          assert_null (reason);
          continue;
        }
      assert_int_equal (rc, -1);
      assert_string_equal (reason, cases[i].reason);
      free (reason);
    }
}

static char *
slurp (const char *path)
{
  FILE *f = fopen (path, "r");
  if (!f)
    return NULL;
  char buf[128] = { 0 };
  size_t n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = '\0';
  return xstrdup (buf);
}

static void
expect_file (const char *root, const char *rel, const char *want)
{
  char *p = xasprintf ("%s/%s", root, rel);
  char *got = slurp (p);
  if (!got || strcmp (got, want) != 0)
    fail_msg ("%s: %s, want %s", rel, got ? got : "(missing)", want);
  free (got);
  free (p);
}

static bool
exists (const char *root, const char *rel)
{
  char *p = xasprintf ("%s/%s", root, rel);
  bool r = access (p, F_OK) == 0;
  free (p);
  return r;
}

static void
test_v1_and_v2 (void **st)
{
  (void) st;
  struct task t = { .arn = "arn:aws:ecs:us-west-2:1:task/c/t1" };
  t.opts.cpu = 0.5;
  t.opts.memory_mib = 64;
  struct engine_cgroup_spec s;
  agent_error_t err = NULL;
  struct engine_cgroup_cfg cfg = { false, 50000 };
  assert_int_equal (engine_cgroup_spec (&t, &cfg, &s, &err), 0);
  for (int v2 = 0; v2 < 2; v2++)
    {
      char root[] = "/tmp/test_engine_cgroup_XXXXXX";
      assert_non_null (mkdtemp (root));
      if (v2)
        {
          char *p = xasprintf ("%s/cgroup.controllers", root);
          FILE *f = fopen (p, "w");
          fputs ("cpu memory\n", f);
          fclose (f);
          free (p);
        }
      else
        {
          const char *ctl[] = { "cpu", "memory", "pids" };
          for (size_t i = 0; i < 3; i++)
            {
              char *p = xasprintf ("%s/%s", root, ctl[i]);
              assert_int_equal (mkdir (p, 0755), 0);
              free (p);
            }
        }
      assert_int_equal (engine_cgroup_create (root, &s, &err), 0);
      assert_int_equal (engine_cgroup_create (root, &s, &err), 0); /* idempotent */
      assert_int_equal (s.v2, v2);
      if (v2)
        {
          expect_file (root, "ecs/t1/cpu.max", "25000 50000");
          expect_file (root, "ecs/t1/memory.max", "67108864");
          expect_file (root, "ecs/cgroup.subtree_control", "+cpu +memory");
        }
      else
        {
          expect_file (root, "cpu/ecs/t1/cpu.cfs_quota_us", "25000");
          expect_file (root, "cpu/ecs/t1/cpu.cfs_period_us", "50000");
          expect_file (root, "memory/ecs/t1/memory.limit_in_bytes", "67108864");
          /* Docker makes the task folder in the other controllers it uses */
          char *p = xasprintf ("%s/pids/ecs/t1", root);
          char *pe = xasprintf ("%s/pids/ecs", root);
          assert_int_equal (mkdir (pe, 0755), 0);
          assert_int_equal (mkdir (p, 0755), 0);
          free (p);
          free (pe);
        }
      assert_int_equal (engine_cgroup_remove (root, &s, &err), 0);
      assert_false (exists (root, v2 ? "ecs/t1" : "cpu/ecs/t1"));
      if (!v2)
        {
          assert_false (exists (root, "memory/ecs/t1"));
          assert_false (exists (root, "pids/ecs/t1"));
        }
      assert_int_equal (engine_cgroup_remove (root, &s, &err), 0); /* already gone: fine */
      char *cmd = xasprintf ("rm -rf %s", root);
      assert_int_equal (system (cmd), 0);
      free (cmd);
    }
  /* a root that is not there */
  assert_true (engine_cgroup_create ("/nonexistent/cg", &s, &err) < 0);
  assert_non_null (strstr (error_msg (&err), "/nonexistent/cg"));
  error_free (&err);
}

/* Without a task cpu the task cgroup gets CPU shares, as upstream's
   implicit CPU spec: each container's cpu, at least 2, summed (held to the
   kernel's 262144); written as cpu.shares (v1) or the converted cpu.weight
   (v2); with a task cpu only the quota is written. */
static void
test_implicit_shares (void **st)
{
  (void) st;
  struct
  {
    double cpu;
    uint32_t c1, c2;
    int64_t shares;
    const char *weight; /* cpu.weight written on v2 */
  } cases[] = {
    { 0, 0, 0, 4, "1" },
    { 0, 1024, 0, 1026, "40" },
    { 0, 512, 512, 1024, "39" },
    { 0, 1, 10240, 10242, "391" },
    { 0, 262144, 262144, 262144, "10000" },
    { 0.5, 1024, 1024, 0, NULL },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      struct task_container c[2] = { { .name = (char *) "a", .cpu = cases[i].c1 },
                                     { .name = (char *) "b", .cpu = cases[i].c2 } };
      struct task t = { .arn = (char *) "arn:aws:ecs:us-west-2:1:task/c/sh", .containers = c, .n_containers = 2 };
      t.opts.cpu = cases[i].cpu;
      struct engine_cgroup_spec s;
      agent_error_t err = NULL;
      struct engine_cgroup_cfg cfg = { false, 0 };
      assert_int_equal (engine_cgroup_spec (&t, &cfg, &s, &err), 0);
      assert_int_equal (s.cpu_shares, cases[i].shares);
      for (int v2 = 0; v2 < 2; v2++)
        {
          char root[] = "/tmp/test_engine_cgroup_XXXXXX";
          assert_non_null (mkdtemp (root));
          char *p = v2 ? xasprintf ("%s/cgroup.controllers", root) : xasprintf ("%s/cpu", root);
          if (v2)
            {
              FILE *f = fopen (p, "w");
              fputs ("cpu memory\n", f);
              fclose (f);
            }
          else
            {
              assert_int_equal (mkdir (p, 0755), 0);
              char *m = xasprintf ("%s/memory", root);
              assert_int_equal (mkdir (m, 0755), 0);
              free (m);
            }
          free (p);
          assert_int_equal (engine_cgroup_create (root, &s, &err), 0);
          char want[32];
          snprintf (want, sizeof want, "%lld", (long long) cases[i].shares);
          if (cases[i].weight)
            expect_file (root, v2 ? "ecs/sh/cpu.weight" : "cpu/ecs/sh/cpu.shares", v2 ? cases[i].weight : want);
          else
            assert_false (exists (root, v2 ? "ecs/sh/cpu.weight" : "cpu/ecs/sh/cpu.shares"));
          char *cmd = xasprintf ("rm -rf %s", root);
          assert_int_equal (system (cmd), 0);
          free (cmd);
        }
    }
}

/* systemd driver on cgroup v2: nothing is written below root (systemd makes
   the slice, engine/slice.h); the create gets the slice name;
   ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2 gives a container without a
   limit the task's (v2 only, never over one set). */
static void
test_systemd_and_apply (void **st)
{
  (void) st;
  struct task t = { .arn = "arn:aws:ecs:us-west-2:1:task/c/t2" };
  t.opts.cpu = 1;
  t.opts.memory_mib = 32;
  char root[] = "/tmp/test_engine_cgroup_XXXXXX";
  assert_non_null (mkdtemp (root));
  char *p = xasprintf ("%s/cgroup.controllers", root);
  FILE *f = fopen (p, "w");
  fputs ("cpu memory\n", f);
  fclose (f);
  free (p);
  struct engine_cgroup_spec s;
  char *errmsg = NULL;
  struct engine_cgroup_cfg sd = { true, 0 };
  assert_int_equal (engine_cgroup_prepare (root, &sd, &t, &s, &errmsg), 0);
  assert_false (exists (root, "ecstasks.slice"));
  assert_true (s.v2);
  assert_int_equal (s.cpu_quota_us, 100000);
  assert_int_equal (s.memory_bytes, 32LL << 20);
  struct
  {
    bool propagate, v2;
    int64_t mem, want;
  } cases[] = {
    { false, true, 0, 0 },
    { true, true, 0, 32LL << 20 },
    { true, true, 8LL << 20, 8LL << 20 },
    { true, false, 0, 0 }, /* cgroup v1: not propagated */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      struct docker_create_opts o = { .memory = cases[i].mem };
      s.v2 = cases[i].v2;
      engine_cgroup_apply (&s, cases[i].propagate, &o);
      assert_string_equal (o.cgroup_parent, "ecstasks-t2.slice");
      assert_int_equal (o.memory, cases[i].want);
    }
  /* no task cgroups: nothing set */
  assert_int_equal (engine_cgroup_prepare (NULL, &sd, &t, &s, &errmsg), 0);
  struct docker_create_opts o = { 0 };
  engine_cgroup_apply (&s, true, &o);
  assert_null (o.cgroup_parent);
  assert_int_equal (o.memory, 0);
  char *cmd = xasprintf ("rm -rf %s", root);
  assert_int_equal (system (cmd), 0);
  free (cmd);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_spec),
    cmocka_unit_test (test_check_memory),
    cmocka_unit_test (test_v1_and_v2),
    cmocka_unit_test (test_implicit_shares),
    cmocka_unit_test (test_systemd_and_apply),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
