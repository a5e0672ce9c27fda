/* core/metrics.c - the fixed-size metrics registry and its exposition (see
 * metrics.h).  Names follow Prometheus conventions: ecs_agent_ prefix,
 * _total for counters, _seconds and _bytes units; process_* as the client
 * libraries name them. */
#include "core/metrics.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

struct metrics_hist
{
  uint64_t bucket[METRICS_N_BUCKETS]; /* observations <= bound[i] and > bound[i-1] */
  uint64_t count;
  double sum;
};

static struct
{
  uint64_t counters[METRIC_N_COUNTERS];
  double gauges[METRIC_N_GAUGES];
  struct metrics_hist hist[METRIC_N_HISTOGRAMS];
  uint64_t docker_calls[METRIC_DOCKER_N_OPS][METRIC_N_OUTCOMES];
  struct metrics_hist docker_latency[METRIC_DOCKER_N_OPS];
} reg;

static const double bounds[METRICS_N_BUCKETS] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,   0.25,   0.5,   1,    2.5,   5,
                                                  10,    30,     60,    120 };

static const char *const docker_op_names[METRIC_DOCKER_N_OPS] = {
  [METRIC_DOCKER_PING] = "ping",
  [METRIC_DOCKER_VERSION] = "version",
  [METRIC_DOCKER_INFO] = "info",
  [METRIC_DOCKER_PULL] = "pull",
  [METRIC_DOCKER_IMAGE_INSPECT] = "image_inspect",
  [METRIC_DOCKER_IMAGE_REMOVE] = "image_remove",
  [METRIC_DOCKER_CREATE] = "create",
  [METRIC_DOCKER_START] = "start",
  [METRIC_DOCKER_STOP] = "stop",
  [METRIC_DOCKER_KILL] = "kill",
  [METRIC_DOCKER_INSPECT] = "inspect",
  [METRIC_DOCKER_REMOVE] = "remove",
  [METRIC_DOCKER_LIST] = "list",
  [METRIC_DOCKER_VOLUME_CREATE] = "volume_create",
  [METRIC_DOCKER_VOLUME_REMOVE] = "volume_remove",
  [METRIC_DOCKER_STATS] = "stats",
  [METRIC_DOCKER_OTHER] = "other",
};

static const char *const outcome_names[METRIC_N_OUTCOMES] = {
  [METRIC_OUTCOME_OK] = "ok",
  [METRIC_OUTCOME_NOT_FOUND] = "not_found",
  [METRIC_OUTCOME_CONFLICT] = "conflict",
  [METRIC_OUTCOME_ERROR] = "error",
  [METRIC_OUTCOME_UNREACHABLE] = "unreachable",
  [METRIC_OUTCOME_TIMEOUT] = "timeout",
};

static const char *const status_names[METRIC_N_STATUSES] = {
  [METRIC_STATUS_PENDING] = "PENDING",
  [METRIC_STATUS_RUNNING] = "RUNNING",
  [METRIC_STATUS_STOPPED] = "STOPPED",
};

/* ---- recording ---- */

void
metrics_count (enum metrics_counter c, uint64_t n)
{
  if ((unsigned) c < METRIC_N_COUNTERS)
    reg.counters[c] += n;
}

void
metrics_set (enum metrics_gauge g, double v)
{
  if ((unsigned) g < METRIC_N_GAUGES)
    reg.gauges[g] = v;
}

static void
hist_observe (struct metrics_hist *h, double v)
{
  if (!(v >= 0)) /* negative or NaN: a clock went backwards; count it as 0 */
    v = 0;
  size_t i = 0;
  while (i < METRICS_N_BUCKETS && v > bounds[i])
    i++;
  if (i < METRICS_N_BUCKETS)
    h->bucket[i]++;
  h->count++;
  h->sum += v;
}

void
metrics_observe (enum metrics_histogram h, double seconds)
{
  if ((unsigned) h < METRIC_N_HISTOGRAMS)
    hist_observe (&reg.hist[h], seconds);
}

void
metrics_docker_call (enum metrics_docker_op op, enum metrics_outcome o, double seconds)
{
  if ((unsigned) op >= METRIC_DOCKER_N_OPS)
    op = METRIC_DOCKER_OTHER;
  if ((unsigned) o >= METRIC_N_OUTCOMES)
    o = METRIC_OUTCOME_ERROR;
  reg.docker_calls[op][o]++;
  hist_observe (&reg.docker_latency[op], seconds);
}

uint64_t
metrics_counter_value (enum metrics_counter c)
{
  return (unsigned) c < METRIC_N_COUNTERS ? reg.counters[c] : 0;
}

void
metrics_reset (void)
{
  memset (&reg, 0, sizeof reg);
}

/* ---- exposition ---- */

void
metrics_escape_label (struct sbuf *out, const char *v)
{
  for (const char *p = v ? v : ""; *p; p++)
    {
      if (*p == '\\')
        sbuf_puts (out, "\\\\");
      else if (*p == '"')
        sbuf_puts (out, "\\\"");
      else if (*p == '\n')
        sbuf_puts (out, "\\n");
      else
        sbuf_append (out, p, 1);
    }
}

static void
family (struct sbuf *out, const char *name, const char *type, const char *help)
{
  sbuf_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k="v"} value, with an optional first label already escaped by the
   caller's choice of fixed values (escaped again here all the same). */
static void
sample_begin (struct sbuf *out, const char *name, const char *k1, const char *v1, const char *k2,
              const char *v2)
{
  sbuf_puts (out, name);
  if (k1)
    {
      sbuf_printf (out, "{%s=\"", k1);
      metrics_escape_label (out, v1);
      sbuf_puts (out, "\"");
      if (k2)
        {
          sbuf_printf (out, ",%s=\"", k2);
          metrics_escape_label (out, v2);
          sbuf_puts (out, "\"");
        }
      sbuf_puts (out, "}");
    }
}

static void
sample_u (struct sbuf *out, const char *name, const char *k1, const char *v1, const char *k2,
          const char *v2, uint64_t v)
{
  sample_begin (out, name, k1, v1, k2, v2);
  sbuf_printf (out, " %llu\n", (unsigned long long) v);
}

static void
sample_d (struct sbuf *out, const char *name, double v)
{
  sbuf_printf (out, "%s %.17g\n", name, v);
}

static void
hist_write (struct sbuf *out, const char *name, const char *k, const char *v,
            const struct metrics_hist *h)
{
  uint64_t cum = 0;
  for (size_t i = 0; i <= METRICS_N_BUCKETS; i++)
    {
      char le[32];
      if (i < METRICS_N_BUCKETS)
        {
          cum += h->bucket[i];
          snprintf (le, sizeof le, "%g", bounds[i]);
        }
      else
        {
          cum = h->count;
          snprintf (le, sizeof le, "+Inf");
        }
      sbuf_printf (out, "%s_bucket{", name);
      if (k)
        {
          sbuf_printf (out, "%s=\"", k);
          metrics_escape_label (out, v);
          sbuf_puts (out, "\",");
        }
      sbuf_printf (out, "le=\"%s\"} %llu\n", le, (unsigned long long) cum);
    }
  char n[128];
  snprintf (n, sizeof n, "%s_sum", name);
  sample_begin (out, n, k, v, NULL, NULL);
  sbuf_printf (out, " %.17g\n", h->sum);
  snprintf (n, sizeof n, "%s_count", name);
  sample_u (out, n, k, v, NULL, NULL, h->count);
}

static void
counter1 (struct sbuf *out, const char *name, const char *help, enum metrics_counter c)
{
  family (out, name, "counter", help);
  sample_u (out, name, NULL, NULL, NULL, NULL, reg.counters[c]);
}

/* Process figures without the heap: getrusage, statm into a stack buffer,
   /proc/self/fd counted with getdents64. */
struct metrics_process
{
  double cpu_seconds;
  uint64_t rss_bytes, vsize_bytes;
  long open_fds; /* -1 when unknown */
  uint64_t max_fds;
};

static void
process_read (struct metrics_process *p)
{
  memset (p, 0, sizeof *p);
  struct rusage ru;
  if (getrusage (RUSAGE_SELF, &ru) == 0)
    p->cpu_seconds = (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
                     + (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  long page = sysconf (_SC_PAGESIZE);
  int fd = open ("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd >= 0)
    {
      char buf[128];
      ssize_t n = read (fd, buf, sizeof buf - 1);
      close (fd);
      unsigned long long vs = 0, rss = 0;
      if (n > 0)
        {
          buf[n] = '\0';
          if (sscanf (buf, "%llu %llu", &vs, &rss) == 2)
            {
              p->vsize_bytes = vs * (uint64_t) page;
              p->rss_bytes = rss * (uint64_t) page;
            }
        }
    }
  p->open_fds = -1;
  fd = open ("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0)
    {
      char buf[4096] __attribute__ ((aligned (8)));
      long count = 0;
      for (;;)
        {
          long n = syscall (SYS_getdents64, fd, buf, sizeof buf);
          if (n <= 0)
            break;
          for (long off = 0; off < n;)
            {
              unsigned short reclen;
              memcpy (&reclen, buf + off + 16, sizeof reclen); /* d_reclen */
              const char *name = buf + off + 19;                /* d_name */
              if (name[0] != '.')
                count++;
              off += reclen;
            }
        }
      close (fd);
      p->open_fds = count - 1; /* not the descriptor that read the folder */
    }
  struct rlimit rl;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0)
    p->max_fds = rl.rlim_cur == RLIM_INFINITY ? 0 : (uint64_t) rl.rlim_cur;
}

void
metrics_write (struct sbuf *out, const struct metrics_snapshot *snap)
{
  static const struct metrics_snapshot none;
  if (snap == NULL)
    snap = &none;

  family (out, "ecs_agent_tasks", "gauge", "Tasks the agent manages, by known status.");
  for (int s = 0; s < METRIC_N_STATUSES; s++)
    sample_u (out, "ecs_agent_tasks", "status", status_names[s], NULL, NULL, snap->tasks[s]);
  family (out, "ecs_agent_containers", "gauge",
          "Containers of the tasks the agent manages, by known status.");
  for (int s = 0; s < METRIC_N_STATUSES; s++)
    sample_u (out, "ecs_agent_containers", "status", status_names[s], NULL, NULL,
              snap->containers[s]);

  counter1 (out, "ecs_agent_state_changes_submitted_total",
            "State changes acknowledged by ECS.", METRIC_STATE_CHANGES_SUBMITTED);
  family (out, "ecs_agent_state_changes_failed_total", "counter",
          "State change submissions that failed: retriable (retried later) or rejected (dropped).");
  sample_u (out, "ecs_agent_state_changes_failed_total", "reason", "retriable", NULL, NULL,
            reg.counters[METRIC_STATE_CHANGES_RETRIED]);
  sample_u (out, "ecs_agent_state_changes_failed_total", "reason", "rejected", NULL, NULL,
            reg.counters[METRIC_STATE_CHANGES_REJECTED]);
  family (out, "ecs_agent_state_changes_queued", "gauge",
          "State changes waiting in the persisted queue.");
  sample_u (out, "ecs_agent_state_changes_queued", NULL, NULL, NULL, NULL,
            snap->state_changes_queued);

  family (out, "ecs_agent_acs_connected", "gauge", "1 while the ACS session is connected.");
  sample_d (out, "ecs_agent_acs_connected", reg.gauges[METRIC_ACS_CONNECTED]);
  counter1 (out, "ecs_agent_acs_connects_total", "ACS sessions established (the first and every reconnect).",
            METRIC_ACS_CONNECTS);
  counter1 (out, "ecs_agent_acs_disconnects_total", "ACS sessions that ended.",
            METRIC_ACS_DISCONNECTS);

  if (snap->tcs_enabled)
    {
      family (out, "ecs_agent_tcs_connected", "gauge", "1 while the TCS (telemetry) session is connected.");
      sample_u (out, "ecs_agent_tcs_connected", NULL, NULL, NULL, NULL, snap->tcs_connected);
      family (out, "ecs_agent_tcs_connects_total", "counter", "TCS sessions established.");
      sample_u (out, "ecs_agent_tcs_connects_total", NULL, NULL, NULL, NULL, snap->tcs_connects);
      family (out, "ecs_agent_tcs_disconnects_total", "counter", "TCS sessions that ended.");
      sample_u (out, "ecs_agent_tcs_disconnects_total", NULL, NULL, NULL, NULL, snap->tcs_disconnects);
      family (out, "ecs_agent_stats_streams", "gauge",
              "Docker stats streams open: one per container sampled (0 when polling).");
      sample_d (out, "ecs_agent_stats_streams", reg.gauges[METRIC_STATS_STREAMS]);
    }

  family (out, "ecs_agent_docker_api_calls_total", "counter",
          "Docker Engine API calls, by operation and outcome (series appear with their first call).");
  for (int op = 0; op < METRIC_DOCKER_N_OPS; op++)
    for (int o = 0; o < METRIC_N_OUTCOMES; o++)
      if (reg.docker_calls[op][o])
        sample_u (out, "ecs_agent_docker_api_calls_total", "operation", docker_op_names[op],
                  "outcome", outcome_names[o], reg.docker_calls[op][o]);
  family (out, "ecs_agent_docker_api_call_duration_seconds", "histogram",
          "Docker Engine API call latency, by operation.");
  for (int op = 0; op < METRIC_DOCKER_N_OPS; op++)
    if (reg.docker_latency[op].count) /* operations never called: no series */
      hist_write (out, "ecs_agent_docker_api_call_duration_seconds", "operation",
                docker_op_names[op], &reg.docker_latency[op]);

  family (out, "ecs_agent_image_pulls_total", "counter", "Image pulls, by outcome.");
  sample_u (out, "ecs_agent_image_pulls_total", "outcome", "success", NULL, NULL,
            reg.counters[METRIC_IMAGE_PULLS_OK]);
  sample_u (out, "ecs_agent_image_pulls_total", "outcome", "failure", NULL, NULL,
            reg.counters[METRIC_IMAGE_PULLS_FAILED]);
  counter1 (out, "ecs_agent_image_pull_bytes_total",
            "Image layer bytes downloaded by pulls (layers already present not counted).",
            METRIC_IMAGE_PULL_BYTES);

  family (out, "ecs_agent_task_launch_seconds", "histogram",
          "From the ACS payload carrying a task to its RUNNING state change queued for ECS.");
  hist_write (out, "ecs_agent_task_launch_seconds", NULL, NULL, &reg.hist[METRIC_LAUNCH_SECONDS]);

  family (out, "ecs_agent_checkpoint_writes_total", "counter", "Checkpoint writes, by outcome.");
  sample_u (out, "ecs_agent_checkpoint_writes_total", "outcome", "success", NULL, NULL,
            reg.counters[METRIC_CHECKPOINT_WRITES_OK]);
  sample_u (out, "ecs_agent_checkpoint_writes_total", "outcome", "failure", NULL, NULL,
            reg.counters[METRIC_CHECKPOINT_WRITES_FAILED]);
  family (out, "ecs_agent_checkpoint_fsync_seconds", "histogram",
          "fsync time of each successful checkpoint write (the file and its directory).");
  hist_write (out, "ecs_agent_checkpoint_fsync_seconds", NULL, NULL,
              &reg.hist[METRIC_CHECKPOINT_FSYNC_SECONDS]);
  family (out, "ecs_agent_checkpoint_write_seconds", "histogram",
          "Duration of each successful durable checkpoint write (write, fsync, rename).");
  hist_write (out, "ecs_agent_checkpoint_write_seconds", NULL, NULL,
              &reg.hist[METRIC_CHECKPOINT_WRITE_SECONDS]);

  struct metrics_process p;
  process_read (&p);
  family (out, "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.");
  sample_d (out, "process_cpu_seconds_total", p.cpu_seconds);
  family (out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  sample_u (out, "process_resident_memory_bytes", NULL, NULL, NULL, NULL, p.rss_bytes);
  family (out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
  sample_u (out, "process_virtual_memory_bytes", NULL, NULL, NULL, NULL, p.vsize_bytes);
  if (p.open_fds >= 0)
    {
      family (out, "process_open_fds", "gauge", "Number of open file descriptors.");
      sample_u (out, "process_open_fds", NULL, NULL, NULL, NULL, (uint64_t) p.open_fds);
    }
  if (p.max_fds)
    {
      family (out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
      sample_u (out, "process_max_fds", NULL, NULL, NULL, NULL, p.max_fds);
    }
}
