/* tcs/codec.h - TCS (telemetry) wire format: the publish messages, the
 * signed frame around them, and the inbound frames (pure, no I/O).
 *
 * Contract:
 *  - Outbound messages are built from typed structs into the envelope
 *    {"type":"<Shape>","message":{...}} with the model's member names;
 *    timestamps are JSON numbers, Unix seconds with millisecond precision
 *    (whole seconds without a fraction).
 *  - tcs_metrics_batches splits one publish round into requests of at most
 *    TCS_MAX_TASKS_PER_REQUEST tasks and TCS_MAX_REQUEST_BYTES bytes of JSON;
 *    every request shares the round's messageId and only the last has
 *    fin=true.  No task: one idle request.
 *  - tcs_frame_sign wraps a message as upstream writes it: the JSON signed
 *    as the body of a GET of the session URL (SigV4, service ecs, headers
 *    host;x-amz-date[;x-amz-security-token]), the header lines sorted by
 *    name, a blank line, then the JSON.
 *  - tcs_decode parses an inbound frame into its type (unknown types are
 *    TCS_IN_UNKNOWN, not an error) and the optional "message" text;
 *    ERR_MALFORMED when it is not an envelope.  Frames over TCS_MAX_FRAME are
 *    refused by the session before decoding.
 */
#ifndef TCS_CODEC_H
#define TCS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "aws/credentials.h"
#include "core/error.h"
#include "tcs/metrics.h"

#define TCS_MAX_TASKS_PER_REQUEST 10
#define TCS_MAX_REQUEST_BYTES (1024u * 1024u)
#define TCS_MAX_FRAME (64u * 1024u)

struct tcs_container_metric
{
  const char *name;
  struct tcs_cw_set cpu, mem; /* mandatory */
  bool has_storage;
  struct tcs_ulong_set storage_read, storage_write;
  bool has_network; /* bridge-mode tasks: networkStatsSet */
  struct tcs_net_sets network;
  bool has_restart; /* restart policy enabled: restartStatsSet.restartCount */
  uint32_t restart_count;
};

struct tcs_task_metric
{
  const char *task_arn, *family, *version;
  struct tcs_container_metric *containers;
  size_t n_containers;
};

struct tcs_meta
{
  const char *cluster;
  const char *container_instance;
  const char *message_id; /* metrics and health: the round's id; status: requestId */
};

/* PublishMetricsRequest bodies of one round (each a full envelope);
   returns how many, *out an array of n strings (free each, then *out). */
size_t tcs_metrics_batches (const struct tcs_meta *m, const struct tcs_task_metric *tasks,
                            size_t n, int64_t now_ms, char ***out);

enum tcs_health_status
{
  TCS_HEALTH_UNKNOWN,
  TCS_HEALTH_HEALTHY,
  TCS_HEALTH_UNHEALTHY,
};

struct tcs_container_health
{
  const char *name;
  enum tcs_health_status status;
  int64_t since_ms;
};

struct tcs_task_health
{
  const char *task_arn, *family, *version;
  struct tcs_container_health *containers;
  size_t n_containers;
};

/* PublishHealthRequest bodies (batches of 10 tasks); 0 when n is 0. */
size_t tcs_health_batches (const struct tcs_meta *m, const struct tcs_task_health *tasks,
                           size_t n, int64_t now_ms, char ***out);

enum tcs_instance_status
{
  TCS_STATUS_INITIALIZING,
  TCS_STATUS_OK,
  TCS_STATUS_IMPAIRED,
  TCS_STATUS_INSUFFICIENT_DATA,
};
const char *tcs_instance_status_str (enum tcs_instance_status s);

/* PublishInstanceStatusRequest with one ContainerRuntime status. */
char *tcs_encode_instance_status (const struct tcs_meta *m, enum tcs_instance_status st,
                                  int64_t last_updated_ms, int64_t last_change_ms,
                                  int64_t now_ms);

/* The frame text for json (see above); url is the session URL
   (http(s)://host[:port]/ws?query).  NULL with err when signing fails. */
char *tcs_frame_sign (const char *url, const char *region, const struct aws_credentials *creds,
                      time_t now, const char *json, agent_error_t *err);

enum tcs_in_type
{
  TCS_IN_UNKNOWN,
  TCS_IN_HEARTBEAT,
  TCS_IN_ACK_METRIC,
  TCS_IN_ACK_HEALTH,
  TCS_IN_ACK_STATUS,
  TCS_IN_EXCEPTION,   /* ServerException, BadRequestException, ... */
  TCS_IN_STOP_SESSION,
  TCS_IN_OTHER_KNOWN, /* recognised model shapes with no handler */
};

struct tcs_inbound
{
  enum tcs_in_type type;
  char *type_name; /* as received */
  char *message;   /* message.message, or NULL */
};

int tcs_decode (const char *s, size_t len, struct tcs_inbound *out, agent_error_t *err);
void tcs_inbound_clear (struct tcs_inbound *in);

#endif
