/* acs/manifest.c - task manifests and stop verification (acs/manifest.h). */
#include "acs/manifest.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include "task/task.h"
#include <stdlib.h>
#include <string.h>

#define MOD "acs"

struct acs_manifest_handler
{
  engine_t *engine;
  int64_t max_timeline;
  char *pending_id; /* the manifest whose verification waits for its ack */
  size_t stopped;
};

void
acs_task_identifiers_free (struct acs_task_identifier *ids, size_t n)
{
  for (size_t i = 0; ids && i < n; i++)
    {
      free (ids[i].task_arn);
      free (ids[i].task_cluster_arn);
      free (ids[i].desired_status);
    }
  free (ids);
}

static bool
listed_running (const struct acs_task_manifest *m, const char *arn)
{
  for (size_t i = 0; i < m->n_tasks; i++)
    if (m->tasks[i].task_arn && strcmp (m->tasks[i].task_arn, arn) == 0
        && m->tasks[i].desired_status && strcmp (m->tasks[i].desired_status, "RUNNING") == 0)
      return true;
  return false;
}

size_t
acs_manifest_stop_candidates (const struct acs_task_manifest *m,
                              const struct acs_manifest_task_view *tasks, size_t n,
                              struct acs_task_identifier **out)
{
  *out = NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    {
      if (!tasks[i].arn || !tasks[i].desired_running || listed_running (m, tasks[i].arn))
        continue;
      *out = xrealloc (*out, (k + 1) * sizeof **out);
      (*out)[k++] = (struct acs_task_identifier){
        .task_arn = xstrdup (tasks[i].arn),
        .task_cluster_arn = xstrdup (m->cluster_arn),
        .desired_status = xstrdup ("STOPPED"),
      };
    }
  return k;
}

acs_manifest_handler_t *
acs_manifest_handler_new (engine_t *engine)
{
  acs_manifest_handler_t *h = xcalloc (1, sizeof *h);
  h->engine = engine;
  return h;
}

void
acs_manifest_handler_free (acs_manifest_handler_t *h)
{
  if (!h)
    return;
  free (h->pending_id);
  free (h);
}

size_t
acs_manifest_stopped (const acs_manifest_handler_t *h)
{
  return h->stopped;
}

void
acs_manifest_on_manifest (acs_manifest_handler_t *h, acs_session_t *s,
                          struct acs_task_manifest *m)
{
  agent_error_t err = NULL;
  if (!m->message_id || !m->cluster_arn || !m->container_instance_arn)
    {
      log_warn (MOD, "TaskManifestMessage without messageId, clusterArn or containerInstanceArn: dropped");
      acs_task_manifest_free (m);
      return;
    }
  if (acs_session_send_ack (s, m->message_id, m->cluster_arn, m->container_instance_arn, &err) < 0)
    log_warn (MOD, "task manifest ack: %s", error_msg (&err));
  error_free (&err);
  int64_t seen = acs_session_seq_num (s);
  if (h->max_timeline > seen)
    seen = h->max_timeline;
  if (m->timeline < seen)
    {
      log_info (MOD, "task manifest %s: timeline %lld older than %lld; ignored", m->message_id,
                (long long) m->timeline, (long long) seen);
      acs_task_manifest_free (m);
      return;
    }
  h->max_timeline = m->timeline;
  size_t nt = engine_task_count (h->engine);
  struct acs_manifest_task_view *v = xcalloc (nt + 1, sizeof *v);
  for (size_t i = 0; i < nt; i++)
    {
      const struct task *t = engine_task_at (h->engine, i);
      v[i] = (struct acs_manifest_task_view){ t->arn, t->desired_status == TASK_STATUS_RUNNING };
    }
  struct acs_task_identifier *c = NULL;
  size_t n = acs_manifest_stop_candidates (m, v, nt, &c);
  free (v);
  if (n > 0)
    {
      char *f = acs_encode_task_stop_verification (m->message_id, c, n);
      if (acs_session_send_text (s, f, &err) < 0)
        log_warn (MOD, "task stop verification: %s", error_msg (&err));
      else
        {
          log_info (MOD, "task manifest %s omits %zu running task(s): asked ACS to verify their stop",
                    m->message_id, n);
          free (h->pending_id);
          h->pending_id = xstrdup (m->message_id);
        }
      error_free (&err);
      free (f);
    }
  acs_task_identifiers_free (c, n);
  acs_task_manifest_free (m);
}

void
acs_manifest_on_stop_ack (acs_manifest_handler_t *h, acs_session_t *s,
                          struct acs_task_stop_verification_ack *a)
{
  (void) s;
  if (!a->message_id || !h->pending_id || strcmp (a->message_id, h->pending_id) != 0)
    {
      log_info (MOD, "TaskStopVerificationAck %s does not answer the last manifest; ignored",
                a->message_id ? a->message_id : "(no id)");
      acs_task_stop_verification_ack_free (a);
      return;
    }
  for (size_t i = 0; i < a->n_stop_tasks; i++)
    {
      const char *arn = a->stop_tasks[i].task_arn;
      const struct task *t = arn ? engine_find_task_by_arn (h->engine, arn) : NULL;
      if (!t || t->desired_status >= TASK_STATUS_STOPPED)
        continue;
      struct task *stop = xcalloc (1, sizeof *stop);
      stop->arn = xstrdup (arn);
      stop->desired_status = TASK_STATUS_STOPPED;
      agent_error_t err = NULL;
      if (engine_task_add (h->engine, stop, &err) < 0)
        log_warn (MOD, "stopping %s: %s", arn, error_msg (&err));
      else
        {
          h->stopped++;
          log_info (MOD, "task %s: stopped on ACS's stop verification", arn);
        }
      error_free (&err);
    }
  acs_task_stop_verification_ack_free (a);
}
