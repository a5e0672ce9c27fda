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

void
tcs_queue_mark_sent (struct tcs_queue *q)
{
  for (size_t i = 0; i < q->n; i++)
    q->s[(q->start + i) % q->cap].sent = true;
}
