/* Unit tests for engine/images.c and task/image_record.c, without I/O:
 * the pull policy of each ECS_IMAGE_PULL_BEHAVIOR, pull progress sums and
 * their log rate, launch slots, the image records (moved tags, bounds),
 * the choice of the image cleanup and its untracked steps (containers,
 * budget, order, references). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "engine/images.h"
#include "task/image_record.h"

#define MS 1000000LL

static void
test_pull_policy (void **st)
{
  (void) st;
  static const struct
  {
    enum config_pull_behavior b;
    bool before;
    enum engine_pull_policy want;
    bool falls_back;
    const char *name;
  } rows[] = {
    { CONFIG_PULL_DEFAULT, false, ENGINE_POLICY_PULL, true, "default" },
    { CONFIG_PULL_DEFAULT, true, ENGINE_POLICY_PULL, true, "default" },
    { CONFIG_PULL_ALWAYS, true, ENGINE_POLICY_PULL, false, "always" },
    { CONFIG_PULL_ONCE, false, ENGINE_POLICY_PULL, false, "once" },
    { CONFIG_PULL_ONCE, true, ENGINE_POLICY_SKIP, false, "once" },
    { CONFIG_PULL_PREFER_CACHED, false, ENGINE_POLICY_CHECK_LOCAL, true, "prefer-cached" },
    { CONFIG_PULL_PREFER_CACHED, true, ENGINE_POLICY_CHECK_LOCAL, true, "prefer-cached" },
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    {
      assert_int_equal (engine_decide_pull_policy (rows[i].b, rows[i].before), rows[i].want);
      assert_int_equal (engine_pull_failure_falls_back (rows[i].b), rows[i].falls_back);
      assert_string_equal (engine_pull_behavior_name (rows[i].b), rows[i].name);
    }
}

static void
line (struct engine_pull_progress *p, const char *status, const char *id, int64_t cur, int64_t tot,
      uint64_t now, bool want_log)
{
  struct docker_pull_progress l = { .status = (char *) status, .id = (char *) id, .current = cur, .total = tot };
  assert_int_equal (engine_pull_progress_update (p, &l, now), want_log);
}

static void
test_pull_progress (void **st)
{
  (void) st;
  struct engine_pull_progress p = { .started_ms = 1000, .logged_ms = 1000 };
  struct engine_pull_summary s;
  line (&p, "Pulling from library/x", "latest", -1, -1, 1000, false);
  line (&p, "Pulling fs layer", "aaa", -1, -1, 1001, false);
  line (&p, "Pulling fs layer", "bbb", -1, -1, 1001, false);
  line (&p, "Already exists", "ccc", -1, -1, 1002, false);
  line (&p, "Downloading", "aaa", 100, 1000, 1003, false);
  line (&p, "Downloading", "bbb", 50, 500, 1004, false);
  engine_pull_progress_sum (&p, &s);
  assert_int_equal (s.layers, 3); /* the "latest" line is not a layer */
  assert_int_equal (s.layers_done, 1);
  assert_int_equal (s.bytes_done, 150);
  assert_int_equal (s.bytes_total, 1500);
  /* many chunks within the period: no line; the first after it: one */
  for (int i = 0; i < 1000; i++)
    line (&p, "Downloading", "aaa", 100 + i / 2, 1000, 1005 + (uint64_t) i, false);
  line (&p, "Downloading", "aaa", 900, 1000, 1000 + ENGINE_PULL_PROGRESS_LOG_MS, true);
  line (&p, "Downloading", "aaa", 950, 1000, 1001 + ENGINE_PULL_PROGRESS_LOG_MS, false);
  line (&p, "Download complete", "aaa", -1, -1, 1002 + ENGINE_PULL_PROGRESS_LOG_MS, false);
  line (&p, "Extracting", "aaa", 10, 2000, 1003 + ENGINE_PULL_PROGRESS_LOG_MS, false);
  line (&p, "Pull complete", "aaa", -1, -1, 1004 + ENGINE_PULL_PROGRESS_LOG_MS, false);
  engine_pull_progress_sum (&p, &s);
  assert_int_equal (s.layers_done, 2);
  assert_int_equal (s.bytes_done, 1050); /* extracting bytes are not download bytes */
  /* bounded: ids past ENGINE_PULL_LAYERS_MAX are not followed */
  char id[32];
  for (int i = 0; i < ENGINE_PULL_LAYERS_MAX + 20; i++)
    {
      snprintf (id, sizeof id, "l%d", i);
      line (&p, "Waiting", id, -1, -1, 1004 + ENGINE_PULL_PROGRESS_LOG_MS, false);
    }
  assert_int_equal (p.n, ENGINE_PULL_LAYERS_MAX);
}

static void
test_digests (void **st)
{
  const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  char line[128];
  snprintf (line, sizeof line, "Digest: %s", d);
  assert_string_equal (engine_pull_status_digest (line), d);
  assert_null (engine_pull_status_digest ("Digest: sha256:short"));
  assert_null (engine_pull_status_digest ("Status: Downloaded newer image for busybox:latest"));
  assert_null (engine_pull_status_digest (NULL));
  char a[128], b[128], c[128];
  snprintf (a, sizeof a, "registry.example.com/team/app@%s", d);
  snprintf (b, sizeof b, "busybox@sha256:%064d", 7);
  snprintf (c, sizeof c, "not-a-digest");
  char *v[] = { a, b, c };
  /* the entry of the image's repository, whatever its tag or Hub spelling */
  assert_ptr_equal (engine_repo_digest_for ("busybox:1.36", v, 3), strchr (b, '@') + 1);
  assert_ptr_equal (engine_repo_digest_for ("docker.io/library/busybox", v, 3), strchr (b, '@') + 1);
  assert_ptr_equal (engine_repo_digest_for ("registry.example.com/team/app:v1", v, 3), strchr (a, '@') + 1);
  /* no entry of its repository and several others: unknown */
  assert_null (engine_repo_digest_for ("alpine", v, 3));
  /* the only valid entry (an image pulled by another name) */
  char *one[] = { a, c };
  assert_ptr_equal (engine_repo_digest_for ("alias:latest", one, 2), strchr (a, '@') + 1);
  assert_null (engine_repo_digest_for ("x", NULL, 0));
}

static void
test_launch_slot (void **st)
{
  (void) st;
  assert_true (engine_decide_launch_slot (0, 1000));
  assert_true (engine_decide_launch_slot (4, 3));
  assert_false (engine_decide_launch_slot (4, 4));
  assert_false (engine_decide_launch_slot (4, 9));
  assert_true (engine_decide_launch_slot (1, 0));
  assert_false (engine_decide_launch_slot (1, 1));
}

static void
test_records (void **st)
{
  (void) st;
  struct image_records l = { 0 };
  struct image_record *r = image_records_add (&l, "sha256:a", "busybox:1", 10, 5, false);
  assert_non_null (r);
  assert_int_equal (r->pulled_at_ns, 5);
  assert_false (r->pull_succeeded);
  r = image_records_add (&l, "sha256:a", "busybox:1", 0, 9, true);
  assert_int_equal (r->n_names, 1);
  assert_int_equal (r->size, 10);
  assert_int_equal (r->pulled_at_ns, 5); /* first pull kept */
  assert_true (r->pull_succeeded);
  image_records_add (&l, "sha256:a", "busybox:latest", 10, 9, false);
  assert_true (image_records_find (&l, "sha256:a")->pull_succeeded); /* never lowered */
  /* busybox:1 moves to a new id */
  image_records_add (&l, "sha256:b", "busybox:1", 20, 10, true);
  assert_int_equal (l.n, 2);
  assert_int_equal (image_records_find (&l, "sha256:a")->n_names, 1);
  assert_string_equal (image_records_find (&l, "sha256:a")->names[0], "busybox:latest");
  assert_string_equal (image_records_find_name (&l, "busybox:1")->id, "sha256:b");
  assert_null (image_records_find_name (&l, "nope"));
  /* names are bounded */
  char n[32];
  for (int i = 0; i < IMAGE_RECORD_NAMES_MAX + 5; i++)
    {
      snprintf (n, sizeof n, "x:%d", i);
      image_records_add (&l, "sha256:c", n, 1, 1, false);
    }
  assert_int_equal (image_records_find (&l, "sha256:c")->n_names, IMAGE_RECORD_NAMES_MAX);
  assert_string_equal (image_records_find (&l, "sha256:c")->names[0], "x:5");
  image_record_drop_name (image_records_find (&l, "sha256:b"), "busybox:1");
  assert_int_equal (image_records_find (&l, "sha256:b")->n_names, 0);
  image_records_remove (&l, image_records_find (&l, "sha256:a"));
  assert_int_equal (l.n, 2);
  assert_null (image_records_find (&l, "sha256:a"));
  assert_non_null (image_records_find (&l, "sha256:c"));
  image_records_free (&l);
}

static void
test_cleanup_choice (void **st)
{
  (void) st;
  struct image_records l = { 0 };
  /* id, name, pulled at (ms), last used (ms) */
  image_records_add (&l, "sha256:old", "old:1", 1, 0, true)->last_used_at_ns = 500 * MS;
  image_records_add (&l, "sha256:lru", "lru:1", 1, 0, true)->last_used_at_ns = 100 * MS;
  image_records_add (&l, "sha256:used", "used:1", 1, 0, true)->last_used_at_ns = 10 * MS;
  image_records_add (&l, "sha256:young", "young:1", 1, 900 * MS, true)->last_used_at_ns = 1 * MS;
  image_records_add (&l, "sha256:excl", "keep:me", 1, 0, true)->last_used_at_ns = 2 * MS;
  bool in_use[5] = { false, false, true, false, false };
  bool skip[5] = { 0 };
  const char *excluded[] = { "keep:me" };
  struct engine_cleanup_view v = { .records = &l, .in_use = in_use, .skip = skip, .excluded = excluded,
                                   .n_excluded = 1, .now_ns = 1000 * MS, .min_age_ms = 200 };
  /* used, young (pulled 100 ms ago < 200 ms) and excluded are never chosen;
     of the rest the least recently used goes first */
  assert_int_equal (engine_decide_image_to_remove (&v), 1);
  skip[1] = true;
  assert_int_equal (engine_decide_image_to_remove (&v), 0);
  skip[0] = true;
  assert_int_equal (engine_decide_image_to_remove (&v), -1);
  v.min_age_ms = 50; /* now young is old enough */
  assert_int_equal (engine_decide_image_to_remove (&v), 3);
  in_use[2] = false;
  assert_int_equal (engine_decide_image_to_remove (&v), 3);
  v.n_excluded = 0;
  skip[3] = true;
  assert_int_equal (engine_decide_image_to_remove (&v), 4);
  assert_true (engine_image_excluded (&l.v[4], excluded, 1));
  assert_false (engine_image_excluded (&l.v[0], excluded, 1));
  image_records_free (&l);
}

#define SEC 1000000000LL

/* Step 4: status x finished time x wait. */
static void
test_untracked_containers (void **st)
{
  (void) st;
  int64_t now = 1000 * SEC;
  static const struct
  {
    const char *status;
    bool known;
    int64_t finished_s; /* 0: Docker's zero time */
    uint64_t wait_ms;
    bool want;
  } rows[] = {
    { "exited", true, 900, 60000, true },    /* 100 s ago, wait 60 s */
    { "exited", true, 960, 60000, false },   /* 40 s ago */
    { "exited", true, 940, 60000, false },   /* exactly 60 s: not older */
    { "dead", true, 100, 60000, true },
    { "created", true, 0, 3 * 3600 * 1000, true }, /* never started: zero FinishedAt */
    { "running", true, 0, 0, false },
    { "paused", true, 0, 0, false },
    { "restarting", true, 0, 0, false },
    { "removing", true, 0, 0, false },
    { "exited", false, 0, 0, false },        /* FinishedAt missing / unparsable */
    { NULL, true, 0, 0, false },
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    if (engine_decide_untracked_container (rows[i].status, rows[i].known, rows[i].finished_s * SEC, now,
                                           rows[i].wait_ms) != rows[i].want)
      fail_msg ("row %zu (%s)", i, rows[i].status ? rows[i].status : "null");
}

/* Step 5's budget: N - k, and upstream's quirk (all N tried: 1). */
static void
test_untracked_budget (void **st)
{
  (void) st;
  static const int rows[][3] = {
    /* N, tries of step 3, budget */
    { 5, 0, 5 }, { 5, 1, 4 }, { 5, 4, 1 }, { 5, 5, 1 }, { 1, 0, 1 }, { 1, 1, 1 }, { 3, 2, 1 }, { 0, 0, 0 },
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    assert_int_equal (engine_untracked_image_budget (rows[i][0], rows[i][1]), rows[i][2]);
}

/* Step 5's order: tracked ids and excluded tags skipped, too young ones
   skipped, the rest smallest first (ties in list order); references. */
static void
test_untracked_order (void **st)
{
  (void) st;
  int64_t now_s = 100000;
  char *t_keep[] = { (char *) "keep:1" };
  char *t_two[] = { (char *) "two:a", (char *) "two:b" };
  char *t_one[] = { (char *) "one:1" };
  char *t_mixed[] = { (char *) "other:1", (char *) "keep:1" };
  struct docker_image_summary items[] = {
    { (char *) "sha256:big", t_one, 1, 900, now_s - 7200 },
    { (char *) "sha256:tracked", NULL, 0, 1, now_s - 7200 },
    { (char *) "sha256:excluded", t_keep, 1, 2, now_s - 7200 },
    { (char *) "sha256:young", NULL, 0, 3, now_s - 60 },
    { (char *) "sha256:two", t_two, 2, 500, now_s - 7200 },
    { (char *) "sha256:dangling", NULL, 0, 500, now_s - 7200 },
    { (char *) "sha256:mixed", t_mixed, 2, 4, now_s - 7200 },
    { (char *) "sha256:epoch", NULL, 0, 10, 0 }, /* Created absent: oldest */
  };
  struct docker_image_list list = { items, sizeof items / sizeof items[0] };
  struct image_records recs = { 0 };
  assert_non_null (image_records_add (&recs, "sha256:tracked", "tracked:1", 1, 0, true));
  const char *excluded[] = { "keep:1" };
  struct engine_untracked_view v = { .images = &list, .records = &recs, .excluded = excluded,
                                     .n_excluded = 1, .now_ns = now_s * SEC, .min_age_ms = 3600 * 1000 };
  size_t order[8];
  size_t n = engine_untracked_images_order (&v, order);
  assert_int_equal (n, 4);
  assert_int_equal (order[0], 7); /* 10 bytes */
  assert_int_equal (order[1], 4); /* 500, before the other 500 (list order) */
  assert_int_equal (order[2], 5);
  assert_int_equal (order[3], 0); /* 900 */
  /* with no minimum age the young one comes first (3 bytes) */
  v.min_age_ms = 0;
  n = engine_untracked_images_order (&v, order);
  assert_int_equal (n, 5);
  assert_int_equal (order[0], 3);
  /* no records, no exclusions: all eight */
  v.records = NULL;
  v.n_excluded = 0;
  assert_int_equal (engine_untracked_images_order (&v, order), 8);
  image_records_free (&recs);

  const char *refs[4];
  assert_int_equal (engine_untracked_image_refs (&items[4], refs, 4), 2); /* several tags: each */
  assert_string_equal (refs[0], "two:a");
  assert_string_equal (refs[1], "two:b");
  assert_int_equal (engine_untracked_image_refs (&items[0], refs, 4), 1); /* one tag: by id */
  assert_string_equal (refs[0], "sha256:big");
  assert_int_equal (engine_untracked_image_refs (&items[5], refs, 4), 1); /* none: by id */
  assert_string_equal (refs[0], "sha256:dangling");
}

/* The image's environment before a create: a record inspect in flight is
   waited for (the tag may have moved), a known ManagedEnvKeys lets the
   create go, a missing or never-read one asks for an inspect, a failed
   inspect lets the create go; no region to inject needs nothing. */
static void
test_create_image (void **st)
{
  (void) st;
  struct image_record known = { .env_known = true, .managed_env = IMAGE_ENV_AWS_REGION };
  struct image_record known_none = { .env_known = true };
  struct image_record unread = { .env_known = false }; /* an old checkpoint's */
  static const struct
  {
    bool wanted;
    int rec; /* 0 none, 1 known, 2 known without keys, 3 unread */
    bool in_flight, failed;
    enum engine_create_image want;
  } cases[] = {
    { false, 0, false, false, ENGINE_CREATE_IMAGE_READY },
    { false, 0, true, false, ENGINE_CREATE_IMAGE_READY },
    { true, 0, false, false, ENGINE_CREATE_IMAGE_INSPECT },
    { true, 3, false, false, ENGINE_CREATE_IMAGE_INSPECT },
    { true, 0, true, false, ENGINE_CREATE_IMAGE_WAIT },
    { true, 1, true, false, ENGINE_CREATE_IMAGE_WAIT },
    { true, 1, false, false, ENGINE_CREATE_IMAGE_READY },
    { true, 2, false, false, ENGINE_CREATE_IMAGE_READY },
    { true, 0, false, true, ENGINE_CREATE_IMAGE_READY },
    { true, 3, false, true, ENGINE_CREATE_IMAGE_READY },
  };
  const struct image_record *recs[] = { NULL, &known, &known_none, &unread };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (engine_decide_create_image (cases[i].wanted, recs[cases[i].rec], cases[i].in_flight, cases[i].failed)
        != cases[i].want)
      fail_msg ("case %zu", i);
  /* ManagedEnvKeys from Config.Env */
  char *env[] = { (char *) "PATH=/bin", (char *) "AWS_REGION=xx-image-1", (char *) "AWS_DEFAULT_REGIONX=1",
                  (char *) "AWS_DEFAULT_REGION", (char *) "MY_AWS_REGION=1" };
  assert_int_equal (image_env_managed_keys (env, 5), IMAGE_ENV_AWS_REGION);
  char *env2[] = { (char *) "AWS_DEFAULT_REGION=", (char *) "AWS_REGION=a" };
  assert_int_equal (image_env_managed_keys (env2, 2), IMAGE_ENV_AWS_REGION | IMAGE_ENV_AWS_DEFAULT_REGION);
  assert_int_equal (image_env_managed_keys (NULL, 0), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_pull_policy),
    cmocka_unit_test (test_pull_progress),
    cmocka_unit_test (test_launch_slot),
    cmocka_unit_test (test_digests),
    cmocka_unit_test (test_records),
    cmocka_unit_test (test_create_image),
    cmocka_unit_test (test_cleanup_choice),
    cmocka_unit_test (test_untracked_containers),
    cmocka_unit_test (test_untracked_budget),
    cmocka_unit_test (test_untracked_order),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
