/* fuzz_introspection_http.c - libFuzzer target for the introspection server
 * as a whole: the input is the raw byte stream a client sends (one or more
 * pipelined requests, bodies, chunked encoding, garbage), fed through a
 * socketpair adopted by a real server (lws HTTP parser + our callbacks) on a
 * uv loop.
 *
 * Checked: no crash/leak/UB (sanitizers); whatever the server writes back
 * starts with an HTTP/1.x status line and is bounded by the input (a
 * malformed request once made lws 4.1 repeat BODY_COMPLETION, and the
 * server answered forever: fuzz/regressions/introspection_http/); connections left open by inputs that
 * leave the server waiting stay bounded by the connection limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"
#include "introspection/introspection.h"
#include "log/log.h"

static uv_loop_t loop;
static introspection_server_t *srv;

static const struct introspection_container conts[] = {
  { .name = "web", .has_docker_record = true,
    .docker_id = "1111111111111111111111111111111111111111111111111111111111111111",
    .docker_name = "ecs-web" },
};
static const struct introspection_task tasks[] = {
  { .arn = "arn:aws:ecs:us-west-2:1:task/t1", .family = "f", .version = "1",
    .desired_status = TASK_STATUS_RUNNING, .known_status = TASK_STATUS_RUNNING,
    .containers = conts, .n_containers = 1 },
};

static void
foreach (void *data, introspection_task_cb cb, void *arg)
{
  (void) data;
  for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++)
    cb (&tasks[i], arg);
}

static void
init (void)
{
  lws_set_log_level (0, NULL);
  log_init (LOG_NONE, NULL, NULL);
  uv_loop_init (&loop);
  struct introspection_config cfg = { .listen_addr = "127.0.0.1", .port = 0, .no_retry = true,
                                      .read_timeout_s = 1, .max_connections = 8 };
  struct introspection_provider prov = { .foreach_task = foreach };
  agent_error_t err = NULL;
  if (introspection_start (&loop, &cfg, &prov, &srv, &err) < 0)
    {
      fprintf (stderr, "introspection_start: %s\n", error_msg (&err));
      abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (!srv)
    init ();
  if (size > 65536)
    return 0;
  int sv[2];
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
    abort ();
  agent_error_t err = NULL;
  if (introspection_adopt_fd (srv, sv[0], &err) < 0)
    abort ();

  size_t off = 0;
  char out[4096];
  size_t got = 0;
  char head[16] = "";
  bool eof = false, shut = false;
  uint64_t t0 = util_now_ms (), last = t0;
  /* Until the server hangs up, or has been quiet for 10 ms after the whole
     input went in (some states wait for the read timeout: no point here). */
  while (!eof && util_now_ms () - t0 < 5000 && !(shut && util_now_ms () - last > 10))
    {
      if (off < size)
        {
          ssize_t n = write (sv[1], data + off, size - off);
          if (n > 0)
            {
              off += (size_t) n;
              last = util_now_ms ();
            }
          else if (n < 0 && errno != EAGAIN)
            off = size;
        }
      if (off >= size && !shut)
        {
          shutdown (sv[1], SHUT_WR);
          shut = true;
          last = util_now_ms ();
        }
      uv_run (&loop, UV_RUN_NOWAIT);
      ssize_t n = read (sv[1], out, sizeof out);
      if (n > 0)
        {
          last = util_now_ms ();
          if (got < sizeof head - 1)
            {
              size_t k = sizeof head - 1 - got < (size_t) n ? sizeof head - 1 - got : (size_t) n;
              memcpy (head + got, out, k);
              head[got + k] = 0;
            }
          got += (size_t) n;
        }
      else if (n == 0)
        eof = true;
      else if (errno != EAGAIN)
        eof = true;
      else
        usleep (50);
    }
  /* No amplification: every answer needs a request of at least a few bytes
     (a bodyless "GET /\r\n\r\n" is 9), and no answer here exceeds 4 KiB. */
  if (got > (size / 8 + 1) * 4096)
    {
      fprintf (stderr, "server wrote %zu bytes for a %zu-byte input in %llu ms\n", got, size,
               (unsigned long long) (util_now_ms () - t0));
      abort ();
    }
  if (got >= 9 && strncmp (head, "HTTP/1.", 7) != 0)
    abort ();
  close (sv[1]);
  uv_run (&loop, UV_RUN_NOWAIT);
  /* Lingering connections are bounded: the limit (8) evicts the oldest. */
  if (introspection_connections (srv) > 2 * 8 + 1)
    abort ();
  return 0;
}
