/* core/xmalloc.h - allocation that never returns NULL, and cleanup helpers.
 *
 * An allocation failure aborts the process through xalloc_die(): the agent
 * cannot do anything useful without memory, and a NULL check at every call
 * site hides real errors.  cleanup_* attributes free locals on scope exit;
 * hand ownership off by setting the local to NULL.
 */
#ifndef CORE_XMALLOC_H
#define CORE_XMALLOC_H

#include <stddef.h>
#include <stdio.h>

void xalloc_die (void) __attribute__ ((noreturn));
void *xmalloc (size_t n);
void *xcalloc (size_t nmemb, size_t n);
void *xrealloc (void *p, size_t n);
char *xstrdup (const char *s);   /* NULL in, NULL out */
char *xstrndup (const char *s, size_t n);
char *xasprintf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

void cleanup_freep (void *p);
void cleanup_fclosep (FILE **f);
void cleanup_closep (int *fd);

#define cleanup_free __attribute__ ((cleanup (cleanup_freep)))
#define cleanup_file __attribute__ ((cleanup (cleanup_fclosep)))
#define cleanup_close __attribute__ ((cleanup (cleanup_closep)))

#define ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))

#endif
