/* fuzz_ipcompat.c - libFuzzer target for config_ip_compat_parse (the
 * kernel's route tables as /proc/net/route and /proc/net/ipv6_route show
 * them).  Input: the IPv4 table, a NUL byte, the IPv6 table (no NUL: the
 * input is both).  Checked: the verdict does not depend on a line that
 * is too long or malformed (appending such a line changes nothing). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "config/ipcompat.h"
#include "core/xmalloc.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *text = xmalloc (size + 1);
  memcpy (text, data, size);
  text[size] = '\0';
  const char *v6 = memchr (data, '\0', size) ? text + strlen (text) + 1 : text;
  struct config_ip_compat a, b;
  config_ip_compat_parse (text, v6, &a);
  size_t n4 = strlen (text), n6 = strlen (v6);
  char *t4 = xmalloc (n4 + 16), *t6 = xmalloc (n6 + 16);
  memcpy (t4, text, n4);
  memcpy (t6, v6, n6);
  strcpy (t4 + n4, "\nzz 0 0 0\n");
  strcpy (t6 + n6, "\nzz 00 zz\n");
  config_ip_compat_parse (t4, t6, &b);
  if (a.ipv4 != b.ipv4 || a.ipv6 != b.ipv6)
    abort ();
  free (t4);
  free (t6);
  free (text);
  return 0;
}
