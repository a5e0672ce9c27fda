/* test_tcs.c - telemetry without I/O: samples and statistic sets as tables
 * (tcs/metrics.h), the publish messages, batching limits, the signed frame
 * checked against an independently built SigV4 signature, and the inbound
 * frames of upstream's tests (tcs/codec.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "aws/sigv4.h"
#include "core/xmalloc.h"
#include "helpers/fixture.h"
#include "tcs/codec.h"
#include "tcs/collector.h"
#include "tcs/metrics.h"

#define SAMPLES "protocol/samples/"

static struct docker_stats
sample (int64_t read_s, uint64_t cpu_total, uint64_t mem, uint64_t rd, uint64_t wr)
{
  return (struct docker_stats){ .read_ns = read_s * 1000000000LL,
                                .cpu_total = cpu_total,
                                .mem_usage = mem,
                                .blkio_read = rd,
                                .blkio_write = wr };
}

/* CPU percent per sample, as a table: (read s, total_usage ns) with 2 CPUs. */
static void
test_cpu_percent_table (void **state)
{
  (void) state;
  static const struct
  {
    int64_t read_s;
    uint64_t total;
    double want; /* NAN = none */
  } t[] = {
    { 100, 0, NAN },                /* first: no value */
    { 101, 2000000000ULL, 100.0 },  /* 2 s of CPU over 1 s on 2 CPUs: every core busy */
    { 102, 3000000000ULL, 50.0 },   /* one core */
    { 102, 3500000000ULL, 50.0 },   /* read did not advance: previous value */
    { 104, 3500000000ULL, 0.0 },    /* idle */
    { 105, 1000000000ULL, NAN },    /* counter went back (restart): no value */
  };
  struct tcs_queue q;
  tcs_queue_init (&q, 10);
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    {
      struct docker_stats st = sample (t[i].read_s, t[i].total, 0, 0, 0);
      assert_int_equal (tcs_queue_push (&q, &st, 2), 0);
      double got = tcs_queue_at (&q, i)->cpu_percent;
      if (isnan (t[i].want))
        assert_true (isnan (got));
      else
        assert_true (fabs (got - t[i].want) < 1e-3);
    }
  struct docker_stats st = sample (200, 1, 1, 0, 0);
  assert_true (tcs_queue_push (&q, &st, 0) < 0); /* no CPUs: refused */
  assert_int_equal (q.n, 6);
}

static void
test_sets (void **state)
{
  (void) state;
  struct tcs_queue q;
  tcs_queue_init (&q, 4);
  struct tcs_cw_set cpu, mem;
  struct tcs_ulong_set rd, wr;
  struct docker_stats a = sample (10, 0, 10u << 20, 100, 1000);
  tcs_queue_push (&q, &a, 1);
  /* one sample: no set at all */
  assert_false (tcs_queue_cpu_set (&q, &cpu));
  assert_false (tcs_queue_mem_set (&q, &mem));
  assert_false (tcs_queue_storage_sets (&q, &rd, &wr));
  struct docker_stats b = sample (11, 500000000ULL, (20u << 20) + 12345, 300, 1000);
  tcs_queue_push (&q, &b, 1);
  assert_true (tcs_queue_cpu_set (&q, &cpu)); /* the NaN of the first is skipped */
  assert_int_equal (cpu.count, 1);
  assert_true (fabs (cpu.sum - 50.0) < 1e-3 && fabs (cpu.min - 50.0) < 1e-3);
  assert_true (tcs_queue_mem_set (&q, &mem));
  assert_int_equal (mem.count, 2);
  assert_true (mem.min == 10 && mem.max == 20 && mem.sum == 30); /* MiB, floored */
  assert_true (tcs_queue_storage_sets (&q, &rd, &wr));
  assert_true (rd.min == 100 && rd.max == 300 && rd.sum == 400 && rd.count == 2);
  assert_true (wr.sum == 2000 && wr.overflow_sum == 0);
  tcs_queue_mark_sent (&q);
  assert_int_equal (tcs_queue_unsent (&q), 0);
  assert_false (tcs_queue_cpu_set (&q, &cpu));
  assert_false (tcs_queue_mem_set (&q, &mem));
  /* a new sample: sets over it alone (the queue has >= 2 samples) */
  struct docker_stats c = sample (12, 600000000ULL, 5u << 20, 300, 1000);
  tcs_queue_push (&q, &c, 1);
  assert_true (tcs_queue_cpu_set (&q, &cpu));
  assert_int_equal (cpu.count, 1);
  assert_true (fabs (cpu.max - 10.0) < 1e-3);
  assert_true (tcs_queue_mem_set (&q, &mem) && mem.count == 1 && mem.sum == 5);
  /* the ring drops the oldest */
  for (int i = 0; i < 10; i++)
    {
      struct docker_stats d = sample (13 + i, 700000000ULL, 0, 0, 0);
      tcs_queue_push (&q, &d, 1);
    }
  assert_int_equal (q.n, 4);
  assert_int_equal (tcs_queue_at (&q, 0)->read_ns, 19 * 1000000000LL);
}

static void
test_ulong_overflow_table (void **state)
{
  (void) state;
  const uint64_t big = (uint64_t) INT64_MAX;
  static const struct
  {
    uint64_t v[3];
    size_t n;
    uint64_t min, max, sum, omin, omax, osum;
  } t[] = {
    { { 1, 2, 3 }, 3, 1, 3, 6, 0, 0, 0 },
    { { 5, 0, 0 }, 1, 5, 5, 5, 0, 0, 0 },
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    {
      struct tcs_ulong_set s;
      tcs_ulong_set_of (t[i].v, t[i].n, &s);
      assert_true (s.min == t[i].min && s.max == t[i].max && s.sum == t[i].sum);
      assert_true (s.overflow_min == t[i].omin && s.overflow_max == t[i].omax
                   && s.overflow_sum == t[i].osum);
    }
  uint64_t v[] = { big - 1, 20 };
  struct tcs_ulong_set s;
  tcs_ulong_set_of (v, 2, &s); /* sum over 2^63-1: clamped, the rest in overflowSum */
  assert_true (s.min == 20 && s.max == big - 1 && s.overflow_max == 0);
  assert_true (s.sum == big && s.overflow_sum == 19);
  uint64_t w[] = { big + 10 };
  tcs_ulong_set_of (w, 1, &s); /* one value over 2^63-1 */
  assert_true (s.min == big && s.overflow_min == 10 && s.max == big && s.overflow_max == 10);
  assert_true (s.sum == big && s.overflow_sum == 10 && s.count == 1);
}

static json_t *
msg_of (const char *env, const char *type)
{
  json_error_t e;
  json_t *j = json_loads (env, 0, &e);
  assert_non_null (j);
  assert_string_equal (json_string_value (json_object_get (j, "type")), type);
  return j;
}

/* Upstream's rules for samples it does not use, as a table. */
static void
test_sample_reject_table (void **state)
{
  (void) state;
  struct
  {
    unsigned ncpu;
    bool v1, restart;
    size_t percpu;
    int64_t read_s;
    bool rejected;
  } t[] = {
    { 2, false, false, 0, 10, false }, /* cgroup v2: no percpu_usage is normal */
    { 0, false, false, 0, 10, true },  /* no usable CPU */
    { 2, true, false, 0, 10, true },   /* cgroup v1 without percpu_usage */
    { 2, true, false, 2, 10, false },
    { 2, false, true, 0, 0, true },    /* restart policy, zero read time */
    { 2, false, false, 0, 0, false },  /* zero read time without restart policy: used */
    { 2, false, true, 0, 10, false },
  };
  for (size_t i = 0; i < ARRAY_SIZE (t); i++)
    {
      struct docker_stats st = sample (t[i].read_s, 1000, 0, 0, 0);
      st.n_percpu = t[i].percpu;
      const char *why = tcs_sample_reject (&st, t[i].ncpu, t[i].v1, t[i].restart);
      if (t[i].rejected != (why != NULL))
        fail_msg ("row %zu: %s", i, why ? why : "accepted");
    }
}

/* How containers are sampled, and their queue sizes (upstream: ECS_POLL_METRICS, ECS_DISABLE_METRICS). */
static void
test_sampler_mode_table (void **state)
{
  (void) state;
  struct
  {
    bool disable, poll, podman;
    enum tcs_sampler_mode want;
  } t[] = {
    { false, false, false, TCS_SAMPLER_STREAM }, { false, true, false, TCS_SAMPLER_POLL },
    { false, false, true, TCS_SAMPLER_POLL },    { false, true, true, TCS_SAMPLER_POLL },
    { true, false, false, TCS_SAMPLER_NONE },    { true, true, false, TCS_SAMPLER_NONE },
    { true, false, true, TCS_SAMPLER_NONE },
  };
  for (size_t i = 0; i < ARRAY_SIZE (t); i++)
    if (tcs_sampler_mode_of (t[i].disable, t[i].poll, t[i].podman) != t[i].want)
      fail_msg ("row %zu", i);
  struct
  {
    enum tcs_sampler_mode mode;
    uint64_t publish, poll;
    size_t want;
  } q[] = {
    { TCS_SAMPLER_STREAM, 20000, 10000, 80 }, { TCS_SAMPLER_STREAM, 2000, 700, 80 },
    { TCS_SAMPLER_POLL, 20000, 10000, 8 },    { TCS_SAMPLER_POLL, 20000, 5000, 16 },
    { TCS_SAMPLER_POLL, 20000, 20000, 4 },    { TCS_SAMPLER_POLL, 2000, 700, 8 },
    { TCS_SAMPLER_POLL, 20000, 100, 80 },     { TCS_SAMPLER_POLL, 1000, 5000, 4 },
  };
  for (size_t i = 0; i < ARRAY_SIZE (q); i++)
    if (tcs_sampler_queue_cap (q[i].mode, q[i].publish, q[i].poll) != q[i].want)
      fail_msg ("queue row %zu: %zu", i, tcs_sampler_queue_cap (q[i].mode, q[i].publish, q[i].poll));
}

/* networkStatsSet: counters summed by Docker's parser, ULong sets over the
   unsent samples, byte rates against the previous sample; in the message. */
static void
test_network_sets (void **state)
{
  (void) state;
  struct tcs_queue q;
  tcs_queue_init (&q, 8);
  struct tcs_net_sets ns;
  struct docker_stats a = sample (10, 0, 1u << 20, 0, 0);
  a.has_networks = true;
  a.net = (struct docker_net_stats){ .rx_bytes = 1000, .rx_packets = 10, .tx_bytes = 500, .tx_packets = 5 };
  assert_int_equal (tcs_queue_push (&q, &a, 2), 0);
  assert_false (tcs_queue_network_sets (&q, &ns)); /* one sample */
  struct docker_stats b = sample (12, 0, 1u << 20, 0, 0);
  b.has_networks = true;
  b.net = (struct docker_net_stats){ .rx_bytes = 3000, .rx_packets = 30, .rx_dropped = 1, .tx_bytes = 1500,
                                     .tx_packets = 15 };
  assert_int_equal (tcs_queue_push (&q, &b, 2), 0);
  assert_true (tcs_queue_network_sets (&q, &ns));
  assert_int_equal (ns.rx_bytes.count, 2);
  assert_int_equal (ns.rx_bytes.min, 1000);
  assert_int_equal (ns.rx_bytes.max, 3000);
  assert_int_equal (ns.rx_bytes.sum, 4000);
  assert_int_equal (ns.rx_dropped.max, 1);
  assert_int_equal (ns.tx_packets.sum, 20);
  assert_true (ns.rate_ok);
  assert_int_equal (ns.rx_bps.count, 1); /* the first sample has no rate */
  assert_true (fabs (ns.rx_bps.sum - 1000.0) < 1e-9); /* 2000 bytes in 2 s */
  assert_true (fabs (ns.tx_bps.max - 500.0) < 1e-9);
  /* in the message, with the rates */
  struct tcs_container_metric cm = { .name = "app", .cpu = { 1, 1, 1, 1 }, .mem = { 1, 1, 1, 1 },
                                     .has_network = true, .network = ns };
  struct tcs_task_metric tm = { "arn:task/1", "web", "1", &cm, 1 };
  struct tcs_meta m = { "default", "arn:ci", "mid" };
  char **out = NULL;
  assert_int_equal (tcs_metrics_batches (&m, &tm, 1, 1735689640000LL, &out), 1);
  json_t *j = msg_of (out[0], "PublishMetricsRequest");
  json_t *c0 = json_array_get (json_object_get (json_array_get (json_object_get (json_object_get (j, "message"),
                                                                                   "taskMetrics"), 0),
                                                "containerMetrics"), 0);
  json_t *n = json_object_get (c0, "networkStatsSet");
  assert_int_equal (json_integer_value (json_object_get (json_object_get (n, "rxBytes"), "sum")), 4000);
  assert_int_equal (json_integer_value (json_object_get (json_object_get (n, "txPackets"), "overflowSum")), 0);
  assert_true (json_real_value (json_object_get (json_object_get (n, "rxBytesPerSecond"), "max")) == 1000.0);
  json_decref (j);
  free (out[0]);
  free (out);
  /* sent: nothing new */
  tcs_queue_mark_sent (&q);
  assert_false (tcs_queue_network_sets (&q, &ns));
  /* no networks (host mode): no set */
  tcs_queue_init (&q, 8);
  struct docker_stats h = sample (1, 0, 0, 0, 0), h2 = sample (2, 0, 0, 0, 0);
  tcs_queue_push (&q, &h, 1);
  tcs_queue_push (&q, &h2, 1);
  assert_false (tcs_queue_network_sets (&q, &ns));
}

static void
test_idle_and_batches (void **state)
{
  (void) state;
  struct tcs_meta m = { "default", "arn:aws:ecs:us-west-2:1:container-instance/default/abc", "mid-1" };
  char **out = NULL;
  assert_int_equal (tcs_metrics_batches (&m, NULL, 0, 1735689640000LL, &out), 1);
  /* whole seconds: no fraction */
  assert_non_null (strstr (out[0], "\"timestamp\":1735689640}"));
  json_t *j = msg_of (out[0], "PublishMetricsRequest");
  json_t *meta = json_object_get (json_object_get (j, "message"), "metadata");
  assert_true (json_is_true (json_object_get (meta, "idle")));
  assert_true (json_is_true (json_object_get (meta, "fin")));
  assert_null (json_object_get (json_object_get (j, "message"), "taskMetrics"));
  json_decref (j);
  free (out[0]);
  free (out);

  /* 23 tasks: 10 + 10 + 3, one messageId, fin only on the last */
  struct tcs_container_metric cm = { .name = "app",
                                     .cpu = { 0.4, 12.5, 61.25, 20 },
                                     .mem = { 40, 41, 806, 20 } };
  struct tcs_task_metric tasks[23];
  char arns[23][32];
  for (int i = 0; i < 23; i++)
    {
      snprintf (arns[i], sizeof arns[i], "arn:task/%d", i);
      tasks[i] = (struct tcs_task_metric){ arns[i], "web", "7", &cm, 1 };
    }
  size_t n = tcs_metrics_batches (&m, tasks, 23, 1735689620123LL, &out);
  assert_int_equal (n, 3);
  size_t want[] = { 10, 10, 3 };
  for (size_t i = 0; i < n; i++)
    {
      assert_non_null (strstr (out[i], "\"timestamp\":1735689620.123}"));
      j = msg_of (out[i], "PublishMetricsRequest");
      json_t *msg = json_object_get (j, "message");
      meta = json_object_get (msg, "metadata");
      assert_string_equal (json_string_value (json_object_get (meta, "messageId")), "mid-1");
      assert_true (json_is_false (json_object_get (meta, "idle")));
      assert_int_equal (json_is_true (json_object_get (meta, "fin")), i == n - 1);
      json_t *tm = json_object_get (msg, "taskMetrics");
      assert_int_equal (json_array_size (tm), want[i]);
      json_t *c0 = json_array_get (json_object_get (json_array_get (tm, 0), "containerMetrics"), 0);
      json_t *cpu = json_object_get (c0, "cpuStatsSet");
      assert_int_equal (json_integer_value (json_object_get (cpu, "sampleCount")), 20);
      assert_true (json_real_value (json_object_get (cpu, "sum")) == 61.25);
      assert_null (json_object_get (c0, "storageStatsSet"));
      assert_null (json_object_get (c0, "restartStatsSet")); /* no restart policy */
      json_decref (j);
      free (out[i]);
    }
  free (out);

  /* A container with a restart policy carries restartStatsSet.restartCount. */
  struct tcs_container_metric rc = { .name = "app", .cpu = { 0.4, 12.5, 61.25, 20 },
                                     .mem = { 40, 41, 806, 20 }, .has_restart = true,
                                     .restart_count = 3 };
  struct tcs_task_metric rt = { "arn:task/r", "web", "7", &rc, 1 };
  assert_int_equal (tcs_metrics_batches (&m, &rt, 1, 1735689620123LL, &out), 1);
  j = msg_of (out[0], "PublishMetricsRequest");
  json_t *c0 = json_array_get (json_object_get (json_array_get (json_object_get (json_object_get (j, "message"), "taskMetrics"), 0), "containerMetrics"), 0);
  assert_int_equal (json_integer_value (json_object_get (json_object_get (c0, "restartStatsSet"), "restartCount")), 3);
  json_decref (j);
  free (out[0]);
  free (out);
}

static void
test_batch_size_limit (void **state)
{
  (void) state;
  /* tasks of ~300 KiB each (long names): at most 3 fit under 1 MiB */
  struct tcs_meta m = { "c", "i", "id" };
  char *big = xmalloc (300 * 1024 + 1);
  memset (big, 'x', 300 * 1024);
  big[300 * 1024] = '\0';
  struct tcs_container_metric cm = { .name = big, .cpu = { 1, 1, 1, 1 }, .mem = { 1, 1, 1, 1 } };
  struct tcs_task_metric tasks[7];
  for (int i = 0; i < 7; i++)
    tasks[i] = (struct tcs_task_metric){ "arn", "f", "1", &cm, 1 };
  char **out = NULL;
  size_t n = tcs_metrics_batches (&m, tasks, 7, 1000, &out);
  assert_int_equal (n, 3); /* 3 + 3 + 1 */
  for (size_t i = 0; i < n; i++)
    {
      assert_true (strlen (out[i]) <= TCS_MAX_REQUEST_BYTES);
      free (out[i]);
    }
  free (out);
  free (big);
}

static void
test_health_and_status (void **state)
{
  (void) state;
  struct tcs_meta m = { "default", "arn:ci", "h-1" };
  struct tcs_container_health ch = { "app", TCS_HEALTH_HEALTHY, 1735689000500LL };
  struct tcs_task_health th[12];
  for (int i = 0; i < 12; i++)
    th[i] = (struct tcs_task_health){ "arn:task", "web", "7", &ch, 1 };
  char **out = NULL;
  assert_int_equal (tcs_health_batches (&m, th, 0, 1, &out), 0);
  free (out);
  assert_int_equal (tcs_health_batches (&m, th, 12, 1735689620200LL, &out), 2);
  json_t *j = msg_of (out[1], "PublishHealthRequest");
  json_t *msg = json_object_get (j, "message");
  assert_true (json_is_true (json_object_get (json_object_get (msg, "metadata"), "fin")));
  json_t *c = json_array_get (json_object_get (json_array_get (json_object_get (msg, "tasks"), 0), "containers"), 0);
  assert_string_equal (json_string_value (json_object_get (c, "healthStatus")), "HEALTHY");
  assert_true (json_real_value (json_object_get (c, "statusSince")) == 1735689000.5);
  json_decref (j);
  j = msg_of (out[0], "PublishHealthRequest");
  assert_true (json_is_false (json_object_get (json_object_get (json_object_get (j, "message"), "metadata"), "fin")));
  json_decref (j);
  free (out[0]);
  free (out[1]);
  free (out);

  char *s = tcs_encode_instance_status (&m, TCS_STATUS_OK, 1735689610800LL, 1735689010100LL,
                                        1735689620300LL);
  j = msg_of (s, "PublishInstanceStatusRequest");
  msg = json_object_get (j, "message");
  assert_string_equal (json_string_value (json_object_get (json_object_get (msg, "metadata"), "requestId")), "h-1");
  json_t *st = json_array_get (json_object_get (msg, "statuses"), 0);
  assert_string_equal (json_string_value (json_object_get (st, "type")), "ContainerRuntime");
  assert_string_equal (json_string_value (json_object_get (st, "status")), "OK");
  assert_true (json_real_value (json_object_get (st, "lastUpdated")) == 1735689610.8);
  json_decref (j);
  free (s);
}

/* The frame's signature, recomputed here from the SigV4 definition (not
   through aws_sigv4_sign's canonicalisation). */
static void
test_signed_frame (void **state)
{
  (void) state;
  const char *url = "http://127.0.0.1:8123/tcs/ws?agentHash=abc&agentVersion=1.0.0&cluster=default"
                    "&containerInstance=arn%3Aaws%3Aecs%3Aus-west-2%3A1%3Acontainer-instance%2Fx";
  struct aws_credentials cr = { "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "TOKEN1", 0 };
  const char *json = "{\"type\":\"PublishMetricsRequest\",\"message\":{}}";
  agent_error_t err = NULL;
  char *f = tcs_frame_sign (url, "us-west-2", &cr, 1735689620, json, &err);
  assert_non_null (f);
  const char *want_head
      = "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-west-2/ecs/aws4_request, "
        "SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=";
  assert_memory_equal (f, want_head, strlen (want_head));
  const char *sig = f + strlen (want_head);
  const char *rest = sig + 64;
  const char *tail = "\r\nHost: 127.0.0.1:8123\r\nX-Amz-Date: 20250101T000020Z\r\n"
                     "X-Amz-Security-Token: TOKEN1\r\n\r\n";
  assert_memory_equal (rest, tail, strlen (tail));
  assert_string_equal (rest + strlen (tail), json);

  char body_hash[65];
  aws_sha256_hex (json, strlen (json), body_hash);
  char *creq = xasprintf ("GET\n/tcs/ws\nagentHash=abc&agentVersion=1.0.0&cluster=default"
                          "&containerInstance=arn%%3Aaws%%3Aecs%%3Aus-west-2%%3A1%%3Acontainer-instance%%2Fx\n"
                          "host:127.0.0.1:8123\nx-amz-date:20250101T000020Z\nx-amz-security-token:TOKEN1\n\n"
                          "host;x-amz-date;x-amz-security-token\n%s",
                          body_hash);
  char creq_hash[65];
  aws_sha256_hex (creq, strlen (creq), creq_hash);
  char *sts = xasprintf ("AWS4-HMAC-SHA256\n20250101T000020Z\n20250101/us-west-2/ecs/aws4_request\n%s",
                         creq_hash);
  unsigned char key[32], mac[32];
  unsigned int ml = 0;
  aws_sigv4_signing_key (cr.secret_access_key, "20250101", "us-west-2", "ecs", key);
  HMAC (EVP_sha256 (), key, 32, (const unsigned char *) sts, strlen (sts), mac, &ml);
  char hex[65];
  for (int i = 0; i < 32; i++)
    snprintf (hex + 2 * i, 3, "%02x", mac[i]);
  assert_memory_equal (sig, hex, 64);
  free (creq);
  free (sts);
  free (f);
}

static void
test_decode (void **state)
{
  (void) state;
  static const char *const files[] = { "client_test.go__tcs-ack-publish-metric.json",
                                       "client_test.go__tcs-ack-publish-health.json",
                                       "client_test.go__tcs-ack-publish-instance-status.json" };
  enum tcs_in_type want[] = { TCS_IN_ACK_METRIC, TCS_IN_ACK_HEALTH, TCS_IN_ACK_STATUS };
  for (size_t i = 0; i < 3; i++)
    {
      char rel[256];
      snprintf (rel, sizeof rel, SAMPLES "%s", files[i]);
      size_t n;
      char *s = test_fixture_shared (rel, &n);
      struct tcs_inbound in;
      assert_int_equal (tcs_decode (s, n, &in, NULL), 0);
      assert_int_equal (in.type, want[i]);
      tcs_inbound_clear (&in);
      free (s);
    }
  static const struct
  {
    const char *text;
    int rc;
    enum tcs_in_type type;
    const char *message;
  } t[] = {
    { "{\"type\":\"HeartbeatMessage\",\"message\":{\"healthy\":true}}", 0, TCS_IN_HEARTBEAT, NULL },
    { "{\"type\":\"ServerException\",\"message\":{\"message\":\"Internal error\"}}", 0,
      TCS_IN_EXCEPTION, "Internal error" },
    { "{\"ServerException\":\"Internal error\"}", 0, TCS_IN_EXCEPTION, "Internal error" },
    { "{\"type\":\"StopTelemetrySessionMessage\",\"message\":{\"message\":\"bye\"}}", 0,
      TCS_IN_STOP_SESSION, "bye" },
    { "{\"type\":\"ErrorMessage\",\"message\":{}}", 0, TCS_IN_UNKNOWN, NULL },
    { "{\"type\":\"AckPublishMetric\"}", 0, TCS_IN_ACK_METRIC, NULL },
    { "{\"type\":\"\",\"message\":{},\"x\":1}", -1, 0, NULL },
    { "{\"type\":\"HeartbeatMessage\",\"message\":[1]}", -1, 0, NULL },
    { "[]", -1, 0, NULL },
    { "not json", -1, 0, NULL },
    { "", -1, 0, NULL },
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    {
      struct tcs_inbound in;
      agent_error_t err = NULL;
      int rc = tcs_decode (t[i].text, strlen (t[i].text), &in, &err);
      if (t[i].rc < 0)
        {
          if (rc >= 0)
            fail_msg ("accepted: %s", t[i].text);
          assert_int_equal (error_kind (&err), ERR_MALFORMED);
          error_free (&err);
          continue;
        }
      assert_int_equal (rc, 0);
      assert_int_equal (in.type, t[i].type);
      if (t[i].message)
        assert_string_equal (in.message, t[i].message);
      else
        assert_null (in.message);
      tcs_inbound_clear (&in);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_cpu_percent_table),  cmocka_unit_test (test_sets),
    cmocka_unit_test (test_ulong_overflow_table), cmocka_unit_test (test_idle_and_batches),
    cmocka_unit_test (test_batch_size_limit),   cmocka_unit_test (test_health_and_status),
    cmocka_unit_test (test_signed_frame),       cmocka_unit_test (test_decode),
    cmocka_unit_test (test_sample_reject_table), cmocka_unit_test (test_network_sets),
    cmocka_unit_test (test_sampler_mode_table),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
