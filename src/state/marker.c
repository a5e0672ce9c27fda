/* state/marker.c - durable "handling message X" note (see marker.h). */
#include "state/marker.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARKER_VERSION 1

struct suspect
{
  char *id;
  unsigned deaths;
};

struct state_marker
{
  char *path; /* NULL: memory only */
  char *handling[STATE_MARKER_MAX_HANDLING];
  size_t n_handling;
  struct suspect suspects[STATE_MARKER_MAX_SUSPECTS];
  size_t n_suspects;
};

/* The form an id is kept in: itself, or a digest when it is long. */
static char *
marker_key (const char *id)
{
  size_t len = strlen (id);
  if (len <= STATE_MARKER_MAX_ID)
    return xstrdup (id);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  EVP_Digest (id, len, md, &mdlen, EVP_sha256 (), NULL);
  util_hex_encode (md, mdlen, hex);
  return xasprintf ("sha256:%s", hex);
}

static ssize_t
suspect_find (const state_marker_t *m, const char *key)
{
  for (size_t i = 0; i < m->n_suspects; i++)
    if (strcmp (m->suspects[i].id, key) == 0)
      return (ssize_t) i;
  return -1;
}

static void
suspect_remove (state_marker_t *m, size_t i)
{
  free (m->suspects[i].id);
  memmove (&m->suspects[i], &m->suspects[i + 1], (m->n_suspects - i - 1) * sizeof *m->suspects);
  m->n_suspects--;
}

/* Record one more death of key (the oldest suspect goes when full). */
static void
suspect_add (state_marker_t *m, const char *key, unsigned deaths)
{
  ssize_t i = suspect_find (m, key);
  if (i >= 0)
    {
      deaths += m->suspects[i].deaths;
      suspect_remove (m, (size_t) i);
    }
  if (m->n_suspects == STATE_MARKER_MAX_SUSPECTS)
    suspect_remove (m, 0);
  m->suspects[m->n_suspects].id = xstrdup (key);
  m->suspects[m->n_suspects].deaths = deaths;
  m->n_suspects++;
}

static ssize_t
handling_find (const state_marker_t *m, const char *key)
{
  for (size_t i = 0; i < m->n_handling; i++)
    if (strcmp (m->handling[i], key) == 0)
      return (ssize_t) i;
  return -1;
}

static void
handling_remove (state_marker_t *m, size_t i)
{
  free (m->handling[i]);
  memmove (&m->handling[i], &m->handling[i + 1], (m->n_handling - i - 1) * sizeof *m->handling);
  m->n_handling--;
}

/* Write the file durably, or remove it when there is nothing to keep. */
static int
marker_store (const state_marker_t *m, agent_error_t *err)
{
  if (!m->path)
    return 0;
  if (m->n_handling == 0 && m->n_suspects == 0)
    {
      if (unlink (m->path) < 0 && errno != ENOENT)
        return error_set_status (err, ERR_IO, errno, "remove %s: %s", m->path, strerror (errno));
      return 0;
    }
  json_t *h = json_array (), *s = json_array ();
  for (size_t i = 0; i < m->n_handling; i++)
    json_array_append_new (h, json_string (m->handling[i]));
  for (size_t i = 0; i < m->n_suspects; i++)
    json_array_append_new (s, json_pack ("{s:s, s:I}", "MessageId", m->suspects[i].id, "Deaths",
                                         (json_int_t) m->suspects[i].deaths));
  json_t *root = json_pack ("{s:i, s:o, s:o}", "Version", MARKER_VERSION, "Handling", h, "Suspects", s);
  char *text = json_dumps (root, JSON_COMPACT);
  json_decref (root);
  int rc = util_write_file_atomic (m->path, text, strlen (text), 0600, err);
  free (text);
  return rc;
}

/* The previous run's file, or NULL with *why (NULL too when it is missing). */
static json_t *
marker_read (const char *path, char **why)
{
  *why = NULL;
  /* Not a FIFO (no blocking open), not a symlink, not larger than a marker. */
  int fd = open (path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno != ENOENT)
        *why = xasprintf ("open %s: %s", path, strerror (errno));
      return NULL;
    }
  struct stat st;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size > STATE_MARKER_MAX_FILE)
    {
      *why = xasprintf ("%s is not a regular file of at most %d bytes", path, STATE_MARKER_MAX_FILE);
      close (fd);
      return NULL;
    }
  char *buf = xmalloc ((size_t) st.st_size + 1);
  size_t got = 0;
  while (got < (size_t) st.st_size)
    {
      ssize_t r = read (fd, buf + got, (size_t) st.st_size - got);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      got += (size_t) r;
    }
  close (fd);
  json_error_t jerr;
  json_t *root = json_loadb (buf, got, JSON_REJECT_DUPLICATES, &jerr);
  free (buf);
  if (!root)
    *why = xasprintf ("%s: not JSON: %s", path, jerr.text);
  else if (!json_is_object (root) || json_integer_value (json_object_get (root, "Version")) != MARKER_VERSION)
    {
      *why = xasprintf ("%s: not a version %d marker", path, MARKER_VERSION);
      json_decref (root);
      root = NULL;
    }
  return root;
}

state_marker_t *
state_marker_open (const char *data_dir, char **warning)
{
  *warning = NULL;
  state_marker_t *m = xcalloc (1, sizeof *m);
  if (!data_dir)
    return m;
  m->path = xasprintf ("%s/%s", data_dir, STATE_MARKER_FILE_NAME);
  char *why = NULL;
  json_t *root = marker_read (m->path, &why);
  if (!root)
    {
      if (why)
        *warning = xasprintf ("ignoring the payload marker: %s", why);
      free (why);
      return m;
    }
  size_t i;
  json_t *v;
  json_array_foreach (json_object_get (root, "Suspects"), i, v)
  {
    const char *id = json_string_value (json_object_get (v, "MessageId"));
    json_int_t d = json_integer_value (json_object_get (v, "Deaths"));
    if (id && *id && strlen (id) <= STATE_MARKER_MAX_ID + 7 && d > 0)
      suspect_add (m, id, d > 1000 ? 1000u : (unsigned) d);
  }
  bool died = false;
  json_array_foreach (json_object_get (root, "Handling"), i, v)
  {
    const char *id = json_string_value (v);
    if (id && *id && strlen (id) <= STATE_MARKER_MAX_ID + 7)
      {
        suspect_add (m, id, 1);
        died = true;
      }
  }
  json_decref (root);
  /* Count this death once, even if the agent dies again before the
     message comes back. */
  agent_error_t err = NULL;
  if (died && marker_store (m, &err) < 0)
    *warning = xasprintf ("could not rewrite the payload marker: %s", error_msg (&err));
  error_free (&err);
  return m;
}

void
state_marker_free (state_marker_t *m)
{
  if (!m)
    return;
  for (size_t i = 0; i < m->n_handling; i++)
    free (m->handling[i]);
  for (size_t i = 0; i < m->n_suspects; i++)
    free (m->suspects[i].id);
  free (m->path);
  free (m);
}

int
state_marker_begin (state_marker_t *m, const char *message_id, agent_error_t *err)
{
  char *key = marker_key (message_id);
  if (handling_find (m, key) >= 0)
    {
      free (key);
      return 0;
    }
  if (m->n_handling == STATE_MARKER_MAX_HANDLING)
    handling_remove (m, 0);
  m->handling[m->n_handling++] = key;
  return marker_store (m, err);
}

int
state_marker_end (state_marker_t *m, const char *message_id, bool acknowledged, agent_error_t *err)
{
  char *key = marker_key (message_id);
  bool changed = false;
  ssize_t i = handling_find (m, key);
  if (i >= 0)
    {
      handling_remove (m, (size_t) i);
      changed = true;
    }
  i = acknowledged ? suspect_find (m, key) : -1;
  if (i >= 0)
    {
      suspect_remove (m, (size_t) i);
      changed = true;
    }
  free (key);
  return changed ? marker_store (m, err) : 0;
}

unsigned
state_marker_deaths (const state_marker_t *m, const char *message_id)
{
  if (m->n_suspects == 0)
    return 0;
  char *key = marker_key (message_id);
  ssize_t i = suspect_find (m, key);
  free (key);
  return i >= 0 ? m->suspects[i].deaths : 0;
}

size_t
state_marker_suspect_count (const state_marker_t *m)
{
  return m->n_suspects;
}

size_t
state_marker_handling_count (const state_marker_t *m)
{
  return m->n_handling;
}

const char *
state_marker_path (const state_marker_t *m)
{
  return m->path ? m->path : "";
}
