/* tmds/throttle.c - the request limiter in front of every task server
 * route: one token bucket per (caller address, request path), as upstream's
 * (tollbooth over golang.org/x/time/rate): a bucket starts full at `burst`
 * tokens and refills at `rate` tokens per second; a request takes one or is
 * refused.  Pure: the caller passes the time (see tmds_int.h). */
#include "tmds/tmds_int.h"
#include "core/xmalloc.h"
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define N_SLOTS 256

struct bucket
{
  LIST_ENTRY (bucket) slot;  /* hash chain */
  TAILQ_ENTRY (bucket) lru;  /* least recently used first */
  double tokens;
  int64_t at_ns; /* when tokens was computed */
  char key[];    /* "<ip> <path>" */
};

LIST_HEAD (bucket_chain, bucket);
TAILQ_HEAD (bucket_lru, bucket);

struct tmds_throttle
{
  double rate, burst;
  size_t max_buckets, n;
  struct bucket_chain slots[N_SLOTS];
  struct bucket_lru lru;
};

struct tmds_throttle *
tmds_throttle_new (unsigned rate, unsigned burst, size_t max_buckets)
{
  struct tmds_throttle *t = xcalloc (1, sizeof *t);
  t->rate = rate;
  t->burst = burst;
  t->max_buckets = max_buckets ? max_buckets : 1;
  for (size_t i = 0; i < N_SLOTS; i++)
    LIST_INIT (&t->slots[i]);
  TAILQ_INIT (&t->lru);
  return t;
}

static void
bucket_drop (struct tmds_throttle *t, struct bucket *b)
{
  LIST_REMOVE (b, slot);
  TAILQ_REMOVE (&t->lru, b, lru);
  free (b);
  t->n--;
}

void
tmds_throttle_free (struct tmds_throttle *t)
{
  if (!t)
    return;
  while (!TAILQ_EMPTY (&t->lru))
    bucket_drop (t, TAILQ_FIRST (&t->lru));
  free (t);
}

double
tmds_throttle_rate (const struct tmds_throttle *t)
{
  return t->rate;
}

size_t
tmds_throttle_buckets (const struct tmds_throttle *t)
{
  return t->n;
}

/* FNV-1a over both parts. */
static size_t
slot_of (const char *ip, const char *path)
{
  uint32_t h = 2166136261u;
  for (const char *p = ip; *p; p++)
    h = (h ^ (unsigned char) *p) * 16777619u;
  h = (h ^ ' ') * 16777619u;
  for (const char *p = path; *p; p++)
    h = (h ^ (unsigned char) *p) * 16777619u;
  return h % N_SLOTS;
}

static void
refill (const struct tmds_throttle *t, struct bucket *b, int64_t now_ns)
{
  if (now_ns > b->at_ns)
    {
      b->tokens += t->rate * (double) (now_ns - b->at_ns) / 1e9;
      if (b->tokens > t->burst)
        b->tokens = t->burst;
      b->at_ns = now_ns;
    }
}

bool
tmds_throttle_allow (struct tmds_throttle *t, const char *ip, const char *path, int64_t now_ns)
{
  size_t ipl = strlen (ip), pl = strlen (path);
  size_t slot = slot_of (ip, path);
  struct bucket *b;
  LIST_FOREACH (b, &t->slots[slot], slot)
  if (strncmp (b->key, ip, ipl) == 0 && b->key[ipl] == ' ' && strcmp (b->key + ipl + 1, path) == 0)
    break;
  if (b)
    {
      TAILQ_REMOVE (&t->lru, b, lru);
      refill (t, b, now_ns);
    }
  else
    {
      /* Upstream's buckets never expire; the table is bounded here.  At the
         bound the least recently used bucket goes: one that has refilled
         is the same as a new one, so the limit only loosens for a caller
         absent while max_buckets others came. */
      if (t->n >= t->max_buckets)
        bucket_drop (t, TAILQ_FIRST (&t->lru));
      b = xmalloc (sizeof *b + ipl + pl + 2);
      memcpy (b->key, ip, ipl);
      b->key[ipl] = ' ';
      memcpy (b->key + ipl + 1, path, pl + 1);
      b->tokens = t->burst;
      b->at_ns = now_ns;
      LIST_INSERT_HEAD (&t->slots[slot], b, slot);
      t->n++;
    }
  TAILQ_INSERT_TAIL (&t->lru, b, lru);
  if (b->tokens < 1.0)
    return false;
  b->tokens -= 1.0;
  return true;
}
