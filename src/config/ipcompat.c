/* config/ipcompat.c - IPv4 / IPv6 default routes (see ipcompat.h). */
#include "config/ipcompat.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* /proc/net/route: "Iface Destination Gateway Flags RefCnt Use Metric Mask
   ..." with hex fields; the first line is the header. */
static bool
route_v4_default_cb (const char *line)
{
  char iface[64];
  unsigned long dst, gw, flags, mask;
  int refcnt, use, metric;
  if (sscanf (line, "%63s %lx %lx %lx %d %d %d %lx", iface, &dst, &gw, &flags, &refcnt, &use, &metric,
              &mask)
      != 8)
    return false;
  return dst == 0 && mask == 0 && gw != 0;
}

static bool
all_zero_hex (const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (s[i] != '0')
      return false;
  return true;
}

/* /proc/net/ipv6_route: "<dst 32 hex> <dst len 2 hex> <src 32 hex> <src len>
   <next hop 32 hex> <metric> <refcnt> <use> <flags> <dev>" */
static bool
route_v6_default_cb (const char *line)
{
  char dst[33], dlen[3], src[33], slen[3], hop[33];
  if (sscanf (line, "%32s %2s %32s %2s %32s", dst, dlen, src, slen, hop) != 5 || strlen (dst) != 32
      || strlen (hop) != 32 || strspn (hop, "0123456789abcdefABCDEF") != 32)
    return false;
  return all_zero_hex (dst, 32) && strcmp (dlen, "00") == 0 && !all_zero_hex (hop, 32);
}

static bool
any_line (const char *text, bool (*is_default) (const char *line))
{
  for (const char *p = text; p && *p;)
    {
      const char *nl = strchr (p, '\n');
      size_t n = nl ? (size_t) (nl - p) : strlen (p);
      char line[512];
      if (n < sizeof line)
        {
          memcpy (line, p, n);
          line[n] = '\0';
          if (is_default (line))
            return true;
        }
      p = nl ? nl + 1 : NULL;
    }
  return false;
}

void
config_ip_compat_parse (const char *route_v4, const char *route_v6, struct config_ip_compat *out)
{
  out->ipv4 = any_line (route_v4, route_v4_default_cb);
  out->ipv6 = any_line (route_v6, route_v6_default_cb);
}

int
config_ip_compat_detect (const char *proc_net, struct config_ip_compat *out, agent_error_t *err)
{
  out->ipv4 = out->ipv6 = false;
  cleanup_free char *p4 = xasprintf ("%s/route", proc_net);
  cleanup_free char *p6 = xasprintf ("%s/ipv6_route", proc_net);
  cleanup_free char *v4 = NULL;
  cleanup_free char *v6 = NULL;
  size_t len;
  if (util_read_file (p4, &v4, &len, err) < 0)
    return error_wrap (err, "reading the IPv4 routes");
  agent_error_t e6 = NULL;
  if (util_read_file (p6, &v6, &len, &e6) < 0)
    error_free (&e6); /* IPv6 disabled: no IPv6 routes */
  config_ip_compat_parse (v4, v6, out);
  return 0;
}

void
config_ip_compat_apply (const struct config_ip_compat *c, struct task_option_gates *g)
{
  g->ipv6_only = config_ip_compat_ipv6_only (c);
  if (g->ipv6_only && !g->exclude_ipv6_portbinding_set)
    g->exclude_ipv6_portbinding = false;
}
