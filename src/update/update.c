/* update/update.c - StageUpdate / PerformUpdate handling (see update.h). */
#include "update/update.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MOD "update"
#define DEFAULT_TIMEOUT_MS (15L * 60 * 1000)
#define PERFORM_FLUSH_MAX_MS 5000

struct fin_work
{
  uv_work_t req;
  update_t *u; /* NULL once the manager was freed */
  int fd;
  char *dir, *tar_name;
  agent_error_t err;
};

struct update_manager
{
  uv_loop_t *loop;
  bool enabled;
  char *dir;
  http_client_t *http;
  long timeout_ms;
  acs_session_t *session;
  int (*send) (void *ctx, const char *frame, agent_error_t *err);
  void *send_ctx;
  void (*on_perform) (void *data);
  void *data;

  enum update_state state;
  /* the staged (or staging) update */
  char *msg_id, *cluster, *instance, *signature;
  char *tar_path;
  int fd;
  EVP_MD_CTX *md;
  bool write_failed;
  int write_errno;
  http_call_t *call;
  struct fin_work *fin;

  uv_timer_t perform_timer;
  bool perform_pending;
  bool performed; /* on_perform ran: the process is on its way out */
};

/* ---- sending ---- */

static void
send_frame (update_t *u, char *frame)
{
  agent_error_t err = NULL;
  int rc;
  if (u->send)
    rc = u->send (u->send_ctx, frame, &err);
  else if (u->session)
    rc = acs_session_send_text (u->session, frame, &err);
  else
    rc = error_set (&err, ERR_UNREACHABLE, "no ACS session");
  if (rc < 0)
    log_warn (MOD, "could not send to ACS: %s", error_msg (&err));
  error_free (&err);
  free (frame);
}

static void
ack (update_t *u, const char *id, const char *cluster, const char *instance)
{
  log_info (MOD, "acknowledging update message %s", id);
  send_frame (u, acs_encode_ack (cluster, instance, id));
}

static void
nack (update_t *u, const char *id, const char *cluster, const char *instance, const char *reason)
{
  log_warn (MOD, "refusing update message %s: %s", id, reason);
  send_frame (u, acs_encode_nack (cluster, instance, id, reason));
}

/* ---- staged update bookkeeping ---- */

static void
clear_current (update_t *u, bool remove_file)
{
  if (u->call)
    {
      http_call_cancel (u->call);
      u->call = NULL;
    }
  if (u->fin)
    {
      u->fin->u = NULL; /* detached: its result is dropped */
      u->fin = NULL;
    }
  if (u->fd >= 0)
    {
      close (u->fd);
      u->fd = -1;
    }
  if (u->md)
    {
      EVP_MD_CTX_free (u->md);
      u->md = NULL;
    }
  if (remove_file && u->tar_path)
    unlink (u->tar_path);
  free (u->msg_id);
  free (u->cluster);
  free (u->instance);
  free (u->signature);
  free (u->tar_path);
  u->msg_id = u->cluster = u->instance = u->signature = u->tar_path = NULL;
  u->write_failed = false;
  u->state = UPDATE_NONE;
}

static char *
trim_dup (const char *s)
{
  while (*s && isspace ((unsigned char) *s))
    s++;
  size_t n = strlen (s);
  while (n && isspace ((unsigned char) s[n - 1]))
    n--;
  return xstrndup (s, n);
}

static void
fail_current (update_t *u, const char *reason)
{
  char *id = xstrdup (u->msg_id), *cl = xstrdup (u->cluster), *in = xstrdup (u->instance);
  clear_current (u, true);
  nack (u, id, cl, in, reason);
  free (id);
  free (cl);
  free (in);
}

/* ---- download ---- */

static int
write_chunk (update_t *u, const char *p, size_t len)
{
  while (len)
    {
      ssize_t w = write (u->fd, p, len);
      if (w < 0)
        {
          if (errno == EINTR)
            continue;
          u->write_failed = true;
          u->write_errno = errno;
          return -1;
        }
      p += w;
      len -= (size_t) w;
    }
  return 0;
}

static int
on_data (const char *chunk, size_t len, void *data)
{
  update_t *u = data;
  if (write_chunk (u, chunk, len) < 0)
    return -1;
  EVP_DigestUpdate (u->md, chunk, len);
  return 0;
}

static void
fin_work_cb (uv_work_t *req)
{
  struct fin_work *fw = req->data;
  if (fsync (fw->fd) < 0)
    error_set (&fw->err, ERR_IO, "fsync %s: %s", fw->tar_name, strerror (errno));
  if (close (fw->fd) < 0 && !fw->err)
    error_set (&fw->err, ERR_IO, "close %s: %s", fw->tar_name, strerror (errno));
  fw->fd = -1;
  if (fw->err)
    return;
  char *path = xasprintf ("%s/desired-image", fw->dir);
  char *content = xasprintf ("%s\n", fw->tar_name);
  util_write_file_atomic (path, content, strlen (content), 0644, &fw->err);
  free (path);
  free (content);
}

static void
fin_after_cb (uv_work_t *req, int status)
{
  struct fin_work *fw = req->data;
  update_t *u = fw->u;
  if (u)
    {
      u->fin = NULL;
      if (status < 0 && !fw->err)
        error_set (&fw->err, ERR_CANCELLED, "cancelled");
      if (fw->err)
        {
          char *r = xasprintf ("Unable to download: %s", error_msg (&fw->err));
          fail_current (u, r);
          free (r);
        }
      else
        {
          u->state = UPDATE_DOWNLOADED;
          log_info (MOD, "update %s staged as %s", u->msg_id, u->tar_path);
          ack (u, u->msg_id, u->cluster, u->instance);
        }
    }
  error_free (&fw->err);
  free (fw->dir);
  free (fw->tar_name);
  free (fw);
}

static void
download_done_cb (const struct http_response *resp, agent_error_t err, void *data)
{
  update_t *u = data;
  u->call = NULL;
  if (!err && resp && resp->body && resp->body_len)
    {
      /* Not streamed (non-2xx status, or a non-HTTP URL): upstream does not
         check the status, so the body is hashed like any other. */
      on_data (resp->body, resp->body_len, u);
    }
  if (u->write_failed)
    {
      char *r = xasprintf ("Unable to download: write %s: %s", u->tar_path,
                           strerror (u->write_errno));
      fail_current (u, r);
      free (r);
      return;
    }
  if (err)
    {
      char *r = xasprintf ("Unable to download: %s", error_msg (&err));
      fail_current (u, r);
      free (r);
      return;
    }
  unsigned char dg[EVP_MAX_MD_SIZE];
  unsigned int dl = 0;
  EVP_DigestFinal_ex (u->md, dg, &dl);
  EVP_MD_CTX_free (u->md);
  u->md = NULL;
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  util_hex_encode (dg, dl, hex);
  if (strcmp (hex, u->signature) != 0)
    {
      log_warn (MOD, "update %s: sha256 %s does not match the signature %s (HTTP %ld)", u->msg_id,
                hex, u->signature, resp ? resp->status : 0L);
      fail_current (u, "Unable to download: Hashsum validation failed");
      return;
    }
  struct fin_work *fw = xcalloc (1, sizeof *fw);
  fw->req.data = fw;
  fw->u = u;
  fw->fd = u->fd;
  u->fd = -1;
  fw->dir = xstrdup (u->dir);
  const char *base = strrchr (u->tar_path, '/');
  fw->tar_name = xstrdup (base ? base + 1 : u->tar_path);
  u->fin = fw;
  if (uv_queue_work (u->loop, &fw->req, fin_work_cb, fin_after_cb) < 0)
    {
      u->fin = NULL;
      close (fw->fd);
      free (fw->dir);
      free (fw->tar_name);
      free (fw);
      fail_current (u, "Unable to download: cannot queue the final write");
    }
}

static bool
url_ok (const char *s)
{
  if (!s || !isalpha ((unsigned char) *s))
    return false;
  const char *p = s;
  while (isalnum ((unsigned char) *p) || *p == '+' || *p == '-' || *p == '.')
    p++;
  if (strncmp (p, "://", 3) != 0)
    return false;
  for (const char *q = s; *q; q++)
    if ((unsigned char) *q <= ' ')
      return false;
  return true;
}

void
update_handle_stage (update_t *u, struct acs_update_message *m)
{
  if (!m)
    return;
  if (!m->message_id || !*m->message_id)
    {
      log_error (MOD, "StageUpdateMessage without messageId dropped");
      acs_update_message_free (m);
      return;
    }
  const char *id = m->message_id, *cl = m->cluster_arn, *in = m->container_instance_arn;
  if (!u->enabled)
    {
      nack (u, id, cl, in, "Updates are disabled");
      acs_update_message_free (m);
      return;
    }
  const char *bad = NULL;
  if (!m->has_update_info)
    bad = "Invalid update: no update info given";
  else if (!m->location || !*m->location)
    bad = "Invalid update: no location given";
  else if (!m->signature || !*m->signature)
    bad = "Invalid update: no signature given";
  else if (!url_ok (m->location))
    bad = "Invalid update: URL parse error";
  if (bad)
    {
      nack (u, id, cl, in, bad);
      acs_update_message_free (m);
      return;
    }
  char *sig = trim_dup (m->signature);
  if (u->state != UPDATE_NONE)
    {
      if (strcmp (sig, u->signature) == 0)
        {
          log_info (MOD, "update %s: same update as %s", id, u->msg_id);
          ack (u, id, cl, in);
          free (sig);
          acs_update_message_free (m);
          return;
        }
      char *reason = xasprintf ("New update arrived: %s", id);
      nack (u, u->msg_id, u->cluster, u->instance, reason);
      free (reason);
      clear_current (u, u->state == UPDATE_DOWNLOADING);
    }
  u->msg_id = xstrdup (id);
  u->cluster = xstrdup (cl);
  u->instance = xstrdup (in);
  u->signature = sig;
  char hex[21];
  util_random_hex (hex, 10);
  u->tar_path = xasprintf ("%s/%s.ecs-update.tar", u->dir, hex);
  u->state = UPDATE_DOWNLOADING;
  u->fd = open (u->tar_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (u->fd < 0)
    {
      char *r = xasprintf ("Unable to download: open %s: %s", u->tar_path, strerror (errno));
      free (u->tar_path);
      u->tar_path = NULL; /* nothing to remove */
      fail_current (u, r);
      free (r);
      acs_update_message_free (m);
      return;
    }
  u->md = EVP_MD_CTX_new ();
  if (!u->md || EVP_DigestInit_ex (u->md, EVP_sha256 (), NULL) != 1)
    xalloc_die ();
  log_info (MOD, "update %s: downloading %s", id, m->location);
  struct http_request req = {
    .method = "GET",
    .url = m->location,
    .timeout_ms = u->timeout_ms,
    .on_data = on_data,
    .on_done = download_done_cb,
    .data = u,
  };
  agent_error_t err = NULL;
  u->call = http_call_start (u->http, &req, &err);
  if (!u->call)
    {
      char *r = xasprintf ("Unable to download: %s", error_msg (&err));
      fail_current (u, r);
      free (r);
    }
  error_free (&err);
  acs_update_message_free (m);
}

/* ---- perform ---- */

static void
perform_now (update_t *u)
{
  if (!u->perform_pending)
    return;
  u->perform_pending = false;
  u->performed = true;
  uv_timer_stop (&u->perform_timer);
  log_info (MOD, "performing the update: the agent exits for the supervisor to load %s",
            u->tar_path ? u->tar_path : "");
  if (u->on_perform)
    u->on_perform (u->data);
}

static void
perform_flushed (void *data)
{
  perform_now (data);
}

static void
perform_timer_cb (uv_timer_t *t)
{
  perform_now (t->data);
}

void
update_handle_perform (update_t *u, struct acs_update_message *m)
{
  if (!m)
    return;
  if (!m->message_id || !*m->message_id)
    {
      log_error (MOD, "PerformUpdateMessage without messageId dropped");
      acs_update_message_free (m);
      return;
    }
  const char *id = m->message_id, *cl = m->cluster_arn, *in = m->container_instance_arn;
  if (!u->enabled)
    nack (u, id, cl, in, "Updates are disabled");
  else if (u->state != UPDATE_DOWNLOADED)
    nack (u, id, cl, in, "Cannot perform update; update not downloaded");
  else if (u->perform_pending || u->performed)
    ack (u, id, cl, in); /* already on its way */
  else
    {
      ack (u, id, cl, in);
      u->perform_pending = true;
      uv_timer_start (&u->perform_timer, perform_timer_cb, PERFORM_FLUSH_MAX_MS, 0);
      if (u->session && !u->send)
        acs_session_flush (u->session, perform_flushed, u);
      else
        uv_timer_start (&u->perform_timer, perform_timer_cb, 0, 0);
    }
  acs_update_message_free (m);
}

void
update_on_stage (acs_session_t *s, struct acs_update_message *m, void *data)
{
  update_t *u = data;
  if (!u->session)
    u->session = s;
  update_handle_stage (u, m);
}

void
update_on_perform (acs_session_t *s, struct acs_update_message *m, void *data)
{
  update_t *u = data;
  if (!u->session)
    u->session = s;
  update_handle_perform (u, m);
}

/* ---- lifecycle ---- */

update_t *
update_new (uv_loop_t *loop, const struct update_options *opts, agent_error_t *err)
{
  if (!loop || !opts)
    {
      error_set (err, ERR_INVALID, "update_new: loop and options are required");
      return NULL;
    }
  if (opts->enabled && !opts->http)
    {
      error_set (err, ERR_INVALID, "update_new: an HTTP client is required with updates enabled");
      return NULL;
    }
  update_t *u = xcalloc (1, sizeof *u);
  u->loop = loop;
  u->enabled = opts->enabled;
  u->dir = xstrdup (opts->download_dir && *opts->download_dir ? opts->download_dir : ".");
  size_t dl = strlen (u->dir);
  while (dl > 1 && u->dir[dl - 1] == '/')
    u->dir[--dl] = '\0';
  u->http = opts->http;
  u->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
  u->session = opts->session;
  u->send = opts->send;
  u->send_ctx = opts->send_ctx;
  u->on_perform = opts->on_perform;
  u->data = opts->data;
  u->fd = -1;
  uv_timer_init (loop, &u->perform_timer);
  u->perform_timer.data = u;
  return u;
}

void
update_set_session (update_t *u, acs_session_t *s)
{
  u->session = s;
}

enum update_state
update_get_state (const update_t *u)
{
  return u->state;
}

const char *
update_tarball (const update_t *u)
{
  return u->state == UPDATE_DOWNLOADED ? u->tar_path : NULL;
}

static void
update_closed_cb (uv_handle_t *h)
{
  update_t *u = h->data;
  free (u->dir);
  free (u);
}

void
update_free (update_t *u)
{
  if (!u)
    return;
  bool downloading = u->state == UPDATE_DOWNLOADING;
  clear_current (u, downloading);
  if (u->session && u->perform_pending)
    acs_session_flush_cancel (u->session, perform_flushed, u);
  u->perform_pending = false;
  uv_timer_stop (&u->perform_timer);
  uv_close ((uv_handle_t *) &u->perform_timer, update_closed_cb);
}
