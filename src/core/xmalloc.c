#include "core/xmalloc.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
xalloc_die (void)
{
  static const char msg[] = "fatal: out of memory\n";
  if (write (2, msg, sizeof msg - 1) < 0)
    abort ();
  abort ();
}

void *
xmalloc (size_t n)
{
  void *p = malloc (n ? n : 1);
  if (p == NULL)
    xalloc_die ();
  return p;
}

void *
xcalloc (size_t nmemb, size_t n)
{
  void *p = calloc (nmemb ? nmemb : 1, n ? n : 1);
  if (p == NULL)
    xalloc_die ();
  return p;
}

void *
xrealloc (void *p, size_t n)
{
  p = realloc (p, n ? n : 1);
  if (p == NULL)
    xalloc_die ();
  return p;
}

char *
xstrdup (const char *s)
{
  if (s == NULL)
    return NULL;
  char *r = strdup (s);
  if (r == NULL)
    xalloc_die ();
  return r;
}

char *
xstrndup (const char *s, size_t n)
{
  if (s == NULL)
    return NULL;
  char *r = strndup (s, n);
  if (r == NULL)
    xalloc_die ();
  return r;
}

char *
xasprintf (const char *fmt, ...)
{
  char *r = NULL;
  va_list ap;
  va_start (ap, fmt);
  if (vasprintf (&r, fmt, ap) < 0)
    xalloc_die ();
  va_end (ap);
  return r;
}

void
cleanup_freep (void *p)
{
  void **pp = p;
  free (*pp);
  *pp = NULL;
}

void
cleanup_fclosep (FILE **f)
{
  if (*f)
    fclose (*f);
  *f = NULL;
}

void
cleanup_closep (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}
