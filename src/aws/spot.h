/* aws/spot.h - the spot interruption notice of the instance metadata
 * service (GET /latest/meta-data/spot/instance-action), parsed at the edge.
 *
 * Contract: aws_spot_action_parse (pure) accepts {"action": "terminate" |
 * "stop" | "hibernate", "time": "<RFC 3339>"} (other members ignored) and
 * refuses anything else with ERR_MALFORMED.
 */
#ifndef AWS_SPOT_H
#define AWS_SPOT_H

#include <stddef.h>
#include <stdint.h>
#include "core/error.h"

#define AWS_SPOT_ACTION_PATH "/latest/meta-data/spot/instance-action"

struct aws_spot_action
{
  char action[16];  /* "terminate", "stop", "hibernate" */
  int64_t time_ns;  /* when the instance will be interrupted */
};

int aws_spot_action_parse (const char *s, size_t len, struct aws_spot_action *out,
                           agent_error_t *err);

#endif
