/* engine/slice.c - a task's systemd slice: its properties (pure), started
 * before the task's creates, stopped at cleanup (see engine/slice.h). */
#include "engine/slice.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "engine/engine_internal.h"
#include "log/log.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pure ------------------------------------------------------------------------ */

static struct systemd_prop *
prop (struct engine_slice_props *o, const char *name, enum systemd_prop_type type)
{
  struct systemd_prop *p = &o->v[o->n++];
  memset (p, 0, sizeof *p);
  p->name = name;
  p->type = type;
  return p;
}

static void
prop_bool (struct engine_slice_props *o, const char *name, bool b)
{
  prop (o, name, SYSTEMD_PROP_BOOL)->b = b;
}

static void
prop_u64 (struct engine_slice_props *o, const char *name, uint64_t v)
{
  prop (o, name, SYSTEMD_PROP_U64)->u64 = v;
}

void
engine_slice_props (const struct engine_cgroup_spec *s, int version,
                    struct engine_slice_props *o)
{
  o->n = 0;
  snprintf (o->description, sizeof o->description, "cgroup %s", s->parent);
  prop (o, "Description", SYSTEMD_PROP_STRING)->s = o->description;
  prop_bool (o, "DefaultDependencies", false);
  prop_bool (o, "MemoryAccounting", true);
  prop_bool (o, "CPUAccounting", true);
  prop_bool (o, "IOAccounting", true);
  struct systemd_prop *w = prop (o, "Wants", SYSTEMD_PROP_STRINGS); /* the parent of a slice */
  w->strings[0] = ENGINE_SLICE_WANTS;
  w->n_strings = 1;
  if (s->memory_bytes > 0)
    prop_u64 (o, "MemoryMax", (uint64_t) s->memory_bytes);
  if (s->cpu_quota_us > 0 && s->cpu_period_us > 0)
    {
      uint64_t period = (uint64_t) s->cpu_period_us;
      if (version >= ENGINE_SLICE_PERIOD_VERSION)
        prop_u64 (o, "CPUQuotaPeriodUSec", period);
      /* systemd keeps whole percents of a CPU: round up to 10 ms per second */
      uint64_t per_sec = (uint64_t) s->cpu_quota_us * 1000000ULL / period;
      if (per_sec % 10000)
        per_sec = (per_sec / 10000 + 1) * 10000;
      prop_u64 (o, "CPUQuotaPerSecUSec", per_sec);
    }
  else if (s->cpu_shares > 0)
    prop_u64 (o, "CPUWeight", engine_cgroup_cpu_weight (s->cpu_shares));
}

/* ---- the executor ------------------------------------------------------------------ */

static bool
slice_needed (const engine_t *e, const struct task *t)
{
  if (!e->cgroup_root || !e->cgroup_cfg.systemd || t->slice_res != TASK_RES_NONE
      || t->desired_status == TASK_STATUS_STOPPED || t->removing)
    return false;
  for (size_t i = 0; i < t->n_containers; i++)
    if (t->containers[i].known_status < TASK_STATUS_CREATED
        && t->containers[i].desired_status != TASK_STATUS_STOPPED)
      return true;
  return false;
}

static void
slice_reset_cb (const char *err_name, const char *err_msg, void *data)
{
  struct op *op = data;
  if (err_name)
    log_warn (MOD, "systemd unit %s not reset: %s: %s", op->msg, err_name, err_msg);
  else
    log_info (MOD, "systemd unit %s reset after its failed start", op->msg);
  engine_op_finish (op);
}

static void
slice_stopped_cb (const char *err_name, const char *err_msg, void *data)
{
  struct op *op = data;
  if (!err_name)
    log_info (MOD, "task cgroup %s stopped", op->msg);
  else if (strcmp (err_name, "org.freedesktop.systemd1.NoSuchUnit") == 0)
    log_info (MOD, "task cgroup %s was already removed: %s", op->msg, err_msg);
  else
    log_warn (MOD, "task cgroup %s not removed: %s: %s", op->msg, err_name, err_msg);
  engine_op_finish (op);
}

/* An engine-level call on unit (the task may be gone when it answers). */
static void
unit_call (engine_t *e, const char *unit, bool reset)
{
  if (!e->systemd)
    return;
  struct op *op = engine_op_new (e, OP_SLICE_STOP, NULL, 0);
  op->msg = xstrdup (unit);
  op->handle = reset ? systemd_reset_failed_unit (e->systemd, unit, slice_reset_cb, op)
                     : systemd_stop_unit (e->systemd, unit, slice_stopped_cb, op);
}

static void
slice_failed (engine_t *e, struct task *t, const char *unit, const char *err_name, const char *err_msg)
{
  t->slice_res = TASK_RES_FAILED;
  if (t->desired_status == TASK_STATUS_STOPPED)
    log_info (MOD, "task %s: systemd slice %s not created: %s: %s", t->arn, unit, err_name, err_msg);
  else
    log_warn (MOD, "task %s: systemd slice %s not created (%s: %s); stopping the task", t->arn, unit, err_name,
              err_msg);
  if (!t->reason)
    t->reason = xstrdup (ENGINE_SLICE_REASON);
  t->desired_status = TASK_STATUS_STOPPED;
  /* a job that ran and failed may leave a failed unit: reset it, as the
     library does (a refused call made nothing) */
  if (strcmp (err_name, SYSTEMD_ERR_JOB) == 0 || strcmp (err_name, SYSTEMD_ERR_JOB_TIMEOUT) == 0)
    unit_call (e, unit, true);
}

static void
slice_started_cb (const char *err_name, const char *err_msg, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  char *unit = engine_op_take_msg (op);
  engine_op_finish (op);
  if (err_name)
    slice_failed (e, t, unit, err_name, err_msg);
  else
    {
      t->slice_res = TASK_RES_CREATED;
      log_info (MOD, "task %s: systemd slice %s started", t->arn, unit);
    }
  free (unit);
  engine_task_step (e, t);
}

static void
slice_start (engine_t *e, struct op *op)
{
  struct task *t = op->t;
  struct engine_cgroup_spec s;
  agent_error_t err = NULL;
  if (engine_cgroup_spec (t, &e->cgroup_cfg, &s, &err) < 0)
    {
      op->handle = NULL;
      char *unit = engine_op_take_msg (op);
      engine_op_finish (op);
      slice_failed (e, t, unit ? unit : "?", "InvalidTaskId", error_msg (&err));
      error_free (&err);
      free (unit);
      return;
    }
  struct engine_slice_props p;
  engine_slice_props (&s, e->systemd_version, &p);
  log_info (MOD, "task %s: starting systemd slice %s (%zu properties)", t->arn, s.parent, p.n);
  op->handle = systemd_start_transient_unit (e->systemd, s.parent, p.v, p.n, slice_started_cb, op);
}

static void
slice_version_cb (int version, const char *err_name, const char *err_msg, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  /* read once, as the library does; a bus that could not be reached is
     asked again by the next slice */
  bool unreachable = err_name
                     && (strcmp (err_name, SYSTEMD_ERR_CONNECT) == 0 || strcmp (err_name, SYSTEMD_ERR_DISCONNECTED) == 0);
  if (e->systemd_version == ENGINE_SYSTEMD_VERSION_UNASKED && !unreachable)
    {
      e->systemd_version = err_name ? -1 : version;
      if (err_name)
        log_warn (MOD, "systemd version unknown (%s: %s): slices get no CPUQuotaPeriodUSec", err_name, err_msg);
      else
        log_info (MOD, "systemd version %d", version);
    }
  int saved = e->systemd_version;
  if (saved == ENGINE_SYSTEMD_VERSION_UNASKED)
    e->systemd_version = -1; /* for this start only */
  slice_start (e, op);
  e->systemd_version = saved;
}

bool
engine_slice_step (engine_t *e, struct task *t)
{
  if (!slice_needed (e, t))
    return false;
  struct engine_cgroup_spec s;
  agent_error_t err = NULL;
  if (engine_cgroup_spec (t, &e->cgroup_cfg, &s, &err) < 0 || !e->systemd)
    {
      slice_failed (e, t, s.parent[0] ? s.parent : "?", err ? "InvalidTaskId" : SYSTEMD_ERR_CONNECT,
                    err ? error_msg (&err) : "no systemd D-Bus client");
      error_free (&err);
      return true;
    }
  t->slice_res = TASK_RES_PENDING;
  struct op *op = engine_op_new (e, OP_SLICE, t, 0);
  op->msg = xstrdup (s.parent);
  if (e->systemd_version == ENGINE_SYSTEMD_VERSION_UNASKED)
    op->handle = systemd_manager_version (e->systemd, slice_version_cb, op);
  else
    slice_start (e, op);
  return true;
}

void
engine_slice_stop (engine_t *e, const struct task *t)
{
  struct engine_cgroup_spec s;
  agent_error_t err = NULL;
  if (engine_cgroup_spec (t, &e->cgroup_cfg, &s, &err) < 0)
    {
      error_free (&err);
      return;
    }
  unit_call (e, s.parent, false);
}

void
engine_slice_cancel (struct op *op)
{
  systemd_call_cancel (op->handle);
}
