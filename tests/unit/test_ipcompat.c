/* Unit tests for config/ipcompat.c: IPv4 / IPv6 default routes as the
 * kernel shows them in /proc/net/route and /proc/net/ipv6_route (table),
 * and the adapter over a folder holding those two files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config/ipcompat.h"
#include "core/util.h"
#include "core/xmalloc.h"

#define V4_HEAD "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
/* default via 192.0.2.1 dev eth0 */
#define V4_DEFAULT "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
/* 10.88.0.0/16 dev cni0 (no gateway) */
#define V4_LINK "cni0\t0000580A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
/* a 0.0.0.0/0 without gateway (dev-only default) */
#define V4_NOGW "ppp0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n"
/* ::/0 via fe80::1 dev eth0 */
#define V6_DEFAULT                                                                                 \
  "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "                      \
  "fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n"
/* fd00::/64 dev eth0 */
#define V6_LINK                                                                                    \
  "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "                      \
  "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n"
/* the kernel's unreachable ::/0 on lo (no next hop) */
#define V6_REJECT                                                                                  \
  "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "                      \
  "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
/* 2001:db8::/32 via a gateway: not every address */
#define V6_PREFIX_GW                                                                               \
  "20010db8000000000000000000000000 20 00000000000000000000000000000000 00 "                      \
  "fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n"

static void
test_parse (void **st)
{
  (void) st;
  struct
  {
    const char *v4, *v6;
    bool ipv4, ipv6, ipv6_only;
  } cases[] = {
    { V4_HEAD V4_DEFAULT V4_LINK, V6_LINK, true, false, false },          /* IPv4 only (this CI) */
    { V4_HEAD V4_DEFAULT, V6_LINK V6_DEFAULT, true, true, false },        /* dual stack */
    { V4_HEAD V4_LINK, V6_LINK V6_DEFAULT V6_REJECT, false, true, true }, /* IPv6-only */
    { V4_HEAD, V6_DEFAULT, false, true, true },
    { V4_HEAD V4_NOGW, V6_REJECT V6_PREFIX_GW, false, false, false },     /* no gateway / not ::/0 */
    { V4_HEAD V4_LINK, NULL, false, false, false },                        /* IPv6 disabled */
    { NULL, NULL, false, false, false },
    { "garbage\n\n\t\n", "zz 00 zz\n" V6_DEFAULT, false, true, true },    /* bad lines skipped */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      struct config_ip_compat c;
      config_ip_compat_parse (cases[i].v4, cases[i].v6, &c);
      assert_int_equal (c.ipv4, cases[i].ipv4);
      assert_int_equal (c.ipv6, cases[i].ipv6);
      assert_int_equal (config_ip_compat_ipv6_only (&c), cases[i].ipv6_only);
    }
}

/* IPv6-only: ipv6_only set and "::" bindings reported unless
   ECS_EXCLUDE_IPV6_PORTBINDING was given; otherwise the gates stay. */
static void
test_apply (void **st)
{
  (void) st;
  struct
  {
    bool ipv4, ipv6, key_set, key_value;
    bool ipv6_only, exclude;
  } cases[] = {
    { true, false, false, true, false, true },  { true, true, false, true, false, true },
    { false, true, false, true, true, false },  { false, true, true, true, true, true },
    { false, true, true, false, true, false },  { true, false, true, false, false, false },
    { false, false, false, true, false, true },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      struct task_option_gates g;
      task_option_gates_default (&g);
      g.exclude_ipv6_portbinding_set = cases[i].key_set;
      if (cases[i].key_set)
        g.exclude_ipv6_portbinding = cases[i].key_value;
      struct config_ip_compat c = { cases[i].ipv4, cases[i].ipv6 };
      config_ip_compat_apply (&c, &g);
      assert_int_equal (g.ipv6_only, cases[i].ipv6_only);
      assert_int_equal (g.exclude_ipv6_portbinding, cases[i].exclude);
      task_option_gates_free (&g);
    }
}

static void
put (const char *dir, const char *name, const char *text)
{
  cleanup_free char *p = xasprintf ("%s/%s", dir, name);
  FILE *f = fopen (p, "w");
  assert_non_null (f);
  fputs (text, f);
  fclose (f);
}

static void
test_detect (void **st)
{
  (void) st;
  char dir[] = "/tmp/ipcompat-XXXXXX";
  assert_non_null (mkdtemp (dir));
  struct config_ip_compat c;
  agent_error_t err = NULL;
  /* no route file at all: an error (the agent then takes IPv4-only) */
  assert_true (config_ip_compat_detect (dir, &c, &err) < 0);
  error_free (&err);
  /* IPv6 disabled: no ipv6_route file */
  put (dir, "route", V4_HEAD V4_DEFAULT);
  assert_int_equal (config_ip_compat_detect (dir, &c, &err), 0);
  assert_true (c.ipv4 && !c.ipv6);
  put (dir, "route", V4_HEAD V4_LINK);
  put (dir, "ipv6_route", V6_LINK V6_DEFAULT);
  assert_int_equal (config_ip_compat_detect (dir, &c, &err), 0);
  assert_true (config_ip_compat_ipv6_only (&c));
  cleanup_free char *p4 = xasprintf ("%s/route", dir);
  cleanup_free char *p6 = xasprintf ("%s/ipv6_route", dir);
  unlink (p4);
  unlink (p6);
  rmdir (dir);
  /* the host's own tables parse */
  assert_int_equal (config_ip_compat_detect ("/proc/net", &c, &err), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_parse),
    cmocka_unit_test (test_apply),
    cmocka_unit_test (test_detect),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
