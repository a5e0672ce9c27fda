/* engine/log_opts.c - the agent's own log options (see log_opts.h). */
#include "engine/log_opts.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "docker/overlay.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The regions where upstream names the CloudWatch Logs endpoint itself
   (Docker's awslogs driver cannot resolve it), with their DNS suffix. */
static const struct
{
  const char *region, *suffix;
} isolated[] = {
  { "us-iso-east-1", "c2s.ic.gov" },        { "us-iso-west-1", "c2s.ic.gov" },
  { "us-isob-east-1", "sc2s.sgov.gov" },    { "us-isob-west-1", "sc2s.sgov.gov" },
  { "us-isof-east-1", "csp.hci.ic.gov" },   { "us-isof-south-1", "csp.hci.ic.gov" },
  { "eu-isoe-west-1", "cloud.adc-e.uk" },   { "eusc-de-east-1", "amazonaws.eu" },
};

char *
engine_awslogs_isolated_endpoint (const char *region)
{
  for (size_t i = 0; region && i < ARRAY_SIZE (isolated); i++)
    if (strcmp (region, isolated[i].region) == 0)
      return xasprintf ("https://logs.%s.%s", region, isolated[i].suffix);
  return NULL;
}

static void
add (struct engine_log_opts *l, const char *key, char *value)
{
  l->kv[l->n].key = key;
  l->kv[l->n].value = value;
  l->owned[l->n++] = value;
}

void
engine_log_opts_free (struct engine_log_opts *l)
{
  for (size_t i = 0; i < l->n; i++)
    free (l->owned[i]);
  memset (l, 0, sizeof *l);
}

char *
engine_awslogs_endpoint (const char *region, bool ipv6_only)
{
  char *iso = engine_awslogs_isolated_endpoint (region);
  if (iso || !ipv6_only || !region || !*region)
    return iso;
  return xasprintf ("https://logs.%s.%s", region,
                    strncmp (region, "cn-", 3) == 0 ? "api.amazonwebservices.com.cn" : "api.aws");
}

int
engine_log_options (const struct task *t, const struct task_container *c, const char *region,
                    bool ipv6_only, struct engine_log_opts *l, char **errmsg)
{
  memset (l, 0, sizeof *l);
  json_t *hc = NULL;
  agent_error_t err = NULL;
  if (c->opts.dc_host_config
      && docker_overlay_check (c->opts.dc_host_config, DOCKER_OVERLAY_HOST_CONFIG, &hc, &err) < 0)
    error_free (&err);
  json_t *lc = json_object_get (hc, "LogConfig");
  json_t *cfg = json_object_get (lc, "Config");
  const char *type = json_string_value (json_object_get (lc, "Type"));
  int rc = 0;
  if (task_options_logs_execution_role (&c->opts))
    {
      if (!t->execution_credentials_id || !*t->execution_credentials_id)
        {
          *errmsg = xstrdup ("No execution credentials set for the task");
          rc = -1;
          goto out;
        }
      add (l, "awslogs-credentials-endpoint",
           xasprintf ("/v2/credentials/%s", t->execution_credentials_id));
    }
  char *endpoint = type && strcmp (type, "awslogs") == 0 ? engine_awslogs_endpoint (region, ipv6_only)
                                                          : NULL;
  if (endpoint)
    add (l, "awslogs-endpoint", endpoint);
  const char *mode = json_string_value (json_object_get (cfg, "mode"));
  const char *mbs = json_string_value (json_object_get (cfg, "max-buffer-size"));
  if (mode && strcmp (mode, "non-blocking") == 0 && (!mbs || !*mbs))
    add (l, "max-buffer-size", xstrdup ("10m"));
out:
  json_decref (hc);
  if (rc < 0)
    engine_log_opts_free (l);
  return rc;
}
