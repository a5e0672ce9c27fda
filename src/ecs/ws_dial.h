/* ecs/ws_dial.h - what comes before each connect of a session websocket
 * (the ACS and the TCS sessions): the endpoint, then credentials to sign the
 * handshake with.
 *
 * Contract:
 *  - ecs_ws_dial_start: unless a dial is running (then nothing), take the
 *    fixed endpoint if there is one, else ask ECS DiscoverPollEndpoint (the
 *    ACS endpoint, or the telemetry one); then fetch credentials.  It ends
 *    with one call of cb: creds (borrowed for the call) and err NULL, or creds
 *    NULL and *err set ("DiscoverPollEndpoint: ...", or ERR_AUTH "no
 *    credentials for the <what> handshake: ..."; the callee frees it).
 *  - Once *stopping (the owner's flag) is true, a late answer ends the dial
 *    without calling cb.  ecs_ws_dial_cancel drops a running dial (no cb);
 *    ecs_ws_dial_clear frees what the dial owns (the last endpoint).
 *  - The endpoint the last dial used stays in `endpoint` (owned).
 */
#ifndef ECS_WS_DIAL_H
#define ECS_WS_DIAL_H

#include <stdbool.h>
#include "aws/credentials.h"
#include "core/error.h"
#include "ecs/ecs.h"

typedef void (*ecs_ws_dial_cb) (const struct aws_credentials *creds, agent_error_t *err,
                                void *data);

struct ecs_ws_dial
{
  /* set by the owner, borrowed */
  ecs_client_t *ecs;
  aws_creds_provider_t *creds;
  const char *instance_arn, *cluster;
  const char *endpoint_fixed; /* NULL: discover */
  bool telemetry;             /* discover the telemetry endpoint */
  const char *what;           /* "ACS", "TCS": for messages */
  const bool *stopping;
  ecs_ws_dial_cb cb;
  void *data;
  /* the dial's own */
  char *endpoint;
  ecs_call_t *op;
  bool creds_pending;
};

void ecs_ws_dial_start (struct ecs_ws_dial *d);
bool ecs_ws_dial_busy (const struct ecs_ws_dial *d);
void ecs_ws_dial_cancel (struct ecs_ws_dial *d);
void ecs_ws_dial_clear (struct ecs_ws_dial *d);

#endif
