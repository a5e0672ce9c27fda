/* acs/session_dispatch.c - decoded ACS frames to the session's handler table
   (see session_int.h). */
#include "acs/session_int.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>

bool
acs_text_has_inactive (const char *t)
{
  return t && strstr (t, "InactiveInstanceException") != NULL;
}

/* The messageId a frame carries (the one an answer would echo), or NULL. */
static const char *
message_id_of (const struct acs_message *m)
{
  switch (m->type)
    {
    case ACS_MSG_PAYLOAD:
      return m->u.payload->message_id;
    case ACS_MSG_HEARTBEAT:
      return m->u.heartbeat->message_id;
    case ACS_MSG_STAGE_UPDATE:
    case ACS_MSG_PERFORM_UPDATE:
      return m->u.update->message_id;
    case ACS_MSG_IAM_CREDENTIALS:
      return m->u.credentials->message_id;
    case ACS_MSG_TASK_MANIFEST:
      return m->u.manifest->message_id;
    case ACS_MSG_TASK_STOP_VERIFICATION_ACK:
      return m->u.stop_ack->message_id;
    case ACS_MSG_ATTACHMENT:
      return m->u.attachment->message_id;
    case ACS_MSG_CLOSE:
    case ACS_MSG_ERROR:
    case ACS_MSG_EXCEPTION:
      break;
    }
  return NULL;
}

static void
nack_disabled (acs_session_t *s, struct acs_update_message *u)
{
  if (u->message_id)
    acs_session_send_nack (s, u->message_id, u->cluster_arn, u->container_instance_arn,
                           "Updates are disabled", NULL);
  acs_update_message_free (u);
}

static void
dispatch_heartbeat (acs_session_t *s, const struct acs_heartbeat *hb)
{
  log_debug (ACS_MOD, "heartbeat (healthy=%d)", hb->healthy);
  if (s->h.on_heartbeat)
    s->h.on_heartbeat (s, s->h.data);
  if (!hb->message_id)
    return;
  char *f = acs_encode_heartbeat_ack (hb->message_id);
  if (acs_queue_push (s, f, NULL) == 0)
    s->stats.heartbeat_acks++;
  free (f);
}

/* Attachment messages (ENIs, EBS): upstream's responders acknowledge a
   message that names its messageId, cluster and instance before handling
   the attachment; this agent manages no attachment, so it acknowledges the
   same way and logs that the attachment itself is not handled. */
static void
dispatch_attachment (acs_session_t *s, const char *type, const struct acs_attachment_message *a)
{
  if (!a->message_id || !*a->message_id || !a->cluster_arn || !*a->cluster_arn
      || !a->container_instance_arn || !*a->container_instance_arn)
    {
      log_warn (ACS_MOD, "%s without messageId, clusterArn or containerInstanceArn: dropped", type);
      return;
    }
  char *f = acs_encode_ack (a->cluster_arn, a->container_instance_arn, a->message_id);
  if (acs_queue_push (s, f, NULL) == 0)
    log_info (ACS_MOD, "%s %s acknowledged (attachments are not managed by this agent)", type,
              a->message_id);
  free (f);
}

static void
dispatch_exception (struct acs_conn *c, const struct acs_exception *e)
{
  char *t = acs_exception_text (e);
  log_warn (ACS_MOD, "ACS sent %s", t);
  if (acs_text_has_inactive (t))
    {
      c->inactive = true;
      acs_conn_set_err (c, ERR_CLIENT, "%s", t);
      acs_conn_request_close (c, LWS_CLOSE_STATUS_NORMAL, "InactiveInstanceException");
    }
  free (t);
}

static void
dispatch (acs_session_t *s, struct acs_conn *c, struct acs_message *m)
{
  const struct acs_session_handlers *h = &s->h;
  switch (m->type)
    {
    case ACS_MSG_PAYLOAD:
      {
        struct acs_payload *p = acs_message_take_payload (m);
        log_info (ACS_MOD, "payload %s seq %lld: %zu task(s)",
                  p->message_id ? p->message_id : "(none)", (long long) p->seq_num, p->n_tasks);
        if (h->on_payload)
          h->on_payload (s, p, h->data);
        else
          {
            log_info (ACS_MOD, "no handler for PayloadMessage");
            acs_payload_free (p);
          }
        break;
      }
    case ACS_MSG_HEARTBEAT:
      dispatch_heartbeat (s, m->u.heartbeat);
      break;
    case ACS_MSG_STAGE_UPDATE:
    case ACS_MSG_PERFORM_UPDATE:
      {
        bool stage = m->type == ACS_MSG_STAGE_UPDATE;
        struct acs_update_message *u = acs_message_take_update (m);
        void (*fn) (acs_session_t *, struct acs_update_message *, void *)
            = stage ? h->on_stage_update : h->on_perform_update;
        if (fn)
          fn (s, u, h->data);
        else
          nack_disabled (s, u);
        break;
      }
    case ACS_MSG_IAM_CREDENTIALS:
      {
        struct acs_iam_credentials *cr = acs_message_take_credentials (m);
        if (h->on_credentials)
          h->on_credentials (s, cr, h->data);
        else
          {
            log_info (ACS_MOD, "no handler for IAMRoleCredentialsMessage (task %s)",
                      cr->task_arn ? cr->task_arn : "");
            acs_iam_credentials_free (cr);
          }
        break;
      }
    case ACS_MSG_TASK_MANIFEST:
      {
        struct acs_task_manifest *tm = acs_message_take_manifest (m);
        if (h->on_task_manifest)
          h->on_task_manifest (s, tm, h->data);
        else
          {
            log_info (ACS_MOD, "no handler for TaskManifestMessage");
            acs_task_manifest_free (tm);
          }
        break;
      }
    case ACS_MSG_TASK_STOP_VERIFICATION_ACK:
      {
        struct acs_task_stop_verification_ack *a = acs_message_take_stop_ack (m);
        if (h->on_task_stop_verification_ack)
          h->on_task_stop_verification_ack (s, a, h->data);
        else
          {
            log_info (ACS_MOD, "no handler for TaskStopVerificationAck");
            acs_task_stop_verification_ack_free (a);
          }
        break;
      }
    case ACS_MSG_ATTACHMENT:
      dispatch_attachment (s, m->type_name, m->u.attachment);
      break;
    case ACS_MSG_CLOSE:
      log_info (ACS_MOD, "CloseMessage from ACS: %s; reconnecting",
                m->u.close->message ? m->u.close->message : "");
      c->close_clean = true;
      acs_conn_request_close (c, LWS_CLOSE_STATUS_NORMAL, "CloseMessage");
      break;
    case ACS_MSG_ERROR:
      log_warn (ACS_MOD, "ErrorMessage from ACS: %s",
                m->u.error->message ? m->u.error->message : "");
      break;
    case ACS_MSG_EXCEPTION:
      dispatch_exception (c, m->u.exception);
      break;
    }
}

void
acs_dispatch_decoded (acs_session_t *s, struct acs_conn *c, struct acs_message *m,
                      agent_error_t *err, size_t len)
{
  if (!m)
    {
      s->stats.frames_dropped++;
      log_warn (ACS_MOD, "dropping ACS frame (%zu bytes): %s", len,
                err && *err ? error_msg (err) : "not decoded");
      return;
    }
  const char *id = message_id_of (m);
  size_t id_len = id ? strlen (id) : 0;
  if (id_len > ACS_SESSION_MAX_MESSAGE_ID)
    {
      /* An answer would echo the id: refuse the frame rather than send it back. */
      s->stats.frames_dropped++;
      log_warn (ACS_MOD, "dropping %s with a %zu-byte messageId (limit %u)", m->type_name, id_len,
                ACS_SESSION_MAX_MESSAGE_ID);
      acs_message_free (m);
      return;
    }
  acs_reconnect_rearm_heartbeat (s);
  dispatch (s, c, m);
  acs_message_free (m);
}
