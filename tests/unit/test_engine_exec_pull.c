/* Unit tests of the engine against a fake Docker (test_engine_fixture.h):
 * image pulls - shared pulls, launch limits, pull behaviours and their
 * timestamps, image cleanup, registry authentication (engine/pull_auth.h),
 * the image's ENV against the agent's region (engine/images.h). */
#include "test_engine_fixture.h"
#include "helpers/child.h"

/* A burst of tasks using one image shares one pull. */
static void
test_pull_shared (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  agent_error_t err = NULL;
  x->fake.log[0] = '\0';
  for (int i = 0; i < 5; i++)
    {
      cleanup_free char *json = xasprintf ("{\"arn\":\"arn:P%d\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"shared-image\",\"essential\":true}]}", i);
      assert_int_equal (engine_task_add (x->e, teu_task (json, &err), &err), 0);
    }
  for (int i = 0; i < 5; i++)
    {
      cleanup_free char *arn = xasprintf ("arn:P%d", i);
      assert_true (spin_task (x, arn, TASK_STATUS_RUNNING));
    }
  int pulls = 0;
  for (const char *p = x->fake.log; (p = strstr (p, "pull:")); p++)
    pulls++;
  assert_int_equal (pulls, 1);
}

/* ECS_LAUNCH_CONCURRENCY: a burst of tasks never has more pulls, creates
   and starts in flight than the limit, and every task still runs. */
static void
test_launch_limit (void **st)
{
  struct fx *x = *st;
  x->launch_limit = 2;
  engine_up (x);
  agent_error_t err = NULL;
  for (int i = 0; i < 12; i++)
    {
      cleanup_free char *json = xasprintf ("{\"arn\":\"arn:L%d\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"img%d\",\"essential\":true},{\"name\":\"d\",\"image\":\"img%d\",\"essential\":true}]}", i, i, i);
      assert_int_equal (engine_task_add (x->e, teu_task (json, &err), &err), 0);
    }
  for (int i = 0; i < 12; i++)
    {
      cleanup_free char *arn = xasprintf ("arn:L%d", i);
      assert_true (spin_task (x, arn, TASK_STATUS_RUNNING));
    }
  assert_int_equal (x->fake.n_create, 24);
  assert_true (x->fake.launch_max <= 2);
  assert_true (x->fake.launch_max >= 1);
}

/* Pre-cache pulls hold launch slots like tasks' pulls: with the limit at
   1, three pre-cached images and a task never have two pulls, creates or
   starts in flight, and all of them complete. */
static void
test_precache_launch_limit (void **st)
{
  struct fx *x = *st;
  static char *precache[] = { (char *) "pre1", (char *) "pre2", (char *) "pre3" };
  struct config_images ci = { .cleanup_enabled = false, .images_per_cycle = 5, .precache = precache,
                              .n_precache = 3 };
  x->images = &ci;
  x->launch_limit = 1;
  engine_up (x);
  add (x, "{\"arn\":\"arn:pl\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"task-img\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:pl", TASK_STATUS_RUNNING));
  for (int i = 0; i < 200 && !(has_image (&x->fake, "pre1") && has_image (&x->fake, "pre2") && has_image (&x->fake, "pre3")); i++)
    spin_for (x, 10);
  assert_true (has_image (&x->fake, "pre1"));
  assert_true (has_image (&x->fake, "pre2"));
  assert_true (has_image (&x->fake, "pre3"));
  assert_int_equal (x->fake.n_pull, 4);
  assert_int_equal (x->fake.launch_max, 1);
}

/* Without a limit the same burst runs its calls side by side. */
static void
test_launch_unlimited (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  agent_error_t err = NULL;
  for (int i = 0; i < 12; i++)
    {
      cleanup_free char *json = xasprintf ("{\"arn\":\"arn:U%d\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"img%d\",\"essential\":true}]}", i, i);
      assert_int_equal (engine_task_add (x->e, teu_task (json, &err), &err), 0);
    }
  for (int i = 0; i < 12; i++)
    {
      cleanup_free char *arn = xasprintf ("arn:U%d", i);
      assert_true (spin_task (x, arn, TASK_STATUS_RUNNING));
    }
  assert_true (x->fake.launch_max >= 12);
}

/* ECS_IMAGE_PULL_BEHAVIOR=always: a failed pull stops the task even with a
   local copy. */
static void
test_pull_behaviour_always (void **st)
{
  struct fx *x = *st;
  x->pull_behavior = CONFIG_PULL_ALWAYS;
  engine_up (x);
  x->fake.images[x->fake.n_images++] = xstrdup ("local-only");
  x->fake.pull_fails = true;
  add (x, "{\"arn\":\"arn:a\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"local-only\",\"essential\":false},{\"name\":\"e\",\"image\":\"local-only\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:a", TASK_STATUS_STOPPED));
  const struct task *t = task_of (x, "arn:a");
  assert_int_equal (t->desired_status, TASK_STATUS_STOPPED);
  assert_int_equal (strncmp (t->containers[0].reason, "CannotPullContainerError: pull access denied", 44), 0);
  assert_int_equal (x->fake.n_create, 0);
}

static void
test_pull_behaviour_once (void **st)
{
  struct fx *x = *st;
  x->pull_behavior = CONFIG_PULL_ONCE;
  engine_up (x);
  add (x, "{\"arn\":\"arn:o1\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"img-once\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:o1", TASK_STATUS_RUNNING));
  assert_int_equal (x->fake.n_pull, 1);
  /* past the pull-sharing window the record decides: no second pull */
  spin_for (x, ENGINE_PULL_REUSE_MS + 50);
  add (x, "{\"arn\":\"arn:o2\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"img-once\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:o2", TASK_STATUS_RUNNING));
  assert_int_equal (x->fake.n_pull, 1);
}

/* A task whose image another task pulled moments ago shares that pull;
   with the default behaviour (upstream pulls again) its task changes still
   carry pullStartedAt / pullStoppedAt, and its containers the digest the
   pull reported (so PENDING is sent), even once the first task is gone.
   With "once" (upstream does not pull a pulled image) they carry none. */
static void
test_pull_shared_timestamps (void **st)
{
  struct fx *x = *st;
  x->cleanup_ms = 100;
  engine_up (x);
  add (x, "{\"arn\":\"arn:r1\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"registry.test/shared:1\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:r1", TASK_STATUS_RUNNING));
  int64_t r1_stopped = task_of (x, "arn:r1")->pull_stopped_ms;
  fake_exit (&x->fake, "c", 0);
  assert_true (spin_task (x, "arn:r1", TASK_STATUS_STOPPED));
  spin_until_no_tasks (x); /* r1 is gone: no container to borrow the digest from */
  assert_int_equal (engine_task_count (x->e), 0);
  add (x, "{\"arn\":\"arn:r2\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"registry.test/shared:1\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:r2", TASK_STATUS_RUNNING));
  assert_int_equal (x->fake.n_pull, 1);
  const struct task *t2 = task_of (x, "arn:r2");
  assert_true (t2->pull_started_ms >= r1_stopped && t2->pull_stopped_ms >= t2->pull_started_ms);
  assert_string_equal (t2->containers[0].image_digest,
                       "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
  int tasks = 0, pending = 0;
  for (size_t i = 0; i < state_change_count (x->state); i++)
    {
      const struct state_change *ch = state_change_peek (x->state, i);
      if (strcmp (ch->task_arn, "arn:r2") != 0)
        continue;
      if (ch->kind == STATE_CHANGE_TASK)
        {
          assert_int_equal (ch->pull_started_ms, t2->pull_started_ms);
          assert_int_equal (ch->pull_stopped_ms, t2->pull_stopped_ms);
          tasks++;
          pending += strcmp (ch->status, "PENDING") == 0;
        }
    }
  assert_int_equal (tasks, 2); /* PENDING, RUNNING */
  assert_int_equal (pending, 1);
}

static void
test_pull_once_no_timestamps (void **st)
{
  struct fx *x = *st;
  x->pull_behavior = CONFIG_PULL_ONCE;
  engine_up (x);
  add (x, "{\"arn\":\"arn:q1\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"img-q\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:q1", TASK_STATUS_RUNNING));
  add (x, "{\"arn\":\"arn:q2\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"img-q\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:q2", TASK_STATUS_RUNNING));
  assert_int_equal (x->fake.n_pull, 1);
  assert_true (task_of (x, "arn:q1")->pull_started_ms > 0);
  assert_int_equal (task_of (x, "arn:q2")->pull_started_ms, 0);
  assert_int_equal (task_of (x, "arn:q2")->pull_stopped_ms, 0);
}

/* prefer-cached: a local copy is used without pulling; none -> pull. */
static void
test_pull_behaviour_prefer_cached (void **st)
{
  struct fx *x = *st;
  x->pull_behavior = CONFIG_PULL_PREFER_CACHED;
  engine_up (x);
  x->fake.images[x->fake.n_images++] = xstrdup ("cached");
  add (x, "{\"arn\":\"arn:c1\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"cached\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:c1", TASK_STATUS_RUNNING));
  assert_int_equal (x->fake.n_pull, 0);
  add (x, "{\"arn\":\"arn:c2\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"remote\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:c2", TASK_STATUS_RUNNING));
  assert_int_equal (x->fake.n_pull, 1);
}

static bool
fake_has_image (struct fx *x, const char *img)
{
  return has_image (&x->fake, img);
}

/* Image cleanup: an image whose task was removed goes once it is older
   than the minimum age; an image a task still holds, an excluded one and
   a pre-cached one stay; the records follow, in the checkpoint too. */
static void
test_image_cleanup (void **st)
{
  struct fx *x = *st;
  static char *exclude[] = { (char *) "keep" };
  static char *precache[] = { (char *) "pre" };
  struct config_images ci = { .cleanup_enabled = true, .cleanup_interval_ms = 100, .min_cleanup_age_ms = 0,
                              .images_per_cycle = 5, .exclude = exclude, .n_exclude = 1,
                              .precache = precache, .n_precache = 1 };
  x->images = &ci;
  x->cleanup_ms = 200;
  engine_up (x);
  add (x, "{\"arn\":\"arn:old\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"o\",\"image\":\"old\",\"essential\":true}]}");
  add (x, "{\"arn\":\"arn:held\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"h\",\"image\":\"held\",\"essential\":true}]}");
  add (x, "{\"arn\":\"arn:keep\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"k\",\"image\":\"keep\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:old", TASK_STATUS_RUNNING));
  assert_true (spin_task (x, "arn:held", TASK_STATUS_RUNNING));
  assert_true (spin_task (x, "arn:keep", TASK_STATUS_RUNNING));
  assert_true (fake_has_image (x, "pre"));
  fake_exit (&x->fake, "o", 0);
  fake_exit (&x->fake, "k", 0);
  assert_true (spin_task (x, "arn:old", TASK_STATUS_STOPPED));
  for (int i = 0; i < 200 && (engine_find_task_by_arn (x->e, "arn:old") || fake_has_image (x, "old")); i++)
    spin_for (x, 20);
  assert_null (engine_find_task_by_arn (x->e, "arn:old"));
  assert_false (fake_has_image (x, "old"));
  spin_for (x, 300); /* more cycles: nothing else goes */
  assert_true (fake_has_image (x, "held"));
  assert_true (fake_has_image (x, "keep"));
  assert_true (fake_has_image (x, "pre"));
  /* the records are checkpointed: held, keep, pre (old forgotten) */
  state_save_sync (x->state, NULL);
  cleanup_free char *text = NULL;
  cleanup_free char *path = xasprintf ("%s", state_path (x->state));
  assert_int_equal (util_read_file (path, &text, NULL, NULL), 0);
  assert_non_null (strstr (text, "\"ImageManager\""));
  assert_non_null (strstr (text, "sha256:held"));
  assert_non_null (strstr (text, "sha256:pre"));
  assert_null (strstr (text, "sha256:old"));
}

/* ---- registry authentication (engine/pull_auth.h) ------------------------------ */

#define AUTH_TASK(arn, image, auth)                                                                   \
  "{\"arn\":\"" arn "\",\"family\":\"auth\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","          \
  "\"containers\":[{\"name\":\"c\",\"image\":\"" image "\",\"essential\":true,"                        \
  "\"registryAuthentication\":" auth "}]}"
#define ECR_EXEC "{\"type\":\"ecr\",\"ecrAuthData\":{\"registryId\":\"123\",\"region\":\"us-west-2\",\"useExecutionRole\":true}}"
#define ASM_AUTH(p) "{\"type\":\"asm\",\"asmAuthData\":{\"credentialsParameter\":\"" p "\",\"region\":\"us-west-2\"}}"

/* Without execution-role credentials: ECR fails the container with
   upstream's text, Secrets Manager stops the task before any create. */
static void
test_pull_auth_no_credentials (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  task_creds_store_t *store = task_creds_store_new ();
  engine_set_aws_credentials (x->e, NULL, store);
  add (x, AUTH_TASK ("arn:ecr0", "ecr-missing", ECR_EXEC));
  assert_true (spin_task (x, "arn:ecr0", TASK_STATUS_STOPPED));
  const struct task *t = task_of (x, "arn:ecr0");
  assert_string_equal (t->containers[0].reason,
                       "CannotPullECRContainerError: engine ecr credentials: not found");
  add (x, AUTH_TASK ("arn:asm0", "asm-img", ASM_AUTH ("reg-ok")));
  assert_true (spin_task (x, "arn:asm0", TASK_STATUS_STOPPED));
  t = task_of (x, "arn:asm0");
  assert_string_equal (t->reason, "Asm resource: unable to find execution role credentials");
  assert_null (t->containers[0].reason);
  assert_int_equal (x->fake.n_create, 0);
  assert_null (strstr (x->fake.log, "asm-img"));
  teardown_engine (x);
  task_creds_store_free (store);
}

/* ECR answers "AWS:pw-<n>" (n counts its calls) unless the registry id is
   "denied"; Secrets Manager knows reg-ok, reg-denied and reg-bad. */
static const char *AUTH_PY
    = "import json, base64, time, http.server\n"
      "n = [0]\n"
      "class H(http.server.BaseHTTPRequestHandler):\n"
      "    protocol_version = 'HTTP/1.1'\n"
      "    def reply(self, code, obj):\n"
      "        b = json.dumps(obj).encode()\n"
      "        self.send_response(code)\n"
      "        self.send_header('Content-Length', str(len(b)))\n"
      "        self.end_headers()\n"
      "        self.wfile.write(b)\n"
      "    def do_POST(self):\n"
      "        req = json.loads(self.rfile.read(int(self.headers.get('Content-Length') or 0)) or b'{}')\n"
      "        t = self.headers.get('X-Amz-Target', '')\n"
      "        if t.endswith('GetAuthorizationToken'):\n"
      "            if req.get('registryIds') == ['denied']:\n"
      "                return self.reply(400, {'__type': 'AccessDeniedException', 'message': 'User is not authorized'})\n"
      "            n[0] += 1\n"
      "            tok = base64.b64encode(('AWS:pw-%d' % n[0]).encode()).decode()\n"
      "            return self.reply(200, {'authorizationData': [{'authorizationToken': tok,\n"
      "                'expiresAt': time.time() + 43200, 'proxyEndpoint': 'http://registry.test:5000'}]})\n"
      "        sid = req.get('SecretId')\n"
      "        if sid == 'reg-ok':\n"
      "            return self.reply(200, {'SecretString': json.dumps({'Username': 'privuser', 'password': 'priv-pass'})})\n"
      "        if sid == 'reg-bad':\n"
      "            return self.reply(200, {'SecretString': '[]'})\n"
      "        self.reply(400, {'__type': 'AccessDeniedException', 'Message': 'not allowed'})\n"
      "    def log_message(self, *a):\n"
      "        pass\n"
      "s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
      "s.daemon_threads = True\n"
      "print('127.0.0.1:%d' % s.server_address[1], flush=True)\n"
      "s.serve_forever()\n";

static void
put_exec_creds (task_creds_store_t *store, const char *arn, const char *id)
{
  struct task_role_credentials *c = xcalloc (1, sizeof *c);
  c->credentials_id = xstrdup (id);
  c->role_arn = xstrdup ("arn:aws:iam::1:role/exec");
  c->access_key_id = xstrdup ("AKIDEXEC");
  c->secret_access_key = xstrdup ("SECRETEXEC");
  c->session_token = xstrdup ("TOKENEXEC");
  agent_error_t err = NULL;
  assert_int_equal (task_creds_store_put (store, arn, TASK_CREDS_EXECUTION_ROLE, c, &err), 0);
}

static void
test_pull_auth_fetch (void **st)
{
  struct fx *x = *st;
  struct test_child srv = { 0 };
  char *argv[] = { "/usr/bin/python3", "-c", (char *) AUTH_PY, NULL };
  if (test_child_start (&srv, argv) < 0)
    {
      test_child_stop (&srv);
      fail_msg ("could not start the local ECR / Secrets Manager server");
    }
  cleanup_free char *base = xasprintf ("http://%s", srv.line);
  setenv ("AWS_ENDPOINT_URL_SECRETS_MANAGER", base, 1);
  x->http = http_client_new (&x->loop);
  engine_up (x);
  task_creds_store_t *store = task_creds_store_new ();
  engine_set_aws_credentials (x->e, NULL, store);
  const char *arns[] = { "arn:e1", "arn:d1", "arn:s1", "arn:s2", "arn:s3" };
  for (size_t i = 0; i < ARRAY_SIZE (arns); i++)
    {
      char id[16];
      snprintf (id, sizeof id, "cid-%zu", i);
      put_exec_creds (store, arns[i], id);
    }
  /* two containers of one registry: one token call, both pulls use it */
  cleanup_free char *ecr = xasprintf ("{\"type\":\"ecr\",\"ecrAuthData\":{\"registryId\":\"123\","
                                      "\"region\":\"us-west-2\",\"endpointOverride\":\"%s\","
                                      "\"useExecutionRole\":true}}", base);
  cleanup_free char *e1 = xasprintf (
      "{\"arn\":\"arn:e1\",\"family\":\"auth\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
      "\"containers\":[{\"name\":\"a\",\"image\":\"ecr/img1\",\"essential\":true,\"registryAuthentication\":%s},"
      "{\"name\":\"b\",\"image\":\"ecr/img2\",\"essential\":true,\"registryAuthentication\":%s}]}", ecr, ecr);
  add (x, e1);
  assert_true (spin_task (x, "arn:e1", TASK_STATUS_RUNNING));
  cleanup_free char *want1 = docker_auth_encode ("AWS", "pw-1", NULL, "http://registry.test:5000");
  assert_string_equal (x->fake.last_auth, want1);
  assert_int_equal (x->fake.n_pull, 2);
  assert_null (task_of (x, "arn:e1")->containers[0].reason);
  /* ECR refuses: the pull fails with upstream's error name, no local image */
  cleanup_free char *denied = xasprintf ("{\"type\":\"ecr\",\"ecrAuthData\":{\"registryId\":\"denied\","
                                         "\"region\":\"us-west-2\",\"endpointOverride\":\"%s\","
                                         "\"useExecutionRole\":true}}", srv.line); /* scheme-less */
  cleanup_free char *d1 = xasprintf (AUTH_TASK ("arn:d1", "ecr/img3", "%s"), denied);
  add (x, d1);
  assert_true (spin_task (x, "arn:d1", TASK_STATUS_STOPPED));
  /* https:// was put in front of the scheme-less override: a TLS error, not the answer */
  assert_non_null (strstr (task_of (x, "arn:d1")->containers[0].reason, "CannotPullECRContainerError: "));
  assert_null (strstr (x->fake.log, "ecr/img3"));
  cleanup_free char *denied2 = xasprintf ("{\"type\":\"ecr\",\"ecrAuthData\":{\"registryId\":\"denied\","
                                          "\"region\":\"us-west-2\",\"endpointOverride\":\"%s\"}}", base);
  cleanup_free char *d2 = xasprintf (AUTH_TASK ("arn:d2", "ecr/img4", "%s"), denied2);
  /* the instance's credentials: none here */
  add (x, d2);
  assert_true (spin_task (x, "arn:d2", TASK_STATUS_STOPPED));
  assert_string_equal (task_of (x, "arn:d2")->containers[0].reason,
                       "CannotPullECRContainerError: engine ecr credentials: not found");
  /* the execution role is denied by ECR */
  cleanup_free char *denied3 = xasprintf ("{\"type\":\"ecr\",\"ecrAuthData\":{\"registryId\":\"denied\","
                                          "\"region\":\"us-west-2\",\"endpointOverride\":\"%s\","
                                          "\"useExecutionRole\":true}}", base);
  /* Secrets Manager */
  add (x, AUTH_TASK ("arn:s1", "priv/img", ASM_AUTH ("reg-ok")));
  assert_true (spin_task (x, "arn:s1", TASK_STATUS_RUNNING));
  cleanup_free char *want2 = docker_auth_encode ("privuser", "priv-pass", NULL, NULL);
  assert_string_equal (x->fake.last_auth, want2);
  int creates = x->fake.n_create;
  add (x, AUTH_TASK ("arn:s2", "priv/img2", ASM_AUTH ("reg-denied")));
  assert_true (spin_task (x, "arn:s2", TASK_STATUS_STOPPED));
  assert_string_equal (task_of (x, "arn:s2")->reason,
                       "Asm fetching secret from the service for reg-denied: AccessDeniedException: not allowed");
  assert_null (task_of (x, "arn:s2")->containers[0].reason);
  cleanup_free char *s3 = xasprintf (AUTH_TASK ("arn:s3", "ecr/img6", "%s"), denied3);
  add (x, s3);
  assert_true (spin_task (x, "arn:s3", TASK_STATUS_STOPPED));
  assert_string_equal (task_of (x, "arn:s3")->containers[0].reason,
                       "CannotPullECRContainerError: AccessDeniedException: User is not authorized");
  assert_int_equal (x->fake.n_create, creates);
  /* a task whose execution-role credentials are known by id only (restored
     from the checkpoint): its pull waits for ACS to send them */
  task_creds_store_expect (store, "arn:w1", TASK_CREDS_EXECUTION_ROLE, "cid-w1");
  cleanup_free char *w1 = xasprintf (
      "{\"arn\":\"arn:w1\",\"family\":\"auth\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
      "\"executionRoleCredentials\":{\"credentialsId\":\"cid-w1\"},"
      "\"containers\":[{\"name\":\"c\",\"image\":\"ecr/img7\",\"essential\":true,"
      "\"registryAuthentication\":%s}]}", ecr);
  add (x, w1);
  spin_for (x, 600);
  assert_null (strstr (x->fake.log, "ecr/img7"));
  assert_int_equal (task_of (x, "arn:w1")->containers[0].known_status, TASK_STATUS_NONE);
  put_exec_creds (store, "arn:w1", "cid-w1");
  assert_true (spin_task (x, "arn:w1", TASK_STATUS_RUNNING));
  assert_non_null (strstr (x->fake.log, "pull:ecr/img7"));
  assert_null (task_of (x, "arn:w1")->containers[0].reason);
  /* no secret ever reached the fake's log of calls */
  assert_null (strstr (x->fake.log, "pw-1"));
  assert_null (strstr (x->fake.log, "priv-pass"));
  teardown_engine (x);
  http_client_free (x->http);
  x->http = NULL;
  uv_run (&x->loop, UV_RUN_DEFAULT);
  task_creds_store_free (store);
  unsetenv ("AWS_ENDPOINT_URL_SECRETS_MANAGER");
  test_child_stop (&srv);
}

static const char *
env_of (const struct fctr *k, const char *key)
{
  size_t n = strlen (key);
  for (size_t i = 0; k->env && k->env[i]; i++)
    if (strncmp (k->env[i], key, n) == 0 && k->env[i][n] == '=')
      return k->env[i] + n + 1;
  return NULL;
}

/* The agent's region against the image's ENV (ManagedEnvKeys): the create
   waits for the image record after the pull; an image that sets AWS_REGION
   gets neither name from the agent, a plain one both.  After a restart from
   a checkpoint whose record lacks ManagedEnvKeys (written before the field)
   and no pull (once, pulled before), the image is inspected before the
   create. */
static void
test_region_image_env (void **st)
{
  struct fx *x = *st;
  x->region = "eu-west-1";
  x->pull_behavior = CONFIG_PULL_ONCE;
  x->fake.image_env = "AWS_REGION=xx-image-1";
  engine_up (x);
  add (x, SLEEP5);
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_RUNNING));
  struct fctr *k = fake_by_cname (&x->fake, "sleep5");
  assert_null (env_of (k, "AWS_REGION"));
  assert_null (env_of (k, "AWS_DEFAULT_REGION"));
  assert_string_equal (env_of (k, "A"), "1");
  assert_int_equal (x->fake.n_img, 1); /* the pull step's record inspect, waited for */
  /* a plain image: both from the agent */
  x->fake.image_env = NULL;
  add (x, "{\"arn\":\"arn:t2\",\"family\":\"plain\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
          "\"containers\":[{\"name\":\"plain\",\"image\":\"busybox:plain\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:t2", TASK_STATUS_RUNNING));
  k = fake_by_cname (&x->fake, "plain");
  assert_string_equal (env_of (k, "AWS_REGION"), "eu-west-1");
  assert_string_equal (env_of (k, "AWS_DEFAULT_REGION"), "eu-west-1");
  run_turns (x, 50);
  teardown_engine (x);
  /* the checkpoint has ManagedEnvKeys; take it out as an older agent wrote it */
  state_up (x);
  char *text = NULL;
  size_t len;
  agent_error_t err = NULL;
  assert_int_equal (util_read_file (state_path (x->state), &text, &len, &err), 0);
  char *p = strstr (text, "\"ManagedEnvKeys\":[\"AWS_REGION\"]");
  assert_non_null (p);
  memcpy (p, "\"OldAgentIgnore\"", strlen ("\"ManagedEnvKeys\"")); /* same length */
  assert_int_equal (util_write_file_atomic (state_path (x->state), text, len, 0600, &err), 0);
  free (text);
  state_store_free (x->state);
  state_up (x);
  x->fake.image_env = "AWS_REGION=xx-image-1";
  int pulls = x->fake.n_pull, imgs = x->fake.n_img;
  engine_up (x);
  add (x, "{\"arn\":\"arn:t3\",\"family\":\"again\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
          "\"containers\":[{\"name\":\"again\",\"image\":\"busybox\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:t3", TASK_STATUS_RUNNING));
  assert_int_equal (x->fake.n_pull, pulls); /* once: pulled before */
  assert_true (x->fake.n_img > imgs);       /* the record was read before the create */
  k = fake_by_cname (&x->fake, "again");
  assert_null (env_of (k, "AWS_REGION"));
  assert_null (env_of (k, "AWS_DEFAULT_REGION"));
}

int
main (void)
{
  log_set_level (getenv ("TEST_DEBUG") ? LOG_DEBUG : LOG_WARN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_pull_shared, setup, teardown),
    cmocka_unit_test_setup_teardown (test_launch_limit, setup, teardown),
    cmocka_unit_test_setup_teardown (test_image_cleanup, setup, teardown),
    cmocka_unit_test_setup_teardown (test_launch_unlimited, setup, teardown),
    cmocka_unit_test_setup_teardown (test_precache_launch_limit, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_behaviour_always, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_behaviour_once, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_shared_timestamps, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_once_no_timestamps, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_behaviour_prefer_cached, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_auth_no_credentials, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_auth_fetch, setup, teardown),
    cmocka_unit_test_setup_teardown (test_region_image_env, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
