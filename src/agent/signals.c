/* agent/signals.c - the signals a daemon receives, handled on the loop
 * (uv_signal: the work runs as an ordinary loop callback, never inside a
 * signal handler):
 *   TERM, INT, QUIT  clean stop: services stopped, final checkpoint save,
 *                    exit 0
 *   HUP              reopen the log file (after a rotation tool moved it)
 *   USR1             a state summary in the log: registration, ACS
 *                    connection, queued state changes, checkpoint health,
 *                    then the tasks and their containers with statuses
 *                    (diagnostics, as the upstream agent uses USR1)
 *   USR2, ALRM       ignored, with a log line
 * PIPE is ignored outright (a peer closing a socket is an error return). */
#include "agent/agent_internal.h"
#include "core/exitcodes.h"
#include "core/util.h"
#include "log/log.h"
#include "task/task.h"
#include <signal.h>
#include <string.h>

#define MOD "agent"
/* The USR1 summary lists at most this many tasks (one line each). */
#define SUMMARY_MAX_TASKS 200
/* ... and at most this many containers in one task's line. */
#define SUMMARY_MAX_CONTAINERS 20

enum signal_action
{
  SIGNAL_STOP,
  SIGNAL_REOPEN_LOG,
  SIGNAL_SUMMARY,
  SIGNAL_IGNORE,
};

static const struct
{
  int signum;
  const char *name;
  enum signal_action action;
} agent_signals[AGENT_N_SIGNALS] = {
  { SIGTERM, "SIGTERM", SIGNAL_STOP },       { SIGINT, "SIGINT", SIGNAL_STOP },
  { SIGQUIT, "SIGQUIT", SIGNAL_STOP },       { SIGHUP, "SIGHUP", SIGNAL_REOPEN_LOG },
  { SIGUSR1, "SIGUSR1", SIGNAL_SUMMARY },    { SIGUSR2, "SIGUSR2", SIGNAL_IGNORE },
  { SIGALRM, "SIGALRM", SIGNAL_IGNORE },
};

static void
agent_summary_task (const struct task *t)
{
  struct sbuf line = { 0 };
  sbuf_printf (&line, "task %s %s:%s known=%s desired=%s containers=%zu", t->arn ? t->arn : "?",
               t->family ? t->family : "?", t->version ? t->version : "?",
               task_status_str (t->known_status), task_status_str (t->desired_status),
               t->n_containers);
  for (size_t j = 0; j < t->n_containers && j < SUMMARY_MAX_CONTAINERS; j++)
    {
      const struct task_container *c = &t->containers[j];
      sbuf_printf (&line, "%s %s=%s/%s id=%.12s", j ? "," : ":", c->name ? c->name : "?",
                   task_container_status_str (c->known_status),
                   task_container_status_str (c->desired_status),
                   c->docker_id && *c->docker_id ? c->docker_id : "-");
    }
  if (t->n_containers > SUMMARY_MAX_CONTAINERS)
    sbuf_printf (&line, ", ... %zu more", t->n_containers - SUMMARY_MAX_CONTAINERS);
  log_info (MOD, "%s", line.s);
  sbuf_free (&line);
}

/* What the agent knows, from fields it already holds: no I/O, and bounded
   (a long task list is cut, with the count). */
static void
agent_summary (struct agent *a)
{
  const char *arn = a->state ? state_container_instance_arn (a->state) : NULL;
  acs_session_t *acs = agent_services_acs (a);
  size_t n_tasks = a->engine ? engine_task_count (a->engine) : 0;
  const char *acs_state = acs == NULL                    ? "not started"
                          : acs_session_connected (acs) ? "connected"
                                                        : "disconnected";
  log_info (MOD,
            "state summary: cluster=%s instance=%s docker=%s engine_ready=%s tasks=%zu "
            "acs=%s acs_queued_bytes=%zu state_changes_queued=%zu checkpoint=%s",
            a->cfg->cluster, arn ? arn : "(unregistered)",
            a->docker_version ? a->docker_version : "(unknown)",
            a->engine && engine_ready (a->engine) ? "true" : "false", n_tasks,
            acs_state,
            acs ? acs_session_queued_bytes (acs) : 0,
            a->state ? state_change_count (a->state) : 0,
            a->state == NULL ? "none" : state_store_healthy (a->state) ? "healthy" : "failing");
  for (size_t i = 0; i < n_tasks && i < SUMMARY_MAX_TASKS; i++)
    agent_summary_task (engine_task_at (a->engine, i));
  if (n_tasks > SUMMARY_MAX_TASKS)
    log_info (MOD, "state summary: %zu more tasks not listed", n_tasks - SUMMARY_MAX_TASKS);
}

static void
agent_signal_cb (uv_signal_t *h, int signum)
{
  struct agent *a = h->data;
  const char *name = "?";
  enum signal_action action = SIGNAL_IGNORE;
  for (size_t i = 0; i < AGENT_N_SIGNALS; i++)
    if (agent_signals[i].signum == signum)
      {
        name = agent_signals[i].name;
        action = agent_signals[i].action;
      }
  agent_error_t err = NULL;
  switch (action)
    {
    case SIGNAL_STOP:
      log_info (MOD, "Received %s, shutting down", name);
      agent_finish (a, EXIT_OK, NULL);
      break;
    case SIGNAL_REOPEN_LOG:
      if (log_reopen (&err) < 0)
        log_error (MOD, "Received %s: %s", name, error_msg (&err));
      else
        log_info (MOD, "Received %s, reopened the log file", name);
      error_free (&err);
      break;
    case SIGNAL_SUMMARY:
      log_info (MOD, "Received %s, logging a state summary", name);
      agent_summary (a);
      break;
    case SIGNAL_IGNORE:
      log_info (MOD, "Received %s, ignored", name);
      break;
    }
}

void
agent_signals_start (struct agent *a)
{
  for (size_t i = 0; i < AGENT_N_SIGNALS; i++)
    {
      uv_signal_init (a->loop, &a->signals[i]);
      a->signals[i].data = a;
      uv_signal_start (&a->signals[i], agent_signal_cb, agent_signals[i].signum);
    }
  signal (SIGPIPE, SIG_IGN);
}
