/* Unit tests for core/memory: the program's code pages go back to the
 * kernel and the program keeps running (they fault back in). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/memory.h"

/* Bytes of the program's own read-only mappings (its path in
   /proc/self/maps, no 'w' in the permissions; RELRO data is among them)
   and of its code alone (r-xp). */
static size_t
program_readonly_bytes (size_t *code)
{
  char exe[4096];
  ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
  assert_true (n > 0);
  exe[n] = '\0';
  FILE *f = fopen ("/proc/self/maps", "r");
  assert_non_null (f);
  char line[4608];
  size_t total = 0;
  while (fgets (line, sizeof line, f))
    {
      unsigned long lo, hi;
      char perms[8], path[4096];
      if (sscanf (line, "%lx-%lx %7s %*s %*s %*s %4095s", &lo, &hi, perms, path) == 4
          && strcmp (path, exe) == 0 && strchr (perms, 'w') == NULL)
        {
          total += hi - lo;
          if (perms[2] == 'x')
            *code += hi - lo;
        }
    }
  fclose (f);
  return total;
}

static void
test_release_code (void **state)
{
  (void) state;
  size_t code = 0;
  size_t readonly = program_readonly_bytes (&code);
  assert_true (code > 0);
  /* this kernel has MADV_PAGEOUT (Linux >= 5.4): the program's code and
     constants were advised; no shared library, no writable data (read-only
     mappings bound it: the RELRO part of the data segment is one of them
     and is not advised) */
  size_t advised = memory_release_code ();
  assert_true (advised >= code);
  assert_true (advised <= readonly);
  assert_int_equal (advised % (size_t) sysconf (_SC_PAGESIZE), 0);
  /* and the program still runs: code faults back in */
  memory_release_heap ();
  char *p = malloc (64);
  assert_non_null (p);
  snprintf (p, 64, "%s %zu", "advised", advised);
  assert_memory_equal (p, "advised", 7);
  free (p);
  assert_int_equal (memory_release_code (), advised);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_release_code),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
