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
#include "engine/cgroup.h"

static void
test_spec (void **st)
{
  (void) st;
  struct
  {
    const char *arn;
    double cpu;
    int64_t mem;
    const char *path;
    int64_t quota, bytes;
  } cases[] = {
    { "arn:aws:ecs:us-west-2:1:task/c/abc123", 0.25, 128, "/ecs/abc123", 25000, 128LL << 20 },
    { "arn:aws:ecs:us-west-2:1:task/abc", 2, 0, "/ecs/abc", 200000, 0 },
    { "arn:aws:ecs:us-west-2:1:task/c/x", 0, 0, "/ecs/x", 0, 0 },
    { "arn:aws:ecs:us-west-2:1:task/c/x", 0.001, 0, "/ecs/x", 1000, 0 }, /* kernel minimum */
    { "arn:aws:ecs:us-west-2:1:task/c/..", 1, 0, NULL, 0, 0 },
    { "arn:aws:ecs:us-west-2:1:task/c/", 1, 0, NULL, 0, 0 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      struct task t = { .arn = (char *) cases[i].arn };
      t.opts.cpu = cases[i].cpu;
      t.opts.memory_mib = cases[i].mem;
      struct engine_cgroup_spec s;
      agent_error_t err = NULL;
      int rc = engine_cgroup_spec (&t, &s, &err);
      if (!cases[i].path)
        {
          assert_true (rc < 0);
          error_free (&err);
          continue;
        }
      assert_int_equal (rc, 0);
      assert_string_equal (s.path, cases[i].path);
      assert_int_equal (s.cpu_quota_us, cases[i].quota);
      assert_int_equal (s.memory_bytes, cases[i].bytes);
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
  assert_int_equal (engine_cgroup_spec (&t, &s, &err), 0);
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
      if (v2)
        {
          expect_file (root, "ecs/t1/cpu.max", "50000 100000");
          expect_file (root, "ecs/t1/memory.max", "67108864");
          expect_file (root, "ecs/cgroup.subtree_control", "+cpu +memory");
        }
      else
        {
          expect_file (root, "cpu/ecs/t1/cpu.cfs_quota_us", "50000");
          expect_file (root, "cpu/ecs/t1/cpu.cfs_period_us", "100000");
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

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_spec),
    cmocka_unit_test (test_v1_and_v2),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
