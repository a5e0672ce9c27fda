#include "core/http.h"
#include "core/xmalloc.h"
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_MAX_IDLE_CONNECTIONS 8

/* Transfers finished by every client of the process (see http.h). */
static uint64_t http_transfers_done;

uint64_t
http_transfer_count (void)
{
  return http_transfers_done;
}

/* Re-entrancy model: libcurl forbids multi API calls (add/remove handle,
   cleanup) from inside its callbacks, and on_done may free or cancel
   anything.  Every entry from the loop into curl (poll / timer callbacks)
   is a "dispatch" (depth > 0).  During a dispatch, http_call_start only
   queues the call (added == false), http_call_cancel only flags it, and
   http_client_free only flags the client; dispatch_end() does the work
   once curl has returned. */

struct http_sock;

struct http_client
{
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  size_t active;
  int depth;    /* > 0 while dispatching curl / user callbacks */
  bool closing; /* http_client_free requested */
  struct http_call *calls; /* every call not yet freed */
  struct http_sock *socks; /* every poll handle not yet closed */
};

struct http_call
{
  http_client_t *client;
  CURL *easy;
  struct curl_slist *headers;
  char *body_in;
  char *buf;
  size_t len, cap;
  char errbuf[CURL_ERROR_SIZE];
  http_data_cb on_data;
  http_done_cb on_done;
  http_headers_cb on_headers;
  void *data;
  bool added;      /* handed to the multi handle */
  bool aborted;    /* a callback asked to abort */
  bool cancelled;  /* no callback may run any more; free at dispatch end */
  bool completing; /* on_done is running */
  bool headers_seen;
  struct http_call *prev, *next;
};

struct http_sock
{
  uv_poll_t poll;
  curl_socket_t fd;
  http_client_t *client;
  struct http_sock *prev, *next;
};

static void http_check_done (http_client_t *c);
static void http_dispatch_end (http_client_t *c);

static void
http_poll_close_cb (uv_handle_t *h)
{
  free (h->data);
}

static void
http_sock_close (http_client_t *c, struct http_sock *s)
{
  if (s->prev)
    s->prev->next = s->next;
  else
    c->socks = s->next;
  if (s->next)
    s->next->prev = s->prev;
  uv_poll_stop (&s->poll);
  s->poll.data = s;
  uv_close ((uv_handle_t *) &s->poll, http_poll_close_cb);
}

static void
http_poll_cb (uv_poll_t *p, int status, int events)
{
  struct http_sock *s = p->data;
  http_client_t *c = s->client;
  int flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE)
    flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE)
    flags |= CURL_CSELECT_OUT;
  int running;
  c->depth++;
  curl_multi_socket_action (c->multi, s->fd, flags, &running);
  http_check_done (c);
  http_dispatch_end (c);
}

static int
http_socket_cb (CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
  (void) easy;
  http_client_t *c = userp;
  struct http_sock *s = socketp;
  if (what == CURL_POLL_REMOVE)
    {
      if (s)
        {
          http_sock_close (c, s);
          curl_multi_assign (c->multi, fd, NULL);
        }
      return 0;
    }
  if (s == NULL)
    {
      s = xcalloc (1, sizeof *s);
      s->fd = fd;
      s->client = c;
      if (uv_poll_init_socket (c->loop, &s->poll, fd) < 0)
        {
          free (s);
          return -1;
        }
      s->poll.data = s;
      s->next = c->socks;
      if (c->socks)
        c->socks->prev = s;
      c->socks = s;
      curl_multi_assign (c->multi, fd, s);
    }
  int ev = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
    ev |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
    ev |= UV_WRITABLE;
  uv_poll_start (&s->poll, ev, http_poll_cb);
  return 0;
}

static void
http_timer_cb (uv_timer_t *t)
{
  http_client_t *c = t->data;
  int running;
  c->depth++;
  curl_multi_socket_action (c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  http_check_done (c);
  http_dispatch_end (c);
}

static int
http_timer_set_cb (CURLM *multi, long timeout_ms, void *userp)
{
  (void) multi;
  http_client_t *c = userp;
  if (timeout_ms < 0)
    uv_timer_stop (&c->timer);
  else
    uv_timer_start (&c->timer, http_timer_cb, (uint64_t) timeout_ms, 0);
  return 0;
}

http_client_t *
http_client_new (uv_loop_t *loop)
{
  static bool inited;
  if (!inited)
    {
      curl_global_init (CURL_GLOBAL_DEFAULT);
      inited = true;
    }
  http_client_t *c = xcalloc (1, sizeof *c);
  c->loop = loop;
  c->multi = curl_multi_init ();
  if (c->multi == NULL)
    xalloc_die ();
  uv_timer_init (loop, &c->timer);
  c->timer.data = c;
  curl_multi_setopt (c->multi, CURLMOPT_SOCKETFUNCTION, http_socket_cb);
  curl_multi_setopt (c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt (c->multi, CURLMOPT_TIMERFUNCTION, http_timer_set_cb);
  curl_multi_setopt (c->multi, CURLMOPT_TIMERDATA, c);
  /* Idle connections kept for reuse: after a burst of 50 concurrent Docker
     calls, curl would otherwise keep all 50 (and dockerd a goroutine for
     each); a few cover the steady state. */
  curl_multi_setopt (c->multi, CURLMOPT_MAXCONNECTS, (long) HTTP_MAX_IDLE_CONNECTIONS);
  return c;
}

/* Unlink from the client, detach from curl and free.  Only outside curl
   callbacks. */
static void
http_call_free (http_call_t *call)
{
  if (call == NULL)
    return;
  http_client_t *c = call->client;
  if (call->easy)
    {
      if (call->added)
        curl_multi_remove_handle (c->multi, call->easy);
      curl_easy_cleanup (call->easy);
    }
  if (!call->cancelled && !call->completing)
    c->active--;
  if (call->prev)
    call->prev->next = call->next;
  else
    c->calls = call->next;
  if (call->next)
    call->next->prev = call->prev;
  curl_slist_free_all (call->headers);
  free (call->body_in);
  free (call->buf);
  free (call);
}

static void
http_client_timer_close_cb (uv_handle_t *h)
{
  free (h->data);
}

static void
http_client_destroy (http_client_t *c)
{
  while (c->calls)
    http_call_free (c->calls);
  curl_multi_cleanup (c->multi);
  /* curl reports CURL_POLL_REMOVE for the sockets it closes; close any
     poll handle it did not. */
  while (c->socks)
    http_sock_close (c, c->socks);
  uv_timer_stop (&c->timer);
  c->timer.data = c;
  uv_close ((uv_handle_t *) &c->timer, http_client_timer_close_cb);
}

static void http_call_fail_now (http_call_t *call, int kind, const char *msg);

static void
http_dispatch_end (http_client_t *c)
{
  if (--c->depth > 0)
    return;
  if (c->closing)
    {
      http_client_destroy (c);
      return;
    }
  bool again = true;
  while (again && !c->closing)
    {
      again = false;
      for (http_call_t *call = c->calls, *next; call; call = next)
        {
          next = call->next;
          if (call->cancelled)
            {
              http_call_free (call);
              again = true;
              break; /* the list may have changed */
            }
          if (!call->added)
            {
              if (curl_multi_add_handle (c->multi, call->easy) == CURLM_OK)
                call->added = true;
              else
                http_call_fail_now (call, ERR_GENERIC, "curl_multi_add_handle failed");
              again = true;
              break;
            }
        }
    }
  if (c->closing)
    http_client_destroy (c);
}

void
http_client_free (http_client_t *c)
{
  if (c == NULL || c->closing)
    return;
  c->closing = true;
  for (http_call_t *call = c->calls; call; call = call->next)
    {
      if (!call->cancelled && !call->completing)
        c->active--;
      call->cancelled = true;
    }
  if (c->depth == 0)
    http_client_destroy (c);
}

size_t
http_client_active (const http_client_t *c)
{
  return c->active;
}

static size_t
http_write_cb (char *ptr, size_t size, size_t nmemb, void *userdata)
{
  http_call_t *call = userdata;
  size_t n = size * nmemb;
  if (call->cancelled || call->aborted)
    return 0;
  if (call->on_data)
    {
      long status = 0;
      curl_easy_getinfo (call->easy, CURLINFO_RESPONSE_CODE, &status);
      if (status >= 200 && status < 300)
        {
          if (call->on_data (ptr, n, call->data) < 0 || call->cancelled)
            {
              call->aborted = true;
              return 0;
            }
          return n;
        }
      /* error statuses are collected so the caller sees the daemon's message */
    }
  if (call->len + n + 1 > call->cap)
    {
      call->cap = (call->len + n + 1) * 2;
      call->buf = xrealloc (call->buf, call->cap);
    }
  memcpy (call->buf + call->len, ptr, n);
  call->len += n;
  call->buf[call->len] = '\0';
  return n;
}

static size_t
http_header_cb (char *ptr, size_t size, size_t nmemb, void *userdata)
{
  http_call_t *call = userdata;
  size_t n = size * nmemb;
  if (call->cancelled || call->aborted)
    return 0;
  bool blank = (n == 2 && ptr[0] == '\r' && ptr[1] == '\n') || (n == 1 && ptr[0] == '\n');
  if (!blank || call->headers_seen || call->on_headers == NULL)
    return n;
  long status = 0;
  curl_easy_getinfo (call->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 100 && status < 200)
    return n; /* interim response; the final one follows */
  call->headers_seen = true;
  if (call->on_headers (status, call->data) < 0 || call->cancelled)
    {
      call->aborted = true;
      return 0;
    }
  return n;
}

static int
http_curl_kind (CURLcode rc)
{
  switch (rc)
    {
    case CURLE_OPERATION_TIMEDOUT:
      return ERR_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
      return ERR_UNREACHABLE;
    case CURLE_WRITE_ERROR:
      return ERR_CANCELLED;
    default:
      return ERR_MALFORMED;
    }
}

/* Complete a call that never reached curl (deferred add failed). */
static void
http_call_fail_now (http_call_t *call, int kind, const char *msg)
{
  http_client_t *c = call->client;
  struct http_response resp = { 0 };
  agent_error_t err = NULL;
  error_set (&err, kind, "%s", msg);
  call->completing = true;
  c->active--;
  c->depth++;
  if (call->on_done)
    call->on_done (&resp, err, call->data);
  error_free (&err);
  c->depth--;
  http_call_free (call);
}

static void
http_check_done (http_client_t *c)
{
  CURLMsg *m;
  int left;
  while (!c->closing && (m = curl_multi_info_read (c->multi, &left)))
    {
      if (m->msg != CURLMSG_DONE)
        continue;
      http_transfers_done++;
      http_call_t *call = NULL;
      curl_easy_getinfo (m->easy_handle, CURLINFO_PRIVATE, (char **) &call);
      CURLcode rc = m->data.result;
      if (call == NULL)
        continue;
      if (call->cancelled)
        {
          http_call_free (call);
          continue;
        }
      struct http_response resp = { 0 };
      curl_easy_getinfo (call->easy, CURLINFO_RESPONSE_CODE, &resp.status);
      char *ct = NULL;
      curl_easy_getinfo (call->easy, CURLINFO_CONTENT_TYPE, &ct);
      resp.content_type = ct;
      resp.body = call->buf;
      resp.body_len = call->len;
      if (resp.body == NULL && call->on_data == NULL)
        resp.body = "";
      agent_error_t err = NULL;
      if (rc != CURLE_OK)
        {
          int kind = call->aborted ? ERR_CANCELLED : http_curl_kind (rc);
          error_set (&err, kind, "%s", call->errbuf[0] ? call->errbuf : curl_easy_strerror (rc));
        }
      call->completing = true;
      c->active--;
      if (call->on_done)
        call->on_done (&resp, err, call->data);
      error_free (&err);
      http_call_free (call);
    }
}

http_call_t *
http_call_start (http_client_t *c, const struct http_request *req, agent_error_t *err)
{
  if (c->closing)
    {
      error_set (err, ERR_CANCELLED, "http client is closing");
      return NULL;
    }
  http_call_t *call = xcalloc (1, sizeof *call);
  call->client = c;
  call->on_data = req->on_data;
  call->on_done = req->on_done;
  call->on_headers = req->on_headers;
  call->data = req->data;
  CURL *e = curl_easy_init ();
  if (e == NULL)
    {
      free (call);
      error_set (err, ERR_GENERIC, "curl_easy_init failed");
      return NULL;
    }
  call->easy = e;
  curl_easy_setopt (e, CURLOPT_URL, req->url);
  curl_easy_setopt (e, CURLOPT_PRIVATE, call);
  curl_easy_setopt (e, CURLOPT_ERRORBUFFER, call->errbuf);
  curl_easy_setopt (e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, http_write_cb);
  curl_easy_setopt (e, CURLOPT_WRITEDATA, call);
  if (req->on_headers)
    {
      curl_easy_setopt (e, CURLOPT_HEADERFUNCTION, http_header_cb);
      curl_easy_setopt (e, CURLOPT_HEADERDATA, call);
    }
  if (req->unix_socket)
    curl_easy_setopt (e, CURLOPT_UNIX_SOCKET_PATH, req->unix_socket);
  const char *method = req->method ? req->method : "GET";
  if (strcmp (method, "GET") != 0)
    curl_easy_setopt (e, CURLOPT_CUSTOMREQUEST, method);
  if (strcmp (method, "HEAD") == 0)
    curl_easy_setopt (e, CURLOPT_NOBODY, 1L);
  if (req->body)
    {
      call->body_in = xmalloc (req->body_len + 1);
      memcpy (call->body_in, req->body, req->body_len);
      call->body_in[req->body_len] = '\0';
      curl_easy_setopt (e, CURLOPT_POSTFIELDS, call->body_in);
      curl_easy_setopt (e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
    }
  else if (strcmp (method, "POST") == 0 || strcmp (method, "PUT") == 0)
    {
      curl_easy_setopt (e, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt (e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) 0);
    }
  /* no "Expect: 100-continue" round trip */
  call->headers = curl_slist_append (call->headers, "Expect:");
  for (size_t i = 0; i < req->n_headers; i++)
    {
      char *h = xasprintf ("%s: %s", req->headers[i].name, req->headers[i].value);
      call->headers = curl_slist_append (call->headers, h);
      free (h);
    }
  curl_easy_setopt (e, CURLOPT_HTTPHEADER, call->headers);
  if (req->timeout_ms > 0)
    curl_easy_setopt (e, CURLOPT_TIMEOUT_MS, req->timeout_ms);
  if (req->connect_timeout_ms > 0)
    curl_easy_setopt (e, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
  if (req->inactivity_s > 0)
    {
      curl_easy_setopt (e, CURLOPT_LOW_SPEED_LIMIT, 1L);
      curl_easy_setopt (e, CURLOPT_LOW_SPEED_TIME, req->inactivity_s);
    }
  if (req->insecure)
    {
      curl_easy_setopt (e, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt (e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
  if (c->depth == 0)
    {
      if (curl_multi_add_handle (c->multi, e) != CURLM_OK)
        {
          curl_easy_cleanup (e);
          curl_slist_free_all (call->headers);
          free (call->body_in);
          free (call);
          error_set (err, ERR_GENERIC, "curl_multi_add_handle failed");
          return NULL;
        }
      call->added = true;
    }
  /* else: added by http_dispatch_end once curl has returned */
  c->active++;
  call->next = c->calls;
  if (c->calls)
    c->calls->prev = call;
  c->calls = call;
  return call;
}

void
http_call_cancel (http_call_t *call)
{
  if (call == NULL || call->cancelled || call->completing)
    return;
  http_client_t *c = call->client;
  if (c->depth > 0)
    {
      call->cancelled = true;
      c->active--;
      return;
    }
  http_call_free (call);
}
