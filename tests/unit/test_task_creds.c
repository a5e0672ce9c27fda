/* Unit tests for task IAM role credentials: the store (task/task_creds.h:
 * upsert by credentialsId, "expected" ids of restored tasks, removal by task
 * and role, the bound, secrets registered with the logger while stored and
 * unregistered when dropped), the ACS side (roleCredentials /
 * executionRoleCredentials read from a payload task, their secrets
 * registered by acs_message_register_secrets, the payload handler storing
 * them and sending one IAMRoleCredentialsAckRequest per credential after the
 * payload's ack and only then, IAMRoleCredentialsMessage validation and
 * outcomes in acs/credentials.h), and the checkpoint form (credentials ids
 * and endpoint ids persisted, no secret in it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "acs/codec.h"
#include "acs/credentials.h"
#include "acs/payload.h"
#include "acs/task_codec.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include "state/checkpoint_tasks.h"
#include "task/task_creds.h"
#include "helpers/log_quiet.h"

static struct task_role_credentials *
creds (const char *id, const char *key)
{
  struct task_role_credentials *c = xcalloc (1, sizeof *c);
  c->credentials_id = xstrdup (id);
  c->role_arn = xstrdup ("arn:aws:iam::123456789012:role/app");
  c->access_key_id = xasprintf ("ASIA%s", key);
  c->secret_access_key = xasprintf ("secret-%s-0123456789", key);
  c->session_token = xasprintf ("token-%s-0123456789", key);
  c->expiration = xstrdup ("2016-03-25T06:17:19.318+0000");
  return c;
}

/* Is s redacted by the logger right now? */
static bool
redacted (const char *s)
{
  char *line = xasprintf ("x %s y", s);
  line = log_redact (line);
  bool r = strstr (line, s) == NULL;
  free (line);
  return r;
}

static void
test_store (void **state)
{
  (void) state;
  agent_error_t err = NULL;
  task_creds_store_t *s = task_creds_store_new ();
  assert_int_equal (task_creds_store_put (s, "arn:t1", TASK_CREDS_TASK_ROLE, creds ("c1", "AAA"), &err), 0);
  assert_int_equal (task_creds_store_put (s, "arn:t1", TASK_CREDS_EXECUTION_ROLE, creds ("x1", "XXX"), &err), 0);
  assert_true (redacted ("secret-AAA-0123456789"));
  assert_true (redacted ("token-XXX-0123456789"));
  const struct task_creds_entry *e = task_creds_store_get (s, "c1");
  assert_non_null (e);
  assert_string_equal (e->task_arn, "arn:t1");
  assert_int_equal (e->role, TASK_CREDS_TASK_ROLE);
  assert_string_equal (e->creds->access_key_id, "ASIAAAA");
  assert_null (task_creds_store_get (s, "nope"));
  assert_null (task_creds_store_get (s, ""));
  assert_null (task_creds_store_get (s, NULL));
  /* for the image puller */
  const struct task_role_credentials *x
      = task_creds_store_for_task (s, "arn:t1", TASK_CREDS_EXECUTION_ROLE);
  assert_non_null (x);
  assert_string_equal (x->credentials_id, "x1");
  assert_null (task_creds_store_for_task (s, "arn:t2", TASK_CREDS_EXECUTION_ROLE));
  /* rotation: same id, new keys; the old secrets are no longer registered */
  assert_int_equal (task_creds_store_put (s, "arn:t1", TASK_CREDS_TASK_ROLE, creds ("c1", "BBB"), &err), 0);
  assert_int_equal (task_creds_store_count (s), 2);
  assert_string_equal (task_creds_store_get (s, "c1")->creds->access_key_id, "ASIABBB");
  assert_false (redacted ("secret-AAA-0123456789"));
  assert_true (redacted ("secret-BBB-0123456789"));
  /* refused: empty id or task */
  struct task_role_credentials *bad = creds ("", "CCC");
  assert_true (task_creds_store_put (s, "arn:t1", TASK_CREDS_TASK_ROLE, bad, &err) < 0);
  error_free (&err);
  assert_true (task_creds_store_put (s, "", TASK_CREDS_TASK_ROLE, creds ("c3", "CCC"), &err) < 0);
  error_free (&err);
  assert_false (redacted ("secret-CCC-0123456789"));
  /* expected ids (restored tasks): no credentials yet; a received entry is
     not downgraded */
  task_creds_store_expect (s, "arn:t2", TASK_CREDS_TASK_ROLE, "c2");
  task_creds_store_expect (s, "arn:t1", TASK_CREDS_TASK_ROLE, "c1");
  assert_null (task_creds_store_get (s, "c2")->creds);
  assert_non_null (task_creds_store_get (s, "c1")->creds);
  /* removal by task and role */
  assert_int_equal (task_creds_store_remove_task (s, "arn:t1", TASK_CREDS_TASK_ROLE), 1);
  assert_null (task_creds_store_get (s, "c1"));
  assert_non_null (task_creds_store_get (s, "x1"));
  assert_false (redacted ("secret-BBB-0123456789"));
  task_creds_store_remove (s, "x1");
  assert_false (redacted ("token-XXX-0123456789"));
  assert_int_equal (task_creds_store_count (s), 1);
  task_creds_store_free (s);
}

static void
test_store_bound (void **state)
{
  (void) state;
  agent_error_t err = NULL;
  task_creds_store_t *s = task_creds_store_new ();
  char id[32];
  for (int i = 0; i < TASK_CREDS_MAX; i++)
    {
      snprintf (id, sizeof id, "id-%d", i);
      task_creds_store_expect (s, "arn:t", TASK_CREDS_TASK_ROLE, id);
    }
  assert_int_equal (task_creds_store_count (s), TASK_CREDS_MAX);
  assert_true (task_creds_store_put (s, "arn:t", TASK_CREDS_TASK_ROLE, creds ("new", "DDD"), &err) < 0);
  assert_non_null (strstr (error_msg (&err), "full"));
  error_free (&err);
  /* an existing id is still updated */
  assert_int_equal (task_creds_store_put (s, "arn:t", TASK_CREDS_TASK_ROLE, creds ("id-7", "EEE"), &err), 0);
  assert_int_equal (task_creds_store_count (s), TASK_CREDS_MAX);
  task_creds_store_free (s);
}

#define RC(id, key)                                                                                \
  "{\"credentialsId\":\"" id "\",\"roleArn\":\"arn:aws:iam::1:role/r\",\"accessKeyId\":\"ASIA" key  \
  "\",\"secretAccessKey\":\"secret-" key "-0123456789\",\"sessionToken\":\"token-" key             \
  "-0123456789\",\"expiration\":\"2030-01-01T00:00:00.000+0000\"}"

static const char *const PAYLOAD
    = "{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m1\",\"seqNum\":1,"
      "\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\",\"tasks\":["
      "{\"arn\":\"arn:t1\",\"family\":\"f\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
      "\"containers\":[{\"name\":\"a\",\"image\":\"busybox\"},{\"name\":\"b\",\"image\":\"busybox\"}],"
      "\"roleCredentials\":" RC ("role-1", "P1") ",\"executionRoleCredentials\":" RC ("exec-1", "P2") "},"
      "{\"arn\":\"arn:t2\",\"family\":\"f\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
      "\"containers\":[{\"name\":\"a\",\"image\":\"busybox\"}]}]}}";

static void
test_payload_task_credentials (void **state)
{
  (void) state;
  struct acs_message *m = NULL;
  agent_error_t err = NULL;
  assert_int_equal (acs_decode (PAYLOAD, strlen (PAYLOAD), &m, &err), 0);
  /* decoding is pure: nothing registered until the loop registers it */
  assert_false (redacted ("secret-P1-0123456789"));
  acs_message_register_secrets (m);
  assert_true (redacted ("secret-P1-0123456789"));
  assert_true (redacted ("token-P2-0123456789"));
  struct task *t = m->u.payload->tasks[0].task;
  assert_string_equal (t->credentials_id, "role-1");
  assert_string_equal (t->execution_credentials_id, "exec-1");
  assert_string_equal (t->payload_role_creds->session_token, "token-P1-0123456789");
  assert_string_equal (t->payload_exec_creds->expiration, "2030-01-01T00:00:00.000+0000");
  /* endpoint ids: one UUIDv4 per container, all different */
  assert_int_equal (strlen (t->containers[0].v3_endpoint_id), 36);
  assert_string_not_equal (t->containers[0].v3_endpoint_id, t->containers[1].v3_endpoint_id);
  assert_null (m->u.payload->tasks[1].task->credentials_id);
  acs_message_free (m);
  assert_false (redacted ("secret-P1-0123456789"));

  /* a role without credentialsId: the task cannot be read */
  const char *bad = "{\"arn\":\"arn:t3\",\"containers\":[{\"name\":\"a\",\"image\":\"i\"}],"
                    "\"roleCredentials\":{\"accessKeyId\":\"k\"}}";
  json_t *j = json_loads (bad, 0, NULL);
  struct task *bt = NULL;
  assert_true (acs_task_from_json (j, &bt, &err) < 0);
  assert_non_null (strstr (error_msg (&err), "roleCredentials.credentialsId is required"));
  error_free (&err);
  json_decref (j);
  j = json_loads ("{\"arn\":\"arn:t3\",\"roleCredentials\":\"x\"}", 0, NULL);
  assert_true (acs_task_from_json (j, &bt, &err) < 0);
  error_free (&err);
  json_decref (j);
}

/* ---- the payload handler with a fake engine / session ---- */

struct fake
{
  struct sbuf log;
  task_creds_store_t *store;
  state_saved_cb cb;
  void *cb_data;
};

static int
f_task_add (void *ctx, struct task *t, agent_error_t *err)
{
  struct fake *f = ctx;
  (void) err;
  /* the credentials were taken before the task reached the engine */
  assert_null (t->payload_role_creds);
  assert_null (t->payload_exec_creds);
  sbuf_printf (&f->log, "add:%s ", t->arn);
  task_free (t);
  return 0;
}

static void
f_report (void *ctx, const char *arn, const char *reason)
{
  struct fake *f = ctx;
  sbuf_printf (&f->log, "stopped:%s=%s ", arn, reason);
}

static void
f_save (void *ctx, state_saved_cb cb, void *data)
{
  struct fake *f = ctx;
  sbuf_puts (&f->log, "save ");
  f->cb = cb;
  f->cb_data = data;
}

static void
f_set_seq (void *ctx, int64_t seq)
{
  (void) ctx;
  (void) seq;
}

static int
f_send_ack (void *ctx, const char *id, const char *cl, const char *in, agent_error_t *err)
{
  struct fake *f = ctx;
  (void) cl;
  (void) in;
  (void) err;
  sbuf_printf (&f->log, "ack:%s ", id);
  return 0;
}

static int
f_put (void *ctx, const char *arn, enum task_creds_role role, struct task_role_credentials *c,
       agent_error_t *err)
{
  struct fake *f = ctx;
  return task_creds_store_put (f->store, arn, role, c, err);
}

static int
f_creds_ack (void *ctx, const char *mid, const char *exp, const char *id, agent_error_t *err)
{
  struct fake *f = ctx;
  (void) err;
  sbuf_printf (&f->log, "credack:%s/%s/%s ", mid, id, exp);
  return 0;
}

static const struct acs_payload_ops fops = {
  .task_add = f_task_add,
  .report_stopped = f_report,
  .save = f_save,
  .set_seq_num = f_set_seq,
  .send_ack = f_send_ack,
  .put_credentials = f_put,
  .send_credentials_ack = f_creds_ack,
};

static void
test_payload_handler_credentials (void **state)
{
  (void) state;
  struct fake f = { .store = task_creds_store_new () };
  struct acs_payload_options o = { .ops = &fops, .ops_ctx = &f };
  acs_payload_handler_t *h = acs_payload_handler_new (&o);
  struct acs_message *m = NULL;
  agent_error_t err = NULL;
  assert_int_equal (acs_decode (PAYLOAD, strlen (PAYLOAD), &m, &err), 0);
  acs_message_register_secrets (m);
  acs_payload_handle (h, acs_message_take_payload (m));
  acs_message_free (m);
  /* stored before the engine got the task; no credentials ack before the
     payload's own ack */
  assert_string_equal (f.log.s, "add:arn:t1 add:arn:t2 save ");
  assert_non_null (task_creds_store_get (f.store, "role-1")->creds);
  assert_int_equal (task_creds_store_get (f.store, "exec-1")->role, TASK_CREDS_EXECUTION_ROLE);
  assert_true (redacted ("secret-P1-0123456789"));
  f.cb (NULL, f.cb_data);
  assert_string_equal (f.log.s, "add:arn:t1 add:arn:t2 save ack:m1 "
                                "credack:m1/role-1/2030-01-01T00:00:00.000+0000 "
                                "credack:m1/exec-1/2030-01-01T00:00:00.000+0000 ");
  acs_payload_handler_free (h);
  task_creds_store_free (f.store);
  sbuf_free (&f.log);
}

/* ---- IAMRoleCredentialsMessage ---- */

static int
set_id (void *ctx, const char *arn, enum task_creds_role role, const char *id, agent_error_t *err)
{
  struct sbuf *b = ctx;
  if (strcmp (arn, "arn:known") != 0)
    return error_set (err, ERR_NOT_FOUND, "task %s is not known", arn);
  sbuf_printf (b, "%s:%s=%s ", arn, task_creds_role_name (role), id);
  return 0;
}

static enum acs_creds_outcome
apply (const char *msg, task_creds_store_t *s, struct sbuf *b)
{
  struct acs_message *m = NULL;
  agent_error_t err = NULL;
  if (acs_decode (msg, strlen (msg), &m, &err) < 0)
    fail_msg ("%s", error_msg (&err));
  acs_message_register_secrets (m);
  enum acs_creds_outcome o = acs_credentials_apply (m->u.credentials, s, set_id, b, &err);
  error_free (&err);
  acs_message_free (m);
  return o;
}

#define IAM(mid, arn, type, rc)                                                                    \
  "{\"type\":\"IAMRoleCredentialsMessage\",\"message\":{\"messageId\":\"" mid "\",\"taskArn\":\""  \
  arn "\",\"roleType\":\"" type "\",\"roleCredentials\":" rc "}}"

static void
test_rotation_message (void **state)
{
  (void) state;
  task_creds_store_t *s = task_creds_store_new ();
  struct sbuf b = { 0 };
  assert_int_equal (apply (IAM ("m1", "arn:known", "TaskApplication", RC ("r1", "R1")), s, &b),
                    ACS_CREDS_ACK);
  assert_string_equal (b.s, "arn:known:TaskApplication=r1 ");
  assert_string_equal (task_creds_store_get (s, "r1")->creds->access_key_id, "ASIAR1");
  assert_true (redacted ("secret-R1-0123456789")); /* the store's copy is registered */
  /* rotation with the same id replaces the keys */
  assert_int_equal (apply (IAM ("m2", "arn:known", "TaskApplication", RC ("r1", "R2")), s, &b),
                    ACS_CREDS_ACK);
  assert_string_equal (task_creds_store_get (s, "r1")->creds->access_key_id, "ASIAR2");
  assert_int_equal (apply (IAM ("m3", "arn:known", "TaskExecution", RC ("x1", "R3")), s, &b),
                    ACS_CREDS_ACK);
  assert_int_equal (task_creds_store_get (s, "x1")->role, TASK_CREDS_EXECUTION_ROLE);
  /* invalid: dropped, nothing stored */
  assert_int_equal (apply (IAM ("m4", "arn:known", "Bogus", RC ("b1", "B1")), s, &b), ACS_CREDS_INVALID);
  assert_int_equal (apply (IAM ("", "arn:known", "TaskApplication", RC ("b2", "B2")), s, &b),
                    ACS_CREDS_INVALID);
  assert_int_equal (apply (IAM ("m5", "", "TaskApplication", RC ("b3", "B3")), s, &b), ACS_CREDS_INVALID);
  assert_int_equal (apply (IAM ("m6", "arn:known", "TaskApplication", "{\"roleArn\":\"r\"}"), s, &b),
                    ACS_CREDS_INVALID);
  assert_int_equal (apply ("{\"type\":\"IAMRoleCredentialsMessage\",\"message\":{\"messageId\":\"m7\","
                           "\"taskArn\":\"arn:known\",\"roleType\":\"TaskApplication\"}}",
                           s, &b),
                    ACS_CREDS_INVALID);
  assert_null (task_creds_store_get (s, "b1"));
  assert_null (task_creds_store_get (s, "b2"));
  /* unknown task: stored, no ack */
  assert_int_equal (apply (IAM ("m8", "arn:other", "TaskApplication", RC ("o1", "O1")), s, &b),
                    ACS_CREDS_NO_TASK);
  assert_non_null (task_creds_store_get (s, "o1"));
  assert_int_equal (task_creds_store_count (s), 3);
  sbuf_free (&b);
  task_creds_store_free (s);
}

/* ---- checkpoint form ---- */

static void
test_checkpoint_ids_only (void **state)
{
  (void) state;
  struct acs_message *m = NULL;
  agent_error_t err = NULL;
  assert_int_equal (acs_decode (PAYLOAD, strlen (PAYLOAD), &m, &err), 0);
  struct task *t = m->u.payload->tasks[0].task;
  json_t *j = state_task_to_json (t);
  char *text = json_dumps (j, JSON_COMPACT);
  assert_null (strstr (text, "0123456789")); /* no secret, no key */
  assert_null (strstr (text, "ASIA"));
  assert_non_null (strstr (text, "\"credentialsID\":\"role-1\""));
  assert_non_null (strstr (text, "\"executionCredentialsID\":\"exec-1\""));
  assert_non_null (strstr (text, "\"V3EndpointID\""));
  struct task *back = NULL;
  assert_int_equal (state_task_from_json (j, &back, &err), 0);
  assert_string_equal (back->credentials_id, "role-1");
  assert_string_equal (back->execution_credentials_id, "exec-1");
  assert_null (back->payload_role_creds);
  assert_string_equal (back->containers[1].v3_endpoint_id, t->containers[1].v3_endpoint_id);
  /* a checkpoint written before endpoint ids: new ones are made */
  json_t *c0 = json_array_get (json_object_get (j, "Containers"), 0);
  json_object_del (c0, "V3EndpointID");
  struct task *old = NULL;
  assert_int_equal (state_task_from_json (j, &old, &err), 0);
  assert_int_equal (strlen (old->containers[0].v3_endpoint_id), 36);
  task_free (old);
  task_free (back);
  free (text);
  json_decref (j);
  acs_message_free (m);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_store, test_log_quiet_setup, test_log_quiet_teardown),
    cmocka_unit_test_setup_teardown (test_store_bound, test_log_quiet_setup, test_log_quiet_teardown),
    cmocka_unit_test_setup_teardown (test_payload_task_credentials, test_log_quiet_setup, test_log_quiet_teardown),
    cmocka_unit_test_setup_teardown (test_payload_handler_credentials, test_log_quiet_setup, test_log_quiet_teardown),
    cmocka_unit_test_setup_teardown (test_rotation_message, test_log_quiet_setup, test_log_quiet_teardown),
    cmocka_unit_test_setup_teardown (test_checkpoint_ids_only, test_log_quiet_setup, test_log_quiet_teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
