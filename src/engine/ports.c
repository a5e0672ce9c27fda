/* engine/ports.c - agent-chosen host ports (see ports.h). */
#include "engine/ports.h"
#include "engine/options_check.h"
#include "core/xmalloc.h"
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Docker publishes a port on every address, IPv6 too: the probe binds a
   dual-stack socket (as upstream's listen on ":<port>"), or an IPv4 one
   where the host has no IPv6. */
bool
engine_port_probe_bind (uint16_t port, enum task_protocol proto, void *data)
{
  (void) data;
  int type = (proto == TASK_PROTO_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC;
  int fd = socket (AF_INET6, type, 0);
  if (fd >= 0)
    {
      int off = 0;
      struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6, .sin6_port = htons (port),
                                  .sin6_addr = IN6ADDR_ANY_INIT };
      bool ok = setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) == 0
                && bind (fd, (struct sockaddr *) &sa6, sizeof sa6) == 0;
      close (fd);
      return ok;
    }
  fd = socket (AF_INET, type, 0);
  if (fd < 0)
    return false;
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (port),
                            .sin_addr.s_addr = htonl (INADDR_ANY) };
  bool ok = bind (fd, (struct sockaddr *) &sa, sizeof sa) == 0;
  close (fd);
  return ok;
}

/* n contiguous free ports of [lo, hi], searching from a->last + 1 and
   wrapping once; 0 if none. */
static uint16_t
pick (struct engine_port_alloc *a, unsigned n, enum task_protocol proto, unsigned lo, unsigned hi,
      engine_port_probe_fn probe, void *data)
{
  if (n == 0 || hi < lo || n > hi - lo + 1)
    return 0;
  unsigned span = hi - lo + 1;
  unsigned start = a->last >= lo && a->last < hi ? a->last + 1u : lo;
  for (unsigned tried = 0; tried < span; tried++)
    {
      unsigned first = lo + (start - lo + tried) % span;
      if (first + n - 1 > hi)
        continue; /* a block does not wrap around the range end */
      unsigned k = 0;
      while (k < n && probe ((uint16_t) (first + k), proto, data))
        k++;
      if (k == n)
        {
          a->last = (uint16_t) (first + n - 1);
          return (uint16_t) first;
        }
      tried += k; /* the block starting at the busy port's successor comes next */
    }
  return 0;
}

int
engine_ports_assign (struct engine_port_alloc *a, const struct task_container *c,
                     struct docker_port_spec *ports, size_t n_ports, uint16_t range_start,
                     uint16_t range_end, engine_port_probe_fn probe, void *probe_data, char **errmsg)
{
  size_t k = 0;
  for (size_t i = 0; i < c->n_port_mappings; i++)
    {
      const struct task_port_mapping *m = &c->port_mappings[i];
      unsigned n = m->range_start ? (unsigned) (m->range_end - m->range_start) + 1 : 1;
      if (k + n > n_ports)
        break;
      if (ports[k].host_port == 0)
        {
          uint16_t first = pick (a, n, m->protocol, range_start, range_end, probe, probe_data);
          if (!first)
            {
              *errmsg = n == 1 ? xstrdup ("error retrieving docker port map: a host port is unavailable")
                               : xasprintf ("error retrieving docker port map: %u contiguous host ports "
                                            "are unavailable", n);
              return -1;
            }
          for (unsigned j = 0; j < n; j++)
            ports[k + j].host_port = (uint16_t) (first + j);
        }
      k += n;
    }
  return 0;
}

int
engine_ports_pick_for (struct engine_port_alloc *a, const struct task_option_gates *g,
                       const struct task *t, const struct task_container *c,
                       struct engine_create_req *r, char **errmsg)
{
  if (!g || strcmp (engine_task_network_mode (t), "bridge") != 0)
    return 0;
  return engine_ports_assign (a, c, r->ports, r->opts.n_ports, g->port_range_start, g->port_range_end,
                              engine_port_probe_bind, NULL, errmsg);
}
