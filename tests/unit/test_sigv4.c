/* Unit tests for aws/sigv4: every case of AWS's aws4 test suite (read from
 * $SHARED_DIR/protocol/aws4_testsuite), worked vectors for the ACS websocket
 * handshake (1.1.0 and current upstream style) and DiscoverPollEndpoint,
 * session tokens and helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "aws/sigv4.h"
#include "core/util.h"
#include "core/xmalloc.h"

static const char *AK = "AKIDEXAMPLE";
static const char *SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

static char *suite_dir;

static char *
find_suite_dir (void)
{
  const char *sd = getenv ("SHARED_DIR");
  if (sd && *sd)
    {
      char *p = xasprintf ("%s/protocol/aws4_testsuite", sd);
      struct stat st;
      if (stat (p, &st) == 0)
        return p;
      free (p);
    }
  char cwd[PATH_MAX];
  if (!getcwd (cwd, sizeof cwd))
    return NULL;
  /* Walk up from cwd looking for <dir>/../shared/protocol/aws4_testsuite. */
  for (;;)
    {
      char *p = xasprintf ("%s/../shared/protocol/aws4_testsuite", cwd);
      struct stat st;
      if (stat (p, &st) == 0)
        return p;
      free (p);
      char *slash = strrchr (cwd, '/');
      if (!slash || slash == cwd)
        break;
      *slash = '\0';
    }
  return NULL;
}

static char *
read_case (const char *name, const char *ext)
{
  cleanup_free char *path = xasprintf ("%s/%s.%s", suite_dir, name, ext);
  char *data = NULL;
  size_t len = 0;
  agent_error_t err = NULL;
  if (util_read_file (path, &data, &len, &err) < 0)
    {
      fail_msg ("read %s: %s", path, error_msg (&err));
      error_free (&err);
    }
  return data;
}

/* The expected files use CRLF line ends; the algorithm uses LF. */
static char *
read_expected (const char *name, const char *ext)
{
  char *d = read_case (name, ext);
  char *w = d;
  for (char *r = d; *r; r++)
    if (!(r[0] == '\r' && r[1] == '\n'))
      *w++ = *r;
  *w = '\0';
  return d;
}

static time_t
parse_http_date (const char *s)
{
  struct tm tm = { 0 };
  if (!strptime (s, "%a, %d %b %Y %H:%M:%S GMT", &tm))
    return (time_t) -1;
  return timegm (&tm);
}

/* Run one suite case; returns 0 if all of creq/sts/authz match. */
static int
run_case (const char *name)
{
  cleanup_free char *req = read_case (name, "req");
  cleanup_free char *creq = read_expected (name, "creq");
  cleanup_free char *sts = read_expected (name, "sts");
  cleanup_free char *authz = read_expected (name, "authz");

  /* Request line: METHOD SP target (to first whitespace) ... CRLF */
  char *line_end = strstr (req, "\r\n");
  assert_non_null (line_end);
  *line_end = '\0';
  char *sp = strchr (req, ' ');
  assert_non_null (sp);
  cleanup_free char *method = xstrndup (req, (size_t) (sp - req));
  char *target = sp + 1;
  size_t tlen = strcspn (target, " \t");
  cleanup_free char *tgt = xstrndup (target, tlen);

  struct http_header hdrs[32];
  size_t nh = 0;
  char *p = line_end + 2;
  const char *host = "host.foo.com";
  time_t now = (time_t) -1;
  while (*p && strncmp (p, "\r\n", 2) != 0)
    {
      char *e = strstr (p, "\r\n");
      assert_non_null (e);
      *e = '\0';
      char *colon = strchr (p, ':');
      assert_non_null (colon);
      *colon = '\0';
      char *v = colon + 1;
      while (*v == ' ')
        v++;
      /* trim name */
      assert_true (nh < 32);
      hdrs[nh].name = p;
      hdrs[nh].value = v;
      if (strcasecmp (p, "host") == 0)
        host = v;
      if (strcasecmp (p, "date") == 0)
        now = parse_http_date (v);
      nh++;
      p = e + 2;
    }
  const char *body = "";
  if (strncmp (p, "\r\n", 2) == 0)
    body = p + 2;
  assert_true (now != (time_t) -1);

  cleanup_free char *url = xasprintf ("http://%s%s", host, tgt);
  struct aws_credentials creds = { .access_key_id = (char *) AK, .secret_access_key = (char *) SK };
  struct aws_sigv4_input in = {
    .method = method, .url = url, .headers = hdrs, .n_headers = nh, .body = body,
    .body_len = strlen (body), .region = "us-east-1", .service = "host", .now = now,
    .flags = AWS_SIGV4_NO_DATE,
  };
  struct aws_sigv4_output out;
  agent_error_t err = NULL;
  int rc = aws_sigv4_sign (&in, &creds, &out, &err);
  assert_int_equal (rc, 0);
  int bad = 0;
  if (strcmp (out.canonical_request, creq) != 0)
    {
      print_message ("%s: canonical request mismatch\n--- got\n%s\n--- want\n%s\n", name,
                     out.canonical_request, creq);
      bad = 1;
    }
  if (strcmp (out.string_to_sign, sts) != 0)
    {
      print_message ("%s: string to sign mismatch\n%s\n", name, out.string_to_sign);
      bad = 1;
    }
  if (strcmp (out.authorization, authz) != 0)
    {
      print_message ("%s: authz mismatch\n%s\n%s\n", name, out.authorization, authz);
      bad = 1;
    }
  /* The output headers: only Authorization in this mode. */
  assert_int_equal (out.n_headers, 1);
  assert_string_equal (out.headers[0].name, "Authorization");
  aws_sigv4_output_free (&out);
  return bad;
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
test_suite_all (void **state)
{
  if (!suite_dir)
    fail_msg ("aws4_testsuite not found (set SHARED_DIR)");
  DIR *d = opendir (suite_dir);
  assert_non_null (d);
  char *names[256];
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir (d)))
    {
      size_t l = strlen (de->d_name);
      if (l > 4 && strcmp (de->d_name + l - 4, ".req") == 0 && n < 256)
        names[n++] = xstrndup (de->d_name, l - 4);
    }
  closedir (d);
  qsort (names, n, sizeof *names, cmp_str);
  assert_int_equal (n, 30);
  int failed = 0;
  for (size_t i = 0; i < n; i++)
    {
      failed += run_case (names[i]);
      free (names[i]);
    }
  assert_int_equal (failed, 0);
}

/* Individual named cases, so a regression names the topic. */
#define CASE(fn, name)                                                                              \
  static void fn (void **state)                                                                     \
  {                                                                                                 \
    if (!suite_dir)                                                                                 \
      fail_msg ("aws4_testsuite not found");                                                        \
    assert_int_equal (run_case (name), 0);                                                          \
  }
CASE (test_case_header_value_order, "get-header-value-order")
CASE (test_case_header_key_duplicate, "get-header-key-duplicate")
CASE (test_case_header_value_trim, "get-header-value-trim")
CASE (test_case_relative_relative, "get-relative-relative")
CASE (test_case_slashes, "get-slashes")
CASE (test_case_space, "get-space")
CASE (test_case_utf8, "get-utf8")
CASE (test_case_query_space, "post-vanilla-query-space")
CASE (test_case_query_nonunreserved, "post-vanilla-query-nonunreserved")
CASE (test_case_form_params, "post-x-www-form-urlencoded-parameters")

static time_t
t_2015 (void)
{
  struct tm tm = { .tm_year = 115, .tm_mon = 4, .tm_mday = 19, .tm_hour = 12 };
  return timegm (&tm);
}

static const char *ACS_URL
    = "https://ecs-a-1.us-west-2.amazonaws.com/ws?clusterArn=default&containerInstanceArn="
      "arn%3Aaws%3Aecs%3Aus-west-2%3A123456789012%3Acontainer-instance%2Fabc&agentHash=4d9f982&"
      "agentVersion=1.1.0&seqNum=1&dockerVersion=DockerVersion%3A+1.6.0";

static const char *
find_hdr (const struct aws_sigv4_output *o, const char *name)
{
  for (size_t i = 0; i < o->n_headers; i++)
    if (strcasecmp (o->headers[i].name, name) == 0)
      return o->headers[i].value;
  return NULL;
}

static void
test_acs_host_only (void **state)
{
  struct aws_credentials creds = { .access_key_id = (char *) AK, .secret_access_key = (char *) SK };
  struct aws_sigv4_input in = { .method = "GET", .url = ACS_URL, .region = "us-west-2",
                                .service = "ecs", .now = t_2015 (),
                                .flags = AWS_SIGV4_HOST_ONLY | AWS_SIGV4_CONTENT_SHA256 };
  struct aws_sigv4_output out;
  agent_error_t err = NULL;
  assert_int_equal (aws_sigv4_sign (&in, &creds, &out, &err), 0);
  assert_string_equal (out.canonical_request,
                       "GET\n/ws\n"
                       "agentHash=4d9f982&agentVersion=1.1.0&clusterArn=default&containerInstanceArn="
                       "arn%3Aaws%3Aecs%3Aus-west-2%3A123456789012%3Acontainer-instance%2Fabc&"
                       "dockerVersion=DockerVersion%3A%201.6.0&seqNum=1\n"
                       "host:ecs-a-1.us-west-2.amazonaws.com\n\nhost\n"
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert_non_null (strstr (out.string_to_sign,
                           "c045268affbfb2df8fe8619edc4ab3409ba29ec675d507f2e85feb3c5d37e7d8"));
  assert_string_equal (find_hdr (&out, "Authorization"),
                       "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150519/us-west-2/ecs/aws4_request, "
                       "SignedHeaders=host, Signature="
                       "af9a78c4257cd45547122fc1f223af3f6db5f47329df18ef0faa499d765ce957");
  assert_string_equal (find_hdr (&out, "X-Amz-Date"), "20150519T120000Z");
  assert_string_equal (find_hdr (&out, "X-Amz-Content-Sha256"),
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert_null (find_hdr (&out, "X-Amz-Security-Token"));
  aws_sigv4_output_free (&out);
}

static void
test_acs_host_date (void **state)
{
  struct aws_credentials creds = { .access_key_id = (char *) AK, .secret_access_key = (char *) SK };
  /* Given headers are ignored in this mode (the websocket library adds its own). */
  struct http_header h[] = { { "Upgrade", "websocket" }, { "User-Agent", "x" } };
  struct aws_sigv4_input in = { .method = "GET", .url = ACS_URL, .headers = h, .n_headers = 2,
                                .region = "us-west-2", .service = "ecs", .now = t_2015 (),
                                .flags = AWS_SIGV4_HOST_DATE };
  struct aws_sigv4_output out;
  agent_error_t err = NULL;
  assert_int_equal (aws_sigv4_sign (&in, &creds, &out, &err), 0);
  assert_string_equal (out.signed_headers, "host;x-amz-date");
  assert_string_equal (out.signature,
                       "b07e05747d3cb500c36c07ac540a9de4e0a544ed1f4ec67cb1b285e187acda33");
  assert_null (find_hdr (&out, "X-Amz-Content-Sha256"));
  aws_sigv4_output_free (&out);
}

static void
test_acs_host_date_token (void **state)
{
  struct aws_credentials creds = { .access_key_id = (char *) AK, .secret_access_key = (char *) SK,
                                   .session_token = (char *) "TOKEN/abc+=" };
  struct aws_sigv4_input in = { .method = "GET", .url = ACS_URL, .region = "us-west-2",
                                .service = "ecs", .now = t_2015 (), .flags = AWS_SIGV4_HOST_DATE };
  struct aws_sigv4_output out;
  agent_error_t err = NULL;
  assert_int_equal (aws_sigv4_sign (&in, &creds, &out, &err), 0);
  assert_string_equal (out.signed_headers, "host;x-amz-date;x-amz-security-token");
  assert_non_null (strstr (out.canonical_request, "\nx-amz-security-token:TOKEN/abc+=\n"));
  assert_string_equal (find_hdr (&out, "X-Amz-Security-Token"), "TOKEN/abc+=");
  /* Differs from the token-less signature. */
  assert_string_not_equal (out.signature,
                           "b07e05747d3cb500c36c07ac540a9de4e0a544ed1f4ec67cb1b285e187acda33");
  aws_sigv4_output_free (&out);

  /* 1.1.0 style: token sent but not signed. */
  in.flags = AWS_SIGV4_HOST_ONLY;
  assert_int_equal (aws_sigv4_sign (&in, &creds, &out, &err), 0);
  assert_string_equal (out.signed_headers, "host");
  assert_string_equal (out.signature,
                       "af9a78c4257cd45547122fc1f223af3f6db5f47329df18ef0faa499d765ce957");
  assert_string_equal (find_hdr (&out, "X-Amz-Security-Token"), "TOKEN/abc+=");
  aws_sigv4_output_free (&out);
}

static const char *DPE_BODY = "{\"cluster\":\"default\",\"containerInstance\":\"arn:aws:ecs:us-west-2:"
                              "123456789012:container-instance/abc\"}";

static void
test_api_discover_vector (void **state)
{
  struct aws_credentials creds = { .access_key_id = (char *) AK, .secret_access_key = (char *) SK };
  struct http_header h[] = {
    { "X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DiscoverPollEndpoint" },
  };
  struct aws_sigv4_input in = { .method = "POST", .url = "https://ecs.us-west-2.amazonaws.com/",
                                .headers = h, .n_headers = 1, .body = DPE_BODY,
                                .body_len = strlen (DPE_BODY), .region = "us-west-2",
                                .service = "ecs", .now = t_2015 () };
  struct aws_sigv4_output out;
  agent_error_t err = NULL;
  assert_int_equal (aws_sigv4_sign (&in, &creds, &out, &err), 0);
  assert_string_equal (out.canonical_request,
                       "POST\n/\n\nhost:ecs.us-west-2.amazonaws.com\nx-amz-date:20150519T120000Z\n"
                       "x-amz-target:AmazonEC2ContainerServiceV20141113.DiscoverPollEndpoint\n\n"
                       "host;x-amz-date;x-amz-target\n"
                       "fc61ea1aad4808c369ac0bae9998dd9bf9c02415bb5ee5968611600a0ebcce3d");
  assert_string_equal (out.signature,
                       "f6daffba00b91753ba65706052279e76712041e4ac9d591d92bb3893f423172c");
  unsigned char key[32];
  aws_sigv4_signing_key (SK, "20150519", "us-west-2", "ecs", key);
  char hex[65];
  for (int i = 0; i < 32; i++)
    sprintf (hex + 2 * i, "%02x", key[i]);
  assert_string_equal (hex, "7e0364c71ff6ae510c61f831b1ab626b613eb4eca9f517060af029338f19dfc4");
  /* Default https port is not part of host; a non-default one is. */
  aws_sigv4_output_free (&out);
  in.url = "https://ecs.us-west-2.amazonaws.com:443/";
  assert_int_equal (aws_sigv4_sign (&in, &creds, &out, &err), 0);
  assert_string_equal (out.signature,
                       "f6daffba00b91753ba65706052279e76712041e4ac9d591d92bb3893f423172c");
  aws_sigv4_output_free (&out);
  in.url = "http://127.0.0.1:8080/";
  assert_int_equal (aws_sigv4_sign (&in, &creds, &out, &err), 0);
  assert_non_null (strstr (out.canonical_request, "\nhost:127.0.0.1:8080\n"));
  aws_sigv4_output_free (&out);
}

static void
test_api_with_token_and_sha (void **state)
{
  struct aws_credentials creds = { .access_key_id = (char *) AK, .secret_access_key = (char *) SK,
                                   .session_token = (char *) "SESSIONTOKEN" };
  struct http_header h[] = { { "X-Amz-Target", "T.Op" }, { "X-Amz-Date", "ignored" } };
  struct aws_sigv4_input in = { .method = "post", .url = "https://h.example/", .headers = h,
                                .n_headers = 2, .body = "{}", .body_len = 2, .region = "US-West-2",
                                .service = "ecs", .now = t_2015 (),
                                .flags = AWS_SIGV4_CONTENT_SHA256 };
  struct aws_sigv4_output out;
  agent_error_t err = NULL;
  assert_int_equal (aws_sigv4_sign (&in, &creds, &out, &err), 0);
  assert_string_equal (out.signed_headers, "host;x-amz-date;x-amz-security-token;x-amz-target");
  assert_true (strncmp (out.canonical_request, "POST\n", 5) == 0);
  assert_int_equal (out.n_headers, 4);
  assert_string_equal (out.headers[0].name, "X-Amz-Date");
  assert_string_equal (out.headers[1].name, "X-Amz-Security-Token");
  assert_string_equal (out.headers[2].name, "X-Amz-Content-Sha256");
  char hex[65];
  aws_sha256_hex ("{}", 2, hex);
  assert_string_equal (out.headers[2].value, hex);
  assert_string_equal (out.headers[3].name, "Authorization");
  assert_non_null (strstr (out.authorization, "/20150519/us-west-2/ecs/aws4_request"));
  /* Token never in intermediate strings other than the canonical headers. */
  assert_null (strstr (out.string_to_sign, "SESSIONTOKEN"));
  aws_sigv4_output_free (&out);
}

static void
test_errors (void **state)
{
  struct aws_credentials creds = { .access_key_id = (char *) AK, .secret_access_key = (char *) SK };
  struct aws_sigv4_input in = { .url = "no-scheme", .region = "r", .service = "s" };
  struct aws_sigv4_output out;
  agent_error_t err = NULL;
  assert_true (aws_sigv4_sign (&in, &creds, &out, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);
  in.url = "http:///x";
  assert_true (aws_sigv4_sign (&in, &creds, &out, &err) < 0);
  error_free (&err);
  in.url = "http://h/";
  struct aws_credentials none = { 0 };
  assert_true (aws_sigv4_sign (&in, &none, &out, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_AUTH);
  error_free (&err);
  assert_true (aws_sigv4_sign (&in, NULL, &out, &err) < 0);
  error_free (&err);
  aws_sigv4_output_free (&out); /* zeroed: harmless */
}

static void
test_helpers (void **state)
{
  char *e = aws_uri_encode ("a b/c~:é", strlen ("a b/c~:é"), 0);
  assert_string_equal (e, "a%20b%2Fc~%3A%C3%A9");
  free (e);
  e = aws_uri_encode ("/a b/", 5, 1);
  assert_string_equal (e, "/a%20b/");
  free (e);
  char d[17];
  aws_amz_date (0, d);
  assert_string_equal (d, "19700101T000000Z");
  char hex[65];
  aws_sha256_hex (NULL, 0, hex);
  assert_string_equal (hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void
test_path_and_query_edge (void **state)
{
  struct aws_credentials creds = { .access_key_id = (char *) AK, .secret_access_key = (char *) SK };
  struct aws_sigv4_input in = { .url = "http://h/a/./b/../c//d?b=2&a=1&a=0&&c&x=%zz+y",
                                .region = "r", .service = "s", .now = 0 };
  struct aws_sigv4_output out;
  agent_error_t err = NULL;
  assert_int_equal (aws_sigv4_sign (&in, &creds, &out, &err), 0);
  assert_true (strncmp (out.canonical_request, "GET\n/a/c/d\na=0&a=1&b=2&c=&x=%25zz%20y\n", 37) == 0);
  aws_sigv4_output_free (&out);
  in.url = "http://h";
  assert_int_equal (aws_sigv4_sign (&in, &creds, &out, &err), 0);
  assert_true (strncmp (out.canonical_request, "GET\n/\n\n", 7) == 0);
  aws_sigv4_output_free (&out);
  in.url = "http://h/..";
  assert_int_equal (aws_sigv4_sign (&in, &creds, &out, &err), 0);
  assert_true (strncmp (out.canonical_request, "GET\n/\n\n", 7) == 0);
  aws_sigv4_output_free (&out);
}

int
main (void)
{
  suite_dir = find_suite_dir ();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_suite_all),
    cmocka_unit_test (test_case_header_value_order),
    cmocka_unit_test (test_case_header_key_duplicate),
    cmocka_unit_test (test_case_header_value_trim),
    cmocka_unit_test (test_case_relative_relative),
    cmocka_unit_test (test_case_slashes),
    cmocka_unit_test (test_case_space),
    cmocka_unit_test (test_case_utf8),
    cmocka_unit_test (test_case_query_space),
    cmocka_unit_test (test_case_query_nonunreserved),
    cmocka_unit_test (test_case_form_params),
    cmocka_unit_test (test_acs_host_only),
    cmocka_unit_test (test_acs_host_date),
    cmocka_unit_test (test_acs_host_date_token),
    cmocka_unit_test (test_api_discover_vector),
    cmocka_unit_test (test_api_with_token_and_sha),
    cmocka_unit_test (test_errors),
    cmocka_unit_test (test_helpers),
    cmocka_unit_test (test_path_and_query_edge),
  };
  int rc = cmocka_run_group_tests (tests, NULL, NULL);
  free (suite_dir);
  return rc;
}
