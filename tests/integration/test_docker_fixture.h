/* test_docker_fixture.h - the fixture of the Docker client integration tests
 * (test_docker*.c) against the real Docker Engine: the test image, a per-run
 * label on every container / volume, setup/teardown removing (only) this
 * run's objects also after a failure, each test on its own uv loop with
 * every handle closed; synchronous wrappers (create, start, inspect, wait).
 * Header only. */
#ifndef TEST_DOCKER_FIXTURE_H
#define TEST_DOCKER_FIXTURE_H

#include "test_docker_util.h"
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include "docker/auth.h"
#include "log/log.h"

struct it
{
  struct tloop l;
  docker_client_t *c;
  char run[17];
  char label_run[64];
  char tmpdir[64];
};

static inline void
run_cleanup (const char *run)
{
  char cmd[512];
  snprintf (cmd, sizeof cmd,
            "ids=$(docker ps -aq --filter label=ecs-agent-c-test-run=%s); "
            "[ -z \"$ids\" ] || docker rm -fv $ids >/dev/null 2>&1; "
            "vs=$(docker volume ls -q --filter label=ecs-agent-c-test-run=%s); "
            "[ -z \"$vs\" ] || docker volume rm -f $vs >/dev/null 2>&1; true",
            run, run);
  if (system (cmd) != 0)
    fprintf (stderr, "cleanup command failed\n");
}

static inline int
setup (void **state)
{
  struct it *x = xcalloc (1, sizeof *x);
  tloop_init (&x->l);
  util_random_hex (x->run, 8);
  snprintf (x->label_run, sizeof x->label_run, "ecs-agent-c-test-run=%s", x->run);
  snprintf (x->tmpdir, sizeof x->tmpdir, "/tmp/ecs-agent-c-test-XXXXXX");
  if (!mkdtemp (x->tmpdir))
    return -1;
  agent_error_t err = NULL;
  x->c = docker_client_new (&x->l.loop, getenv ("DOCKER_HOST"), &err);
  if (!x->c)
    {
      fprintf (stderr, "docker_client_new: %s\n", error_msg (&err));
      return -1;
    }
  *state = x;
  return 0;
}

static inline int
teardown (void **state)
{
  struct it *x = *state;
  run_cleanup (x->run);
  docker_client_free (x->c);
  int r = tloop_close (&x->l);
  char cmd[128];
  snprintf (cmd, sizeof cmd, "rm -rf %s", x->tmpdir);
  if (system (cmd) != 0)
    fprintf (stderr, "rm failed\n");
  free (x);
  if (r != 0)
    fprintf (stderr, "uv loop still had open handles: leak\n");
  return r == 0 ? 0 : -1;
}

static inline void
labels_for (struct it *x, struct docker_label *l)
{
  l[0] = (struct docker_label){ "ecs-agent-c-test", "1" };
  l[1] = (struct docker_label){ "ecs-agent-c-test-run", x->run };
}

/* ---- small blocking wrappers ------------------------------------------ */

static inline char *
create_sync (struct it *x, struct docker_create_opts *o, struct res *r)
{
  res_reset (r);
  docker_container_create (x->c, o, res_create_cb, r);
  WAIT_RES (&x->l, r, 60000);
  return r->kind ? NULL : r->id;
}

static inline void
start_sync (struct it *x, const char *id, struct res *r)
{
  res_reset (r);
  docker_container_start (x->c, id, res_done_cb, r);
  WAIT_RES (&x->l, r, 60000);
}

static inline void
inspect_sync (struct it *x, const char *id, struct res *r)
{
  res_reset (r);
  docker_container_inspect (x->c, id, res_inspect_cb, r);
  WAIT_RES (&x->l, r, 15000);
}

/* Inspect until not running (or timeout); returns the last inspect. */
static inline void
wait_exit (struct it *x, const char *id, struct res *r, uint64_t timeout_ms)
{
  uint64_t end = util_now_ms () + timeout_ms;
  for (;;)
    {
      inspect_sync (x, id, r);
      ASSERT_OK (r);
      if (!r->running || util_now_ms () > end)
        return;
      tloop_poll_pause (&x->l, 100);
    }
}

static inline uint16_t
free_tcp_port (void)
{
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  assert_int_equal (bind (fd, (struct sockaddr *) &a, sizeof a), 0);
  assert_int_equal (getsockname (fd, (struct sockaddr *) &a, &len), 0);
  close (fd);
  return ntohs (a.sin_port);
}

static inline size_t
curl_sink (char *p, size_t s, size_t n, void *d)
{
  struct sbuf *b = d;
  sbuf_append (b, p, s * n);
  return s * n;
}

/* Blocking GET (test only), repeated until it answers 200 (the server in
   the container starts) or timeout_ms pass; the loop runs between tries. */
static inline char *
http_get_until (struct tloop *l, const char *url, uint64_t timeout_ms)
{
  uint64_t end = util_now_ms () + timeout_ms;
  for (;;)
    {
      struct sbuf b = { 0 };
      CURL *e = curl_easy_init ();
      curl_easy_setopt (e, CURLOPT_URL, url);
      curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, curl_sink);
      curl_easy_setopt (e, CURLOPT_WRITEDATA, &b);
      curl_easy_setopt (e, CURLOPT_TIMEOUT, 2L);
      CURLcode rc = curl_easy_perform (e);
      long st = 0;
      curl_easy_getinfo (e, CURLINFO_RESPONSE_CODE, &st);
      curl_easy_cleanup (e);
      if (rc == CURLE_OK && st == 200)
        return sbuf_steal (&b);
      sbuf_free (&b);
      if (util_now_ms () > end)
        return NULL;
      tloop_poll_pause (l, 200);
    }
}

#endif /* TEST_DOCKER_FIXTURE_H */
