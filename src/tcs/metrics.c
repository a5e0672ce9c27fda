/* tcs/metrics.c - sample queues and statistic sets (tcs/metrics.h). */
#include "tcs/metrics.h"
#include <math.h>
#include <string.h>

#define ULONG_CLAMP ((uint64_t) INT64_MAX)

void
tcs_queue_init (struct tcs_queue *q, size_t cap)
{
  memset (q, 0, sizeof *q);
  q->cap = cap == 0 || cap > TCS_QUEUE_MAX ? TCS_QUEUE_MAX : cap;
}

const struct tcs_sample *
tcs_queue_at (const struct tcs_queue *q, size_t i)
{
  return &q->s[(q->start + i) % q->cap];
}

const char *
tcs_sample_reject (const struct docker_stats *st, unsigned ncpu, bool cgroup_v1, bool restart_policy)
{
  if (ncpu == 0)
    return "no usable CPU";
  if (cgroup_v1 && st->n_percpu == 0)
    return "no percpu_usage (cgroup v1)";
  if (restart_policy && st->read_ns == 0)
    return "zero read time (restarting)";
  return NULL;
}

static double
rate (uint64_t now, uint64_t before, int64_t dt_ns)
{
  if (dt_ns <= 0 || now < before)
    return NAN;
  return 1e9 * (double) (now - before) / (double) dt_ns;
}

int
tcs_queue_push (struct tcs_queue *q, const struct docker_stats *st, unsigned ncpu)
{
  if (ncpu == 0)
    return -1;
  if (q->cap == 0)
    q->cap = TCS_QUEUE_MAX;
  struct tcs_sample v = {
    .read_ns = st->read_ns,
    .cpu_usage = st->cpu_total / ncpu,
    .cpu_percent = NAN,
    .mem_mib = docker_stats_memory_bytes (st) / (1024 * 1024),
    .storage_read = st->blkio_read,
    .storage_write = st->blkio_write,
    .has_net = st->has_networks,
    .net = st->net,
    .rx_bps = NAN,
    .tx_bps = NAN,
  };
  if (q->n > 0)
    {
      const struct tcs_sample *prev = tcs_queue_at (q, q->n - 1);
      if (v.read_ns > prev->read_ns)
        v.cpu_percent = (double) (float) (100.0 * (double) (v.cpu_usage - prev->cpu_usage)
                                          / (double) (v.read_ns - prev->read_ns));
      else
        v.cpu_percent = prev->cpu_percent;
      if (v.cpu_usage < prev->cpu_usage && v.read_ns > prev->read_ns)
        v.cpu_percent = NAN; /* counter went back (container restarted): no value */
      if (v.has_net && prev->has_net)
        {
          v.rx_bps = rate (v.net.rx_bytes, prev->net.rx_bytes, v.read_ns - prev->read_ns);
          v.tx_bps = rate (v.net.tx_bytes, prev->net.tx_bytes, v.read_ns - prev->read_ns);
        }
    }
  if (q->n == q->cap)
    {
      q->start = (q->start + 1) % q->cap;
      q->n--;
    }
  q->s[(q->start + q->n) % q->cap] = v;
  q->n++;
  return 0;
}

size_t
tcs_queue_unsent (const struct tcs_queue *q)
{
  size_t k = 0;
  for (size_t i = 0; i < q->n; i++)
    if (!tcs_queue_at (q, i)->sent)
      k++;
  return k;
}

static void
cw_add (struct tcs_cw_set *s, double v)
{
  if (s->count == 0 || v < s->min)
    s->min = v;
  if (s->count == 0 || v > s->max)
    s->max = v;
  s->sum += v;
  s->count++;
}

bool
tcs_queue_cpu_set (const struct tcs_queue *q, struct tcs_cw_set *out)
{
  memset (out, 0, sizeof *out);
  if (q->n < 2)
    return false;
  for (size_t i = 0; i < q->n; i++)
    {
      const struct tcs_sample *s = tcs_queue_at (q, i);
      if (!s->sent && !isnan (s->cpu_percent))
        cw_add (out, s->cpu_percent);
    }
  return out->count > 0;
}

bool
tcs_queue_mem_set (const struct tcs_queue *q, struct tcs_cw_set *out)
{
  memset (out, 0, sizeof *out);
  if (q->n < 2)
    return false;
  for (size_t i = 0; i < q->n; i++)
    {
      const struct tcs_sample *s = tcs_queue_at (q, i);
      if (!s->sent)
        cw_add (out, (double) s->mem_mib);
    }
  return out->count > 0;
}

static void
clamp (uint64_t v, uint64_t *val, uint64_t *overflow)
{
  if (v > ULONG_CLAMP)
    {
      *val = ULONG_CLAMP;
      *overflow = v % ULONG_CLAMP;
    }
  else
    {
      *val = v;
      *overflow = 0;
    }
}

void
tcs_ulong_set_of (const uint64_t *v, size_t n, struct tcs_ulong_set *out)
{
  memset (out, 0, sizeof *out);
  uint64_t mn = 0, mx = 0, sum = 0;
  for (size_t i = 0; i < n; i++)
    {
      if (i == 0 || v[i] < mn)
        mn = v[i];
      if (i == 0 || v[i] > mx)
        mx = v[i];
      sum += v[i]; /* unsigned: wraps as upstream's uint64 */
    }
  clamp (mn, &out->min, &out->overflow_min);
  clamp (mx, &out->max, &out->overflow_max);
  clamp (sum, &out->sum, &out->overflow_sum);
  out->count = (int64_t) n;
}

bool
tcs_queue_storage_sets (const struct tcs_queue *q, struct tcs_ulong_set *read,
                        struct tcs_ulong_set *write)
{
  uint64_t r[TCS_QUEUE_MAX], w[TCS_QUEUE_MAX];
  size_t n = 0;
  memset (read, 0, sizeof *read);
  memset (write, 0, sizeof *write);
  if (q->n < 2)
    return false;
  for (size_t i = 0; i < q->n; i++)
    {
      const struct tcs_sample *s = tcs_queue_at (q, i);
      if (s->sent)
        continue;
      r[n] = s->storage_read;
      w[n] = s->storage_write;
      n++;
    }
  if (n == 0)
    return false;
  tcs_ulong_set_of (r, n, read);
  tcs_ulong_set_of (w, n, write);
  return true;
}

bool
tcs_queue_network_sets (const struct tcs_queue *q, struct tcs_net_sets *out)
{
  memset (out, 0, sizeof *out);
  if (q->n < 2)
    return false;
  uint64_t v[8][TCS_QUEUE_MAX];
  size_t n = 0;
  for (size_t i = 0; i < q->n; i++)
    {
      const struct tcs_sample *s = tcs_queue_at (q, i);
      if (s->sent || !s->has_net)
        continue;
      const struct docker_net_stats *ns = &s->net;
      uint64_t row[8] = { ns->rx_bytes, ns->rx_packets, ns->rx_errors, ns->rx_dropped,
                          ns->tx_bytes, ns->tx_packets, ns->tx_errors, ns->tx_dropped };
      for (int k = 0; k < 8; k++)
        v[k][n] = row[k];
      n++;
      if (!isnan (s->rx_bps))
        cw_add (&out->rx_bps, s->rx_bps);
      if (!isnan (s->tx_bps))
        cw_add (&out->tx_bps, s->tx_bps);
    }
  if (n == 0)
    return false;
  struct tcs_ulong_set *sets[8] = { &out->rx_bytes, &out->rx_packets, &out->rx_errors,
                                    &out->rx_dropped, &out->tx_bytes, &out->tx_packets,
                                    &out->tx_errors, &out->tx_dropped };
  for (int k = 0; k < 8; k++)
    tcs_ulong_set_of (v[k], n, sets[k]);
  out->rate_ok = out->rx_bps.count > 0 && out->tx_bps.count > 0;
  return true;
}

void
tcs_queue_mark_sent (struct tcs_queue *q)
{
  for (size_t i = 0; i < q->n; i++)
    q->s[(q->start + i) % q->cap].sent = true;
}
