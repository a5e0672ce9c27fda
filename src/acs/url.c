/* acs/url.c - the ACS websocket URL (acs.md §2). */
#include "acs/session.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

char *
acs_query_escape (const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  struct sbuf b = { 0 };
  for (const unsigned char *p = (const unsigned char *) (s ? s : ""); *p; p++)
    {
      unsigned char c = *p;
      if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
          || c == '_' || c == '.' || c == '~')
        sbuf_append (&b, (const char *) p, 1);
      else if (c == ' ')
        sbuf_puts (&b, "+");
      else
        {
          char e[3] = { '%', hex[c >> 4], hex[c & 15] };
          sbuf_append (&b, e, 3);
        }
    }
  return sbuf_steal (&b);
}

static void
add_param (struct sbuf *b, const char *key, const char *value)
{
  if (value == NULL)
    return;
  if (b->len && b->s[b->len - 1] != '?')
    sbuf_puts (b, "&");
  char *k = acs_query_escape (key);
  char *v = acs_query_escape (value);
  sbuf_printf (b, "%s=%s", k, v);
  free (k);
  free (v);
}

char *
acs_build_url (const struct acs_url_params *p)
{
  struct sbuf b = { 0 };
  const char *ep = p->endpoint ? p->endpoint : "";
  sbuf_puts (&b, ep);
  if (!*ep || ep[strlen (ep) - 1] != '/')
    sbuf_puts (&b, "/");
  sbuf_puts (&b, "ws?");
  char seq[32], proto[16];
  snprintf (seq, sizeof seq, "%" PRId64, p->seq_num > 0 ? p->seq_num : 1);
  snprintf (proto, sizeof proto, "%d", p->protocol_version);
  char *dv = p->docker_version ? xasprintf ("DockerVersion: %s", p->docker_version) : NULL;
  /* Keys in sorted order (Go url.Values.Encode). */
  add_param (&b, "agentHash", p->agent_hash);
  add_param (&b, "agentVersion", p->agent_version);
  add_param (&b, "clusterArn", p->cluster);
  add_param (&b, "containerInstanceArn", p->container_instance_arn);
  add_param (&b, "dockerVersion", dv);
  add_param (&b, "protocolVersion", p->protocol_version ? proto : NULL);
  add_param (&b, "sendCredentials", p->send_credentials ? "true" : "false");
  add_param (&b, "seqNum", seq);
  free (dv);
  return sbuf_steal (&b);
}
