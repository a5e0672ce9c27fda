/* state/checkpoint_images.h - the checkpoint form of the image records
 * (task/image_record.h), the "ImageManager" object of ecs_agent_data.json:
 *   {"ImageStates":[{"Image":{"ImageID":..,"Names":[..],"Size":N},
 *     "PulledAt":"<RFC 3339>","LastUsedAt":"<RFC 3339>","PullSucceeded":bool,
 *     "ManagedEnvKeys":["AWS_REGION",..]}]}
 * (upstream's shape).  ManagedEnvKeys is written once the image's Env was
 * read (possibly []); absent (a checkpoint from before the field) it loads
 * as not known, and other names in it are ignored.  Keys are matched case-insensitively; a malformed
 * entry is ERR_INVALID naming it; at most IMAGE_RECORDS_MAX entries. */
#ifndef STATE_CHECKPOINT_IMAGES_H
#define STATE_CHECKPOINT_IMAGES_H

#include <jansson.h>
#include "core/error.h"
#include "task/image_record.h"

/* Returns a new reference. */
json_t *state_images_to_json (const struct image_records *l);
/* Fills *out (zeroed by the caller) from an "ImageManager" object. */
int state_images_from_json (json_t *j, struct image_records *out, agent_error_t *err);

#endif
