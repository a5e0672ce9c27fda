/* Unit tests for task_port_bindings_report (task/task.c): the network
 * bindings a container's state change reports, as upstream reports them
 * (a containerPortRange bound to contiguous host ports is one binding,
 * "::" bindings left out unless asked), and their JSON form in
 * SubmitContainerStateChange (ecs/ecs_json.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "core/util.h"
#include "core/xmalloc.h"
#include "ecs/ecs.h"
#include "task/task.h"

#define B(cp, hp, ip, proto) { (cp), (hp), (char *) (ip), (proto), 0, 0 }
#define TCP TASK_PROTO_TCP
#define UDP TASK_PROTO_UDP

struct want
{
  unsigned cp, cpe, hp, hpe;
  const char *ip;
  enum task_protocol proto;
};

static void
check (const struct task_container *c, const struct task_port_binding *b, size_t n, bool ex6,
       const struct want *w, size_t nw)
{
  size_t got_n = 99;
  struct task_port_binding *got = task_port_bindings_report (c, b, n, ex6, &got_n);
  assert_int_equal (got_n, nw);
  for (size_t i = 0; i < nw; i++)
    {
      assert_int_equal (got[i].container_port, w[i].cp);
      assert_int_equal (got[i].container_port_end, w[i].cpe);
      assert_int_equal (got[i].host_port, w[i].hp);
      assert_int_equal (got[i].host_port_end, w[i].hpe);
      assert_string_equal (got[i].bind_ip, w[i].ip);
      assert_int_equal (got[i].protocol, w[i].proto);
    }
  if (nw == 0)
    assert_null (got);
  task_port_bindings_free (got, got_n);
}

static void
test_report (void **st)
{
  (void) st;
  struct task_port_mapping maps[] = {
    { .container_port = 80, .protocol = TCP },
    { .range_start = 9000, .range_end = 9002, .protocol = UDP },
  };
  struct task_container c = { .name = "web", .port_mappings = maps, .n_port_mappings = 2 };

  /* Docker bound the range to contiguous host ports, on IPv4 and IPv6 */
  struct task_port_binding b1[] = {
    B (80, 32768, "0.0.0.0", TCP),  B (80, 32768, "::", TCP),
    B (9000, 40000, "0.0.0.0", UDP), B (9001, 40001, "0.0.0.0", UDP), B (9002, 40002, "0.0.0.0", UDP),
    B (9000, 40000, "::", UDP),      B (9001, 40001, "::", UDP),      B (9002, 40002, "::", UDP),
  };
  struct want w1[] = { { 80, 0, 32768, 0, "0.0.0.0", TCP }, { 9000, 9002, 40000, 40002, "0.0.0.0", UDP } };
  check (&c, b1, ARRAY_SIZE (b1), true, w1, ARRAY_SIZE (w1));
  /* ECS_EXCLUDE_IPV6_PORTBINDING=false: one range per address */
  struct want w1b[] = { { 80, 0, 32768, 0, "0.0.0.0", TCP }, { 80, 0, 32768, 0, "::", TCP },
                        { 9000, 9002, 40000, 40002, "0.0.0.0", UDP }, { 9000, 9002, 40000, 40002, "::", UDP } };
  check (&c, b1, ARRAY_SIZE (b1), false, w1b, ARRAY_SIZE (w1b));

  /* host ports not contiguous (Docker picked them): each port reported */
  struct task_port_binding b2[] = {
    B (9000, 40000, "0.0.0.0", UDP), B (9001, 40007, "0.0.0.0", UDP), B (9002, 40002, "0.0.0.0", UDP),
  };
  struct want w2[] = { { 9000, 0, 40000, 0, "0.0.0.0", UDP }, { 9001, 0, 40007, 0, "0.0.0.0", UDP },
                       { 9002, 0, 40002, 0, "0.0.0.0", UDP } };
  check (&c, b2, ARRAY_SIZE (b2), true, w2, ARRAY_SIZE (w2));

  /* a port of the range missing, or bound with the other protocol */
  struct task_port_binding b3[] = {
    B (9000, 40000, "0.0.0.0", UDP), B (9001, 40001, "0.0.0.0", TCP), B (9002, 40002, "0.0.0.0", UDP),
  };
  struct want w3[] = { { 9000, 0, 40000, 0, "0.0.0.0", UDP }, { 9001, 0, 40001, 0, "0.0.0.0", TCP },
                       { 9002, 0, 40002, 0, "0.0.0.0", UDP } };
  check (&c, b3, ARRAY_SIZE (b3), true, w3, ARRAY_SIZE (w3));

  /* nothing bound, only IPv6, no container */
  check (&c, NULL, 0, true, NULL, 0);
  struct task_port_binding b4[] = { B (80, 32768, "::", TCP) };
  check (&c, b4, 1, true, NULL, 0);
  struct want w4[] = { { 80, 0, 32768, 0, "::", TCP } };
  check (NULL, b4, 1, true, NULL, 0);
  check (NULL, b4, 1, false, w4, 1);
}

static void
test_json (void **st)
{
  (void) st;
  struct task_port_binding b[] = {
    B (80, 32768, "0.0.0.0", TCP),
    { 9000, 40000, (char *) "0.0.0.0", UDP, 9002, 40002 },
  };
  struct ecs_container_state_change c = { .cluster = "c", .task_arn = "t", .container_name = "web",
                                          .status = "RUNNING", .bindings = b, .n_bindings = 2 };
  char *s = ecs_build_container_state_change (&c);
  json_t *j = json_loads (s, 0, NULL);
  free (s);
  json_t *nb = json_object_get (j, "networkBindings");
  assert_int_equal (json_array_size (nb), 2);
  json_t *one = json_array_get (nb, 0), *range = json_array_get (nb, 1);
  assert_int_equal (json_integer_value (json_object_get (one, "containerPort")), 80);
  assert_int_equal (json_integer_value (json_object_get (one, "hostPort")), 32768);
  assert_null (json_object_get (one, "containerPortRange"));
  assert_string_equal (json_string_value (json_object_get (range, "containerPortRange")), "9000-9002");
  assert_string_equal (json_string_value (json_object_get (range, "hostPortRange")), "40000-40002");
  assert_string_equal (json_string_value (json_object_get (range, "protocol")), "udp");
  assert_string_equal (json_string_value (json_object_get (range, "bindIP")), "0.0.0.0");
  assert_null (json_object_get (range, "containerPort"));
  assert_null (json_object_get (range, "hostPort"));
  json_decref (j);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_report),
    cmocka_unit_test (test_json),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
