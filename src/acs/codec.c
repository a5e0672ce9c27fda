/* acs/codec.c - ACS frame decoding and encoding (see codec.h). */
#include "acs/codec.h"
#include "acs/task_codec.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <string.h>

static const char *const exception_types[] = {
  "ServerException",         "BadRequestException",      "InvalidClusterException",
  "InvalidInstanceException", "AccessDeniedException",   "InactiveInstanceException",
};

bool
acs_is_exception_type (const char *name)
{
  if (name == NULL)
    return false;
  for (size_t i = 0; i < ARRAY_SIZE (exception_types); i++)
    if (strcmp (name, exception_types[i]) == 0)
      return true;
  return false;
}

/* ---- typed member getters: absent or null -> default; wrong type -> error ---- */

static int
get_str (json_t *o, const char *key, char **out, agent_error_t *err)
{
  json_t *v = json_object_get (o, key);
  *out = NULL;
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_string (v))
    return error_set (err, ERR_MALFORMED, "member %s is not a string", key);
  *out = xstrndup (json_string_value (v), json_string_length (v));
  return 0;
}

static int
get_int (json_t *o, const char *key, int64_t *out, bool *has, agent_error_t *err)
{
  json_t *v = json_object_get (o, key);
  if (has)
    *has = false;
  *out = 0;
  if (v == NULL || json_is_null (v))
    return 0;
  if (json_is_integer (v))
    *out = (int64_t) json_integer_value (v);
  else if (json_is_real (v))
    {
      /* Go decodes 1.0 into an int64 field only if it has no fraction; be lenient
         with integral reals, reject others. */
      double d = json_real_value (v);
      if (d != (double) (int64_t) d)
        return error_set (err, ERR_MALFORMED, "member %s is not an integer", key);
      *out = (int64_t) d;
    }
  else
    return error_set (err, ERR_MALFORMED, "member %s is not a number", key);
  if (has)
    *has = true;
  return 0;
}

static int
get_bool (json_t *o, const char *key, bool *out, agent_error_t *err)
{
  json_t *v = json_object_get (o, key);
  *out = false;
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_boolean (v))
    return error_set (err, ERR_MALFORMED, "member %s is not a boolean", key);
  *out = json_is_true (v);
  return 0;
}

static int
get_obj (json_t *o, const char *key, json_t **out, agent_error_t *err)
{
  json_t *v = json_object_get (o, key);
  *out = NULL;
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_object (v))
    return error_set (err, ERR_MALFORMED, "member %s is not an object", key);
  *out = v;
  return 0;
}

static int
get_arr (json_t *o, const char *key, json_t **out, agent_error_t *err)
{
  json_t *v = json_object_get (o, key);
  *out = NULL;
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_array (v))
    return error_set (err, ERR_MALFORMED, "member %s is not an array", key);
  *out = v;
  return 0;
}

/* ---- free functions ---- */

void
acs_payload_free (struct acs_payload *p)
{
  if (!p)
    return;
  free (p->message_id);
  free (p->cluster_arn);
  free (p->container_instance_arn);
  for (size_t i = 0; i < p->n_tasks; i++)
    {
      task_free (p->tasks[i].task);
      free (p->tasks[i].arn);
      free (p->tasks[i].error);
    }
  free (p->tasks);
  free (p->refused);
  free (p);
}

void
acs_heartbeat_free (struct acs_heartbeat *h)
{
  if (!h)
    return;
  free (h->message_id);
  free (h);
}

void
acs_close_free (struct acs_close *c)
{
  if (!c)
    return;
  free (c->message);
  free (c);
}

void
acs_error_message_free (struct acs_error_message *e)
{
  if (!e)
    return;
  free (e->message);
  free (e);
}

void
acs_exception_free (struct acs_exception *e)
{
  if (!e)
    return;
  free (e->type);
  free (e->message);
  free (e);
}

void
acs_update_message_free (struct acs_update_message *u)
{
  if (!u)
    return;
  free (u->message_id);
  free (u->cluster_arn);
  free (u->container_instance_arn);
  free (u->location);
  free (u->signature);
  free (u);
}

static void
secret_free (char *s, bool registered)
{
  if (!s)
    return;
  if (registered)
    log_secret_remove (s);
  size_t n = strlen (s);
  volatile char *p = s;
  for (size_t i = 0; i < n; i++)
    p[i] = 0;
  free (s);
}

void
acs_iam_credentials_free (struct acs_iam_credentials *c)
{
  if (!c)
    return;
  free (c->message_id);
  free (c->task_arn);
  free (c->task_cluster_arn);
  free (c->role_type);
  free (c->creds.credentials_id);
  free (c->creds.role_arn);
  secret_free (c->creds.access_key_id, c->secrets_registered);
  secret_free (c->creds.secret_access_key, c->secrets_registered);
  secret_free (c->creds.session_token, c->secrets_registered);
  free (c->creds.expiration);
  free (c->creds.credential_scope);
  free (c);
}

static void
task_ids_free (struct acs_task_identifier *t, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (t[i].task_arn);
      free (t[i].task_cluster_arn);
      free (t[i].desired_status);
    }
  free (t);
}

void
acs_task_manifest_free (struct acs_task_manifest *m)
{
  if (!m)
    return;
  free (m->message_id);
  free (m->cluster_arn);
  free (m->container_instance_arn);
  task_ids_free (m->tasks, m->n_tasks);
  free (m);
}

void
acs_task_stop_verification_ack_free (struct acs_task_stop_verification_ack *a)
{
  if (!a)
    return;
  free (a->message_id);
  task_ids_free (a->stop_tasks, a->n_stop_tasks);
  free (a);
}

void
acs_attachment_message_free (struct acs_attachment_message *a)
{
  if (!a)
    return;
  free (a->message_id);
  free (a->cluster_arn);
  free (a->container_instance_arn);
  free (a->task_arn);
  free (a);
}

void
acs_message_free (struct acs_message *m)
{
  if (!m)
    return;
  switch (m->type)
    {
    case ACS_MSG_PAYLOAD:
      acs_payload_free (m->u.payload);
      break;
    case ACS_MSG_HEARTBEAT:
      acs_heartbeat_free (m->u.heartbeat);
      break;
    case ACS_MSG_CLOSE:
      acs_close_free (m->u.close);
      break;
    case ACS_MSG_ERROR:
      acs_error_message_free (m->u.error);
      break;
    case ACS_MSG_STAGE_UPDATE:
    case ACS_MSG_PERFORM_UPDATE:
      acs_update_message_free (m->u.update);
      break;
    case ACS_MSG_EXCEPTION:
      acs_exception_free (m->u.exception);
      break;
    case ACS_MSG_IAM_CREDENTIALS:
      acs_iam_credentials_free (m->u.credentials);
      break;
    case ACS_MSG_TASK_MANIFEST:
      acs_task_manifest_free (m->u.manifest);
      break;
    case ACS_MSG_TASK_STOP_VERIFICATION_ACK:
      acs_task_stop_verification_ack_free (m->u.stop_ack);
      break;
    case ACS_MSG_ATTACHMENT:
      acs_attachment_message_free (m->u.attachment);
      break;
    }
  free (m->type_name);
  free (m);
}

#define TAKE(fn, T, member, ty1, ty2)                                                              \
  T *fn (struct acs_message *m)                                                                    \
  {                                                                                                \
    if (!m || (m->type != ty1 && m->type != ty2))                                                  \
      return NULL;                                                                                 \
    T *r = m->u.member;                                                                            \
    m->u.member = NULL;                                                                            \
    return r;                                                                                      \
  }

TAKE (acs_message_take_payload, struct acs_payload, payload, ACS_MSG_PAYLOAD, ACS_MSG_PAYLOAD)
TAKE (acs_message_take_update, struct acs_update_message, update, ACS_MSG_STAGE_UPDATE,
      ACS_MSG_PERFORM_UPDATE)
TAKE (acs_message_take_credentials, struct acs_iam_credentials, credentials,
      ACS_MSG_IAM_CREDENTIALS, ACS_MSG_IAM_CREDENTIALS)
TAKE (acs_message_take_manifest, struct acs_task_manifest, manifest, ACS_MSG_TASK_MANIFEST,
      ACS_MSG_TASK_MANIFEST)
TAKE (acs_message_take_stop_ack, struct acs_task_stop_verification_ack, stop_ack,
      ACS_MSG_TASK_STOP_VERIFICATION_ACK, ACS_MSG_TASK_STOP_VERIFICATION_ACK)

/* ---- per-type decoders ---- */

static int
dec_payload (json_t *o, struct acs_message *m, agent_error_t *err)
{
  struct acs_payload *p = xcalloc (1, sizeof *p);
  m->u.payload = p;
  json_t *tasks;
  if (get_str (o, "messageId", &p->message_id, err) < 0
      || get_str (o, "clusterArn", &p->cluster_arn, err) < 0
      || get_str (o, "containerInstanceArn", &p->container_instance_arn, err) < 0
      || get_int (o, "seqNum", &p->seq_num, &p->has_seq_num, err) < 0
      || get_int (o, "generatedAt", &p->generated_at, NULL, err) < 0
      || get_int (o, "timeline", &p->timeline, &p->has_timeline, err) < 0
      || get_arr (o, "tasks", &tasks, err) < 0)
    return -1;
  size_t n = json_array_size (tasks);
  agent_error_t lerr = NULL;
  if (acs_payload_check_limits (tasks, &lerr) < 0)
    {
      p->refused = xstrdup (error_msg (&lerr));
      error_free (&lerr);
      if (n > ACS_PAYLOAD_MAX_TASKS)
        n = ACS_PAYLOAD_MAX_TASKS;
    }
  p->tasks = xcalloc (n ? n : 1, sizeof *p->tasks);
  for (size_t i = 0; i < n; i++, p->n_tasks++)
    {
      struct acs_payload_task *pt = &p->tasks[i];
      json_t *tj = json_array_get (tasks, i);
      if (json_is_null (tj))
        continue;
      json_t *a = json_is_object (tj) ? json_object_get (tj, "arn") : NULL;
      if (json_is_string (a) && json_string_length (a) > 0)
        pt->arn = xstrdup (json_string_value (a));
      if (p->refused)
        {
          pt->error = xstrdup (p->refused);
          continue;
        }
      agent_error_t terr = NULL;
      if (acs_task_from_json (tj, &pt->task, &terr) < 0)
        {
          pt->error = xstrdup (error_msg (&terr));
          error_free (&terr);
        }
    }
  return 0;
}

static int
dec_heartbeat (json_t *o, struct acs_message *m, agent_error_t *err)
{
  struct acs_heartbeat *h = xcalloc (1, sizeof *h);
  m->u.heartbeat = h;
  if (get_bool (o, "healthy", &h->healthy, err) < 0
      || get_str (o, "messageId", &h->message_id, err) < 0)
    return -1;
  return 0;
}

static int
dec_close (json_t *o, struct acs_message *m, agent_error_t *err)
{
  struct acs_close *c = xcalloc (1, sizeof *c);
  m->u.close = c;
  return get_str (o, "message", &c->message, err);
}

static int
dec_error (json_t *o, struct acs_message *m, agent_error_t *err)
{
  struct acs_error_message *e = xcalloc (1, sizeof *e);
  m->u.error = e;
  return get_str (o, "message", &e->message, err);
}

static int
dec_exception (json_t *o, struct acs_message *m, agent_error_t *err)
{
  struct acs_exception *e = xcalloc (1, sizeof *e);
  m->u.exception = e;
  e->type = xstrdup (m->type_name);
  return get_str (o, "message", &e->message, err);
}

static int
dec_update (json_t *o, struct acs_message *m, agent_error_t *err)
{
  struct acs_update_message *u = xcalloc (1, sizeof *u);
  m->u.update = u;
  json_t *info;
  if (get_str (o, "messageId", &u->message_id, err) < 0
      || get_str (o, "clusterArn", &u->cluster_arn, err) < 0
      || get_str (o, "containerInstanceArn", &u->container_instance_arn, err) < 0
      || get_obj (o, "updateInfo", &info, err) < 0)
    return -1;
  if (info)
    {
      u->has_update_info = true;
      if (get_str (info, "location", &u->location, err) < 0
          || get_str (info, "signature", &u->signature, err) < 0)
        return error_wrap (err, "updateInfo");
    }
  return 0;
}

static int
dec_credentials (json_t *o, struct acs_message *m, agent_error_t *err)
{
  struct acs_iam_credentials *c = xcalloc (1, sizeof *c);
  m->u.credentials = c;
  json_t *rc;
  if (get_str (o, "messageId", &c->message_id, err) < 0
      || get_str (o, "taskArn", &c->task_arn, err) < 0
      || get_str (o, "taskClusterArn", &c->task_cluster_arn, err) < 0
      || get_str (o, "roleType", &c->role_type, err) < 0
      || get_obj (o, "roleCredentials", &rc, err) < 0)
    return -1;
  if (rc)
    {
      c->has_credentials = true;
      struct acs_role_credentials *r = &c->creds;
      int rcode = 0;
      if (get_str (rc, "credentialsId", &r->credentials_id, err) < 0
          || get_str (rc, "roleArn", &r->role_arn, err) < 0
          || get_str (rc, "accessKeyId", &r->access_key_id, err) < 0
          || get_str (rc, "secretAccessKey", &r->secret_access_key, err) < 0
          || get_str (rc, "sessionToken", &r->session_token, err) < 0
          || get_str (rc, "expiration", &r->expiration, err) < 0
          || get_str (rc, "credentialScope", &r->credential_scope, err) < 0)
        rcode = error_wrap (err, "roleCredentials");
      if (rcode < 0)
        return rcode;
    }
  return 0;
}

static int
dec_task_ids (json_t *o, const char *key, struct acs_task_identifier **out, size_t *n,
              agent_error_t *err)
{
  json_t *a;
  *out = NULL;
  *n = 0;
  if (get_arr (o, key, &a, err) < 0)
    return -1;
  if (!a || json_array_size (a) == 0)
    return 0;
  *out = xcalloc (json_array_size (a), sizeof **out);
  size_t i;
  json_t *v;
  json_array_foreach (a, i, v)
  {
    if (!json_is_object (v))
      return error_set (err, ERR_MALFORMED, "%s[%zu] is not an object", key, i);
    struct acs_task_identifier *t = &(*out)[*n];
    (*n)++;
    if (get_str (v, "taskArn", &t->task_arn, err) < 0
        || get_str (v, "taskClusterArn", &t->task_cluster_arn, err) < 0
        || get_str (v, "desiredStatus", &t->desired_status, err) < 0)
      return error_wrap (err, "%s[%zu]", key, i);
  }
  return 0;
}

static int
dec_manifest (json_t *o, struct acs_message *m, agent_error_t *err)
{
  struct acs_task_manifest *t = xcalloc (1, sizeof *t);
  m->u.manifest = t;
  if (get_str (o, "messageId", &t->message_id, err) < 0
      || get_str (o, "clusterArn", &t->cluster_arn, err) < 0
      || get_str (o, "containerInstanceArn", &t->container_instance_arn, err) < 0
      || get_int (o, "generatedAt", &t->generated_at, NULL, err) < 0
      || get_int (o, "timeline", &t->timeline, NULL, err) < 0)
    return -1;
  return dec_task_ids (o, "tasks", &t->tasks, &t->n_tasks, err);
}

static int
dec_stop_ack (json_t *o, struct acs_message *m, agent_error_t *err)
{
  struct acs_task_stop_verification_ack *a = xcalloc (1, sizeof *a);
  m->u.stop_ack = a;
  if (get_str (o, "messageId", &a->message_id, err) < 0
      || get_int (o, "generatedAt", &a->generated_at, NULL, err) < 0)
    return -1;
  return dec_task_ids (o, "stopTasks", &a->stop_tasks, &a->n_stop_tasks, err);
}

static int
dec_attachment (json_t *o, struct acs_message *m, agent_error_t *err)
{
  struct acs_attachment_message *a = xcalloc (1, sizeof *a);
  m->u.attachment = a;
  if (get_str (o, "messageId", &a->message_id, err) < 0
      || get_str (o, "clusterArn", &a->cluster_arn, err) < 0
      || get_str (o, "containerInstanceArn", &a->container_instance_arn, err) < 0
      || get_str (o, "taskArn", &a->task_arn, err) < 0
      || get_int (o, "waitTimeoutMs", &a->wait_timeout_ms, NULL, err) < 0)
    return -1;
  return 0;
}

struct decoder
{
  const char *name;
  enum acs_msg_type type;
  int (*fn) (json_t *, struct acs_message *, agent_error_t *);
};

static const struct decoder decoders[] = {
  { "PayloadMessage", ACS_MSG_PAYLOAD, dec_payload },
  { "HeartbeatMessage", ACS_MSG_HEARTBEAT, dec_heartbeat },
  { "CloseMessage", ACS_MSG_CLOSE, dec_close },
  { "ErrorMessage", ACS_MSG_ERROR, dec_error },
  { "StageUpdateMessage", ACS_MSG_STAGE_UPDATE, dec_update },
  { "PerformUpdateMessage", ACS_MSG_PERFORM_UPDATE, dec_update },
  { "IAMRoleCredentialsMessage", ACS_MSG_IAM_CREDENTIALS, dec_credentials },
  { "TaskManifestMessage", ACS_MSG_TASK_MANIFEST, dec_manifest },
  { "TaskStopVerificationAck", ACS_MSG_TASK_STOP_VERIFICATION_ACK, dec_stop_ack },
  { "AttachTaskNetworkInterfacesMessage", ACS_MSG_ATTACHMENT, dec_attachment },
  { "AttachInstanceNetworkInterfacesMessage", ACS_MSG_ATTACHMENT, dec_attachment },
  { "ConfirmAttachmentMessage", ACS_MSG_ATTACHMENT, dec_attachment },
};

/* {"XException":"msg"}: exactly one member, a string, named like an exception. */
static int
dec_unframed (json_t *root, struct acs_message **out, agent_error_t *err)
{
  if (!json_is_object (root) || json_object_size (root) != 1)
    return error_set (err, ERR_MALFORMED, "frame is neither an envelope nor an error object");
  const char *key = json_object_iter_key (json_object_iter (root));
  json_t *v = json_object_iter_value (json_object_iter (root));
  size_t kl = strlen (key);
  bool looks = acs_is_exception_type (key)
               || (kl > 9 && strcmp (key + kl - 9, "Exception") == 0);
  if (!looks || !json_is_string (v))
    return error_set (err, ERR_MALFORMED, "frame is neither an envelope nor an error object");
  struct acs_message *m = xcalloc (1, sizeof *m);
  m->type = ACS_MSG_EXCEPTION;
  m->type_name = xstrdup (key);
  m->u.exception = xcalloc (1, sizeof *m->u.exception);
  m->u.exception->type = xstrdup (key);
  m->u.exception->message = xstrndup (json_string_value (v), json_string_length (v));
  *out = m;
  return 0;
}

int
acs_decode_parse (const char *data, size_t len, json_t **root, agent_error_t *err)
{
  *root = NULL;
  if (data == NULL)
    return error_set (err, ERR_MALFORMED, "empty frame");
  if (len > ACS_MAX_FRAME)
    return error_set (err, ERR_MALFORMED, "frame of %zu bytes exceeds the %u byte limit", len,
                      ACS_MAX_FRAME);
  json_error_t jerr;
  *root = json_loadb (data, len, 0, &jerr);
  if (*root == NULL)
    return error_set (err, ERR_MALFORMED, "frame is not JSON: %s (line %d)", jerr.text, jerr.line);
  return 0;
}

static void
secret_register (const char *s)
{
  if (s && *s)
    log_secret_add (s);
}

void
acs_message_register_secrets (struct acs_message *m)
{
  if (m && m->type == ACS_MSG_PAYLOAD && m->u.payload)
    for (size_t i = 0; i < m->u.payload->n_tasks; i++)
      if (m->u.payload->tasks[i].task)
        {
          task_role_credentials_register_secrets (m->u.payload->tasks[i].task->payload_role_creds);
          task_role_credentials_register_secrets (m->u.payload->tasks[i].task->payload_exec_creds);
        }
  if (!m || m->type != ACS_MSG_IAM_CREDENTIALS || !m->u.credentials
      || m->u.credentials->secrets_registered)
    return;
  struct acs_iam_credentials *c = m->u.credentials;
  secret_register (c->creds.access_key_id);
  secret_register (c->creds.secret_access_key);
  secret_register (c->creds.session_token);
  c->secrets_registered = true;
}

int
acs_decode (const char *data, size_t len, struct acs_message **out, agent_error_t *err)
{
  *out = NULL;
  json_t *root;
  int rc = acs_decode_parse (data, len, &root, err);
  if (rc < 0)
    return rc;
  return acs_decode_json (root, out, err);
}

int
acs_decode_json (json_t *root, struct acs_message **out, agent_error_t *err)
{
  *out = NULL;
  int rc;
  json_t *type = json_is_object (root) ? json_object_get (root, "type") : NULL;
  if (!json_is_string (type) || json_string_length (type) == 0)
    {
      /* As upstream's decoder: an envelope without a type may be the
         unframed {"XException":"msg"} error form. */
      rc = dec_unframed (root, out, err);
      json_decref (root);
      return rc;
    }
  const char *tname = json_string_value (type);
  if (strlen (tname) != json_string_length (type))
    {
      json_decref (root);
      return error_set (err, ERR_MALFORMED, "frame type contains NUL");
    }
  json_t *msg = json_object_get (root, "message");
  if (msg != NULL && !json_is_object (msg) && !json_is_null (msg))
    {
      rc = error_set (err, ERR_MALFORMED, "%.64s: message is not an object", tname);
      json_decref (root);
      return rc;
    }
  json_t *empty = NULL;
  if (msg == NULL || json_is_null (msg))
    msg = empty = json_object ();

  const struct decoder *d = NULL;
  for (size_t i = 0; i < ARRAY_SIZE (decoders); i++)
    if (strcmp (decoders[i].name, tname) == 0)
      d = &decoders[i];
  struct acs_message *m = NULL;
  if (d)
    {
      m = xcalloc (1, sizeof *m);
      m->type = d->type;
      m->type_name = xstrdup (tname);
      rc = d->fn (msg, m, err);
    }
  else if (acs_is_exception_type (tname))
    {
      m = xcalloc (1, sizeof *m);
      m->type = ACS_MSG_EXCEPTION;
      m->type_name = xstrdup (tname);
      rc = dec_exception (msg, m, err);
    }
  else
    rc = error_set (err, ERR_INVALID, "unrecognized type %.64s", tname);
  if (rc < 0 && m)
    {
      if (d)
        error_wrap (err, "%s", tname);
      acs_message_free (m);
      m = NULL;
    }
  json_decref (empty);
  json_decref (root);
  *out = m;
  return rc < 0 ? rc : 0;
}

int
acs_decode_handshake_error (const char *body, size_t len, struct acs_exception **out,
                            agent_error_t *err)
{
  *out = NULL;
  struct acs_message *m = NULL;
  if (acs_decode (body, len, &m, err) < 0)
    return -ERR_MALFORMED;
  if (m->type != ACS_MSG_EXCEPTION)
    {
      int rc = error_set (err, ERR_MALFORMED, "handshake body is a %s, not an exception",
                          m->type_name);
      acs_message_free (m);
      return rc;
    }
  *out = m->u.exception;
  m->u.exception = NULL;
  acs_message_free (m);
  return 0;
}

char *
acs_exception_text (const struct acs_exception *e)
{
  return xasprintf ("%s: %s", e && e->type ? e->type : "UnknownException",
                    e && e->message ? e->message : "");
}

/* ---- encoders ---- */

static void
set_str (json_t *o, const char *key, const char *v)
{
  if (v)
    json_object_set_new (o, key, json_string (v));
}

static char *
envelope (const char *type, json_t *msg)
{
  json_t *root = json_object ();
  json_object_set_new (root, "type", json_string (type));
  json_object_set_new (root, "message", msg);
  char *s = json_dumps (root, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref (root);
  if (!s)
    xalloc_die ();
  return s;
}

char *
acs_encode_ack (const char *cluster, const char *container_instance, const char *message_id)
{
  json_t *m = json_object ();
  set_str (m, "cluster", cluster);
  set_str (m, "containerInstance", container_instance);
  set_str (m, "messageId", message_id);
  return envelope ("AckRequest", m);
}

char *
acs_encode_nack (const char *cluster, const char *container_instance, const char *message_id,
                 const char *reason)
{
  json_t *m = json_object ();
  set_str (m, "cluster", cluster);
  set_str (m, "containerInstance", container_instance);
  set_str (m, "messageId", message_id);
  set_str (m, "reason", reason);
  return envelope ("NackRequest", m);
}

char *
acs_encode_heartbeat_ack (const char *message_id)
{
  json_t *m = json_object ();
  set_str (m, "messageId", message_id);
  return envelope ("HeartbeatAckRequest", m);
}

char *
acs_encode_iam_credentials_ack (const char *message_id, const char *expiration,
                                const char *credentials_id)
{
  json_t *m = json_object ();
  set_str (m, "messageId", message_id);
  set_str (m, "expiration", expiration);
  set_str (m, "credentialsId", credentials_id);
  return envelope ("IAMRoleCredentialsAckRequest", m);
}

char *
acs_encode_task_stop_verification (const char *message_id,
                                   const struct acs_task_identifier *candidates, size_t n)
{
  json_t *m = json_object ();
  set_str (m, "messageId", message_id);
  json_t *a = json_array ();
  for (size_t i = 0; i < n; i++)
    {
      json_t *t = json_object ();
      set_str (t, "taskArn", candidates[i].task_arn);
      set_str (t, "taskClusterArn", candidates[i].task_cluster_arn);
      set_str (t, "desiredStatus", candidates[i].desired_status);
      json_array_append_new (a, t);
    }
  json_object_set_new (m, "stopCandidates", a);
  return envelope ("TaskStopVerificationMessage", m);
}
