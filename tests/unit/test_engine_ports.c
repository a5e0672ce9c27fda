/* Unit tests for engine/ports.c: agent-chosen host ports in the dynamic
 * range (table over a fake probe: single ports, contiguous blocks for port
 * ranges, the search resuming after the last port, wrapping, exhaustion),
 * and the real bind probe on a port held by the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/xmalloc.h"
#include "engine/ports.h"

struct busy
{
  uint16_t tcp[8], udp[8];
};

static bool
fake_probe (uint16_t port, enum task_protocol proto, void *data)
{
  struct busy *b = data;
  const uint16_t *set = proto == TASK_PROTO_UDP ? b->udp : b->tcp;
  for (size_t i = 0; i < 8 && set[i]; i++)
    if (set[i] == port)
      return false;
  return true;
}

struct case_
{
  const char *name;
  uint16_t last;                 /* allocator state before */
  struct task_port_mapping m[3]; /* up to 3 mappings */
  size_t nm;
  struct busy busy;
  int rc;
  uint16_t want[8]; /* host ports of the expanded bindings */
  const char *err;
};

#define PM(cp, hp, proto) { cp, hp, proto, 0, 0 }
#define PR(a, b, proto) { 0, 0, proto, a, b }

static const struct case_ cases[] = {
  { "first port of the range", 0, { PM (80, 0, TASK_PROTO_TCP) }, 1, { { 0 }, { 0 } }, 0, { 100 }, NULL },
  { "fixed host port untouched", 0, { PM (80, 8080, TASK_PROTO_TCP), PM (81, 0, TASK_PROTO_TCP) }, 2,
    { { 0 }, { 0 } }, 0, { 8080, 100 }, NULL },
  { "after the last one handed out", 103, { PM (80, 0, TASK_PROTO_TCP) }, 1, { { 0 }, { 0 } }, 0, { 104 }, NULL },
  { "busy ports skipped, per protocol", 0, { PM (80, 0, TASK_PROTO_TCP), PM (53, 0, TASK_PROTO_UDP) }, 2,
    { { 100, 101 }, { 102 } }, 0, { 102, 103 }, NULL },
  { "wraps to the start", 109, { PM (80, 0, TASK_PROTO_TCP) }, 1, { { 0 }, { 0 } }, 0, { 100 }, NULL },
  { "contiguous block for a range", 0, { PR (9000, 9002, TASK_PROTO_UDP) }, 1, { { 0 }, { 101 } }, 0,
    { 102, 103, 104 }, NULL },
  { "block does not wrap past the end", 107, { PR (9000, 9002, TASK_PROTO_TCP) }, 1, { { 0 }, { 0 } }, 0,
    { 100, 101, 102 }, NULL },
  { "a run of busy ports skipped", 0, { PM (80, 0, TASK_PROTO_TCP) }, 1,
    { { 100, 101, 102, 103, 104, 105, 106, 107 }, { 0 } }, 0, { 108 }, NULL },
  { "exhausted", 0, { PR (1, 4, TASK_PROTO_TCP) }, 1, { { 103, 107 }, { 0 } }, -1, { 0 },
    "4 contiguous host ports are unavailable" },
  { "range wider than the dynamic range", 0, { PR (1, 11, TASK_PROTO_TCP) }, 1, { { 0 }, { 0 } }, -1, { 0 },
    "11 contiguous host ports are unavailable" },
};

static void
test_assign_table (void **st)
{
  (void) st;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      const struct case_ *c = &cases[i];
      struct task_container ctr = { .port_mappings = (struct task_port_mapping *) c->m,
                                    .n_port_mappings = c->nm };
      struct docker_port_spec ports[16] = { { 0 } };
      size_t n = 0;
      for (size_t j = 0; j < c->nm; j++)
        {
          unsigned cnt = c->m[j].range_start ? (unsigned) (c->m[j].range_end - c->m[j].range_start) + 1 : 1;
          for (unsigned k = 0; k < cnt; k++)
            ports[n++].host_port = c->m[j].range_start ? 0 : c->m[j].host_port;
        }
      struct engine_port_alloc a = { .last = c->last };
      char *err = NULL;
      struct busy b = c->busy;
      int rc = engine_ports_assign (&a, &ctr, ports, n, 100, 109, fake_probe, &b, &err);
      if (rc != c->rc)
        fail_msg ("%s: rc %d (%s)", c->name, rc, err ? err : "");
      if (rc < 0)
        {
          if (!strstr (err, c->err))
            fail_msg ("%s: %s", c->name, err);
          free (err);
          continue;
        }
      for (size_t j = 0; j < n; j++)
        if (ports[j].host_port != c->want[j])
          fail_msg ("%s: binding %zu got %u want %u", c->name, j, ports[j].host_port, c->want[j]);
    }
}

static void
test_bind_probe (void **st)
{
  (void) st;
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_ANY) };
  assert_int_equal (bind (fd, (struct sockaddr *) &sa, sizeof sa), 0);
  socklen_t len = sizeof sa;
  assert_int_equal (getsockname (fd, (struct sockaddr *) &sa, &len), 0);
  assert_int_equal (listen (fd, 1), 0);
  uint16_t held = ntohs (sa.sin_port);
  assert_false (engine_port_probe_bind (held, TASK_PROTO_TCP, NULL));
  /* the same port number is free for UDP */
  assert_true (engine_port_probe_bind (held, TASK_PROTO_UDP, NULL));
  close (fd);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_assign_table),
    cmocka_unit_test (test_bind_probe),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
