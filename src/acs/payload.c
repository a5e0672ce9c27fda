/* acs/payload.c - PayloadMessage -> engine -> durable save -> AckRequest (see payload.h). */
#include "acs/payload.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include "state/marker.h"
#include <stdlib.h>
#include <string.h>

#define MOD "acs"

struct pending
{
  struct pending *prev, *next;
  acs_payload_handler_t *h;
  char *message_id, *cluster, *instance;
  bool has_seq;
  int64_t seq;
  bool refused; /* the engine refused a task: no ack, ACS re-sends */
  /* IAMRoleCredentialsAckRequest to send after the payload's ack */
  struct cred_ack
  {
    char *id, *expiration;
  } *cred_acks;
  size_t n_cred_acks;
};

struct acs_payload_handler
{
  struct acs_payload_ops ops;
  void *ctx;
  engine_t *engine;
  state_store_t *state;
  acs_session_t *session;
  task_creds_store_t *creds;
  struct pending *pending;
  size_t n_pending;
  char *recent[ACS_PAYLOAD_RECENT_IDS];
  size_t recent_next;
  state_marker_t *marker;
  bool marker_failing; /* the last marker write failed (logged once) */
  char *test_abort_id;
};

/* ---- default ops over engine / state / session ---- */

static int
def_task_add (void *ctx, struct task *task, agent_error_t *err)
{
  acs_payload_handler_t *h = ctx;
  return engine_task_add (h->engine, task, err);
}

static void
def_report_stopped (void *ctx, const char *task_arn, const char *reason)
{
  acs_payload_handler_t *h = ctx;
  state_change_push (h->state,
                     state_change_new (STATE_CHANGE_TASK, task_arn, NULL, "STOPPED", reason));
}

static void
def_save (void *ctx, state_saved_cb cb, void *data)
{
  acs_payload_handler_t *h = ctx;
  state_save (h->state, cb, data);
}

static void
def_save_cancel (void *ctx, state_saved_cb cb, void *data)
{
  acs_payload_handler_t *h = ctx;
  state_save_cancel (h->state, cb, data);
}

static void
def_set_seq_num (void *ctx, int64_t seq)
{
  acs_payload_handler_t *h = ctx;
  if (seq > state_acs_seq_num (h->state))
    {
      state_set_acs_seq_num (h->state, seq);
      state_save (h->state, NULL, NULL);
    }
  if (h->session)
    acs_session_set_seq_num (h->session, seq);
}

static int
def_send_ack (void *ctx, const char *message_id, const char *cluster, const char *instance,
              agent_error_t *err)
{
  acs_payload_handler_t *h = ctx;
  if (!h->session)
    return error_set (err, ERR_UNREACHABLE, "no ACS session");
  return acs_session_send_ack (h->session, message_id, cluster, instance, err);
}

static int
def_put_credentials (void *ctx, const char *task_arn, enum task_creds_role role,
                     struct task_role_credentials *c, agent_error_t *err)
{
  acs_payload_handler_t *h = ctx;
  if (!h->creds)
    {
      task_role_credentials_free (c);
      return 0;
    }
  return task_creds_store_put (h->creds, task_arn, role, c, err);
}

static int
def_send_credentials_ack (void *ctx, const char *message_id, const char *expiration,
                          const char *credentials_id, agent_error_t *err)
{
  acs_payload_handler_t *h = ctx;
  if (!h->session)
    return error_set (err, ERR_UNREACHABLE, "no ACS session");
  return acs_session_send_credentials_ack (h->session, message_id, expiration, credentials_id, err);
}

static bool
def_task_known (void *ctx, const char *task_arn)
{
  acs_payload_handler_t *h = ctx;
  return h->engine && engine_find_task_by_arn (h->engine, task_arn) != NULL;
}

static const struct acs_payload_ops default_ops = {
  .task_add = def_task_add,
  .report_stopped = def_report_stopped,
  .save = def_save,
  .save_cancel = def_save_cancel,
  .set_seq_num = def_set_seq_num,
  .send_ack = def_send_ack,
  .task_known = def_task_known,
  .put_credentials = def_put_credentials,
  .send_credentials_ack = def_send_credentials_ack,
};

/* ---- handler ---- */

acs_payload_handler_t *
acs_payload_handler_new (const struct acs_payload_options *opts)
{
  acs_payload_handler_t *h = xcalloc (1, sizeof *h);
  h->engine = opts->engine;
  h->state = opts->state;
  h->session = opts->session;
  h->creds = opts->creds;
  if (opts->ops)
    {
      h->ops = *opts->ops;
      h->ctx = opts->ops_ctx;
    }
  else
    {
      h->ops = default_ops;
      h->ctx = h;
    }
  char *warning = NULL;
  h->marker = state_marker_open (opts->marker_dir, &warning);
  if (warning)
    log_warn (MOD, "%s", warning);
  free (warning);
  if (state_marker_suspect_count (h->marker) > 0)
    log_warn (MOD, "the agent died while handling %zu payload(s) (%s); each is refused if ACS sends it "
                   "again",
              state_marker_suspect_count (h->marker), state_marker_path (h->marker));
  if (opts->test_abort_message_id && *opts->test_abort_message_id)
    {
      h->test_abort_id = xstrdup (opts->test_abort_message_id);
      log_warn (MOD, "test hook armed: the agent aborts while handling payload %s", h->test_abort_id);
    }
  return h;
}

size_t
acs_payload_suspects (const acs_payload_handler_t *h)
{
  return state_marker_suspect_count (h->marker);
}

/* ---- the payload marker ---- */

/* A failing write is logged when it starts failing and when it works again. */
static void
marker_result (acs_payload_handler_t *h, int rc, agent_error_t *err)
{
  if (rc < 0 && !h->marker_failing)
    log_warn (MOD, "cannot write the payload marker (a payload that kills the agent would be handled "
                   "again after a restart): %s",
              error_msg (err));
  else if (rc == 0 && h->marker_failing)
    log_info (MOD, "the payload marker is written again");
  h->marker_failing = rc < 0;
  error_free (err);
}

static void
marker_begin (acs_payload_handler_t *h, const char *id)
{
  agent_error_t err = NULL;
  marker_result (h, state_marker_begin (h->marker, id, &err), &err);
}

static void
marker_end (acs_payload_handler_t *h, const char *id, bool acknowledged)
{
  agent_error_t err = NULL;
  marker_result (h, state_marker_end (h->marker, id, acknowledged, &err), &err);
}

void
acs_payload_handler_set_session (acs_payload_handler_t *h, acs_session_t *s)
{
  h->session = s;
}

size_t
acs_payload_pending (const acs_payload_handler_t *h)
{
  return h->n_pending;
}

static bool
recent_has (const acs_payload_handler_t *h, const char *id)
{
  for (size_t i = 0; i < ACS_PAYLOAD_RECENT_IDS; i++)
    if (h->recent[i] && strcmp (h->recent[i], id) == 0)
      return true;
  return false;
}

static void
recent_add (acs_payload_handler_t *h, const char *id)
{
  if (recent_has (h, id))
    return;
  free (h->recent[h->recent_next]);
  h->recent[h->recent_next] = xstrdup (id);
  h->recent_next = (h->recent_next + 1) % ACS_PAYLOAD_RECENT_IDS;
}

static bool
pending_has (const acs_payload_handler_t *h, const char *id)
{
  for (const struct pending *p = h->pending; p; p = p->next)
    if (strcmp (p->message_id, id) == 0)
      return true;
  return false;
}

static void
pending_free (struct pending *p)
{
  free (p->message_id);
  free (p->cluster);
  free (p->instance);
  for (size_t i = 0; i < p->n_cred_acks; i++)
    {
      free (p->cred_acks[i].id);
      free (p->cred_acks[i].expiration);
    }
  free (p->cred_acks);
  free (p);
}

static void
pending_unlink (acs_payload_handler_t *h, struct pending *p)
{
  if (p->prev)
    p->prev->next = p->next;
  else
    h->pending = p->next;
  if (p->next)
    p->next->prev = p->prev;
  h->n_pending--;
}

static bool
send_ack (acs_payload_handler_t *h, const char *id, const char *cluster, const char *instance)
{
  agent_error_t err = NULL;
  bool ok = h->ops.send_ack (h->ctx, id, cluster, instance, &err) == 0;
  if (!ok)
    log_warn (MOD, "could not ack payload %s: %s (ACS will re-send it)", id, error_msg (&err));
  error_free (&err);
  return ok;
}

static void
saved_cb (agent_error_t err, void *data)
{
  struct pending *p = data;
  acs_payload_handler_t *h = p->h;
  (void) err; /* always NULL: the store calls back once the save is durable (state.h) */
  pending_unlink (h, p);
  bool acked = false;
  if (p->refused)
    log_warn (MOD, "payload %s: not every task was accepted; not acknowledging", p->message_id);
  else
    {
      acked = send_ack (h, p->message_id, p->cluster, p->instance);
      for (size_t i = 0; acked && i < p->n_cred_acks && h->ops.send_credentials_ack; i++)
        {
          agent_error_t cerr = NULL;
          if (h->ops.send_credentials_ack (h->ctx, p->message_id, p->cred_acks[i].expiration,
                                           p->cred_acks[i].id, &cerr) < 0)
            log_warn (MOD, "payload %s: credentials ack: %s", p->message_id, error_msg (&cerr));
          error_free (&cerr);
        }
      recent_add (h, p->message_id);
      if (p->has_seq)
        h->ops.set_seq_num (h->ctx, p->seq);
    }
  /* Handled without dying; a refused message stays suspect until ACS has
     its ack. */
  marker_end (h, p->message_id, acked);
  pending_free (p);
}

static bool
empty (const char *s)
{
  return s == NULL || *s == '\0';
}

static bool
add_task (acs_payload_handler_t *h, struct task *t)
{
  char *arn = xstrdup (t->arn);
  agent_error_t err = NULL;
  bool ok = h->ops.task_add (h->ctx, t, &err) == 0;
  if (!ok)
    log_error (MOD, "task %s: engine refused it: %s", arn ? arn : "", error_msg (&err));
  error_free (&err);
  free (arn);
  return ok;
}

/* Frees p; the ack follows a successful save (unless refused), then the
   credentials acks of acks (n entries, taken). */
static void
save_then_ack_creds (acs_payload_handler_t *h, struct acs_payload *p, bool refused,
                     struct cred_ack *acks, size_t n)
{
  struct pending *pd = xcalloc (1, sizeof *pd);
  pd->cred_acks = acks;
  pd->n_cred_acks = n;
  pd->h = h;
  pd->message_id = xstrdup (p->message_id);
  pd->cluster = xstrdup (p->cluster_arn);
  pd->instance = xstrdup (p->container_instance_arn);
  pd->has_seq = p->has_seq_num;
  pd->seq = p->seq_num;
  pd->refused = refused;
  pd->next = h->pending;
  if (h->pending)
    h->pending->prev = pd;
  h->pending = pd;
  h->n_pending++;
  acs_payload_free (p);
  h->ops.save (h->ctx, saved_cb, pd);
}

static void
save_then_ack (acs_payload_handler_t *h, struct acs_payload *p, bool refused)
{
  save_then_ack_creds (h, p, refused, NULL, 0);
}

/* Store the credentials t carried (taken from t); an ack is recorded for
   each.  False (t reported STOPPED and freed) if one could not be stored. */
static bool
take_credentials (acs_payload_handler_t *h, const char *message_id, struct task *t,
                  struct cred_ack *acks, size_t *n)
{
  struct task_role_credentials *cs[2] = { t->payload_role_creds, t->payload_exec_creds };
  enum task_creds_role roles[2] = { TASK_CREDS_TASK_ROLE, TASK_CREDS_EXECUTION_ROLE };
  t->payload_role_creds = t->payload_exec_creds = NULL;
  bool ok = true;
  for (size_t i = 0; i < 2; i++)
    {
      if (!cs[i])
        continue;
      if (!ok || !h->ops.put_credentials)
        {
          task_role_credentials_free (cs[i]);
          continue;
        }
      char *id = xstrdup (cs[i]->credentials_id);
      char *exp = cs[i]->expiration ? xstrdup (cs[i]->expiration) : NULL;
      agent_error_t err = NULL;
      if (h->ops.put_credentials (h->ctx, t->arn, roles[i], cs[i], &err) < 0)
        {
          char *reason = xasprintf ("UnrecognizedTaskError: unable to store the %s credentials: %s",
                                    task_creds_role_name (roles[i]), error_msg (&err));
          log_error (MOD, "payload %s: task %s cannot be run: %s", message_id, t->arn, reason);
          h->ops.report_stopped (h->ctx, t->arn, reason);
          free (reason);
          free (id);
          free (exp);
          ok = false;
        }
      else
        acks[(*n)++] = (struct cred_ack) { .id = id, .expiration = exp };
      error_free (&err);
    }
  if (!ok)
    task_free (t);
  return ok;
}

/* Report STOPPED, with reason, every task of p the engine does not hold;
   nothing reaches the engine.  Returns how many were reported. */
static size_t
report_unknown_tasks (acs_payload_handler_t *h, const struct acs_payload *p, const char *reason)
{
  size_t n = 0;
  for (size_t i = 0; i < p->n_tasks; i++)
    {
      const struct acs_payload_task *pt = &p->tasks[i];
      const char *arn = pt->task ? pt->task->arn : pt->arn;
      if (!arn || (h->ops.task_known && h->ops.task_known (h->ctx, arn)))
        continue;
      h->ops.report_stopped (h->ctx, arn, reason);
      n++;
    }
  return n;
}

/* The agent died while handling this payload before: refuse it. */
static void
refuse_suspect (acs_payload_handler_t *h, struct acs_payload *p, unsigned deaths)
{
  if (deaths == 1)
    {
      size_t n = report_unknown_tasks (h, p, ACS_PAYLOAD_REASON_REFUSED);
      log_error (MOD, "refusing payload %s: the agent died while handling it; %zu of its %zu tasks "
                      "reported STOPPED (\"%s\"), the others are already known",
                 p->message_id, n, p->n_tasks, ACS_PAYLOAD_REASON_REFUSED);
    }
  else
    log_error (MOD, "refusing payload %s: the agent died %u times while handling or refusing it; "
                    "acknowledging it without reporting its tasks",
               p->message_id, deaths);
  save_then_ack (h, p, false);
}

/* Over a limit of acs/task_codec.h: refuse it as a whole. */
static void
refuse_over_limit (acs_payload_handler_t *h, struct acs_payload *p)
{
  char *reason = xasprintf ("UnrecognizedTaskError: %s", p->refused);
  size_t n = report_unknown_tasks (h, p, reason);
  log_error (MOD, "refusing payload %s: %s; none of its tasks runs, %zu reported STOPPED",
             p->message_id, p->refused, n);
  free (reason);
  save_then_ack (h, p, false);
}

void
acs_payload_handle (acs_payload_handler_t *h, struct acs_payload *p)
{
  if (!p)
    return;
  if (empty (p->message_id) || empty (p->cluster_arn) || empty (p->container_instance_arn))
    {
      log_error (MOD, "rejecting payload %s: messageId, clusterArn and containerInstanceArn are "
                      "required",
                 p->message_id ? p->message_id : "(no messageId)");
      acs_payload_free (p);
      return;
    }
  if (pending_has (h, p->message_id))
    {
      log_info (MOD, "payload %s is already being handled; ignoring the duplicate", p->message_id);
      acs_payload_free (p);
      return;
    }
  if (recent_has (h, p->message_id))
    {
      log_info (MOD, "payload %s was already handled; acknowledging again", p->message_id);
      /* A refused one whose first ack was lost is no longer suspect once
         this ack is out. */
      if (send_ack (h, p->message_id, p->cluster_arn, p->container_instance_arn)
          && state_marker_deaths (h->marker, p->message_id) > 0)
        marker_end (h, p->message_id, true);
      acs_payload_free (p);
      return;
    }

  /* Durable before anything of the payload is acted on. */
  unsigned deaths = state_marker_deaths (h->marker, p->message_id);
  marker_begin (h, p->message_id);
  if (deaths > 0)
    {
      refuse_suspect (h, p, deaths);
      return;
    }
  if (h->test_abort_id && strcmp (h->test_abort_id, p->message_id) == 0)
    {
      log_error (MOD, "test hook: aborting while handling payload %s", p->message_id);
      log_close ();
      abort ();
    }
  if (p->refused)
    {
      refuse_over_limit (h, p);
      return;
    }

  size_t n = p->n_tasks;
  struct task **tasks = xcalloc (n + 1, sizeof *tasks);
  struct cred_ack *acks = xcalloc (2 * n + 1, sizeof *acks);
  size_t nt = 0, n_acks = 0;
  for (size_t i = 0; i < n; i++)
    {
      struct acs_payload_task *pt = &p->tasks[i];
      if (!pt->task && !pt->error)
        {
          log_warn (MOD, "payload %s: task %zu is null", p->message_id, i);
          continue;
        }
      if (!pt->task)
        {
          if (pt->arn)
            {
              char *reason = xasprintf ("UnrecognizedTaskError: %s", pt->error);
              log_error (MOD, "payload %s: task %s cannot be run: %s", p->message_id, pt->arn, reason);
              h->ops.report_stopped (h->ctx, pt->arn, reason);
              free (reason);
            }
          else
            log_error (MOD, "payload %s: task %zu without an ARN cannot be read: %s",
                       p->message_id, i, pt->error);
          continue;
        }
      struct task *t = pt->task;
      pt->task = NULL;
      if (!take_credentials (h, p->message_id, t, acks, &n_acks))
        continue;
      if (p->has_seq_num)
        {
          if (t->desired_status == TASK_STATUS_STOPPED)
            t->stop_seq = p->seq_num;
          else if (t->desired_status == TASK_STATUS_RUNNING)
            t->start_seq = p->seq_num;
        }
      tasks[nt++] = t;
    }
  /* Stops first, then everything else (as upstream: a stop frees the
     resources a start in the same payload may need). */
  bool refused = false;
  for (size_t i = 0; i < nt; i++)
    if (tasks[i]->desired_status == TASK_STATUS_STOPPED)
      {
        refused |= !add_task (h, tasks[i]);
        tasks[i] = NULL;
      }
  for (size_t i = 0; i < nt; i++)
    if (tasks[i])
      refused |= !add_task (h, tasks[i]);
  free (tasks);

  save_then_ack_creds (h, p, refused, acks, n_acks);
}

void
acs_payload_on_payload (acs_session_t *s, struct acs_payload *p, void *data)
{
  acs_payload_handler_t *h = data;
  if (!h->session)
    h->session = s;
  acs_payload_handle (h, p);
}

void
acs_payload_handler_free (acs_payload_handler_t *h)
{
  if (!h)
    return;
  while (h->pending)
    {
      struct pending *p = h->pending;
      if (h->ops.save_cancel)
        h->ops.save_cancel (h->ctx, saved_cb, p);
      /* A clean stop is no death: the payload is handled again when ACS
         re-sends it. */
      marker_end (h, p->message_id, false);
      pending_unlink (h, p);
      pending_free (p);
    }
  for (size_t i = 0; i < ACS_PAYLOAD_RECENT_IDS; i++)
    free (h->recent[i]);
  state_marker_free (h->marker);
  free (h->test_abort_id);
  free (h);
}
