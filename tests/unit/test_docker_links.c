/* Unit tests for docker/links.c: links as /etc/hosts entries on Podman
 * (tables: the entries of links at addresses, taking HostConfig.Links out
 * of a create body, appending ExtraHosts, the address of an inspect). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "core/xmalloc.h"
#include "docker/links.h"

static void
assert_json_equal (const char *got, const char *want)
{
  json_t *g = json_loads (got, 0, NULL), *w = json_loads (want, 0, NULL);
  if (!json_equal (g, w))
    fail_msg ("got %s, want %s", got, want);
  json_decref (g);
  json_decref (w);
}

static void
test_hosts_table (void **st)
{
  (void) st;
  static const struct
  {
    const char *links[4];
    const char *addrs[4];
    const char *want; /* entries joined by ',' */
  } rows[] = {
    { { "ecs-t-1-db-aa:database" }, { "10.88.0.5" }, "database:10.88.0.5,ecs-t-1-db-aa:10.88.0.5" },
    { { "db" }, { "10.0.0.2" }, "db:10.0.0.2" },
    { { "db:db" }, { "10.0.0.2" }, "db:10.0.0.2" },
    { { "/db:/web/database" }, { "10.0.0.2" }, "database:10.0.0.2,db:10.0.0.2" },
    { { "a:x", "b:y" }, { "10.0.0.1", "10.0.0.9" }, "x:10.0.0.1,a:10.0.0.1,y:10.0.0.9,b:10.0.0.9" },
    { { "a:x", "a:y" }, { "10.0.0.1", "10.0.0.1" }, "x:10.0.0.1,a:10.0.0.1,y:10.0.0.1" },
    { { "a:" }, { "fd00::2" }, "a:fd00::2" },
    { { NULL }, { NULL }, "" },
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    {
      char **h = docker_links_hosts (rows[i].links, rows[i].addrs);
      char buf[512] = "";
      for (size_t k = 0; h[k]; k++)
        {
          if (k)
            strcat (buf, ",");
          strcat (buf, h[k]);
        }
      if (strcmp (buf, rows[i].want) != 0)
        fail_msg ("row %zu: got %s, want %s", i, buf, rows[i].want);
      docker_links_strv_free (h);
    }
}

static void
test_take_table (void **st)
{
  (void) st;
  static const struct
  {
    const char *body, *want_body, *want_links; /* want_body NULL: error */
  } rows[] = {
    { "{\"Image\":\"i\",\"HostConfig\":{\"Links\":[\"a:x\",\"b:y\"],\"Memory\":1}}",
      "{\"Image\":\"i\",\"HostConfig\":{\"Memory\":1}}", "a:x,b:y" },
    { "{\"Image\":\"i\",\"HostConfig\":{\"Memory\":1}}", "{\"Image\":\"i\",\"HostConfig\":{\"Memory\":1}}", "" },
    { "{\"Image\":\"i\"}", "{\"Image\":\"i\"}", "" },
    { "{\"HostConfig\":{\"Links\":null}}", "{\"HostConfig\":{}}", "" },
    { "{\"HostConfig\":{\"Links\":[]}}", "{\"HostConfig\":{}}", "" },
    { "{\"HostConfig\":{\"Links\":[\"a\",1]}}", NULL, NULL },
    { "{\"HostConfig\":{\"Links\":\"a:b\"}}", NULL, NULL },
    { "[1]", NULL, NULL },
    { "{", NULL, NULL },
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    {
      char *body = NULL, **links = NULL;
      agent_error_t err = NULL;
      int r = docker_links_take (rows[i].body, &body, &links, &err);
      if (rows[i].want_body == NULL)
        {
          if (r == 0 || error_kind (&err) != ERR_INVALID || body || links)
            fail_msg ("row %zu: expected ERR_INVALID", i);
          error_free (&err);
          continue;
        }
      assert_int_equal (r, 0);
      assert_json_equal (body, rows[i].want_body);
      char buf[256] = "";
      for (size_t k = 0; links && links[k]; k++)
        {
          if (k)
            strcat (buf, ",");
          strcat (buf, links[k]);
        }
      assert_string_equal (buf, rows[i].want_links);
      free (body);
      docker_links_strv_free (links);
    }
}

static void
test_add_hosts (void **st)
{
  (void) st;
  const char *hosts[] = { "database:10.88.0.5", "db:10.88.0.5", NULL };
  agent_error_t err = NULL;
  char *b = docker_links_add_hosts ("{\"Image\":\"i\"}", hosts, &err);
  assert_json_equal (b, "{\"Image\":\"i\",\"HostConfig\":{\"ExtraHosts\":[\"database:10.88.0.5\",\"db:10.88.0.5\"]}}");
  free (b);
  /* the overlay's entries stay first */
  b = docker_links_add_hosts ("{\"HostConfig\":{\"ExtraHosts\":[\"h:1.2.3.4\"],\"Memory\":1}}", hosts, &err);
  assert_json_equal (b, "{\"HostConfig\":{\"ExtraHosts\":[\"h:1.2.3.4\",\"database:10.88.0.5\",\"db:10.88.0.5\"],\"Memory\":1}}");
  free (b);
  assert_null (docker_links_add_hosts ("nope", hosts, &err));
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);
}

static void
test_address (void **st)
{
  (void) st;
  struct docker_kv nets[] = { { "empty", "" }, { "podman", "10.88.0.7" } };
  struct docker_container_info i = { 0 };
  assert_null (docker_links_address (&i)); /* host / none / not running */
  i.networks = nets;
  i.n_networks = 1;
  assert_null (docker_links_address (&i));
  i.n_networks = 2;
  assert_string_equal (docker_links_address (&i), "10.88.0.7");
  i.ip_address = "";
  assert_string_equal (docker_links_address (&i), "10.88.0.7");
  i.ip_address = "172.17.0.3";
  assert_string_equal (docker_links_address (&i), "172.17.0.3");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_hosts_table),
    cmocka_unit_test (test_take_table),
    cmocka_unit_test (test_add_hosts),
    cmocka_unit_test (test_address),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
