/* tcs/codec.c - TCS messages, batches, signed frames, inbound frames
 * (tcs/codec.h). */
#include "tcs/codec.h"
#include "aws/sigv4.h"
#include "core/xmalloc.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION (15))

static json_t *
timestamp (int64_t ms)
{
  if (ms % 1000 == 0)
    return json_integer (ms / 1000);
  return json_real ((double) ms / 1000.0);
}

/* A finite double (NaN/inf have no JSON form: 0). */
static json_t *
num (double v)
{
  if (v != v || v > 1e300 || v < -1e300)
    v = 0;
  return json_real (v);
}

static json_t *
cw_set (const struct tcs_cw_set *s)
{
  return json_pack ("{s:o,s:o,s:o,s:I}", "min", num (s->min), "max", num (s->max), "sum",
                    num (s->sum), "sampleCount", (json_int_t) s->count);
}

static json_t *
ulong_set (const struct tcs_ulong_set *s)
{
  return json_pack ("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "min", (json_int_t) s->min, "max",
                    (json_int_t) s->max, "sum", (json_int_t) s->sum, "sampleCount",
                    (json_int_t) s->count, "overflowMin", (json_int_t) s->overflow_min,
                    "overflowMax", (json_int_t) s->overflow_max, "overflowSum",
                    (json_int_t) s->overflow_sum);
}

static json_t *
str (const char *s)
{
  json_t *j = json_string (s ? s : "");
  return j ? j : json_string ("");
}

static json_t *
task_metric_json (const struct tcs_task_metric *t)
{
  json_t *cs = json_array ();
  for (size_t i = 0; i < t->n_containers; i++)
    {
      const struct tcs_container_metric *c = &t->containers[i];
      json_t *o = json_pack ("{s:o,s:o,s:o}", "containerName", str (c->name), "cpuStatsSet",
                             cw_set (&c->cpu), "memoryStatsSet", cw_set (&c->mem));
      if (c->has_storage)
        json_object_set_new (o, "storageStatsSet",
                             json_pack ("{s:o,s:o}", "readSizeBytes",
                                        ulong_set (&c->storage_read), "writeSizeBytes",
                                        ulong_set (&c->storage_write)));
      if (c->has_network)
        {
          const struct tcs_net_sets *n = &c->network;
          json_t *ns = json_pack (
              "{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "rxBytes", ulong_set (&n->rx_bytes), "rxPackets",
              ulong_set (&n->rx_packets), "rxErrors", ulong_set (&n->rx_errors), "rxDropped",
              ulong_set (&n->rx_dropped), "txBytes", ulong_set (&n->tx_bytes), "txPackets",
              ulong_set (&n->tx_packets), "txErrors", ulong_set (&n->tx_errors), "txDropped",
              ulong_set (&n->tx_dropped));
          if (n->rate_ok)
            {
              json_object_set_new (ns, "rxBytesPerSecond", cw_set (&n->rx_bps));
              json_object_set_new (ns, "txBytesPerSecond", cw_set (&n->tx_bps));
            }
          json_object_set_new (o, "networkStatsSet", ns);
        }
      if (c->has_restart)
        json_object_set_new (o, "restartStatsSet",
                             json_pack ("{s:I}", "restartCount", (json_int_t) c->restart_count));
      json_array_append_new (cs, o);
    }
  return json_pack ("{s:o,s:o,s:o,s:o}", "taskArn", str (t->task_arn), "taskDefinitionFamily",
                    str (t->family), "taskDefinitionVersion", str (t->version),
                    "containerMetrics", cs);
}

static char *
envelope (const char *type, json_t *msg)
{
  json_t *e = json_pack ("{s:s,s:o}", "type", type, "message", msg);
  char *s = json_dumps (e, DUMP_FLAGS);
  json_decref (e);
  if (!s)
    xalloc_die ();
  return s;
}

static char *
metrics_request (const struct tcs_meta *m, json_t *tasks, bool fin, int64_t now_ms)
{
  bool idle = tasks == NULL;
  json_t *meta = json_pack ("{s:o,s:o,s:b,s:o,s:b}", "cluster", str (m->cluster),
                            "containerInstance", str (m->container_instance), "idle", idle,
                            "messageId", str (m->message_id), "fin", fin);
  json_t *msg = json_pack ("{s:o,s:o}", "metadata", meta, "timestamp", timestamp (now_ms));
  if (tasks)
    json_object_set (msg, "taskMetrics", tasks);
  return envelope ("PublishMetricsRequest", msg);
}

static void
push_out (char ***out, size_t *n, char *s)
{
  *out = xrealloc (*out, (*n + 1) * sizeof **out);
  (*out)[(*n)++] = s;
}

size_t
tcs_metrics_batches (const struct tcs_meta *m, const struct tcs_task_metric *tasks, size_t n,
                     int64_t now_ms, char ***out)
{
  *out = NULL;
  size_t nout = 0;
  if (n == 0)
    {
      push_out (out, &nout, metrics_request (m, NULL, true, now_ms));
      return nout;
    }
  json_t *cur = json_array ();
  for (size_t i = 0; i < n; i++)
    {
      json_t *t = task_metric_json (&tasks[i]);
      if (json_array_size (cur) > 0)
        {
          bool full = json_array_size (cur) >= TCS_MAX_TASKS_PER_REQUEST;
          if (!full)
            {
              json_array_append (cur, t);
              char *probe = metrics_request (m, cur, false, now_ms);
              full = strlen (probe) > TCS_MAX_REQUEST_BYTES;
              free (probe);
              json_array_remove (cur, json_array_size (cur) - 1);
            }
          if (full)
            {
              push_out (out, &nout, metrics_request (m, cur, false, now_ms));
              json_decref (cur);
              cur = json_array ();
            }
        }
      json_array_append_new (cur, t);
    }
  push_out (out, &nout, metrics_request (m, cur, true, now_ms));
  json_decref (cur);
  return nout;
}

static const char *
health_str (enum tcs_health_status s)
{
  switch (s)
    {
    case TCS_HEALTH_HEALTHY:
      return "HEALTHY";
    case TCS_HEALTH_UNHEALTHY:
      return "UNHEALTHY";
    case TCS_HEALTH_UNKNOWN:
      break;
    }
  return "UNKNOWN";
}

size_t
tcs_health_batches (const struct tcs_meta *m, const struct tcs_task_health *tasks, size_t n,
                    int64_t now_ms, char ***out)
{
  *out = NULL;
  size_t nout = 0;
  for (size_t start = 0; start < n; start += TCS_MAX_TASKS_PER_REQUEST)
    {
      size_t end = start + TCS_MAX_TASKS_PER_REQUEST < n ? start + TCS_MAX_TASKS_PER_REQUEST : n;
      json_t *ts = json_array ();
      for (size_t i = start; i < end; i++)
        {
          json_t *cs = json_array ();
          for (size_t k = 0; k < tasks[i].n_containers; k++)
            {
              const struct tcs_container_health *c = &tasks[i].containers[k];
              json_array_append_new (cs, json_pack ("{s:o,s:s,s:o}", "containerName",
                                                    str (c->name), "healthStatus",
                                                    health_str (c->status), "statusSince",
                                                    timestamp (c->since_ms)));
            }
          json_array_append_new (ts, json_pack ("{s:o,s:o,s:o,s:o}", "taskArn",
                                                str (tasks[i].task_arn), "taskDefinitionFamily",
                                                str (tasks[i].family), "taskDefinitionVersion",
                                                str (tasks[i].version), "containers", cs));
        }
      json_t *meta = json_pack ("{s:o,s:o,s:o,s:b}", "cluster", str (m->cluster),
                                "containerInstance", str (m->container_instance), "messageId",
                                str (m->message_id), "fin", end == n);
      json_t *msg = json_pack ("{s:o,s:o,s:o}", "metadata", meta, "tasks", ts, "timestamp",
                               timestamp (now_ms));
      push_out (out, &nout, envelope ("PublishHealthRequest", msg));
    }
  return nout;
}

const char *
tcs_instance_status_str (enum tcs_instance_status s)
{
  switch (s)
    {
    case TCS_STATUS_OK:
      return "OK";
    case TCS_STATUS_IMPAIRED:
      return "IMPAIRED";
    case TCS_STATUS_INSUFFICIENT_DATA:
      return "INSUFFICIENT_DATA";
    case TCS_STATUS_INITIALIZING:
      break;
    }
  return "INITIALIZING";
}

char *
tcs_encode_instance_status (const struct tcs_meta *m, enum tcs_instance_status st,
                            int64_t last_updated_ms, int64_t last_change_ms, int64_t now_ms)
{
  json_t *meta = json_pack ("{s:o,s:o,s:o}", "cluster", str (m->cluster), "containerInstance",
                            str (m->container_instance), "requestId", str (m->message_id));
  json_t *status = json_pack ("{s:s,s:s,s:o,s:o}", "type", "ContainerRuntime", "status",
                              tcs_instance_status_str (st), "lastUpdated",
                              timestamp (last_updated_ms), "lastStatusChange",
                              timestamp (last_change_ms));
  json_t *msg = json_pack ("{s:o,s:[o],s:o}", "metadata", meta, "statuses", status, "timestamp",
                           timestamp (now_ms));
  return envelope ("PublishInstanceStatusRequest", msg);
}

static int
header_cmp (const void *a, const void *b)
{
  return strcasecmp (((const struct http_header *) a)->name,
                     ((const struct http_header *) b)->name);
}

char *
tcs_frame_sign (const char *url, const char *region, const struct aws_credentials *creds,
                time_t now, const char *json, agent_error_t *err)
{
  struct aws_sigv4_input in = {
    .method = "GET",
    .url = url,
    .body = json,
    .body_len = strlen (json),
    .region = region,
    .service = "ecs",
    .now = now,
    .flags = AWS_SIGV4_HOST_DATE,
  };
  struct aws_sigv4_output out = { 0 };
  if (aws_sigv4_sign (&in, creds, &out, err) < 0)
    return NULL;
  /* Host as the signer took it: the URL's authority */
  const char *p = strstr (url, "://");
  p = p ? p + 3 : url;
  size_t hl = strcspn (p, "/?#");
  struct http_header *h = xcalloc (out.n_headers + 1, sizeof *h);
  size_t nh = 0;
  char *host = xstrndup (p, hl);
  h[nh++] = (struct http_header){ .name = "Host", .value = host };
  for (size_t i = 0; i < out.n_headers; i++)
    h[nh++] = out.headers[i];
  qsort (h, nh, sizeof *h, header_cmp);
  struct sbuf b = { 0 };
  for (size_t i = 0; i < nh; i++)
    sbuf_printf (&b, "%s: %s\r\n", h[i].name, h[i].value);
  sbuf_printf (&b, "\r\n%s", json);
  free (h);
  free (host);
  aws_sigv4_output_free (&out);
  return sbuf_steal (&b);
}

static const struct
{
  const char *name;
  enum tcs_in_type type;
} in_types[] = {
  { "HeartbeatMessage", TCS_IN_HEARTBEAT },
  { "AckPublishMetric", TCS_IN_ACK_METRIC },
  { "AckPublishHealth", TCS_IN_ACK_HEALTH },
  { "AckPublishInstanceStatus", TCS_IN_ACK_STATUS },
  { "ServerException", TCS_IN_EXCEPTION },
  { "BadRequestException", TCS_IN_EXCEPTION },
  { "ResourceValidationException", TCS_IN_EXCEPTION },
  { "InvalidParameterException", TCS_IN_EXCEPTION },
  { "StopTelemetrySessionMessage", TCS_IN_STOP_SESSION },
  { "StartTelemetrySessionRequest", TCS_IN_OTHER_KNOWN },
  { "PublishMetricsRequest", TCS_IN_OTHER_KNOWN },
  { "PublishHealthRequest", TCS_IN_OTHER_KNOWN },
  { "PublishInstanceStatusRequest", TCS_IN_OTHER_KNOWN },
};

int
tcs_decode (const char *s, size_t len, struct tcs_inbound *out, agent_error_t *err)
{
  memset (out, 0, sizeof *out);
  json_error_t jerr;
  json_t *root = json_loadb (s ? s : "", s ? len : 0, JSON_DECODE_ANY, &jerr);
  if (!json_is_object (root))
    {
      json_decref (root);
      return error_set (err, ERR_MALFORMED, "TCS frame is not a JSON object");
    }
  json_t *type = json_object_get (root, "type");
  json_t *msg = json_object_get (root, "message");
  int rc = 0;
  if (json_is_string (type) && json_string_length (type) > 0
      && (msg == NULL || json_is_object (msg) || json_is_null (msg)))
    {
      out->type_name = xstrdup (json_string_value (type));
      json_t *m = json_object_get (msg, "message");
      if (json_is_string (m))
        out->message = xstrdup (json_string_value (m));
    }
  else if (json_object_size (root) == 1)
    {
      /* unframed error form {"XException":"message"} */
      const char *k = json_object_iter_key (json_object_iter (root));
      json_t *v = json_object_iter_value (json_object_iter (root));
      out->type_name = xstrdup (k);
      if (json_is_string (v))
        out->message = xstrdup (json_string_value (v));
    }
  else
    rc = error_set (err, ERR_MALFORMED, "TCS frame has no type");
  json_decref (root);
  if (rc < 0)
    return rc;
  out->type = TCS_IN_UNKNOWN;
  for (size_t i = 0; i < sizeof in_types / sizeof in_types[0]; i++)
    if (strcmp (out->type_name, in_types[i].name) == 0)
      out->type = in_types[i].type;
  return 0;
}

void
tcs_inbound_clear (struct tcs_inbound *in)
{
  free (in->type_name);
  free (in->message);
  memset (in, 0, sizeof *in);
}
