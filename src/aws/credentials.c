/* aws/credentials.c - credentials and the env -> instance-role chain. */
#include "aws/credentials.h"
#include "aws/imds.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <stdlib.h>
#include <sys/queue.h>
#include <string.h>

#define MOD "aws"
/* Cached role credentials closer than this to expiry are not handed out. */
#define EXPIRY_MARGIN_S 60

struct aws_credentials *
aws_credentials_dup (const struct aws_credentials *c)
{
  if (!c)
    return NULL;
  struct aws_credentials *d = xcalloc (1, sizeof *d);
  d->access_key_id = xstrdup (c->access_key_id);
  d->secret_access_key = xstrdup (c->secret_access_key);
  d->session_token = xstrdup (c->session_token);
  d->expiration = c->expiration;
  return d;
}

static void
wipe (char *s)
{
  if (s)
    {
      memset (s, 0, strlen (s));
      free (s);
    }
}

void
aws_credentials_free (struct aws_credentials *c)
{
  if (!c)
    return;
  wipe (c->access_key_id);
  wipe (c->secret_access_key);
  wipe (c->session_token);
  free (c);
}

void
aws_credentials_register_secrets (const struct aws_credentials *c)
{
  if (!c)
    return;
  if (c->access_key_id)
    log_secret_add (c->access_key_id);
  if (c->secret_access_key)
    log_secret_add (c->secret_access_key);
  if (c->session_token)
    log_secret_add (c->session_token);
}

static void
unregister_secrets (const struct aws_credentials *c)
{
  if (!c)
    return;
  if (c->access_key_id)
    log_secret_remove (c->access_key_id);
  if (c->secret_access_key)
    log_secret_remove (c->secret_access_key);
  if (c->session_token)
    log_secret_remove (c->session_token);
}

struct waiter
{
  aws_creds_cb cb;
  void *data;
  STAILQ_ENTRY (waiter) link;
};
STAILQ_HEAD (waiter_list, waiter);

struct aws_creds_provider
{
  uv_loop_t *loop;
  http_client_t *http;
  imds_client_t *imds;
  struct aws_credentials *cur;
  bool is_static;
  long refresh_before_s;
  time_t (*now) (void);
  imds_call_t *inflight;
  struct waiter_list waiters; /* FIFO */
  uv_timer_t *timer;      /* background refresh / retry */
  struct backoff bo;
  time_t next_refresh;
};

static time_t
prov_now (const aws_creds_provider_t *p)
{
  return p->now ? p->now () : time (NULL);
}

time_t
aws_creds_refresh_at (time_t now, time_t expiration, long refresh_before_s)
{
  if (refresh_before_s <= 0)
    refresh_before_s = 300;
  time_t remaining = expiration - now;
  if (remaining <= 0)
    return now;
  if (remaining > 2 * refresh_before_s)
    return expiration - refresh_before_s;
  return now + remaining / 2;
}

static void timer_cb (uv_timer_t *t);
static void start_fetch (aws_creds_provider_t *p);

static void
schedule (aws_creds_provider_t *p, uint64_t delay_ms)
{
  if (delay_ms < 1000)
    delay_ms = 1000;
  p->next_refresh = prov_now (p) + (time_t) (delay_ms / 1000);
  uv_timer_start (p->timer, timer_cb, delay_ms, 0);
}

static void
timer_cb (uv_timer_t *t)
{
  aws_creds_provider_t *p = t->data;
  p->next_refresh = 0;
  start_fetch (p);
}

static void
notify (aws_creds_provider_t *p, const struct aws_credentials *c, agent_error_t err)
{
  /* Callbacks may call aws_creds_fetch again (new waiters) or free the
     provider; detach the list first and stop if freed. */
  struct waiter_list ready = STAILQ_HEAD_INITIALIZER (ready);
  STAILQ_CONCAT (&ready, &p->waiters);
  struct aws_credentials *copy = aws_credentials_dup (c);
  struct waiter *w;
  while ((w = STAILQ_FIRST (&ready)) != NULL)
    {
      STAILQ_REMOVE_HEAD (&ready, link);
      w->cb (copy, err, w->data);
      free (w);
    }
  aws_credentials_free (copy);
}

static void
creds_fetched_cb (const struct aws_credentials *c, agent_error_t err, void *data)
{
  aws_creds_provider_t *p = data;
  p->inflight = NULL;
  if (err)
    {
      uint64_t d = backoff_next (&p->bo);
      log_warn (MOD, "fetching instance role credentials failed: %s (retry in %llu ms)",
                error_msg (&err), (unsigned long long) d);
      /* Keep retrying in the background while we hold credentials that
         will need replacing; otherwise the next fetch retries. */
      if (p->cur)
        schedule (p, d);
      /* The caller (imds) frees err after we return: hand waiters a copy. */
      agent_error_t e = NULL;
      error_set_status (&e, error_kind (&err), err->status, "%s", error_msg (&err));
      /* Waiters get the error only if there is nothing usable cached. */
      if (p->cur && prov_now (p) < p->cur->expiration - EXPIRY_MARGIN_S)
        notify (p, p->cur, NULL);
      else
        notify (p, NULL, e);
      error_free (&e);
      return;
    }
  backoff_reset (&p->bo);
  struct aws_credentials *old = p->cur;
  p->cur = aws_credentials_dup (c);
  aws_credentials_register_secrets (p->cur);
  bool rotated = !old || strcmp (old->access_key_id, p->cur->access_key_id) != 0;
  if (old)
    {
      unregister_secrets (old);
      aws_credentials_free (old);
    }
  time_t now = prov_now (p);
  if (p->cur->expiration)
    {
      time_t at = aws_creds_refresh_at (now, p->cur->expiration, p->refresh_before_s);
      schedule (p, (uint64_t) (at - now) * 1000);
    }
  else
    schedule (p, 60 * 60 * 1000); /* no expiration known: re-fetch hourly */
  if (rotated)
    log_info (MOD, "instance role credentials %s (expire in %lds)", old ? "rotated" : "obtained",
              p->cur->expiration ? (long) (p->cur->expiration - now) : 0L);
  notify (p, p->cur, NULL);
}

static void
start_fetch (aws_creds_provider_t *p)
{
  if (p->inflight || p->is_static || !p->imds)
    return;
  uv_timer_stop (p->timer);
  p->next_refresh = 0;
  agent_error_t err = NULL;
  p->inflight = imds_get_role_credentials (p->imds, creds_fetched_cb, p, &err);
  if (!p->inflight)
    {
      /* Report asynchronously-equivalent: through creds_fetched_cb() now. */
      creds_fetched_cb (NULL, err, p);
      error_free (&err);
    }
}

aws_creds_provider_t *
aws_creds_provider_new (uv_loop_t *loop, http_client_t *http, const struct aws_creds_options *opts,
                        agent_error_t *err)
{
  struct aws_creds_options def = { .use_getenv = true };
  if (!opts)
    opts = &def;
  const char *ak = opts->access_key_id, *sk = opts->secret_access_key, *tok = opts->session_token;
  if (opts->use_getenv)
    {
      ak = getenv ("AWS_ACCESS_KEY_ID");
      sk = getenv ("AWS_SECRET_ACCESS_KEY");
      tok = getenv ("AWS_SESSION_TOKEN");
    }
  aws_creds_provider_t *p = xcalloc (1, sizeof *p);
  STAILQ_INIT (&p->waiters);
  p->loop = loop;
  p->http = http;
  p->refresh_before_s = opts->refresh_before_s > 0 ? opts->refresh_before_s : 300;
  p->now = opts->now;
  backoff_init (&p->bo, opts->retry_min_ms > 0 ? (uint64_t) opts->retry_min_ms : 1000,
                opts->retry_max_ms > 0 ? (uint64_t) opts->retry_max_ms : 60000, 0.2, 2.0);
  if (ak && *ak && sk && *sk)
    {
      p->is_static = true;
      p->cur = xcalloc (1, sizeof *p->cur);
      p->cur->access_key_id = xstrdup (ak);
      p->cur->secret_access_key = xstrdup (sk);
      p->cur->session_token = tok && *tok ? xstrdup (tok) : NULL;
      aws_credentials_register_secrets (p->cur);
      return p;
    }
  if (opts->no_imds)
    return p;
  if (!loop || !http)
    {
      free (p);
      error_set (err, ERR_INVALID, "credentials: loop and http client required for instance role");
      return NULL;
    }
  struct imds_options io = { .endpoint = opts->imds_endpoint };
  p->imds = imds_client_new (loop, http, &io, err);
  if (!p->imds)
    {
      free (p);
      return NULL;
    }
  p->timer = xcalloc (1, sizeof *p->timer);
  uv_timer_init (loop, p->timer);
  p->timer->data = p;
  uv_unref ((uv_handle_t *) p->timer); /* background only: never keeps the loop alive */
  return p;
}

const struct aws_credentials *
aws_creds_current (aws_creds_provider_t *p)
{
  return p ? p->cur : NULL;
}

bool
aws_creds_is_static (const aws_creds_provider_t *p)
{
  return p && p->is_static;
}

time_t
aws_creds_next_refresh (const aws_creds_provider_t *p)
{
  return p ? p->next_refresh : 0;
}

void
aws_creds_fetch (aws_creds_provider_t *p, aws_creds_cb cb, void *data)
{
  if (p->cur && (p->is_static || p->cur->expiration == 0
                 || prov_now (p) < p->cur->expiration - EXPIRY_MARGIN_S))
    {
      cb (p->cur, NULL, data);
      return;
    }
  if (!p->imds)
    {
      agent_error_t err = NULL;
      error_set (&err, ERR_AUTH, "no AWS credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY not set "
                                 "and the instance role is disabled");
      cb (NULL, err, data);
      error_free (&err);
      return;
    }
  struct waiter *w = xcalloc (1, sizeof *w);
  w->cb = cb;
  w->data = data;
  STAILQ_INSERT_TAIL (&p->waiters, w, link);
  start_fetch (p);
}

void
aws_creds_fetch_cancel (aws_creds_provider_t *p, aws_creds_cb cb, void *data)
{
  struct waiter *w, *next;
  for (w = STAILQ_FIRST (&p->waiters); w; w = next)
    {
      next = STAILQ_NEXT (w, link);
      if (w->cb == cb && w->data == data)
        {
          STAILQ_REMOVE (&p->waiters, w, waiter, link);
          free (w);
        }
    }
}

void
aws_creds_invalidate (aws_creds_provider_t *p)
{
  if (!p || p->is_static || !p->cur)
    return;
  unregister_secrets (p->cur);
  aws_credentials_free (p->cur);
  p->cur = NULL;
}

static void
timer_closed_cb (uv_handle_t *h)
{
  free (h);
}

void
aws_creds_provider_free (aws_creds_provider_t *p)
{
  if (!p)
    return;
  if (p->inflight)
    imds_call_cancel (p->inflight);
  imds_client_free (p->imds);
  struct waiter *w;
  while ((w = STAILQ_FIRST (&p->waiters)) != NULL)
    {
      STAILQ_REMOVE_HEAD (&p->waiters, link);
      free (w);
    }
  if (p->timer)
    {
      uv_timer_stop (p->timer);
      uv_close ((uv_handle_t *) p->timer, timer_closed_cb);
    }
  if (p->cur)
    {
      unregister_secrets (p->cur);
      aws_credentials_free (p->cur);
    }
  free (p);
}
