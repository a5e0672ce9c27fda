/* docker/op_metrics.c - what each Docker call adds to the metrics registry
 * (core/metrics.h): calls by operation and outcome with their latency,
 * pulls by outcome, and the layer bytes pulls download. */
#include "core/metrics.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "docker/docker_int.h"
#include <string.h>

/* The metrics' name for each op kind (core/metrics.h). */
static enum metrics_docker_op
op_metric (enum docker_op_kind k)
{
  switch (k)
    {
    case DOCKER_OP_PING: return METRIC_DOCKER_PING;
    case DOCKER_OP_VERSION: return METRIC_DOCKER_VERSION;
    case DOCKER_OP_INFO: return METRIC_DOCKER_INFO;
    case DOCKER_OP_PULL: return METRIC_DOCKER_PULL;
    case DOCKER_OP_IMAGE_INSPECT: return METRIC_DOCKER_IMAGE_INSPECT;
    case DOCKER_OP_IMAGE_REMOVE: return METRIC_DOCKER_IMAGE_REMOVE;
    case DOCKER_OP_CREATE: return METRIC_DOCKER_CREATE;
    case DOCKER_OP_START: return METRIC_DOCKER_START;
    case DOCKER_OP_STOP: return METRIC_DOCKER_STOP;
    case DOCKER_OP_KILL: return METRIC_DOCKER_KILL;
    case DOCKER_OP_INSPECT: return METRIC_DOCKER_INSPECT;
    case DOCKER_OP_REMOVE: return METRIC_DOCKER_REMOVE;
    case DOCKER_OP_LIST: return METRIC_DOCKER_LIST;
    case DOCKER_OP_VOLUME_CREATE: return METRIC_DOCKER_VOLUME_CREATE;
    case DOCKER_OP_VOLUME_REMOVE: return METRIC_DOCKER_VOLUME_REMOVE;
    case DOCKER_OP_STATS: return METRIC_DOCKER_STATS;
    }
  return METRIC_DOCKER_OTHER;
}

static enum metrics_outcome
op_outcome (const agent_error_t *err)
{
  if (*err == NULL)
    return METRIC_OUTCOME_OK;
  switch (error_kind (err))
    {
    case ERR_NOT_FOUND: return METRIC_OUTCOME_NOT_FOUND;
    case ERR_CONFLICT: return METRIC_OUTCOME_CONFLICT;
    case ERR_UNREACHABLE: return METRIC_OUTCOME_UNREACHABLE;
    case ERR_TIMEOUT: return METRIC_OUTCOME_TIMEOUT;
    default: return METRIC_OUTCOME_ERROR;
    }
}

void
docker_op_record_metrics (const docker_op_t *op, const agent_error_t *err)
{
  metrics_docker_call (op_metric (op->kind), op_outcome (err),
                       (double) (util_now_ns () - op->started_ns) / 1e9);
  if (op->kind == DOCKER_OP_PULL)
    metrics_count (*err ? METRIC_IMAGE_PULLS_FAILED : METRIC_IMAGE_PULLS_OK, 1);
}

/* Layer bytes downloaded: a layer's size is known from its "Downloading"
   lines and counted once at its "Download complete". */
void
docker_pull_count_bytes (docker_op_t *op, const char *status, const char *id, int64_t total)
{
  struct docker_pull_layers *pl = op->layers;
  size_t i = 0;
  while (pl && i < pl->n && strcmp (pl->l[i].id, id) != 0)
    i++;
  bool known = pl && i < pl->n;
  if (strcmp (status, "Downloading") == 0 && total > 0 && strlen (id) < sizeof pl->l[0].id)
    {
      if (!pl)
        pl = op->layers = xcalloc (1, sizeof *pl);
      if (!known && pl->n < DOCKER_PULL_MAX_LAYERS)
        {
          i = pl->n++;
          strcpy (pl->l[i].id, id);
          known = true;
        }
      if (known)
        pl->l[i].total = total;
    }
  else if (known && strcmp (status, "Download complete") == 0)
    {
      metrics_count (METRIC_IMAGE_PULL_BYTES, (uint64_t) pl->l[i].total);
      pl->l[i] = pl->l[--pl->n];
    }
}
