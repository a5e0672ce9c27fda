/* Unit tests for update/update.h: the tarball is fetched through
 * core/http.h from a file:// URL in a temp dir, hashed with SHA-256 as it
 * arrives and compared with the signature; good -> <20 hex>.ecs-update.tar +
 * desired-image + AckRequest; bad -> file deleted + NackRequest "Unable to
 * download: Hashsum validation failed"; validation NACKs; same signature
 * ACKed without a second download; a new signature NACKs the previous
 * message; PerformUpdate before / after staging; updates disabled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "acs/codec.h"
#include "core/http.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include "update/update.h"

struct fx
{
  uv_loop_t loop;
  http_client_t *http;
  char dir[64];     /* downloads */
  char src[96];     /* served files */
  char *good_url, *good_sha;
  json_t *frames;   /* every frame sent */
  int performed;
  update_t *u;
};

static int
fx_send (void *ctx, const char *frame, agent_error_t *err)
{
  (void) err;
  struct fx *f = ctx;
  json_t *j = json_loads (frame, 0, NULL);
  assert_non_null (j);
  json_array_append_new (f->frames, j);
  return 0;
}

static void
fx_performed (void *data)
{
  ((struct fx *) data)->performed++;
}

static char *
sha_hex (const char *data, size_t len)
{
  unsigned char dg[32];
  unsigned int dl;
  EVP_Digest (data, len, dg, &dl, EVP_sha256 (), NULL);
  char *h = xmalloc (65);
  for (int i = 0; i < 32; i++)
    snprintf (h + 2 * i, 3, "%02x", dg[i]);
  return h;
}

static update_t *
fx_update (struct fx *f, bool enabled)
{
  struct update_options o = { .enabled = enabled, .download_dir = f->dir, .http = f->http,
                              .send = fx_send, .send_ctx = f, .on_perform = fx_performed,
                              .data = f };
  agent_error_t err = NULL;
  update_t *u = update_new (&f->loop, &o, &err);
  assert_non_null (u);
  return u;
}

static int
setup (void **state)
{
  log_init (LOG_NONE, NULL, NULL);
  struct fx *f = xcalloc (1, sizeof *f);
  uv_loop_init (&f->loop);
  f->http = http_client_new (&f->loop);
  snprintf (f->dir, sizeof f->dir, "/tmp/update-test-XXXXXX");
  assert_non_null (mkdtemp (f->dir));
  snprintf (f->src, sizeof f->src, "%s-src", f->dir);
  mkdir (f->src, 0700);
  struct sbuf b = { 0 };
  for (int i = 0; i < 50000; i++)
    sbuf_printf (&b, "line %d of a fake agent image tarball\n", i);
  char *p = xasprintf ("%s/agent.tar", f->src);
  agent_error_t err = NULL;
  assert_int_equal (util_write_file_atomic (p, b.s, b.len, 0644, &err), 0);
  f->good_sha = sha_hex (b.s, b.len);
  f->good_url = xasprintf ("file://%s", p);
  free (p);
  sbuf_free (&b);
  f->frames = json_array ();
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fx *f = *state;
  if (f->u)
    update_free (f->u);
  http_client_free (f->http);
  uv_run (&f->loop, UV_RUN_DEFAULT);
  assert_int_equal (uv_loop_close (&f->loop), 0);
  char *cmd = xasprintf ("rm -rf '%s' '%s'", f->dir, f->src);
  assert_int_equal (system (cmd), 0);
  free (cmd);
  json_decref (f->frames);
  free (f->good_url);
  free (f->good_sha);
  free (f);
  log_close ();
  return 0;
}

static struct acs_update_message *
msg (const char *id, const char *loc, const char *sig, bool info)
{
  struct acs_update_message *m = xcalloc (1, sizeof *m);
  m->message_id = xstrdup (id);
  m->cluster_arn = xstrdup ("arn:cluster");
  m->container_instance_arn = xstrdup ("arn:instance");
  m->has_update_info = info;
  m->location = xstrdup (loc);
  m->signature = xstrdup (sig);
  return m;
}

static void
run (struct fx *f)
{
  /* until no download / finalisation is in flight */
  for (int i = 0; i < 2000 && update_get_state (f->u) == UPDATE_DOWNLOADING; i++)
    uv_run (&f->loop, UV_RUN_ONCE);
  uv_run (&f->loop, UV_RUN_NOWAIT);
}

/* frame i: type and message members */
static void
check_frame (struct fx *f, size_t i, const char *type, const char *id, const char *reason)
{
  json_t *fr = json_array_get (f->frames, i);
  if (!fr)
    fail_msg ("no frame %zu", i);
  assert_string_equal (json_string_value (json_object_get (fr, "type")), type);
  json_t *m = json_object_get (fr, "message");
  assert_string_equal (json_string_value (json_object_get (m, "messageId")), id);
  assert_string_equal (json_string_value (json_object_get (m, "cluster")), "arn:cluster");
  assert_string_equal (json_string_value (json_object_get (m, "containerInstance")), "arn:instance");
  if (reason)
    assert_string_equal (json_string_value (json_object_get (m, "reason")), reason);
  else
    assert_null (json_object_get (m, "reason"));
}

static size_t
count_tars (struct fx *f)
{
  DIR *d = opendir (f->dir);
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir (d)))
    if (strstr (e->d_name, ".ecs-update.tar"))
      n++;
  closedir (d);
  return n;
}

static void
test_stage_good_then_perform (void **state)
{
  struct fx *f = *state;
  f->u = fx_update (f, true);
  /* perform before staging */
  update_handle_perform (f->u, msg ("p0", f->good_url, f->good_sha, true));
  check_frame (f, 0, "NackRequest", "p0", "Cannot perform update; update not downloaded");
  /* signature with surrounding whitespace is trimmed */
  char *sig = xasprintf ("  %s\n", f->good_sha);
  update_handle_stage (f->u, msg ("s1", f->good_url, sig, true));
  free (sig);
  assert_int_equal (update_get_state (f->u), UPDATE_DOWNLOADING);
  run (f);
  assert_int_equal (update_get_state (f->u), UPDATE_DOWNLOADED);
  check_frame (f, 1, "AckRequest", "s1", NULL);
  const char *tar = update_tarball (f->u);
  assert_non_null (tar);
  const char *base = strrchr (tar, '/') + 1;
  assert_int_equal (strlen (base), 20 + strlen (".ecs-update.tar"));
  for (int i = 0; i < 20; i++)
    assert_non_null (strchr ("0123456789abcdef", base[i]));
  char *data = NULL;
  size_t len = 0;
  agent_error_t err = NULL;
  assert_int_equal (util_read_file (tar, &data, &len, &err), 0);
  char *h = sha_hex (data, len);
  assert_string_equal (h, f->good_sha);
  free (h);
  free (data);
  struct stat st;
  assert_int_equal (stat (tar, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0644);
  char *di = xasprintf ("%s/desired-image", f->dir);
  assert_int_equal (util_read_file (di, &data, &len, &err), 0);
  char *want = xasprintf ("%s\n", base);
  assert_string_equal (data, want);
  assert_int_equal (stat (di, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0644);
  free (want);
  free (data);
  free (di);

  /* the same update again: acked, no second download */
  update_handle_stage (f->u, msg ("s2", f->good_url, f->good_sha, true));
  check_frame (f, 2, "AckRequest", "s2", NULL);
  assert_int_equal (count_tars (f), 1);

  /* perform: ack, then the callback */
  update_handle_perform (f->u, msg ("p1", NULL, NULL, false));
  check_frame (f, 3, "AckRequest", "p1", NULL);
  assert_int_equal (f->performed, 0);
  for (int i = 0; i < 100 && !f->performed; i++)
    uv_run (&f->loop, UV_RUN_ONCE);
  assert_int_equal (f->performed, 1);
  /* a second perform does not call back twice */
  update_handle_perform (f->u, msg ("p2", NULL, NULL, false));
  uv_run (&f->loop, UV_RUN_NOWAIT);
  assert_int_equal (f->performed, 1);
}

static void
test_stage_bad_checksum (void **state)
{
  struct fx *f = *state;
  f->u = fx_update (f, true);
  update_handle_stage (f->u, msg ("s1", f->good_url,
                                  "0000000000000000000000000000000000000000000000000000000000000000",
                                  true));
  run (f);
  check_frame (f, 0, "NackRequest", "s1", "Unable to download: Hashsum validation failed");
  assert_int_equal (update_get_state (f->u), UPDATE_NONE);
  assert_int_equal (count_tars (f), 0);
  /* upper-case hex is not the lower-case digest (upstream compares exactly) */
  char *up = xstrdup (f->good_sha);
  for (char *c = up; *c; c++)
    if (*c >= 'a' && *c <= 'f')
      *c = (char) (*c - 32);
  update_handle_stage (f->u, msg ("s2", f->good_url, up, true));
  free (up);
  run (f);
  check_frame (f, 1, "NackRequest", "s2", "Unable to download: Hashsum validation failed");
  /* a failed stage can be retried */
  update_handle_stage (f->u, msg ("s3", f->good_url, f->good_sha, true));
  run (f);
  check_frame (f, 2, "AckRequest", "s3", NULL);
  assert_int_equal (count_tars (f), 1);
}

static void
test_download_errors (void **state)
{
  struct fx *f = *state;
  f->u = fx_update (f, true);
  char *missing = xasprintf ("file://%s/nope.tar", f->src);
  update_handle_stage (f->u, msg ("s1", missing, f->good_sha, true));
  free (missing);
  run (f);
  json_t *m = json_object_get (json_array_get (f->frames, 0), "message");
  const char *r = json_string_value (json_object_get (m, "reason"));
  assert_non_null (r);
  assert_int_equal (strncmp (r, "Unable to download: ", 20), 0);
  assert_int_equal (count_tars (f), 0);
  /* download dir missing */
  update_free (f->u);
  struct update_options o = { .enabled = true, .download_dir = "/nonexistent/dir", .http = f->http,
                              .send = fx_send, .send_ctx = f };
  agent_error_t err = NULL;
  f->u = update_new (&f->loop, &o, &err);
  update_handle_stage (f->u, msg ("s2", f->good_url, f->good_sha, true));
  m = json_object_get (json_array_get (f->frames, 1), "message");
  r = json_string_value (json_object_get (m, "reason"));
  assert_non_null (strstr (r, "Unable to download: open /nonexistent/dir/"));
  assert_int_equal (update_get_state (f->u), UPDATE_NONE);
}

static void
test_validation (void **state)
{
  struct fx *f = *state;
  f->u = fx_update (f, true);
  update_handle_stage (f->u, msg ("v1", NULL, NULL, false));
  update_handle_stage (f->u, msg ("v2", NULL, "abc", true));
  update_handle_stage (f->u, msg ("v3", f->good_url, NULL, true));
  update_handle_stage (f->u, msg ("v4", "not a url", "abc", true));
  update_handle_stage (f->u, msg ("v5", "", "abc", true));
  check_frame (f, 0, "NackRequest", "v1", "Invalid update: no update info given");
  check_frame (f, 1, "NackRequest", "v2", "Invalid update: no location given");
  check_frame (f, 2, "NackRequest", "v3", "Invalid update: no signature given");
  check_frame (f, 3, "NackRequest", "v4", "Invalid update: URL parse error");
  check_frame (f, 4, "NackRequest", "v5", "Invalid update: no location given");
  /* no messageId: dropped silently */
  struct acs_update_message *m = msg ("x", f->good_url, f->good_sha, true);
  free (m->message_id);
  m->message_id = NULL;
  update_handle_stage (f->u, m);
  m = msg ("x", NULL, NULL, false);
  free (m->message_id);
  m->message_id = NULL;
  update_handle_perform (f->u, m);
  update_handle_stage (f->u, NULL);
  assert_int_equal (json_array_size (f->frames), 5);
}

static void
test_new_update_replaces (void **state)
{
  struct fx *f = *state;
  f->u = fx_update (f, true);
  update_handle_stage (f->u, msg ("old", f->good_url, f->good_sha, true));
  run (f);
  check_frame (f, 0, "AckRequest", "old", NULL);
  /* a different update: the previous message is nacked, the new one downloads */
  char *src2 = xasprintf ("%s/agent2.tar", f->src);
  agent_error_t err = NULL;
  assert_int_equal (util_write_file_atomic (src2, "v2", 2, 0644, &err), 0);
  char *url2 = xasprintf ("file://%s", src2);
  char *sha2 = sha_hex ("v2", 2);
  update_handle_stage (f->u, msg ("new", url2, sha2, true));
  check_frame (f, 1, "NackRequest", "old", "New update arrived: new");
  run (f);
  check_frame (f, 2, "AckRequest", "new", NULL);
  char *data = NULL;
  size_t len;
  assert_int_equal (util_read_file (update_tarball (f->u), &data, &len, &err), 0);
  assert_string_equal (data, "v2");
  free (data);
  /* a new update while one is downloading cancels it and removes its file */
  update_handle_stage (f->u, msg ("third", f->good_url, f->good_sha, true));
  check_frame (f, 3, "NackRequest", "new", "New update arrived: third");
  update_handle_stage (f->u, msg ("fourth", url2, "ffff", true));
  check_frame (f, 4, "NackRequest", "third", "New update arrived: fourth");
  run (f);
  check_frame (f, 5, "NackRequest", "fourth", "Unable to download: Hashsum validation failed");
  free (src2);
  free (url2);
  free (sha2);
}

static void
test_disabled (void **state)
{
  struct fx *f = *state;
  f->u = fx_update (f, false);
  update_handle_stage (f->u, msg ("s", f->good_url, f->good_sha, true));
  update_handle_perform (f->u, msg ("p", NULL, NULL, false));
  check_frame (f, 0, "NackRequest", "s", "Updates are disabled");
  check_frame (f, 1, "NackRequest", "p", "Updates are disabled");
  assert_int_equal (count_tars (f), 0);
  assert_int_equal (f->performed, 0);
}

static void
test_free_while_downloading (void **state)
{
  struct fx *f = *state;
  f->u = fx_update (f, true);
  update_handle_stage (f->u, msg ("s", f->good_url, f->good_sha, true));
  assert_int_equal (count_tars (f), 1);
  update_free (f->u);
  f->u = NULL;
  assert_int_equal (count_tars (f), 0);
  assert_int_equal (json_array_size (f->frames), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_stage_good_then_perform, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stage_bad_checksum, setup, teardown),
    cmocka_unit_test_setup_teardown (test_download_errors, setup, teardown),
    cmocka_unit_test_setup_teardown (test_validation, setup, teardown),
    cmocka_unit_test_setup_teardown (test_new_update_replaces, setup, teardown),
    cmocka_unit_test_setup_teardown (test_disabled, setup, teardown),
    cmocka_unit_test_setup_teardown (test_free_while_downloading, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
