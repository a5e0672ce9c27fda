/* Unit tests for acs/codec.h (every ACS message type, malformed, unknown and
 * oversize frames, the upstream samples in fuzz/corpus/acs_frame/, both
 * handshake error encodings, encoders, secret handling) and for the
 * websocket URL (acs_build_url / acs_url_resolve on libcurl) and the
 * upstream agent's back-off. */
#include <setjmp.h>
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "acs/codec.h"
#include "acs/session.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"

static struct acs_message *
dec_ok (const char *s)
{
  struct acs_message *m = NULL;
  agent_error_t err = NULL;
  int rc = acs_decode (s, strlen (s), &m, &err);
  if (rc < 0)
    fail_msg ("decode failed: %s", error_msg (&err));
  assert_non_null (m);
  assert_null (err);
  return m;
}

static int
dec_fail (const char *s, size_t len)
{
  struct acs_message *m = NULL;
  agent_error_t err = NULL;
  int rc = acs_decode (s, len, &m, &err);
  assert_true (rc < 0);
  assert_null (m);
  assert_non_null (err);
  int kind = error_kind (&err);
  error_free (&err);
  return kind;
}

/* ---- message types ---- */

static void
test_payload (void **state)
{
  (void) state;
  struct acs_message *m
      = dec_ok ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m1\",\"seqNum\":7,"
                "\"clusterArn\":\"arn:c\",\"containerInstanceArn\":\"arn:i\",\"generatedAt\":"
                "1431990000,\"timeline\":3,\"unknownMember\":{\"x\":1},\"tasks\":[{\"arn\":\"t1\"},"
                "{\"arn\":\"t2\",\"desiredStatus\":\"STOPPED\"}]}}");
  assert_int_equal (m->type, ACS_MSG_PAYLOAD);
  assert_string_equal (m->type_name, "PayloadMessage");
  struct acs_payload *p = m->u.payload;
  assert_string_equal (p->message_id, "m1");
  assert_true (p->has_seq_num);
  assert_int_equal (p->seq_num, 7);
  assert_string_equal (p->cluster_arn, "arn:c");
  assert_string_equal (p->container_instance_arn, "arn:i");
  assert_int_equal (p->generated_at, 1431990000);
  assert_true (p->has_timeline);
  assert_int_equal (p->timeline, 3);
  assert_int_equal (p->n_tasks, 2);
  assert_string_equal (p->tasks[0].arn, "t1");
  /* take: the message no longer owns it */
  struct acs_payload *taken = acs_message_take_payload (m);
  assert_ptr_equal (taken, p);
  assert_null (acs_message_take_update (m));
  acs_message_free (m);
  acs_payload_free (taken);

  /* minimal: no tasks member -> empty array, no seqNum */
  m = dec_ok ("{\"type\":\"PayloadMessage\",\"message\":{}}");
  assert_false (m->u.payload->has_seq_num);
  assert_null (m->u.payload->message_id);
  assert_int_equal (m->u.payload->n_tasks, 0);
  acs_message_free (m);
  /* message: null is an empty message */
  m = dec_ok ("{\"type\":\"PayloadMessage\",\"message\":null}");
  acs_message_free (m);
}

static void
test_heartbeat (void **state)
{
  (void) state;
  struct acs_message *m = dec_ok ("{\"type\":\"HeartbeatMessage\",\"message\":{\"healthy\":true}}");
  assert_int_equal (m->type, ACS_MSG_HEARTBEAT);
  assert_true (m->u.heartbeat->healthy);
  assert_null (m->u.heartbeat->message_id);
  acs_message_free (m);
  m = dec_ok ("{\"type\":\"HeartbeatMessage\",\"message\":{\"healthy\":false,\"messageId\":\"h1\"}}");
  assert_false (m->u.heartbeat->healthy);
  assert_string_equal (m->u.heartbeat->message_id, "h1");
  acs_message_free (m);
  assert_int_equal (dec_fail ("{\"type\":\"HeartbeatMessage\",\"message\":{\"healthy\":\"yes\"}}",
                              58),
                    ERR_MALFORMED);
}

static void
test_close_error_exceptions (void **state)
{
  (void) state;
  struct acs_message *m = dec_ok ("{\"type\":\"CloseMessage\",\"message\":{\"message\":\"bye\"}}");
  assert_int_equal (m->type, ACS_MSG_CLOSE);
  assert_string_equal (m->u.close->message, "bye");
  acs_message_free (m);
  m = dec_ok ("{\"type\":\"ErrorMessage\",\"message\":{\"message\":\"oops\"}}");
  assert_int_equal (m->type, ACS_MSG_ERROR);
  assert_string_equal (m->u.error->message, "oops");
  acs_message_free (m);
  const char *names[] = { "ServerException",          "BadRequestException",
                          "InvalidClusterException",  "InvalidInstanceException",
                          "AccessDeniedException",    "InactiveInstanceException" };
  for (size_t i = 0; i < ARRAY_SIZE (names); i++)
    {
      char *f = xasprintf ("{\"type\":\"%s\",\"message\":{\"message\":\"msg %zu\"}}", names[i], i);
      m = dec_ok (f);
      assert_int_equal (m->type, ACS_MSG_EXCEPTION);
      assert_string_equal (m->u.exception->type, names[i]);
      char *t = acs_exception_text (m->u.exception);
      char *want = xasprintf ("%s: msg %zu", names[i], i);
      assert_string_equal (t, want);
      assert_true (acs_is_exception_type (names[i]));
      free (want);
      free (t);
      free (f);
      acs_message_free (m);
    }
  assert_false (acs_is_exception_type ("PayloadMessage"));
  assert_false (acs_is_exception_type (NULL));
}

static void
test_updates (void **state)
{
  (void) state;
  struct acs_message *m = dec_ok (
      "{\"type\":\"StageUpdateMessage\",\"message\":{\"messageId\":\"s1\",\"clusterArn\":\"c\","
      "\"containerInstanceArn\":\"i\",\"updateInfo\":{\"location\":\"https://s3.amazonaws.com/"
      "amazon-ecs-agent/x.tar\",\"signature\":\"abc\"}}}");
  assert_int_equal (m->type, ACS_MSG_STAGE_UPDATE);
  struct acs_update_message *u = m->u.update;
  assert_string_equal (u->message_id, "s1");
  assert_string_equal (u->cluster_arn, "c");
  assert_string_equal (u->container_instance_arn, "i");
  assert_true (u->has_update_info);
  assert_string_equal (u->location, "https://s3.amazonaws.com/amazon-ecs-agent/x.tar");
  assert_string_equal (u->signature, "abc");
  acs_message_free (m);
  m = dec_ok ("{\"type\":\"PerformUpdateMessage\",\"message\":{\"messageId\":\"p1\"}}");
  assert_int_equal (m->type, ACS_MSG_PERFORM_UPDATE);
  assert_false (m->u.update->has_update_info);
  assert_null (m->u.update->location);
  struct acs_update_message *t = acs_message_take_update (m);
  assert_non_null (t);
  acs_message_free (m);
  acs_update_message_free (t);
  assert_int_equal (
      dec_fail ("{\"type\":\"StageUpdateMessage\",\"message\":{\"updateInfo\":\"x\"}}", 59),
      ERR_MALFORMED);
  const char *bad = "{\"type\":\"StageUpdateMessage\",\"message\":{\"updateInfo\":{\"location\":1}}}";
  assert_int_equal (dec_fail (bad, strlen (bad)), ERR_MALFORMED);
}

static void
test_credentials_secret (void **state)
{
  (void) state;
  log_init (LOG_NONE, NULL, NULL);
  struct acs_message *m = dec_ok (
      "{\"type\":\"IAMRoleCredentialsMessage\",\"message\":{\"messageId\":\"123\",\"taskArn\":"
      "\"t1\",\"taskClusterArn\":\"c\",\"roleType\":\"TaskExecution\",\"roleCredentials\":{"
      "\"credentialsId\":\"cid\",\"roleArn\":\"r1\",\"accessKeyId\":\"AKIAEXAMPLEKEY\","
      "\"secretAccessKey\":\"verysecretvalue\",\"sessionToken\":\"sessiontokenvalue\","
      "\"expiration\":\"2030-01-01T00:00:00Z\",\"credentialScope\":\"scope\"}}}");
  assert_int_equal (m->type, ACS_MSG_IAM_CREDENTIALS);
  struct acs_iam_credentials *c = m->u.credentials;
  assert_string_equal (c->message_id, "123");
  assert_string_equal (c->task_arn, "t1");
  assert_string_equal (c->task_cluster_arn, "c");
  assert_string_equal (c->role_type, "TaskExecution");
  assert_true (c->has_credentials);
  assert_string_equal (c->creds.credentials_id, "cid");
  assert_string_equal (c->creds.role_arn, "r1");
  assert_string_equal (c->creds.access_key_id, "AKIAEXAMPLEKEY");
  assert_string_equal (c->creds.secret_access_key, "verysecretvalue");
  assert_string_equal (c->creds.session_token, "sessiontokenvalue");
  assert_string_equal (c->creds.expiration, "2030-01-01T00:00:00Z");
  assert_string_equal (c->creds.credential_scope, "scope");
  /* decoding is pure (it may run on a worker thread): nothing is
     registered with the logger until the loop registers the message */
  assert_false (c->secrets_registered);
  char *line = xstrdup ("got verysecretvalue and sessiontokenvalue");
  line = log_redact (line);
  assert_non_null (strstr (line, "verysecretvalue"));
  free (line);
  acs_message_register_secrets (m);
  assert_true (c->secrets_registered);
  acs_message_register_secrets (m); /* once is enough; again changes nothing */
  /* the secrets are registered with the redactor while the message lives */
  line = xstrdup ("got verysecretvalue and sessiontokenvalue");
  line = log_redact (line);
  assert_null (strstr (line, "verysecretvalue"));
  assert_null (strstr (line, "sessiontokenvalue"));
  free (line);
  char *ack = acs_encode_iam_credentials_ack (c->message_id, c->creds.expiration,
                                              c->creds.credentials_id);
  assert_string_equal (ack, "{\"type\":\"IAMRoleCredentialsAckRequest\",\"message\":{\"messageId\":"
                            "\"123\",\"expiration\":\"2030-01-01T00:00:00Z\",\"credentialsId\":"
                            "\"cid\"}}");
  free (ack);
  struct acs_iam_credentials *taken = acs_message_take_credentials (m);
  acs_message_free (m);
  acs_iam_credentials_free (taken);
  line = xstrdup ("verysecretvalue");
  line = log_redact (line);
  assert_string_equal (line, "verysecretvalue");
  free (line);
  log_close ();
}

/* A credentials message freed before it was registered (a decode error on
   the worker, a frame dropped with its connection) leaves the logger alone:
   a secret someone else registered with the same value stays registered. */
static void
test_credentials_free_unregistered_is_pure (void **state)
{
  (void) state;
  log_init (LOG_NONE, NULL, NULL);
  log_secret_add ("sharedsecretvalue");
  struct acs_message *m = dec_ok (
      "{\"type\":\"IAMRoleCredentialsMessage\",\"message\":{\"messageId\":\"1\","
      "\"roleCredentials\":{\"accessKeyId\":\"AKIAOTHER\",\"secretAccessKey\":"
      "\"sharedsecretvalue\",\"sessionToken\":\"othertokenvalue\"}}}");
  acs_message_free (m);
  char *line = log_redact (xstrdup ("sharedsecretvalue"));
  assert_null (strstr (line, "sharedsecretvalue"));
  free (line);
  /* a frame whose credentials do not decode: no message, nothing registered */
  struct acs_message *bad = NULL;
  agent_error_t err = NULL;
  const char *f = "{\"type\":\"IAMRoleCredentialsMessage\",\"message\":{\"roleCredentials\":"
                  "{\"secretAccessKey\":\"badframesecret\",\"expiration\":5}}}";
  assert_true (acs_decode (f, strlen (f), &bad, &err) < 0);
  assert_null (bad);
  assert_null (strstr (error_msg (&err), "badframesecret"));
  error_free (&err);
  line = log_redact (xstrdup ("badframesecret"));
  assert_string_equal (line, "badframesecret");
  free (line);
  log_secret_remove ("sharedsecretvalue");
  log_close ();
}

static void
test_manifest_and_stop_ack (void **state)
{
  (void) state;
  struct acs_message *m = dec_ok (
      "{\"type\":\"TaskManifestMessage\",\"message\":{\"messageId\":\"m\",\"clusterArn\":\"c\","
      "\"containerInstanceArn\":\"i\",\"generatedAt\":5,\"timeline\":9,\"tasks\":[{\"taskArn\":"
      "\"t1\",\"taskClusterArn\":\"c\",\"desiredStatus\":\"RUNNING\"},{\"taskArn\":\"t2\"}]}}");
  assert_int_equal (m->type, ACS_MSG_TASK_MANIFEST);
  struct acs_task_manifest *tm = m->u.manifest;
  assert_int_equal (tm->timeline, 9);
  assert_int_equal (tm->generated_at, 5);
  assert_int_equal (tm->n_tasks, 2);
  assert_string_equal (tm->tasks[0].desired_status, "RUNNING");
  assert_string_equal (tm->tasks[1].task_arn, "t2");
  assert_null (tm->tasks[1].desired_status);
  char *f = acs_encode_task_stop_verification ("m", tm->tasks, 1);
  assert_string_equal (f, "{\"type\":\"TaskStopVerificationMessage\",\"message\":{\"messageId\":"
                          "\"m\",\"stopCandidates\":[{\"taskArn\":\"t1\",\"taskClusterArn\":\"c\","
                          "\"desiredStatus\":\"RUNNING\"}]}}");
  free (f);
  struct acs_task_manifest *t = acs_message_take_manifest (m);
  acs_message_free (m);
  acs_task_manifest_free (t);

  m = dec_ok ("{\"type\":\"TaskStopVerificationAck\",\"message\":{\"messageId\":\"m\","
              "\"generatedAt\":6,\"stopTasks\":[{\"taskArn\":\"t1\"}]}}");
  assert_int_equal (m->type, ACS_MSG_TASK_STOP_VERIFICATION_ACK);
  assert_int_equal (m->u.stop_ack->n_stop_tasks, 1);
  assert_string_equal (m->u.stop_ack->stop_tasks[0].task_arn, "t1");
  struct acs_task_stop_verification_ack *a = acs_message_take_stop_ack (m);
  acs_message_free (m);
  acs_task_stop_verification_ack_free (a);
  const char *bad = "{\"type\":\"TaskManifestMessage\",\"message\":{\"tasks\":[1]}}";
  assert_int_equal (dec_fail (bad, strlen (bad)), ERR_MALFORMED);
}

/* ---- malformed / unknown ---- */

static void
test_malformed (void **state)
{
  (void) state;
  const char *cases[] = {
    "",
    "not json",
    "[1,2,3]",
    "\"string\"",
    "{\"type\":5,\"message\":{}}",
    "{\"type\":\"PayloadMessage\",\"message\":[]}",
    "{\"type\":\"PayloadMessage\",\"message\":\"x\"}",
    "{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":5}}",
    "{\"type\":\"PayloadMessage\",\"message\":{\"seqNum\":\"1\"}}",
    "{\"type\":\"PayloadMessage\",\"message\":{\"seqNum\":1.5}}",
    "{\"type\":\"PayloadMessage\",\"message\":{\"tasks\":{}}}",
    "{\"type\":\"PayloadMessage\",\"message\":{}",
    "{\"type\":\"\",\"message\":{}}",
    "{\"message\":{}}",
    "{}",
    "{\"NotAnError\":\"x\"}",
    "{\"SomeException\":5}",
    "{\"AException\":\"a\",\"BException\":\"b\"}",
    "{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"a\\u0000b\"}}",
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      int kind = dec_fail (cases[i], strlen (cases[i]));
      if (kind != ERR_MALFORMED)
        fail_msg ("case %zu: kind %d", i, kind);
    }
  /* NULL data */
  struct acs_message *m = NULL;
  agent_error_t err = NULL;
  assert_true (acs_decode (NULL, 0, &m, &err) < 0);
  error_free (&err);
  /* integral real accepted */
  m = dec_ok ("{\"type\":\"PayloadMessage\",\"message\":{\"seqNum\":2.0}}");
  assert_int_equal (m->u.payload->seq_num, 2);
  acs_message_free (m);
  /* embedded NUL in the frame bytes */
  const char nul[] = "{\"type\":\"CloseMessage\"\0,\"message\":{}}";
  dec_fail (nul, sizeof nul - 1);
}

static void
test_unknown_type (void **state)
{
  (void) state;
  const char *f = "{\"type\":\"BrandNewMessage\",\"message\":{\"messageId\":\"x\"}}";
  struct acs_message *m = NULL;
  agent_error_t err = NULL;
  assert_true (acs_decode (f, strlen (f), &m, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_INVALID);
  assert_non_null (strstr (error_msg (&err), "unrecognized type BrandNewMessage"));
  error_free (&err);
  /* the agent's own request types are not inbound messages */
  f = "{\"type\":\"AckRequest\",\"message\":{}}";
  assert_int_equal (dec_fail (f, strlen (f)), ERR_INVALID);
  /* TCS frames are unknown to the ACS decoder */
  f = "{\"type\":\"AckPublishMetric\",\"message\":{}}";
  assert_int_equal (dec_fail (f, strlen (f)), ERR_INVALID);
}

static void
test_oversize (void **state)
{
  (void) state;
  size_t n = ACS_MAX_FRAME + 1;
  char *big = xmalloc (n + 1);
  memset (big, ' ', n);
  memcpy (big, "{\"type\":\"CloseMessage\",\"message\":{}}", 36);
  big[n] = '\0';
  int kind = dec_fail (big, n);
  assert_int_equal (kind, ERR_MALFORMED);
  /* exactly at the limit is parsed */
  struct acs_message *m = NULL;
  agent_error_t err = NULL;
  assert_int_equal (acs_decode (big, ACS_MAX_FRAME, &m, &err), 0);
  acs_message_free (m);
  free (big);
  /* deep nesting is refused by the parser, not a crash */
  struct sbuf b = { 0 };
  sbuf_puts (&b, "{\"type\":\"PayloadMessage\",\"message\":{\"tasks\":[");
  for (int i = 0; i < 5000; i++)
    sbuf_puts (&b, "[");
  for (int i = 0; i < 5000; i++)
    sbuf_puts (&b, "]");
  sbuf_puts (&b, "]}}");
  dec_fail (b.s, b.len);
  sbuf_free (&b);
}

static void
test_handshake_error_bodies (void **state)
{
  (void) state;
  struct acs_exception *e = NULL;
  agent_error_t err = NULL;
  const char *unframed = "{\"InvalidClusterException\":\"Invalid cluster\"}\n";
  assert_int_equal (acs_decode_handshake_error (unframed, strlen (unframed), &e, &err), 0);
  char *t = acs_exception_text (e);
  assert_string_equal (t, "InvalidClusterException: Invalid cluster");
  free (t);
  acs_exception_free (e);
  const char *env = "{\"type\":\"InactiveInstanceException\",\"message\":{\"message\":\"gone\"}}";
  assert_int_equal (acs_decode_handshake_error (env, strlen (env), &e, &err), 0);
  assert_string_equal (e->type, "InactiveInstanceException");
  assert_string_equal (e->message, "gone");
  acs_exception_free (e);
  /* an unknown exception name still decodes (retriable as upstream) */
  const char *other = "{\"ThrottlingException\":\"slow down\"}";
  assert_int_equal (acs_decode_handshake_error (other, strlen (other), &e, &err), 0);
  assert_string_equal (e->type, "ThrottlingException");
  acs_exception_free (e);
  const char *notexc = "{\"type\":\"HeartbeatMessage\",\"message\":{}}";
  assert_true (acs_decode_handshake_error (notexc, strlen (notexc), &e, &err) < 0);
  assert_null (e);
  error_free (&err);
  assert_true (acs_decode_handshake_error ("<html>", 6, &e, &err) < 0);
  error_free (&err);
  t = acs_exception_text (NULL);
  assert_string_equal (t, "UnknownException: ");
  free (t);
}

/* ---- samples (upstream test literals, fuzz corpus) ---- */

static char *
corpus_dir (void)
{
  char cwd[PATH_MAX];
  if (!getcwd (cwd, sizeof cwd))
    return NULL;
  for (;;)
    {
      char *p = xasprintf ("%s/fuzz/corpus/acs_frame", cwd);
      if (access (p, R_OK) == 0)
        return p;
      free (p);
      char *s = strrchr (cwd, '/');
      if (!s || s == cwd)
        return NULL;
      *s = '\0';
    }
}

static struct acs_message *
sample (const char *name)
{
  char *dir = corpus_dir ();
  assert_non_null (dir);
  char *path = xasprintf ("%s/sample-%s", dir, name);
  char *data = NULL;
  size_t len = 0;
  agent_error_t err = NULL;
  assert_int_equal (util_read_file (path, &data, &len, &err), 0);
  struct acs_message *m = NULL;
  int rc = acs_decode (data, len, &m, &err);
  if (rc < 0)
    fail_msg ("%s: %s", name, error_msg (&err));
  free (data);
  free (path);
  free (dir);
  return m;
}

static void
test_samples (void **state)
{
  (void) state;
  log_init (LOG_NONE, NULL, NULL);
  struct acs_message *m = sample ("payload-message-minimal-task-arn-only.json");
  assert_int_equal (m->type, ACS_MSG_PAYLOAD);
  assert_null (m->u.payload->message_id);
  assert_int_equal (m->u.payload->n_tasks, 1);
  assert_string_equal (m->u.payload->tasks[0].arn, "arn");
  acs_message_free (m);

  m = sample ("payload-message-one-task-redis.json");
  assert_string_equal (m->u.payload->message_id, "messageId");
  assert_string_equal (m->u.payload->tasks[0].arn, "arn1");
  assert_non_null (m->u.payload->tasks[0].task);
  acs_message_free (m);

  m = sample ("payload-message-task-with-eni-and-role-credentials.json");
  assert_string_equal (m->u.payload->message_id, "123");
  assert_string_equal (m->u.payload->cluster_arn, "1");
  assert_string_equal (m->u.payload->container_instance_arn, "1");
  assert_int_equal (m->u.payload->seq_num, 1);
  assert_int_equal (m->u.payload->generated_at, 1);
  acs_message_free (m);

  m = sample ("heartbeat-message-healthy-no-message-id.json");
  assert_int_equal (m->type, ACS_MSG_HEARTBEAT);
  assert_true (m->u.heartbeat->healthy);
  assert_null (m->u.heartbeat->message_id);
  acs_message_free (m);

  m = sample ("heartbeat-message-healthy-message-id.json");
  assert_string_equal (m->u.heartbeat->message_id, "123");
  char *hb = acs_encode_heartbeat_ack (m->u.heartbeat->message_id);
  assert_string_equal (hb, "{\"type\":\"HeartbeatAckRequest\",\"message\":{\"messageId\":\"123\"}}");
  free (hb);
  acs_message_free (m);

  m = sample ("iam-role-credentials-message.json");
  assert_int_equal (m->type, ACS_MSG_IAM_CREDENTIALS);
  assert_string_equal (m->u.credentials->task_arn, "t1");
  assert_null (m->u.credentials->role_type);
  assert_string_equal (m->u.credentials->creds.session_token, "token");
  acs_message_free (m);

  m = sample ("iam-role-credentials-message-task-application.json");
  assert_string_equal (m->u.credentials->role_type, "TaskApplication");
  assert_string_equal (m->u.credentials->creds.access_key_id, "newakid");
  assert_string_equal (m->u.credentials->creds.expiration, "later");
  acs_message_free (m);

  m = sample ("confirm-attachment-message-ephemeral-storage.json");
  assert_int_equal (m->type, ACS_MSG_ATTACHMENT);
  assert_int_equal (m->u.attachment->wait_timeout_ms, 1000);
  acs_message_free (m);

  m = sample ("attach-task-network-interfaces-message.json");
  assert_int_equal (m->type, ACS_MSG_ATTACHMENT);
  assert_string_equal (m->u.attachment->task_arn, "task");
  assert_null (m->u.attachment->container_instance_arn);
  acs_message_free (m);

  m = sample ("attach-instance-network-interfaces-message.json");
  assert_int_equal (m->type, ACS_MSG_ATTACHMENT);
  acs_message_free (m);

  m = sample ("handshake-http400-body-invalid-cluster-exception.json");
  assert_int_equal (m->type, ACS_MSG_EXCEPTION);
  char *t = acs_exception_text (m->u.exception);
  assert_string_equal (t, "InvalidClusterException: Invalid cluster");
  free (t);
  acs_message_free (m);
  log_close ();
}

/* every corpus file decodes or fails cleanly */
static void
test_corpus_all (void **state)
{
  (void) state;
  log_init (LOG_NONE, NULL, NULL);
  char *dir = corpus_dir ();
  assert_non_null (dir);
  DIR *d = opendir (dir);
  assert_non_null (d);
  struct dirent *e;
  int files = 0;
  while ((e = readdir (d)))
    {
      if (e->d_name[0] == '.')
        continue;
      char *path = xasprintf ("%s/%s", dir, e->d_name);
      char *data = NULL;
      size_t len = 0;
      agent_error_t err = NULL;
      assert_int_equal (util_read_file (path, &data, &len, &err), 0);
      struct acs_message *m = NULL;
      int rc = acs_decode (data, len, &m, &err);
      assert_true ((rc < 0) == (m == NULL));
      assert_true ((rc < 0) == (err != NULL));
      /* url_* seeds are endpoints for the URL half of fuzz_acs_frame */
      bool expect_fail = strcmp (e->d_name, "not-json") == 0
                         || strcmp (e->d_name, "unknown-type") == 0
                         || strcmp (e->d_name, "wrong-member-type") == 0
                         || strncmp (e->d_name, "url_", 4) == 0;
      if (expect_fail != (rc < 0))
        fail_msg ("%s: rc %d (%s)", e->d_name, rc, err ? error_msg (&err) : "ok");
      acs_message_free (m);
      error_free (&err);
      free (data);
      free (path);
      files++;
    }
  closedir (d);
  free (dir);
  assert_true (files >= 20);
  log_close ();
}

/* ---- encoders ---- */

static void
test_encoders (void **state)
{
  (void) state;
  char *f = acs_encode_ack ("default", "arn:aws:ecs:us-west-2:123456789012:container-instance/abc",
                            "m-1");
  assert_string_equal (f, "{\"type\":\"AckRequest\",\"message\":{\"cluster\":\"default\","
                          "\"containerInstance\":\"arn:aws:ecs:us-west-2:123456789012:container-"
                          "instance/abc\",\"messageId\":\"m-1\"}}");
  free (f);
  f = acs_encode_nack ("c", "i", "m", "Unable to download: Hashsum validation failed");
  assert_string_equal (f, "{\"type\":\"NackRequest\",\"message\":{\"cluster\":\"c\","
                          "\"containerInstance\":\"i\",\"messageId\":\"m\",\"reason\":\"Unable to "
                          "download: Hashsum validation failed\"}}");
  free (f);
  /* NULL members are omitted */
  f = acs_encode_ack (NULL, NULL, "m");
  assert_string_equal (f, "{\"type\":\"AckRequest\",\"message\":{\"messageId\":\"m\"}}");
  free (f);
  f = acs_encode_heartbeat_ack (NULL);
  assert_string_equal (f, "{\"type\":\"HeartbeatAckRequest\",\"message\":{}}");
  free (f);
  /* escaping */
  f = acs_encode_nack ("c", "i", "m", "quote \" and \\ and \n");
  json_t *j = json_loads (f, 0, NULL);
  assert_string_equal (json_string_value (json_object_get (json_object_get (j, "message"), "reason")),
                       "quote \" and \\ and \n");
  json_decref (j);
  free (f);
}

/* ---- URL ---- */

/* libcurl writes %xx in lower case up to 7.x and in upper case later (both
   mean the same): compare in upper case. */
static char *
pct_upper (char *u)
{
  for (char *p = u; p && *p; p++)
    if (*p == '%' && p[1] && p[2])
      {
        p[1] = (char) toupper ((unsigned char) p[1]);
        p[2] = (char) toupper ((unsigned char) p[2]);
      }
  return u;
}

static void
test_build_url (void **state)
{
  (void) state;
  struct acs_url_params p = {
    .endpoint = "https://ecs-a-1.us-west-2.amazonaws.com/",
    .cluster = "default",
    .container_instance_arn = "arn:aws:ecs:us-west-2:123456789012:container-instance/abc",
    .agent_hash = "4d9f982",
    .agent_version = "1.1.0",
    .docker_version = "1.6.0",
    .seq_num = 1,
    .send_credentials = true,
    .protocol_version = 2,
  };
  char *u = pct_upper (acs_build_url (&p));
  assert_string_equal (u, "https://ecs-a-1.us-west-2.amazonaws.com/ws?agentHash=4d9f982&"
                          "agentVersion=1.1.0&clusterArn=default&containerInstanceArn=arn%3Aaws%"
                          "3Aecs%3Aus-west-2%3A123456789012%3Acontainer-instance%2Fabc&"
                          "dockerVersion=DockerVersion%3A%201.6.0&protocolVersion=2&"
                          "sendCredentials=true&seqNum=1");
  free (u);
  /* no trailing slash, no docker version, later connection, dirty hash, seq 0 -> 1 */
  p.endpoint = "http://127.0.0.1:8080";
  p.docker_version = NULL;
  p.send_credentials = false;
  p.agent_hash = "*UNKNOWN";
  p.seq_num = 0;
  p.protocol_version = 0;
  u = pct_upper (acs_build_url (&p));
  assert_string_equal (u, "http://127.0.0.1:8080/ws?agentHash=%2AUNKNOWN&agentVersion=1.1.0&"
                          "clusterArn=default&containerInstanceArn=arn%3Aaws%3Aecs%3Aus-west-2%"
                          "3A123456789012%3Acontainer-instance%2Fabc&sendCredentials=false&seqNum=1");
  free (u);
  p.seq_num = 42;
  u = pct_upper (acs_build_url (&p));
  assert_non_null (strstr (u, "&seqNum=42"));
  free (u);
  /* values escaped by libcurl: unreserved kept, everything else %XX */
  p.cluster = "a+b&c=d\xc3\xa9 *~_.-";
  u = pct_upper (acs_build_url (&p));
  assert_non_null (strstr (u, "&clusterArn=a%2Bb%26c%3Dd%C3%A9%20%2A~_.-&"));
  free (u);
  /* an endpoint path is kept, its query and fragment are not */
  p.endpoint = "wss://h.example/base/?x=1#f";
  u = pct_upper (acs_build_url (&p));
  assert_true (strncmp (u, "wss://h.example/base/ws?agentHash=", 34) == 0);
  free (u);
  p.endpoint = "not a url";
  assert_null (acs_build_url (&p));
}

static void
test_url_resolve (void **state)
{
  (void) state;
  struct acs_url_params p = { .endpoint = "https://ecs-a-1.us-west-2.amazonaws.com/", .seq_num = 3 };
  struct acs_url u;
  agent_error_t err = NULL;
  assert_int_equal (acs_url_resolve (&p, &u, &err), 0);
  assert_true (u.tls);
  assert_string_equal (u.host, "ecs-a-1.us-west-2.amazonaws.com");
  assert_int_equal (u.port, 443);
  assert_string_equal (u.authority, "ecs-a-1.us-west-2.amazonaws.com");
  assert_string_equal (u.path, "/ws?sendCredentials=false&seqNum=3");
  assert_string_equal (u.http_url,
                       "https://ecs-a-1.us-west-2.amazonaws.com/ws?sendCredentials=false&seqNum=3");
  acs_url_free (&u);
  /* ws:// with a port: signed as http://, the port kept in Host */
  p.endpoint = "ws://127.0.0.1:8080";
  assert_int_equal (acs_url_resolve (&p, &u, &err), 0);
  assert_false (u.tls);
  assert_string_equal (u.host, "127.0.0.1");
  assert_int_equal (u.port, 8080);
  assert_string_equal (u.authority, "127.0.0.1:8080");
  assert_string_equal (u.http_url, "http://127.0.0.1:8080/ws?sendCredentials=false&seqNum=3");
  acs_url_free (&u);
  /* IPv6: brackets only in Host; an explicit default port is left out */
  p.endpoint = "wss://[::1]:443/acs";
  assert_int_equal (acs_url_resolve (&p, &u, &err), 0);
  assert_true (u.tls);
  assert_string_equal (u.host, "::1");
  assert_int_equal (u.port, 443);
  assert_string_equal (u.authority, "[::1]");
  assert_string_equal (u.path, "/acs/ws?sendCredentials=false&seqNum=3");
  assert_string_equal (u.http_url, "https://[::1]/acs/ws?sendCredentials=false&seqNum=3");
  acs_url_free (&u);
  p.endpoint = "http://[::1]:9000/";
  assert_int_equal (acs_url_resolve (&p, &u, &err), 0);
  assert_string_equal (u.authority, "[::1]:9000");
  acs_url_free (&u);
  /* refused: unknown scheme, no host, bad port, not a URL */
  const char *bad[] = { "ftp://h/", "https://", "http://h:70000/", "http://h:x/", "h.example", NULL };
  for (size_t i = 0; bad[i]; i++)
    {
      p.endpoint = bad[i];
      assert_true (acs_url_resolve (&p, &u, &err) < 0);
      assert_int_equal (error_kind (&err), ERR_INVALID);
      assert_null (u.host);
      error_free (&err);
    }
  p.endpoint = NULL;
  assert_true (acs_url_resolve (&p, &u, &err) < 0);
  error_free (&err);
}

/* The upstream agent's back-off: 250 ms -> 2 min, x1.5, jitter 0.2 (only ever added). */
static void
test_backoff (void **state)
{
  (void) state;
  struct backoff b;
  backoff_init (&b, 250, 120000, 0.2, 1.5);
  /* The base is kept in whole milliseconds, truncated at each step, so
     the reference follows the same arithmetic (a double reference drifts
     away from it and failed whenever the jitter drawn was small). */
  uint64_t cur = 250;
  for (int i = 0; i < 30; i++)
    {
      uint64_t d = backoff_next (&b);
      assert_true (d >= cur);
      assert_true ((double) d <= (double) cur * 1.2 + 1);
      double nx = (double) cur * 1.5;
      cur = nx > 120000 ? 120000 : (uint64_t) nx;
    }
  assert_int_equal (b.cur_ms, 120000);
  uint64_t d = backoff_next (&b);
  assert_true (d >= 120000 && d <= 144000);
  backoff_reset (&b);
  d = backoff_next (&b);
  assert_true (d >= 250 && d <= 300);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_payload),
    cmocka_unit_test (test_heartbeat),
    cmocka_unit_test (test_close_error_exceptions),
    cmocka_unit_test (test_updates),
    cmocka_unit_test (test_credentials_secret),
    cmocka_unit_test (test_credentials_free_unregistered_is_pure),
    cmocka_unit_test (test_manifest_and_stop_ack),
    cmocka_unit_test (test_malformed),
    cmocka_unit_test (test_unknown_type),
    cmocka_unit_test (test_oversize),
    cmocka_unit_test (test_handshake_error_bodies),
    cmocka_unit_test (test_samples),
    cmocka_unit_test (test_corpus_all),
    cmocka_unit_test (test_encoders),
    cmocka_unit_test (test_build_url),
    cmocka_unit_test (test_url_resolve),
    cmocka_unit_test (test_backoff),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
