/* docker/json_stream.c - splits a streamed HTTP body (pull progress, the
 * event stream) into its JSON values.
 *
 * Docker writes one JSON object after another, usually one per line but not
 * always (a chunk may end inside a value, or hold several).  The framer only
 * finds where each top-level object ends: it follows strings, escapes and
 * bracket depth, resuming its scan where the last chunk ended, so each byte
 * is looked at once.  jansson then parses the span, so a value handed on is
 * always valid JSON (unless the stream is `unchecked`: its consumer parses
 * each value anyway).  A value may be at most max_value bytes (1 MiB by
 * default); the buffer is compacted after every chunk.
 */
#include "core/xmalloc.h"
#include "docker/docker.h"
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_MAX_VALUE (1024 * 1024)

int
docker_json_stream_feed (struct docker_json_stream *s, const char *chunk, size_t len,
                         docker_json_value_cb on_value, void *data, agent_error_t *err)
{
  if (len > 0)
    {
      if (s->len + len + 1 > s->cap)
        {
          s->cap = (s->len + len + 1) * 2;
          s->buf = xrealloc (s->buf, s->cap);
        }
      memcpy (s->buf + s->len, chunk, len);
      s->len += len;
      s->buf[s->len] = '\0';
    }
  /* Framing: find the end of the next top-level object by tracking
     strings, escapes and nesting (s->scan is where the scan resumes, the
     value starts at 0 after each compaction); jansson parses the span. */
  size_t off = 0;
  int rc = 0;
  for (;;)
    {
      if (s->scan == 0 || s->depth == 0)
        {
          while (off < s->len && isspace ((unsigned char) s->buf[off]))
            off++;
          if (off >= s->len)
            break;
          if (s->buf[off] != '{')
            {
              rc = error_set (err, ERR_MALFORMED, "invalid JSON stream: expected an object");
              break;
            }
          s->scan = off;
          s->depth = 0;
          s->in_str = s->esc = false;
        }
      size_t end = 0;
      size_t i;
      for (i = s->scan; i < s->len; i++)
        {
          char ch = s->buf[i];
          if (s->in_str)
            {
              if (s->esc)
                s->esc = false;
              else if (ch == '\\')
                s->esc = true;
              else if (ch == '"')
                s->in_str = false;
              continue;
            }
          if (ch == '"')
            s->in_str = true;
          else if (ch == '{' || ch == '[')
            s->depth++;
          else if (ch == '}' || ch == ']')
            {
              if (--s->depth == 0)
                {
                  end = i + 1;
                  break;
                }
              if (s->depth < 0)
                break;
            }
        }
      if (s->depth < 0)
        {
          rc = error_set (err, ERR_MALFORMED, "invalid JSON stream: unbalanced brackets");
          break;
        }
      if (end == 0)
        {
          s->scan = i;
          if (s->len - off > (s->max_value ? s->max_value : STREAM_MAX_VALUE))
            rc = error_set (err, ERR_MALFORMED, "invalid JSON stream: value too large");
          break;
        }
      size_t vlen = end - off;
      if (vlen > (s->max_value ? s->max_value : STREAM_MAX_VALUE))
        {
          rc = error_set (err, ERR_MALFORMED, "invalid JSON stream: value too large");
          break;
        }
      s->scan = 0;
      s->depth = 0;
      if (memchr (s->buf + off, '\0', vlen))
        { /* jansson lets a raw NUL through; the value is handed on as a C string */
          rc = error_set (err, ERR_MALFORMED, "invalid JSON stream: NUL byte in a value");
          break;
        }
      if (!s->unchecked)
        {
          json_error_t jerr;
          json_t *v = json_loadb (s->buf + off, vlen, 0, &jerr);
          if (v == NULL)
            {
              rc = error_set (err, ERR_MALFORMED, "invalid JSON stream: %s", jerr.text);
              break;
            }
          json_decref (v);
        }
      /* handed on in place, NUL-terminated (the byte after it is saved) */
      char saved = s->buf[end];
      s->buf[end] = '\0';
      off = end;
      int r = on_value ? on_value (s->buf + off - vlen, vlen, data) : 0;
      s->buf[end] = saved;
      if (r < 0)
        {
          rc = r;
          break;
        }
    }
  if (off > 0 && s->buf)
    {
      memmove (s->buf, s->buf + off, s->len - off);
      s->len -= off;
      s->buf[s->len] = '\0';
      if (s->scan >= off)
        s->scan -= off;
      else
        s->scan = 0;
    }
  return rc;
}

bool
docker_json_stream_empty (const struct docker_json_stream *s)
{
  for (size_t i = 0; i < s->len; i++)
    if (!isspace ((unsigned char) s->buf[i]))
      return false;
  return true;
}

void
docker_json_stream_free (struct docker_json_stream *s)
{
  free (s->buf);
  *s = (struct docker_json_stream){ .max_value = s->max_value, .unchecked = s->unchecked };
}
