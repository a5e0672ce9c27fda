/* Unit tests for state/state.c (test_state_fixture.h): checkpoint round
 * trip, durable-save callback ordering and coalescing, the state-change
 * queue and its durability (also across kill -9), corrupt / truncated /
 * unsupported files, image records, the upstream 1.1.0 v1 fixture, the
 * client token.  Failing saves and unusable checkpoints:
 * test_state_failures.c. */
#include "test_state_fixture.h"

static void
test_missing_file_is_fresh (void **st)
{
  struct fixture *f = *st;
  state_store_t *s = store (f, true);
  agent_error_t err = NULL;
  assert_int_equal (state_load (s, &err), 0);
  assert_int_equal (state_loaded_version (s), 0);
  assert_null (state_cluster (s));
  assert_null (state_container_instance_arn (s));
  assert_false (state_has_acs_seq_num (s));
  assert_int_equal (state_loaded_task_count (s), 0);
  assert_int_equal (state_change_count (s), 0);
  assert_string_equal (state_path (s), f->path);
  state_store_free (s);
}

static void
test_bad_data_dir (void **st)
{
  struct fixture *f = *st;
  agent_error_t err = NULL;
  assert_null (state_store_new (&f->loop, "/nonexistent/dir", true, &err));
  assert_int_equal (error_kind (&err), ERR_TERMINAL);
  error_free (&err);
  write_file (f->path, "x", 1);
  assert_null (state_store_new (&f->loop, f->path, true, &err));
  assert_int_equal (error_kind (&err), ERR_TERMINAL);
  assert_non_null (strstr (error_msg (&err), "not a directory"));
  error_free (&err);
  /* Disabled: the directory does not matter. */
  state_store_t *s = state_store_new (&f->loop, "/nonexistent/dir", false, &err);
  assert_non_null (s);
  state_store_free (s);
}

static void
test_round_trip (void **st)
{
  struct fixture *f = *st;
  state_store_t *s = store (f, true);
  state_set_cluster (s, "my-cluster");
  state_set_container_instance_arn (s, "arn:aws:ecs:us-west-2:1:container-instance/abc");
  state_set_ec2_instance_id (s, "i-0123");
  state_set_acs_seq_num (s, 7);
  state_set_acs_seq_num (s, 3); /* only raises */
  state_set_task_provider (s, provider, "arn:task-1");
  struct state_change *c = state_change_new (STATE_CHANGE_CONTAINER, "arn:task-1", "web", "STOPPED",
                                             "CannotStartContainerError: x");
  c->has_exit_code = true;
  c->exit_code = 137;
  c->bindings = xcalloc (2, sizeof *c->bindings);
  c->bindings[0] = (struct task_port_binding){ .container_port = 80, .host_port = 32768, .bind_ip = xstrdup ("0.0.0.0") };
  /* a reported port range keeps its ends */
  c->bindings[1] = (struct task_port_binding){ .container_port = 9000, .container_port_end = 9002,
                                               .host_port = 40000, .host_port_end = 40002,
                                               .bind_ip = xstrdup ("0.0.0.0"),
                                               .protocol = TASK_PROTO_UDP };
  c->n_bindings = 2;
  c->runtime_id = xstrdup ("0123abcd");
  c->image_digest = xstrdup ("sha256:beef");
  c->task_status = xstrdup ("RUNNING");
  state_change_push (s, c);
  struct state_change *tc = state_change_new (STATE_CHANGE_TASK, "arn:task-1", NULL, "STOPPED", NULL);
  tc->pull_started_ms = 1764750000123;
  tc->pull_stopped_ms = 1764750001456;
  tc->execution_stopped_ms = 1764750009789;
  state_change_push (s, tc);
  struct saved sv = { 0 };
  state_save (s, on_saved, &sv);
  spin_until (f, &sv.done);
  assert_int_equal (sv.kinds[0], 0);
  struct stat stt;
  assert_int_equal (stat (f->path, &stt), 0);
  assert_int_equal (stt.st_mode & 0777, 0600);
  state_store_free (s);

  s = store (f, true);
  agent_error_t err = NULL;
  if (state_load (s, &err) < 0)
    fail_msg ("%s", error_msg (&err));
  assert_int_equal (state_loaded_version (s), STATE_VERSION);
  assert_string_equal (state_cluster (s), "my-cluster");
  assert_string_equal (state_container_instance_arn (s), "arn:aws:ecs:us-west-2:1:container-instance/abc");
  assert_string_equal (state_ec2_instance_id (s), "i-0123");
  assert_true (state_has_acs_seq_num (s));
  assert_int_equal (state_acs_seq_num (s), 7);
  assert_int_equal (state_loaded_task_count (s), 1);
  assert_int_equal (state_change_count (s), 2);
  const struct state_change *c0 = state_change_peek (s, 0), *c1 = state_change_peek (s, 1);
  assert_int_equal (c0->id, 1);
  assert_int_equal (c1->id, 2);
  assert_true (c0->durable && c1->durable);
  assert_int_equal (c0->kind, STATE_CHANGE_CONTAINER);
  assert_string_equal (c0->container_name, "web");
  assert_string_equal (c0->status, "STOPPED");
  assert_string_equal (c0->reason, "CannotStartContainerError: x");
  assert_true (c0->has_exit_code);
  assert_int_equal (c0->exit_code, 137);
  assert_int_equal (c0->n_bindings, 2);
  assert_int_equal (c0->bindings[0].host_port, 32768);
  assert_int_equal (c0->bindings[0].container_port_end, 0);
  assert_int_equal (c0->bindings[1].container_port, 9000);
  assert_int_equal (c0->bindings[1].container_port_end, 9002);
  assert_int_equal (c0->bindings[1].host_port_end, 40002);
  assert_int_equal (c0->bindings[1].protocol, TASK_PROTO_UDP);
  assert_string_equal (c0->bindings[0].bind_ip, "0.0.0.0");
  assert_int_equal (c0->bindings[0].protocol, TASK_PROTO_TCP);
  assert_string_equal (c0->runtime_id, "0123abcd");
  assert_string_equal (c0->image_digest, "sha256:beef");
  assert_string_equal (c0->task_status, "RUNNING");
  assert_int_equal (c1->pull_started_ms, 1764750000123);
  assert_int_equal (c1->pull_stopped_ms, 1764750001456);
  assert_int_equal (c1->execution_stopped_ms, 1764750009789);
  assert_null (c1->runtime_id);
  assert_int_equal (c1->kind, STATE_CHANGE_TASK);
  assert_null (c1->container_name);
  assert_null (c1->reason);
  assert_false (c1->has_exit_code);
  assert_null (state_change_peek (s, 2));
  /* Removal by id (a batch acknowledged from the middle of the queue);
     ids keep increasing after a reload, also once the queue is drained. */
  state_change_remove (s, 2);
  assert_int_equal (state_change_count (s), 1);
  assert_int_equal (state_change_peek (s, 0)->id, 1);
  state_change_remove (s, 99); /* absent: no-op */
  assert_int_equal (state_change_count (s), 1);
  state_change_pop_front (s);
  state_change_pop_front (s); /* empty: no-op */
  struct saved sv2 = { 0 };
  state_save (s, on_saved, &sv2);
  spin_until (f, &sv2.done);
  state_store_free (s);
  s = store (f, true);
  assert_int_equal (state_load (s, &err), 0);
  assert_int_equal (state_change_count (s), 0);
  /* Without a provider the loaded engine section is written back unchanged. */
  assert_int_equal (state_loaded_task_count (s), 1);
  state_change_push (s, state_change_new (STATE_CHANGE_TASK, "a", NULL, "RUNNING", NULL));
  assert_int_equal (state_change_peek (s, 0)->id, 3);
  struct saved sv3 = { 0 };
  state_save (s, on_saved, &sv3);
  spin_until (f, &sv3.done);
  state_store_free (s);
  s = store (f, true);
  assert_int_equal (state_load (s, &err), 0);
  assert_int_equal (state_loaded_task_count (s), 1);
  struct task **lt = NULL;
  size_t ln = 0;
  state_take_tasks (s, &lt, &ln);
  assert_int_equal (ln, 1);
  assert_string_equal (lt[0]->arn, "arn:task-1");
  assert_int_equal (state_loaded_task_count (s), 0);
  task_free (lt[0]);
  free (lt);
  state_store_free (s);
}

/* Several requests in one loop iteration -> one write; every callback runs
   after the data is on disk, in request order. */
static void
test_coalescing_and_cb_order (void **st)
{
  struct fixture *f = *st;
  state_store_t *s = store (f, true);
  state_set_cluster (s, "marker-cluster-1");
  struct saved sv[5] = { { 0 } };
  order_counter = 0;
  for (int i = 0; i < 5; i++)
    {
      sv[i].path = f->path;
      sv[i].marker = "marker-cluster-1";
      state_save (s, on_saved, &sv[i]);
    }
  assert_int_equal (sv[0].calls, 0); /* never synchronous */
  spin_until (f, &sv[4].done);
  assert_int_equal (state_write_count (s), 1);
  for (int i = 0; i < 5; i++)
    {
      assert_int_equal (sv[i].calls, 1);
      assert_true (sv[i].file_had_marker);
      assert_int_equal (sv[i].order[0], i + 1);
    }
  /* A request made while a write is in flight gets a second write that
     contains its data. */
  struct saved a = { 0 }, b = { 0 };
  state_set_cluster (s, "marker-cluster-2");
  state_save (s, on_saved, &a);
  /* Run until the write is queued (check phase), then change and request. */
  uv_run (&f->loop, UV_RUN_NOWAIT);
  state_set_cluster (s, "marker-cluster-3");
  b.path = f->path;
  b.marker = "marker-cluster-3";
  state_save (s, on_saved, &b);
  spin_until (f, &b.done);
  assert_true (a.done);
  assert_true (b.file_had_marker);
  assert_true (a.order[0] < b.order[0]);
  assert_int_equal (state_write_count (s), 3);
  /* Cancelled callbacks never run. */
  struct saved c = { 0 }, d = { 0 };
  state_save (s, on_saved, &c);
  state_save (s, on_saved, &d);
  state_save_cancel (s, on_saved, &c);
  spin_until (f, &d.done);
  assert_int_equal (c.calls, 0);
  state_store_free (s);
}

static int changed_calls;
static void
on_changed (void *data)
{
  (void) data;
  changed_calls++;
}

static void
test_durable_flag (void **st)
{
  struct fixture *f = *st;
  state_store_t *s = store (f, true);
  changed_calls = 0;
  state_set_changed_cb (s, on_changed, NULL);
  state_change_push (s, state_change_new (STATE_CHANGE_CONTAINER, "t", "c", "RUNNING", NULL));
  state_change_push (s, state_change_new (STATE_CHANGE_TASK, "t", NULL, "RUNNING", NULL));
  assert_false (state_change_peek (s, 0)->durable);
  assert_false (state_change_peek (s, 1)->durable);
  struct saved sv = { 0 };
  state_save (s, on_saved, &sv);
  spin_until (f, &sv.done);
  assert_true (state_change_peek (s, 0)->durable);
  assert_true (state_change_peek (s, 1)->durable);
  assert_int_equal (changed_calls, 1);
  /* The file holds both before anyone is told. */
  char *text = NULL;
  size_t len;
  agent_error_t err = NULL;
  assert_int_equal (util_read_file (f->path, &text, &len, &err), 0);
  assert_non_null (strstr (text, "\"Id\":2"));
  free (text);
  /* Push alone (no explicit save) also becomes durable. */
  state_change_push (s, state_change_new (STATE_CHANGE_TASK, "t", NULL, "STOPPED", NULL));
  bool never = false;
  for (int i = 0; i < 1000 && !state_change_peek (s, 2)->durable; i++)
    uv_run (&f->loop, UV_RUN_ONCE);
  (void) never;
  assert_true (state_change_peek (s, 2)->durable);
  assert_int_equal (changed_calls, 2);
  state_store_free (s);
}

static void
test_disabled (void **st)
{
  struct fixture *f = *st;
  state_store_t *s = store (f, false);
  agent_error_t err = NULL;
  assert_int_equal (state_load (s, &err), 0);
  assert_false (state_enabled (s));
  state_change_push (s, state_change_new (STATE_CHANGE_TASK, "t", NULL, "RUNNING", NULL));
  struct saved sv = { 0 };
  state_save (s, on_saved, &sv);
  assert_int_equal (sv.calls, 0);
  spin_until (f, &sv.done);
  assert_int_equal (sv.kinds[0], 0);
  assert_true (state_change_peek (s, 0)->durable);
  struct stat stt;
  assert_true (stat (f->path, &stt) < 0); /* nothing written */
  assert_int_equal (state_save_sync (s, &err), 0);
  state_store_free (s);
}

static void
expect_terminal (struct fixture *f, const char *content, size_t len, const char *needle)
{
  write_file (f->path, content, len);
  state_store_t *s = store (f, true);
  agent_error_t err = NULL;
  assert_true (state_load (s, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_TERMINAL);
  if (!strstr (error_msg (&err), f->path))
    fail_msg ("message does not name the file: %s", error_msg (&err));
  if (needle && !strstr (error_msg (&err), needle))
    fail_msg ("message \"%s\" lacks \"%s\"", error_msg (&err), needle);
  error_free (&err);
  /* Nothing was half-loaded. */
  assert_null (state_cluster (s));
  assert_int_equal (state_change_count (s), 0);
  state_store_free (s);
}

static void
test_corrupt_and_truncated (void **st)
{
  struct fixture *f = *st;
  /* Build a valid file, then cut it. */
  state_store_t *s = store (f, true);
  state_set_cluster (s, "c");
  state_set_task_provider (s, provider, "arn:x");
  for (int i = 0; i < 3; i++)
    state_change_push (s, state_change_new (STATE_CHANGE_TASK, "arn:x", NULL, "RUNNING", NULL));
  agent_error_t err = NULL;
  assert_int_equal (state_save_sync (s, &err), 0);
  state_store_free (s);
  char *text = NULL;
  size_t len = 0;
  assert_int_equal (util_read_file (f->path, &text, &len, &err), 0);
  for (size_t cut = 1; cut < len; cut += len / 7 + 1)
    expect_terminal (f, text, cut, "corrupt or truncated");
  expect_terminal (f, "", 0, "empty");
  expect_terminal (f, "\x01\x02garbage", 9, "corrupt");
  expect_terminal (f, "[]", 2, "Version");
  expect_terminal (f, "{\"Data\":{}}", 11, "Version");
  expect_terminal (f, "{\"Version\":2}", 13, "Data");
  expect_terminal (f, "{\"Version\":3,\"Data\":{}}", 23, "state version 3");
  expect_terminal (f, "{\"Version\":2,\"Data\":{\"Cluster\":5}}", 34, "Cluster");
  expect_terminal (f, "{\"Version\":2,\"Data\":{\"ACSSeqNum\":\"x\"}}", 38, "ACSSeqNum");
  const char *bad_tasks = "{\"Version\":2,\"Data\":{\"TaskEngine\":{\"Tasks\":[{\"Arn\":\"a\",\"KnownStatus\":\"WEIRD\"}]}}}";
  expect_terminal (f, bad_tasks, strlen (bad_tasks), "WEIRD");
  const char *orphan = "{\"Version\":2,\"Data\":{\"TaskEngine\":{\"Tasks\":[],\"IdToContainer\":{\"abc\":{\"DockerId\":\"abc\","
                       "\"Container\":{\"Name\":\"x\"}}},\"IdToTask\":{\"abc\":\"arn:nope\"}}}}";
  expect_terminal (f, orphan, strlen (orphan), "arn:nope");
  const char *badq = "{\"Version\":100,\"Data\":{\"StateChanges\":{\"Queue\":[{\"Id\":1,\"Kind\":\"bogus\"}]}}}";
  expect_terminal (f, badq, strlen (badq), "StateChanges");
  /* Port bindings (task_json_port_bindings): a queued change's need both
     ports; a container's may fall back to KnownPortBindingsUnsafe. */
  const char *badnb = "{\"Version\":100,\"Data\":{\"StateChanges\":{\"Queue\":[{\"Id\":1,\"Kind\":\"task\","
                      "\"TaskArn\":\"a\",\"Status\":\"RUNNING\",\"NetworkBindings\":[{\"hostPort\":80}]}]}}}";
  expect_terminal (f, badnb, strlen (badnb), "StateChanges.Queue[0]: state change: NetworkBindings[0].containerPort is required");
  const char *badkb = "{\"Version\":2,\"Data\":{\"TaskEngine\":{\"Tasks\":[{\"Arn\":\"a\",\"Containers\":[{\"Name\":\"c\","
                      "\"KnownPortBindingsUnsafe\":[{\"ContainerPort\":80,\"HostPort\":70000}]}]}]}}}";
  expect_terminal (f, badkb, strlen (badkb), "Containers[0].KnownPortBindingsUnsafe[0].hostPort must be in 0..65535");
  free (text);
}

/* The image records ("ImageManager"): written from the provider, read back
   into the store until the engine takes them, kept by writes before that;
   malformed entries refused with their path. */
static void
image_provider (void *data, const struct image_records **records)
{
  *records = data;
}

static void
test_image_records (void **st)
{
  struct fixture *f = *st;
  struct image_records l = { 0 };
  image_records_add (&l, "sha256:aa", "busybox:1", 1234, 1700000000123456789LL, true)->last_used_at_ns
      = 1700000100000000000LL;
  image_records_add (&l, "sha256:aa", "busybox:latest", 0, 1, false);
  image_records_add (&l, "sha256:bb", "reg:5000/x:2", 5, 1700000000000000000LL, false);
  char *aa_env[] = { (char *) "PATH=/bin", (char *) "AWS_REGION=xx-image-1" };
  image_record_set_env (image_records_find (&l, "sha256:aa"), aa_env, 2);
  char *cc_env[] = { (char *) "AWS_DEFAULT_REGION=", (char *) "AWS_REGION=b" };
  image_records_add (&l, "sha256:cc", "both:1", 5, 1700000000000000000LL, false);
  image_record_set_env (image_records_find (&l, "sha256:cc"), cc_env, 2);
  image_records_add (&l, "sha256:dd", "none:1", 5, 1700000000000000000LL, false);
  image_record_set_env (image_records_find (&l, "sha256:dd"), NULL, 0);
  state_store_t *s = store (f, true);
  state_set_image_provider (s, image_provider, &l);
  agent_error_t err = NULL;
  assert_int_equal (state_save_sync (s, &err), 0);
  state_store_free (s);
  image_records_free (&l);
  /* read back; a write before the engine takes them keeps them */
  for (int round = 0; round < 2; round++)
    {
      s = store (f, true);
      assert_int_equal (state_load (s, &err), 0);
      if (round == 0)
        {
          assert_int_equal (state_save_sync (s, &err), 0);
          state_store_free (s);
          continue;
        }
      struct image_records got = { 0 };
      state_take_images (s, &got);
      assert_int_equal (got.n, 4);
      const struct image_record *a = image_records_find (&got, "sha256:aa");
      assert_non_null (a);
      assert_int_equal (a->n_names, 2);
      assert_string_equal (a->names[1], "busybox:latest");
      assert_int_equal (a->size, 1234);
      assert_int_equal (a->pulled_at_ns, 1700000000123456789LL);
      assert_int_equal (a->last_used_at_ns, 1700000100000000000LL);
      assert_true (a->pull_succeeded);
      assert_false (image_records_find (&got, "sha256:bb")->pull_succeeded);
      /* ManagedEnvKeys: known (possibly none) or, never read, absent */
      assert_true (a->env_known);
      assert_int_equal (a->managed_env, IMAGE_ENV_AWS_REGION);
      assert_false (image_records_find (&got, "sha256:bb")->env_known);
      assert_true (image_records_find (&got, "sha256:cc")->env_known);
      assert_int_equal (image_records_find (&got, "sha256:cc")->managed_env,
                        IMAGE_ENV_AWS_REGION | IMAGE_ENV_AWS_DEFAULT_REGION);
      assert_true (image_records_find (&got, "sha256:dd")->env_known);
      assert_int_equal (image_records_find (&got, "sha256:dd")->managed_env, 0);
      struct image_records none = { 0 };
      state_take_images (s, &none); /* taken: the store holds none */
      assert_int_equal (none.n, 0);
      image_records_free (&got);
      state_store_free (s);
    }
  /* a checkpoint written before ManagedEnvKeys existed loads, not known;
     unknown names in the list are ignored */
  static const char old_format[]
      = "{\"Version\":100,\"Data\":{\"ImageManager\":{\"ImageStates\":["
        "{\"Image\":{\"ImageID\":\"sha256:old\",\"Names\":[\"busybox:1\"],\"Size\":7},"
        "\"PulledAt\":\"2024-01-02T03:04:05Z\",\"LastUsedAt\":\"2024-01-02T03:04:05Z\",\"PullSucceeded\":true},"
        "{\"Image\":{\"ImageID\":\"sha256:new\",\"Names\":[\"x:1\"],\"Size\":7},"
        "\"ManagedEnvKeys\":[\"AWS_DEFAULT_REGION\",\"OTHER\"]}]}}}";
  write_file (f->path, old_format, strlen (old_format));
  s = store (f, true);
  assert_int_equal (state_load (s, &err), 0);
  struct image_records got = { 0 };
  state_take_images (s, &got);
  assert_int_equal (got.n, 2);
  assert_false (image_records_find (&got, "sha256:old")->env_known);
  assert_true (image_records_find (&got, "sha256:old")->pull_succeeded);
  assert_true (image_records_find (&got, "sha256:new")->env_known);
  assert_int_equal (image_records_find (&got, "sha256:new")->managed_env, IMAGE_ENV_AWS_DEFAULT_REGION);
  image_records_free (&got);
  state_store_free (s);
  const char *bad[][2] = {
    { "{\"Version\":100,\"Data\":{\"ImageManager\":{\"ImageStates\":[{\"Image\":{\"ImageID\":\"x\"},\"ManagedEnvKeys\":\"AWS_REGION\"}]}}}", "ManagedEnvKeys" },
    { "{\"Version\":100,\"Data\":{\"ImageManager\":[]}}", "ImageManager" },
    { "{\"Version\":100,\"Data\":{\"ImageManager\":{\"ImageStates\":[{\"Image\":{}}]}}}", "ImageStates[0].Image.ImageID" },
    { "{\"Version\":100,\"Data\":{\"ImageManager\":{\"ImageStates\":[{\"Image\":{\"ImageID\":\"x\"},\"PulledAt\":\"yesterday\"}]}}}", "PulledAt" },
    { "{\"Version\":100,\"Data\":{\"ImageManager\":{\"ImageStates\":[{\"Image\":{\"ImageID\":\"x\",\"Size\":-1}}]}}}", "Size" },
    { "{\"Version\":100,\"Data\":{\"ImageManager\":{\"ImageStates\":[{\"Image\":{\"ImageID\":\"x\"}},{\"Image\":{\"ImageID\":\"x\"}}]}}}", "twice" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    expect_terminal (f, bad[i][0], strlen (bad[i][0]), bad[i][1]);
}

static void
test_upstream_v1_fixture (void **st)
{
  struct fixture *f = *st;
  size_t len = 0;
  char *data = teu_read_protocol ("fixtures/agent-1.1.0/statemanager/testdata/v1/1/ecs_agent_data.json", &len);
  if (!data)
    skip ();
  write_file (f->path, data, len);
  free (data);
  state_store_t *s = store (f, true);
  agent_error_t err = NULL;
  if (state_load (s, &err) < 0)
    fail_msg ("%s", error_msg (&err));
  assert_int_equal (state_loaded_version (s), 1);
  assert_string_equal (state_cluster (s), "test");
  assert_string_equal (state_container_instance_arn (s),
                       "arn:aws:ecs:us-west-2:1234567890:container-instance/a9f8e650-e66e-466d-9b0e-3cbce3ba5245");
  assert_string_equal (state_ec2_instance_id (s), "i-00000000");
  assert_false (state_has_acs_seq_num (s)); /* v1: none */
  struct task **tasks = NULL;
  size_t n = 0;
  state_take_tasks (s, &tasks, &n);
  assert_int_equal (n, 3);
  /* nginx: DEAD -> STOPPED, ApplyingError without name, exit 128. */
  struct task *t = tasks[0];
  assert_string_equal (t->family, "nginx");
  assert_int_equal (t->known_status, TASK_STATUS_STOPPED);
  assert_int_equal (t->desired_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->known_time_ns, 1430242188129140193LL);
  struct task_container *c = &t->containers[0];
  assert_int_equal (c->known_status, TASK_STATUS_STOPPED);
  assert_int_equal (c->desired_status, TASK_STATUS_STOPPED);
  assert_int_equal (c->sent_status, TASK_STATUS_STOPPED);
  assert_true (c->has_exit_code);
  assert_int_equal (c->exit_code, 128);
  assert_non_null (strstr (c->reason, "UnknownError: API error (500): Cannot start container"));
  assert_string_equal (c->docker_id, "d1d1293c78bd44124ca841f0f17f48502426fd972545adee2f41aa5899bd41ea");
  assert_string_equal (c->docker_name, "ecs-nginx-2-nginx-e293f2f8c0c48cbd6c00");
  assert_int_equal (c->port_mappings[0].container_port, 80);
  /* sleep5: exit 137. */
  assert_int_equal (tasks[1]->containers[0].exit_code, 137);
  assert_string_equal (tasks[1]->containers[0].docker_name, "ecs-sleep5-2-sleep5-f8d2b3c7f9ad98c5d501");
  /* datavolume-example: 4 containers incl. the internal helper, host + empty volumes. */
  t = tasks[2];
  assert_int_equal (t->known_status, TASK_STATUS_CREATED);
  assert_int_equal (t->n_containers, 4);
  assert_true (t->containers[3].is_internal);
  assert_int_equal (t->containers[3].exit_code, -1);
  assert_string_equal (t->containers[0].run_dependencies[0], "~internal~ecs-emptyvolume-source");
  assert_int_equal (t->containers[1].known_status, TASK_STATUS_CREATED);
  assert_string_equal (t->volumes[0].source_path, "/tmp/host/path");
  assert_null (t->volumes[1].source_path);
  assert_false (t->containers[1].has_exit_code);
  for (size_t i = 0; i < n; i++)
    task_free (tasks[i]);
  free (tasks);
  state_store_free (s);
}

/* Later upstream versions (HEAD fixtures) are refused, naming the version. */
static void
test_upstream_head_fixtures_rejected (void **st)
{
  struct fixture *f = *st;
  static const struct
  {
    const char *rel;
    const char *ver;
  } cases[] = {
    { "fixtures/agent-1.105.1/statemanager/testdata/v10/container-health-check/ecs_agent_data.json", "version 10" },
    { "fixtures/agent-1.105.1/statemanager/testdata/v31/gmsalinux/ecs_agent_data.json", "version 31" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      size_t len = 0;
      char *data = teu_read_protocol (cases[i].rel, &len);
      if (!data)
        skip ();
      expect_terminal (f, data, len, cases[i].ver);
      free (data);
    }
}

static void
test_v2_seq_num (void **st)
{
  struct fixture *f = *st;
  const char *v2 = "{\"Data\":{\"TaskEngine\":{\"Tasks\":[],\"IdToContainer\":{},\"IdToTask\":{}},"
                   "\"ContainerInstanceArn\":\"arn:ci\",\"Cluster\":\"default\",\"EC2InstanceID\":\"i-1\","
                   "\"ACSSeqNum\":7,\"Unknown\":1},\"Version\":2}";
  write_file (f->path, v2, strlen (v2));
  state_store_t *s = store (f, true);
  agent_error_t err = NULL;
  assert_int_equal (state_load (s, &err), 0);
  assert_int_equal (state_acs_seq_num (s), 7);
  assert_string_equal (state_container_instance_arn (s), "arn:ci");
  state_discard_instance (s);
  assert_null (state_container_instance_arn (s));
  assert_int_equal (state_loaded_task_count (s), 0);
  /* Case-insensitive keys. */
  state_store_free (s);
  const char *lower = "{\"version\":2,\"data\":{\"cluster\":\"lc\",\"acsseqnum\":9}}";
  write_file (f->path, lower, strlen (lower));
  s = store (f, true);
  assert_int_equal (state_load (s, &err), 0);
  assert_string_equal (state_cluster (s), "lc");
  assert_int_equal (state_acs_seq_num (s), 9);
  state_store_free (s);
}

/* A change pushed and saved survives kill -9 of the process. */
static void
test_survives_kill9 (void **st)
{
  struct fixture *f = *st;
  fflush (NULL);
  pid_t pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      uv_loop_t loop;
      uv_loop_init (&loop);
      state_store_t *s = state_store_new (&loop, f->dir, true, NULL);
      state_change_push (s, state_change_new (STATE_CHANGE_CONTAINER, "arn:k", "c", "STOPPED", "killed"));
      for (int i = 0; i < 100000 && !state_change_peek (s, 0)->durable; i++)
        uv_run (&loop, UV_RUN_ONCE);
      raise (SIGKILL); /* no cleanup, no flush */
      _exit (3);
    }
  int status = 0;
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
  state_store_t *s = store (f, true);
  agent_error_t err = NULL;
  assert_int_equal (state_load (s, &err), 0);
  assert_int_equal (state_change_count (s), 1);
  assert_string_equal (state_change_peek (s, 0)->reason, "killed");
  assert_true (state_change_peek (s, 0)->durable);
  state_store_free (s);
}

/* The registration token survives a restart and goes with the instance. */
static void
test_client_token (void **st)
{
  struct fixture *f = *st;
  state_store_t *s = store (f, true);
  assert_null (state_client_token (s));
  state_set_client_token (s, "6f1c-token");
  struct saved sv = { 0 };
  state_save (s, on_saved, &sv);
  spin_until (f, &sv.done);
  state_store_free (s);
  uv_run (&f->loop, UV_RUN_DEFAULT);
  s = store (f, true);
  agent_error_t err = NULL;
  assert_int_equal (state_load (s, &err), 0);
  assert_string_equal (state_client_token (s), "6f1c-token");
  state_discard_instance (s);
  assert_null (state_client_token (s));
  state_store_free (s);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_missing_file_is_fresh, setup, teardown),
    cmocka_unit_test_setup_teardown (test_bad_data_dir, setup, teardown),
    cmocka_unit_test_setup_teardown (test_round_trip, setup, teardown),
    cmocka_unit_test_setup_teardown (test_coalescing_and_cb_order, setup, teardown),
    cmocka_unit_test_setup_teardown (test_durable_flag, setup, teardown),
    cmocka_unit_test_setup_teardown (test_disabled, setup, teardown),
    cmocka_unit_test_setup_teardown (test_corrupt_and_truncated, setup, teardown),
    cmocka_unit_test_setup_teardown (test_image_records, setup, teardown),
    cmocka_unit_test_setup_teardown (test_upstream_v1_fixture, setup, teardown),
    cmocka_unit_test_setup_teardown (test_upstream_head_fixtures_rejected, setup, teardown),
    cmocka_unit_test_setup_teardown (test_v2_seq_num, setup, teardown),
    cmocka_unit_test_setup_teardown (test_survives_kill9, setup, teardown),
    cmocka_unit_test_setup_teardown (test_client_token, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
