/* docker/overlay.h - the dockerConfig overlay: a JSON fragment of Docker's
 * create Config or HostConfig decoded into the body the agent generated,
 * as upstream's Go decoder does it into Docker's types.
 *
 * Contract (upstream's rules for the dockerConfig overlay):
 *  - text must be a JSON object ("" / NULL: nothing to do).
 *  - Keys match Docker's field names exactly, else case-insensitively; the
 *    body gets the canonical name ("HealthCheck" fills "Healthcheck").
 *    Keys Docker's types do not define are ignored.
 *  - Scalars replace; arrays replace the whole array; objects merge: a
 *    struct field by field, a map key by key (others kept).  JSON null
 *    clears pointers, arrays and maps and leaves plain scalars as they are.
 *  - A value of the wrong JSON type, a fractional or out-of-range number:
 *    < 0 (ERR_INVALID) with the decoder's message naming the field; dst
 *    may then be partly updated (callers validate on a scratch object
 *    first: docker_overlay_check).
 *  - The schema is fixed and at most three levels deep: no recursion an
 *    input controls.
 */
#ifndef DOCKER_OVERLAY_H
#define DOCKER_OVERLAY_H

#include <jansson.h>
#include "core/error.h"

enum docker_overlay_target
{
  DOCKER_OVERLAY_CONFIG,      /* container.Config */
  DOCKER_OVERLAY_HOST_CONFIG, /* container.HostConfig */
};

/* Decode text into dst (a JSON object, the generated body part). */
int docker_overlay_apply (json_t *dst, const char *text, enum docker_overlay_target target,
                          agent_error_t *err);
/* Decode text alone; on success *out (if not NULL) is the resulting object
   (new reference, canonical keys). */
int docker_overlay_check (const char *text, enum docker_overlay_target target, json_t **out,
                          agent_error_t *err);

/* The JSON body of POST /containers/create for o (malloc'd): the generated
   Config / HostConfig, then the overlays, then the agent's overrides
   (labels merged over the user's, CgroupParent, NetworkMode, PidMode,
   IpcMode, the agent's LogConfig.Config options).  NULL with ERR_INVALID on a string that is not UTF-8 or an
   overlay that does not decode ("DockerClientConfigError: Unable decode
   given docker config: ..." / "HostConfigError: Unable to decode given host
   config: ..."). */
struct docker_create_opts;
char *docker_create_body (const struct docker_create_opts *o, agent_error_t *err);

#endif
