/* aws/spot.c - the spot instance-action notice (aws/spot.h). */
#include "aws/spot.h"
#include "core/time.h"
#include <jansson.h>
#include <stdio.h>
#include <string.h>

int
aws_spot_action_parse (const char *s, size_t len, struct aws_spot_action *out, agent_error_t *err)
{
  memset (out, 0, sizeof *out);
  json_error_t jerr;
  json_t *root = json_loadb (s ? s : "", s ? len : 0, 0, &jerr);
  if (!json_is_object (root))
    {
      json_decref (root);
      return error_set (err, ERR_MALFORMED, "spot instance-action: not a JSON object");
    }
  const char *action = json_string_value (json_object_get (root, "action"));
  const char *time = json_string_value (json_object_get (root, "time"));
  int rc = 0;
  if (!action
      || (strcmp (action, "terminate") != 0 && strcmp (action, "stop") != 0
          && strcmp (action, "hibernate") != 0))
    rc = error_set (err, ERR_MALFORMED, "spot instance-action: unknown action");
  else if (!time || time_rfc3339_parse (time, &out->time_ns) < 0)
    rc = error_set (err, ERR_MALFORMED, "spot instance-action: bad time");
  else
    snprintf (out->action, sizeof out->action, "%s", action);
  json_decref (root);
  return rc;
}
