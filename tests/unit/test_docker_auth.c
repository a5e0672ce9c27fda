/* test_docker_auth.c - registry credentials: parsing both auth types,
 * registry matching, X-Registry-Auth encoding, secrets kept out of logs
 * and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/util.h"
#include "core/xmalloc.h"
#include "docker/auth.h"
#include "helpers/fixture.h"
#include "log/log.h"

#define SAMPLES "protocol/samples/"

/* base64 (either alphabet) decoder for checking the header */
static char *
unb64 (const char *s)
{
  static const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  size_t n = strlen (s);
  char *o = calloc (1, n + 1);
  size_t k = 0;
  unsigned acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n && s[i] != '='; i++)
    {
      int v;
      const char *p = strchr (a, s[i]);
      if (p)
        v = (int) (p - a);
      else if (s[i] == '-' || s[i] == '+')
        v = 62;
      else if (s[i] == '_' || s[i] == '/')
        v = 63;
      else
        {
          free (o);
          return NULL;
        }
      acc = (acc << 6) | (unsigned) v;
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          o[k++] = (char) ((acc >> bits) & 0xff);
        }
    }
  return o;
}

static struct docker_auth_config *
parse_ok (const char *type, const char *json)
{
  struct docker_auth_config *cfg = NULL;
  agent_error_t err = NULL;
  int r = docker_auth_parse (type, json, &cfg, &err);
  if (r < 0)
    fail_msg ("parse failed: %s", error_msg (&err));
  assert_non_null (cfg);
  return cfg;
}

static void
test_parse_docker_type (void **state)
{
  (void) state;
  struct docker_auth_config *cfg = parse_ok (
      "docker", "{\"https://index.docker.io/v1/\":{\"username\":\"hubuser\",\"password\":\"hubpass\","
                "\"email\":\"e@x.io\"},\"myreg.example.com:5000\":{\"Username\":\"u2\",\"PASSWORD\":\"p2\"}}");
  assert_int_equal (cfg->n, 2);
  assert_string_equal (cfg->entries[0].key, "index.docker.io/v1/");
  assert_string_equal (cfg->entries[0].username, "hubuser");
  assert_string_equal (cfg->entries[0].password, "hubpass");
  assert_string_equal (cfg->entries[0].email, "e@x.io");
  assert_string_equal (cfg->entries[0].serveraddress, "https://index.docker.io/v1/");
  assert_string_equal (cfg->entries[1].key, "myreg.example.com:5000");
  assert_string_equal (cfg->entries[1].username, "u2"); /* keys case-insensitive */
  assert_string_equal (cfg->entries[1].password, "p2");
  assert_null (cfg->entries[1].email);
  docker_auth_config_free (cfg);
}

static void
test_parse_dockercfg_type (void **state)
{
  (void) state;
  /* "dXNlcjpwYTpzcw==" = base64("user:pa:ss"): split at the first ':' */
  struct docker_auth_config *cfg
      = parse_ok ("dockercfg", "{\"https://quay.io\":{\"auth\":\"dXNlcjpwYTpzcw==\",\"email\":\"q@x\"},"
                               "\"http://127.0.0.1:5000/v2/\":{\"auth\":\"YTpi\"}}");
  assert_int_equal (cfg->n, 2);
  assert_string_equal (cfg->entries[0].key, "quay.io");
  assert_string_equal (cfg->entries[0].username, "user");
  assert_string_equal (cfg->entries[0].password, "pa:ss");
  assert_string_equal (cfg->entries[0].email, "q@x");
  assert_string_equal (cfg->entries[1].key, "127.0.0.1:5000");
  assert_string_equal (cfg->entries[1].username, "a");
  assert_string_equal (cfg->entries[1].password, "b");
  assert_string_equal (cfg->entries[1].serveraddress, "http://127.0.0.1:5000/v2/");
  docker_auth_config_free (cfg);
}

static void
test_parse_auth_overrides_user (void **state)
{
  (void) state;
  /* 1.1.0: both types share the parser; auth overrides username/password */
  struct docker_auth_config *cfg = parse_ok (
      "docker", "{\"r.io\":{\"username\":\"old\",\"password\":\"oldpw\",\"auth\":\"bmV3Om5ld3B3\"}}");
  assert_string_equal (cfg->entries[0].username, "new");
  assert_string_equal (cfg->entries[0].password, "newpw");
  docker_auth_config_free (cfg);
}

static void
test_parse_empty_and_errors (void **state)
{
  (void) state;
  struct docker_auth_config *cfg = NULL;
  agent_error_t err = NULL;
  assert_int_equal (docker_auth_parse (NULL, NULL, &cfg, &err), 0);
  assert_int_equal (cfg->n, 0);
  docker_auth_config_free (cfg);
  assert_int_equal (docker_auth_parse ("", "{\"x\":1}", &cfg, &err), 0);
  docker_auth_config_free (cfg);
  assert_int_equal (docker_auth_parse ("docker", "", &cfg, &err), 0);
  docker_auth_config_free (cfg);

  assert_true (docker_auth_parse ("ecr", "{}", &cfg, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_INVALID);
  assert_null (cfg);
  error_free (&err);

  const char *secret_doc = "{\"r.io\":{\"username\":\"u\",\"password\":\"sUpErSeCrEt\"";
  assert_true (docker_auth_parse ("docker", secret_doc, &cfg, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_INVALID);
  assert_null (strstr (error_msg (&err), "sUpErSeCrEt"));
  error_free (&err);

  assert_true (docker_auth_parse ("docker", "[1,2]", &cfg, &err) < 0);
  error_free (&err);
  assert_true (docker_auth_parse ("docker", "{\"r.io\":\"str\"}", &cfg, &err) < 0);
  error_free (&err);
  /* auth that is not base64 / has no colon */
  assert_true (docker_auth_parse ("dockercfg", "{\"r.io\":{\"auth\":\"!!!!\"}}", &cfg, &err) < 0);
  assert_null (strstr (error_msg (&err), "!!!!"));
  error_free (&err);
  assert_true (docker_auth_parse ("dockercfg", "{\"r.io\":{\"auth\":\"bm9jb2xvbg==\"}}", &cfg, &err)
               < 0);
  assert_null (strstr (error_msg (&err), "bm9jb2xvbg"));
  error_free (&err);

  /* the document as a JSON string (config file form) */
  cfg = parse_ok ("docker", "\"{\\\"r.io\\\":{\\\"username\\\":\\\"u\\\",\\\"password\\\":\\\"p\\\"}}\"");
  assert_int_equal (cfg->n, 1);
  docker_auth_config_free (cfg);
}

static void
test_parse_auth_base64 (void **state)
{
  (void) state;
  /* "auth" is base64 of user:password, standard or URL alphabet, padding
     optional, whitespace ignored */
  static const struct
  {
    const char *auth, *user, *pass; /* user NULL: refused */
  } cases[] = {
    { "aHViOmh1YnB3", "hub", "hubpw" },
    { "dXNlcjpwYXNzMQ==", "user", "pass1" },
    { "dXNlcjpwYXNzMQ", "user", "pass1" },
    { "dXNlcjpwYXNzMTI=", "user", "pass12" },
    { "dXNlcjpwYXNzMTI", "user", "pass12" },
    { " dXNl cjpw\\nYXNz MTI=\\n", "user", "pass12" }, /* JSON \n: a newline */
    { "dTrDvz8+fg==", "u", "\xc3\xbf?>~" },
    { "dTrDvz8-fg", "u", "\xc3\xbf?>~" },
    { "dXNlcjpwYXNzM", NULL, NULL },     /* one char too many */
    { "dXNl=cjpwYXNz", NULL, NULL },     /* padding inside */
    { "dXNlcjpwYXNz*", NULL, NULL },     /* not the alphabet */
    { "dTr/", NULL, NULL },              /* "u:\xff": not UTF-8 */
    { "bm9jb2xvbg==", NULL, NULL },      /* no colon */
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      char *doc = xasprintf ("{\"r.io\":{\"auth\":\"%s\"}}", cases[i].auth);
      struct docker_auth_config *cfg = NULL;
      agent_error_t err = NULL;
      int r = docker_auth_parse ("dockercfg", doc, &cfg, &err);
      if (cases[i].user == NULL)
        {
          if (r >= 0)
            fail_msg ("%s accepted", cases[i].auth);
          assert_int_equal (error_kind (&err), ERR_INVALID);
          error_free (&err);
        }
      else
        {
          if (r < 0)
            fail_msg ("%s: %s", cases[i].auth, error_msg (&err));
          assert_string_equal (cfg->entries[0].username, cases[i].user);
          assert_string_equal (cfg->entries[0].password, cases[i].pass);
          docker_auth_config_free (cfg);
        }
      free (doc);
    }
}

static void
test_image_registry (void **state)
{
  (void) state;
  struct
  {
    const char *image, *reg;
  } cases[] = {
    { "busybox", "docker.io" },
    { "busybox:latest", "docker.io" },
    { "library/busybox", "docker.io" },
    { "amazon/amazon-ecs-agent:latest", "docker.io" },
    { "docker.io/library/busybox", "docker.io" },
    { "index.docker.io/x/y", "docker.io" },
    { "registry-1.docker.io/x/y", "docker.io" },
    { "localhost/img", "localhost" },
    { "localhost:5000/img:1", "localhost:5000" },
    { "127.0.0.1:41875/ecs-agent-c-test/busybox:latest", "127.0.0.1:41875" },
    { "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:abc",
      "123456789012.dkr.ecr.us-east-1.amazonaws.com" },
    { "Quay.IO/org/img", "quay.io" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      char *r = docker_auth_image_registry (cases[i].image);
      assert_string_equal (r, cases[i].reg);
      free (r);
    }
}

static void
test_lookup (void **state)
{
  (void) state;
  struct docker_auth_config *cfg = parse_ok (
      "docker", "{\"https://index.docker.io/v1/\":{\"username\":\"hub\",\"password\":\"hubpw\"},"
                "\"https://myreg.io\":{\"username\":\"plain\",\"password\":\"x1\"},"
                "\"myreg2.io/team\":{\"username\":\"team\",\"password\":\"x2\"},"
                "\"myreg2.io/team/sub\":{\"username\":\"sub\",\"password\":\"x3\"},"
                "\"127.0.0.1:5000\":{\"username\":\"local\",\"password\":\"x4\"}}");
  struct
  {
    const char *image, *user; /* user NULL = no match */
  } cases[] = {
    { "busybox", "hub" },
    { "library/busybox:1", "hub" },
    { "docker.io/library/busybox", "hub" },
    { "myreg.io/app:1", "plain" },
    { "myreg.io:443/app", NULL }, /* different host:port */
    { "myreg2.io/team/app", "team" },
    { "myreg2.io/team/sub/app", "sub" }, /* longest prefix */
    { "myreg2.io/teamx/app", NULL },     /* not at a path boundary */
    { "myreg2.io/other", NULL },
    { "127.0.0.1:5000/a/b:latest", "local" },
    { "127.0.0.1:5001/a/b:latest", NULL },
    { "otherreg.io/x", NULL },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      const struct docker_auth_entry *e = docker_auth_lookup (cfg, cases[i].image);
      if (cases[i].user == NULL)
        {
          if (e)
            fail_msg ("%s matched %s", cases[i].image, e->key);
          char *h = docker_auth_for_image (cfg, cases[i].image);
          assert_null (h);
        }
      else
        {
          if (!e)
            fail_msg ("%s: no match", cases[i].image);
          assert_string_equal (e->username, cases[i].user);
        }
    }
  docker_auth_config_free (cfg);

  /* no hub entry: hub images get nothing */
  cfg = parse_ok ("docker", "{\"quay.io\":{\"username\":\"q\",\"password\":\"qq\"}}");
  assert_null (docker_auth_lookup (cfg, "busybox"));
  assert_null (docker_auth_for_image (cfg, "busybox"));
  assert_null (docker_auth_for_image (NULL, "busybox"));
  docker_auth_config_free (cfg);
}

static void
test_encode_matches_sample (void **state)
{
  (void) state;
  char *sample = test_fixture_shared (
      SAMPLES "docker_client_test.go__x-registry-auth-header-decoded.json", NULL);
  char *h = docker_auth_encode ("username", "password", NULL, "https://registry.endpoint");
  char *dec = unb64 (h);
  assert_non_null (dec);
  assert_string_equal (dec, sample); /* including the trailing newline */
  /* padded, URL-safe alphabet */
  assert_int_equal (strlen (h) % 4, 0);
  assert_null (strpbrk (h, "+/"));
  free (dec);
  free (h);
  free (sample);
}

static void
test_encode_escaping_and_alphabet (void **state)
{
  (void) state;
  /* Go's encoder escapes <, >, & and control characters */
  char *h = docker_auth_encode ("u<>&", "p\"\\\n\x01", "", NULL);
  char *dec = unb64 (h);
  assert_string_equal (dec,
                       "{\"username\":\"u\\u003c\\u003e\\u0026\",\"password\":\"p\\\"\\\\\\n\\u0001\"}\n");
  free (dec);
  free (h);
  /* Go writes control characters as lower-case \u00xx and escapes U+2028 */
  h = docker_auth_encode ("a\x1b\x1f\b\f", "\xe2\x80\xa8\xe2\x80\xa9", NULL, NULL);
  dec = unb64 (h);
  assert_string_equal (
      dec, "{\"username\":\"a\\u001b\\u001f\\b\\f\",\"password\":\"\\u2028\\u2029\"}\n");
  free (dec);
  free (h);
  /* text that gives '+' and '/' in the standard alphabet ("ÿÿÿ~~~" does)
     must use '-' '_' */
  h = docker_auth_encode ("\xc3\xbf\xc3\xbf\xc3\xbf~~~", "x", NULL, NULL);
  assert_null (strpbrk (h, "+/"));
  assert_true (strpbrk (h, "-_") != NULL);
  free (h);
  /* not valid UTF-8: no header (docker_auth_parse never lets such a value in) */
  assert_null (docker_auth_encode ("\xfb\xff\xbf", "x", NULL, NULL));
  /* nothing set: "{}\n" */
  h = docker_auth_encode (NULL, NULL, NULL, NULL);
  dec = unb64 (h);
  assert_string_equal (dec, "{}\n");
  free (dec);
  free (h);
}

static void
test_for_image_full (void **state)
{
  (void) state;
  struct docker_auth_config *cfg = parse_ok (
      "dockercfg", "{\"https://index.docker.io/v1/\":{\"auth\":\"aHViOmh1YnB3\",\"email\":\"a@b.c\"}}");
  char *h = docker_auth_for_image (cfg, "busybox:latest");
  assert_non_null (h);
  char *dec = unb64 (h);
  assert_string_equal (dec, "{\"username\":\"hub\",\"password\":\"hubpw\",\"email\":\"a@b.c\","
                            "\"serveraddress\":\"https://index.docker.io/v1/\"}\n");
  free (dec);
  /* the header value and the password are registered secrets */
  char *line = xasprintf ("sending header %s pw=hubpw", h);
  line = log_redact (line);
  assert_null (strstr (line, h));
  assert_null (strstr (line, "hubpw"));
  free (line);
  free (h);
  docker_auth_config_free (cfg);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_parse_docker_type),
    cmocka_unit_test (test_parse_dockercfg_type),
    cmocka_unit_test (test_parse_auth_overrides_user),
    cmocka_unit_test (test_parse_empty_and_errors),
    cmocka_unit_test (test_parse_auth_base64),
    cmocka_unit_test (test_image_registry),
    cmocka_unit_test (test_lookup),
    cmocka_unit_test (test_encode_matches_sample),
    cmocka_unit_test (test_encode_escaping_and_alphabet),
    cmocka_unit_test (test_for_image_full),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
