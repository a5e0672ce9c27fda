/* Unit tests for the pure parts of aws/ws_client (what the ACS and TCS
 * sessions share): jitter, which peer close codes are clean, the close
 * frame's payload, a peer's close frame, and the signed handshake headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "aws/sigv4.h"
#include "aws/ws_client.h"

static void
test_jitter (void **state)
{
  (void) state;
  static const struct
  {
    uint64_t base, range;
    double unit;
    uint64_t want;
  } t[] = {
    { 60000, 60000, 0.0, 60000 },  { 60000, 60000, 0.5, 90000 },
    { 60000, 60000, 0.999999, 119999 }, { 1800000, 0, 0.7, 1800000 },
    { 0, 1000, 0.25, 250 },        { 5, 1, 0.99, 5 },
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    assert_int_equal (aws_ws_jitter (t[i].base, t[i].range, t[i].unit), t[i].want);
}

static void
test_close_code_clean (void **state)
{
  (void) state;
  static const struct
  {
    int code;
    bool clean;
  } t[] = {
    { 0, true },     { 1000, true },  { 1001, true },  { 1006, true },  { 1005, true },
    { 1011, true },  { 1002, false }, { 1003, false }, { 1008, false }, { 1009, false },
    { 4000, false }, { 3000, false }, { -1, false },
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    {
      if (aws_ws_close_code_clean (t[i].code) != t[i].clean)
        fail_msg ("close code %d: want clean=%d", t[i].code, t[i].clean);
    }
}

static void
test_close_payload (void **state)
{
  (void) state;
  unsigned char out[2 + AWS_WS_CLOSE_REASON_MAX];
  size_t n = aws_ws_close_payload (1000, "ConnectionExpired: Reconnect to continue", out);
  assert_int_equal (n, 2 + strlen ("ConnectionExpired: Reconnect to continue"));
  assert_int_equal (out[0], 0x03);
  assert_int_equal (out[1], 0xe8);
  assert_memory_equal (out + 2, "ConnectionExpired", 17);

  assert_int_equal (aws_ws_close_payload (4001, NULL, out), 2);
  assert_int_equal (out[0], 0x0f);
  assert_int_equal (out[1], 0xa1);

  char long_reason[300];
  memset (long_reason, 'x', sizeof long_reason - 1);
  long_reason[sizeof long_reason - 1] = '\0';
  assert_int_equal (aws_ws_close_payload (1001, long_reason, out), 2 + AWS_WS_CLOSE_REASON_MAX);
  assert_int_equal (out[2 + AWS_WS_CLOSE_REASON_MAX - 1], 'x');
}

static void
test_peer_close (void **state)
{
  (void) state;
  int code = 0;
  char *reason = NULL;
  const unsigned char f1[] = { 0x03, 0xe9, 'b', 'y', 'e' };
  aws_ws_peer_close (f1, sizeof f1, &code, &reason);
  assert_int_equal (code, 1001);
  assert_string_equal (reason, "bye");

  const unsigned char f2[] = { 0x0f, 0xa0 };
  aws_ws_peer_close (f2, sizeof f2, &code, &reason);
  assert_int_equal (code, 4000);
  assert_string_equal (reason, "");

  /* no status: the code says so, the reason seen before stays */
  aws_ws_peer_close (f1, 1, &code, &reason);
  assert_int_equal (code, 1005);
  assert_string_equal (reason, "");
  aws_ws_peer_close (NULL, 0, &code, &reason);
  assert_int_equal (code, 1005);
  free (reason);
}

static void
test_sign_handshake (void **state)
{
  (void) state;
  static const struct
  {
    const char *token;
  } t[] = { { NULL }, { "session-token" } };
  const char *url = "https://ecs-a-1.us-west-2.amazonaws.com/ws?clusterArn=default&seqNum=1";
  for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
    {
      struct aws_credentials cr = { "AKIDEXAMPLE", "secret", (char *) t[k].token, 0 };
      struct http_header *hs = NULL;
      size_t n = 0;
      agent_error_t err = NULL;
      assert_int_equal (aws_ws_sign_handshake (url, "us-west-2", 1700000000, &cr, "agent/1.0", &hs,
                                               &n, &err),
                        0);
      /* the same as signing directly, then the unsigned User-Agent */
      struct aws_sigv4_input in = { .method = "GET",
                                    .url = url,
                                    .region = "us-west-2",
                                    .service = "ecs",
                                    .now = 1700000000,
                                    .flags = AWS_SIGV4_HOST_DATE };
      struct aws_sigv4_output out = { 0 };
      assert_int_equal (aws_sigv4_sign (&in, &cr, &out, &err), 0);
      assert_int_equal (n, out.n_headers + 1);
      for (size_t i = 0; i < out.n_headers; i++)
        {
          assert_string_equal (hs[i].name, out.headers[i].name);
          assert_string_equal (hs[i].value, out.headers[i].value);
        }
      assert_string_equal (hs[n - 1].name, "User-Agent");
      assert_string_equal (hs[n - 1].value, "agent/1.0");
      bool token_seen = false;
      for (size_t i = 0; i < n; i++)
        token_seen |= strcasecmp (hs[i].name, "X-Amz-Security-Token") == 0;
      assert_int_equal (token_seen, t[k].token != NULL);
      aws_sigv4_output_free (&out);
      aws_ws_headers_free (hs, n);
    }
  aws_ws_headers_free (NULL, 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_jitter),       cmocka_unit_test (test_close_code_clean),
    cmocka_unit_test (test_close_payload), cmocka_unit_test (test_peer_close),
    cmocka_unit_test (test_sign_handshake),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
