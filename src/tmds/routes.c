/* tmds/routes.c - the router of the task metadata and credentials server:
 * path -> task / container lookup -> answer, with upstream's status codes
 * and error strings (see tmds.h). */
#include "tmds/tmds_int.h"
#include "core/time.h"
#include "core/util.h"
#include "log/log.h"
#include "core/xmalloc.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char JSON_TYPE[] = "application/json";
static const char TEXT_TYPE[] = "text/plain; charset=utf-8";

void
tmds_answer_clear (struct tmds_answer *a)
{
  free (a->body);
  for (size_t i = 0; i < a->n_stats_ids; i++)
    free (a->stats_ids[i]);
  free (a->stats_ids);
  free (a->subject);
  free (a->creds_task_arn);
  free (a->tags_task_arn);
  memset (a, 0, sizeof *a);
}

static void
answer_json (struct tmds_answer *a, int status, json_t *j)
{
  a->status = status;
  a->ctype = JSON_TYPE;
  a->body = json_dumps (j, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref (j);
  if (!a->body)
    {
      a->status = 500;
      a->body = xstrdup ("\"Internal server error\"");
    }
}

/* An error of the metadata routes: a JSON string. */
static void __attribute__ ((format (printf, 3, 4)))
answer_error (struct tmds_answer *a, int status, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *msg = NULL;
  if (vasprintf (&msg, fmt, ap) < 0)
    abort ();
  va_end (ap);
  answer_json (a, status, json_string (msg));
  free (msg);
}

static void
not_found (struct tmds_answer *a)
{
  a->status = 404;
  a->ctype = TEXT_TYPE;
  a->body = xstrdup ("404 page not found\n");
}

/* ---- audit entries ---- */

char *
tmds_audit_entry (int64_t now_ns, int status, const char *remote_addr, const char *path,
                  const char *user_agent, const char *task_arn, const char *event,
                  const char *cluster, const char *instance_arn)
{
#define OR_DASH(x) ((x) && *(x) ? (x) : "-")
  char t[TIME_RFC3339_LEN];
  if (time_rfc3339_format (now_ns - now_ns % 1000000000LL, t, sizeof t) > 0)
    {
      char *dot = strchr (t, '.');
      if (dot) /* whole seconds, as Go's time.RFC3339 */
        memmove (dot, dot + 10, strlen (dot + 10) + 1);
    }
  const char *p = path ? path : "";
  if (strncmp (p, "/v2/credentials", 15) == 0)
    p = "/v2/credentials"; /* never the id */
  else if (strncmp (p, "/v1/credentials", 15) == 0)
    p = "/v1/credentials";
  cleanup_free char *pe = log_escape (p);
  cleanup_free char *ua = log_escape (OR_DASH (user_agent));
  if (!event || !*event)
    return xasprintf ("%s %d %s \"%s\" \"%s\" %s ", t, status, OR_DASH (remote_addr), OR_DASH (pe),
                      ua, OR_DASH (task_arn));
  return xasprintf ("%s %d %s \"%s\" \"%s\" %s %s 2 %s %s", t, status, OR_DASH (remote_addr),
                    OR_DASH (pe), ua, OR_DASH (task_arn), event, OR_DASH (cluster),
                    OR_DASH (instance_arn));
#undef OR_DASH
}

/* ---- lookups ---- */

static const struct task *
task_by_endpoint (const struct tmds_view *v, const char *eid, const struct task_container **out)
{
  *out = NULL;
  if (!eid || !*eid)
    return NULL;
  size_t n = v->prov->task_count (v->prov->data);
  for (size_t i = 0; i < n; i++)
    {
      const struct task *t = v->prov->task_at (v->prov->data, i);
      for (size_t k = 0; k < t->n_containers; k++)
        {
          const struct task_container *c = &t->containers[k];
          if (c->docker_id && c->v3_endpoint_id && strcmp (c->v3_endpoint_id, eid) == 0)
            {
              *out = c;
              return t;
            }
        }
    }
  return NULL;
}

static const struct task *
task_by_docker_id (const struct tmds_view *v, const char *id, const struct task_container **out)
{
  *out = NULL;
  size_t n = v->prov->task_count (v->prov->data);
  for (size_t i = 0; i < n; i++)
    {
      const struct task *t = v->prov->task_at (v->prov->data, i);
      for (size_t k = 0; k < t->n_containers; k++)
        if (t->containers[k].docker_id && strcmp (t->containers[k].docker_id, id) == 0)
          {
            *out = &t->containers[k];
            return t;
          }
    }
  return NULL;
}

/* v2: the task one of whose containers has the caller's address. */
static const struct task *
task_by_ip (const struct tmds_view *v, const char *ip)
{
  if (!ip || !*ip || !v->inspect)
    return NULL;
  size_t n = v->prov->task_count (v->prov->data);
  for (size_t i = 0; i < n; i++)
    {
      const struct task *t = v->prov->task_at (v->prov->data, i);
      for (size_t k = 0; k < t->n_containers; k++)
        {
          const struct task_container *c = &t->containers[k];
          const struct docker_container_info *info
              = c->docker_id ? v->inspect (v->inspect_data, c->docker_id) : NULL;
          if (!info)
            continue;
          if (info->ip_address && strcmp (info->ip_address, ip) == 0)
            return t;
          for (size_t j = 0; j < info->n_networks; j++)
            if (info->networks[j].value && strcmp (info->networks[j].value, ip) == 0)
              return t;
        }
    }
  return NULL;
}

/* ---- credentials ---- */

static void
creds_error (struct tmds_answer *a, int status, const char *code, const char *prefix,
             const char *msg)
{
  char *m = xasprintf ("%s%s", prefix, msg);
  answer_json (a, status, json_pack ("{s:s,s:s}", "code", code, "message", m));
  free (m);
}

static void
route_credentials (const struct tmds_view *v, const char *id, bool v1, struct tmds_answer *a)
{
  const char *prefix = v1 ? "CredentialsV1Request: " : "CredentialsV2Request: ";
  a->creds_request = true;
  a->creds_path = v1 ? "/v1/credentials" : "/v2/credentials";
  if (!id || !*id)
    return creds_error (a, 400, "NoIdInRequest", prefix, "No Credential ID in the request");
  const struct task_creds_entry *e = v->creds ? task_creds_store_get (v->creds, id) : NULL;
  if (e && !e->creds)
    return creds_error (a, 503, "CredentialsUninitialized", prefix,
                        "Credentials uninitialized for ID");
  if (!e)
    return creds_error (a, 400, "InvalidIdInRequest", prefix, "Credentials not found");
  const struct task_role_credentials *c = e->creds;
  a->creds_task_arn = xstrdup (e->task_arn);
  a->creds_event
      = e->role == TASK_CREDS_EXECUTION_ROLE ? "GetCredentialsExecutionRole" : "GetCredentials";
  answer_json (a, 200,
               json_pack ("{s:s,s:s,s:s,s:s,s:s}", "RoleArn", c->role_arn ? c->role_arn : "",
                          "AccessKeyId", c->access_key_id ? c->access_key_id : "",
                          "SecretAccessKey", c->secret_access_key ? c->secret_access_key : "",
                          "Token", c->session_token ? c->session_token : "", "Expiration",
                          c->expiration ? c->expiration : ""));
}

/* ---- stats (answered once the samples are in) ---- */

static void
want_stats (const struct tmds_view *v, struct tmds_answer *a, int version, bool task_stats,
            const char *subject, const struct task *t, const struct task_container *only)
{
  a->version = version;
  a->task_stats = task_stats;
  /* upstream: rates for bridge (and awsvpc) tasks, never host / none */
  const char *nm = t->opts.network_mode;
  a->net_rates = version >= 4 && !(nm && (strcmp (nm, "host") == 0 || strcmp (nm, "none") == 0));
  a->subject = xstrdup (subject);
  a->stats_ids = xcalloc (t->n_containers + 1, sizeof *a->stats_ids);
  for (size_t k = 0; k < t->n_containers; k++)
    {
      const struct task_container *c = &t->containers[k];
      if (!c->docker_id || (only && c != only))
        continue;
      /* tracked while running and the task is not terminal (never with
         ECS_DISABLE_METRICS); an id listed
         with no sample to fetch is "unavailable" */
      bool tracked = !v->cfg->no_stats && c->known_status == TASK_STATUS_RUNNING
                     && t->known_status < TASK_STATUS_STOPPED;
      a->stats_ids[a->n_stats_ids++] = tracked ? xstrdup (c->docker_id)
                                               : xasprintf ("!%s", c->docker_id);
    }
}

struct tmds_net_rate
tmds_net_rate_between (int64_t prev_read_ns, uint64_t prev_rx, uint64_t prev_tx, int64_t read_ns,
                       uint64_t rx, uint64_t tx)
{
  struct tmds_net_rate r = { 0 };
  if (prev_read_ns <= 0 || read_ns <= prev_read_ns || rx < prev_rx || tx < prev_tx)
    return r;
  double dt = (double) (read_ns - prev_read_ns);
  r.set = true;
  r.rx_bytes_per_sec = 1e9 * (double) (rx - prev_rx) / dt;
  r.tx_bytes_per_sec = 1e9 * (double) (tx - prev_tx) / dt;
  return r;
}

/* One sample as served: the daemon's object, v4 bridge tasks with the
   network rate next to Docker's keys.  NULL when unavailable. */
static json_t *
sample_json (const struct tmds_answer *a, const char *raw, const struct tmds_net_rate *rate)
{
  json_t *j = raw ? json_loads (raw, JSON_DECODE_ANY, NULL) : NULL;
  if (j && a->net_rates && rate && rate->set && json_is_object (j))
    json_object_set_new (j, "network_rate_stats",
                         json_pack ("{s:o,s:o}", "rx_bytes_per_sec",
                                    tmds_json_float (rate->rx_bytes_per_sec), "tx_bytes_per_sec",
                                    tmds_json_float (rate->tx_bytes_per_sec)));
  return j;
}

void
tmds_stats_answer (struct tmds_answer *a, const char *const *raws,
                   const struct tmds_net_rate *rates)
{
  if (!a->task_stats)
    {
      const char *raw = a->n_stats_ids ? raws[0] : NULL;
      json_t *j = sample_json (a, raw, rates ? &rates[0] : NULL);
      if (!j)
        return a->version >= 4 ? answer_error (a, 500, "Unable to get container stats for: %s",
                                               a->subject)
                               : answer_error (a, 400, "Unable to get container stats for: %s",
                                               a->subject);
      return answer_json (a, 200, j);
    }
  json_t *m = json_object ();
  for (size_t i = 0; i < a->n_stats_ids; i++)
    {
      const char *id = a->stats_ids[i][0] == '!' ? a->stats_ids[i] + 1 : a->stats_ids[i];
      json_t *j = sample_json (a, raws[i], rates ? &rates[i] : NULL);
      if (!j)
        j = a->version >= 4 ? json_object () : json_null ();
      json_object_set_new (m, id, j);
    }
  answer_json (a, 200, m);
}

/* ---- ...WithTags ---- */

static void
want_tags (struct tmds_answer *a, int version, const struct task *t)
{
  a->want_tags = true;
  a->version = version;
  a->tags_task_arn = xstrdup (t->arn);
}

/* {"tags":[{"key":..,"value":..}]} -> {key: value}; NULL if malformed. */
static json_t *
parse_tags (const char *body, size_t len)
{
  json_t *root = json_loadb (body, len, 0, NULL);
  json_t *tags = json_object_get (root, "tags");
  json_t *m = NULL;
  if (json_is_object (root) && (json_is_array (tags) || !tags))
    {
      m = json_object ();
      size_t i;
      json_t *e;
      json_array_foreach (tags, i, e)
      {
        json_t *k = json_object_get (e, "key"), *val = json_object_get (e, "value");
        if (!json_is_string (k) || (val && !json_is_string (val) && !json_is_null (val)))
          {
            json_decref (m);
            m = NULL;
            break;
          }
        json_object_set_new (m, json_string_value (k),
                             json_string (json_is_string (val) ? json_string_value (val) : ""));
      }
    }
  json_decref (root);
  return m;
}

/* An Errors entry of a failed call: "<op>: <Code>: <message>" split as
   upstream's awserr (Code and Message). */
static json_t *
tags_error (const char *field, const struct tmds_tags_result *r, const char *fallback)
{
  const char *msg = r->error ? r->error : fallback;
  if (strncmp (msg, "ListTagsForResource: ", 21) == 0)
    msg = msg + 21;
  const char *sep = strstr (msg, ": ");
  cleanup_free char *code = NULL;
  if (sep && !memchr (msg, ' ', (size_t) (sep - msg)))
    {
      code = xstrndup (msg, (size_t) (sep - msg));
      msg = sep + 2;
    }
  json_t *e = json_pack ("{s:s,s:s}", "ErrorField", field, "ErrorMessage", msg);
  if (code && *code)
    json_object_set_new (e, "ErrorCode", json_string (code));
  if (r->status)
    json_object_set_new (e, "StatusCode", json_integer (r->status));
  if (r->resource_arn && *r->resource_arn)
    json_object_set_new (e, "ResourceARN", json_string (r->resource_arn));
  return e;
}

void
tmds_tags_answer (struct tmds_answer *a, const struct tmds_tags_result r[2])
{
  static const char *const fields[2] = { "ContainerInstanceTags", "TaskTags" };
  json_t *o = a->body ? json_loads (a->body, 0, NULL) : NULL;
  a->want_tags = false;
  if (!json_is_object (o))
    {
      json_decref (o);
      return;
    }
  json_t *errors = json_array ();
  for (int i = 0; i < 2; i++)
    {
      json_t *m = r[i].body ? parse_tags (r[i].body, r[i].len) : NULL;
      if (m && json_object_size (m) > 0)
        json_object_set_new (o, fields[i], m);
      else if (m)
        json_decref (m);
      else
        json_array_append_new (errors, tags_error (fields[i], &r[i],
                                                   r[i].body ? "malformed ListTagsForResource response"
                                                             : "ListTagsForResource failed"));
    }
  if (a->version >= 4 && json_array_size (errors) > 0)
    json_object_set_new (o, "Errors", errors);
  else
    json_decref (errors);
  free (a->body);
  a->body = NULL;
  answer_json (a, 200, o);
}

/* ---- v3 / v4 ---- */

/* The legacy associations routes (Elastic Inference), rest after
   "/associations/", as upstream's routes match them (agent/handlers/v3 and
   v4 container_association_handler.go): "<type>" (no slash) lists the names
   of the task's associations of that type that name this container
   ({"Associations":null} when none, as Go writes an empty list);
   "<type>/<name>" answers that association's content value as it is, the
   name being everything after the first slash (upstream's ".+", slashes
   included); "<type>/" is that route without a name.  Every failure is a
   400 with a JSON string, the endpoint id checked first. */
static void
route_associations (const struct tmds_view *v, const char *V, const char *eid, const char *rest,
                    struct tmds_answer *a)
{
  const char *slash = strchr (rest, '/');
  cleanup_free char *type = slash ? xstrndup (rest, (size_t) (slash - rest)) : xstrdup (rest);
  const struct task_container *c = NULL;
  const struct task *t = task_by_endpoint (v, eid, &c);
  if (!slash)
    {
      if (!t)
        return answer_error (a, 400,
                             "%s container associations handler: unable to get container id from "
                             "request: unable to get docker ID from v3 endpoint ID: %s",
                             V, eid);
      json_t *names = json_array ();
      for (size_t i = 0; i < t->opts.n_associations; i++)
        {
          const struct task_association *as = &t->opts.associations[i];
          if (!as->type || strcmp (as->type, type) != 0)
            continue;
          for (char **p = as->containers; p && *p; p++)
            if (c->name && strcmp (*p, c->name) == 0)
              json_array_append_new (names, json_string (as->name ? as->name : ""));
        }
      json_t *o = json_object ();
      json_object_set_new (o, "Associations", json_array_size (names) ? names : json_null ());
      if (!json_array_size (names))
        json_decref (names);
      return answer_json (a, 200, o);
    }
  const char *name = slash + 1;
  if (!t)
    return answer_error (a, 400,
                         "%s container associations handler: unable to get task arn from "
                         "request: unable to get task Arn from v3 endpoint ID: %s",
                         V, eid);
  if (!*name)
    return answer_error (a, 400,
                         "%s container associations handler: unable to get association name from "
                         "request",
                         V);
  for (size_t i = 0; i < t->opts.n_associations; i++)
    {
      const struct task_association *as = &t->opts.associations[i];
      if (as->type && as->name && strcmp (as->type, type) == 0 && strcmp (as->name, name) == 0)
        {
          a->status = 200;
          a->ctype = JSON_TYPE;
          a->body = xstrdup (as->content ? as->content : "");
          return;
        }
    }
  answer_error (a, 400,
                "Unable to write container association response: unable to get association from "
                "association type %s and association name %s",
                type, name);
}

static void
route_v34 (const struct tmds_view *v, int version, const char *eid, const char *rest,
           struct tmds_answer *a)
{
  const char *V = version >= 4 ? "V4" : "V3";
  if (strncmp (rest, "/associations/", 14) == 0)
    return route_associations (v, V, eid, rest + 14, a);
  const struct task_container *c = NULL;
  const struct task *t = task_by_endpoint (v, eid, &c);
  bool task_route = strcmp (rest, "/task") == 0 || strcmp (rest, "/taskWithTags") == 0;
  bool stats = strcmp (rest, "/stats") == 0 || strcmp (rest, "/task/stats") == 0;
  bool task_stats = strcmp (rest, "/task/stats") == 0;
  if (!task_route && !stats && *rest)
    return not_found (a);
  if (!t)
    {
      int st = version >= 4 ? 404 : stats ? 400 : 500;
      /* the task is looked up first (container stats too), then the container */
      const char *h = task_route ? "task metadata" : task_stats ? "task stats" : "container stats";
      if (task_route || stats)
        return answer_error (a, st,
                             "%s %s handler: unable to get task arn from request: unable to "
                             "get task Arn from v3 endpoint ID: %s",
                             V, h, eid);
      return answer_error (a, st,
                           "%s container metadata handler: unable to get container ID from "
                           "request: unable to get docker ID from v3 endpoint ID: %s",
                           V, eid);
    }
  if (stats)
    return want_stats (v, a, version, task_stats, task_stats ? t->arn : c->docker_id, t,
                       task_stats ? NULL : c);
  if (task_route)
    {
      json_t *j = tmds_task_json (v, t, version);
      if (!j)
        return version >= 4
                   ? answer_error (a, 500, "Unable to generate metadata for v4 task: '%s'", t->arn)
                   : answer_error (a, 500, "Unable to generate metadata for task: '%s'", t->arn);
      answer_json (a, 200, j);
      if (a->status == 200 && strcmp (rest, "/taskWithTags") == 0)
        want_tags (a, version, t);
      return;
    }
  json_t *j = tmds_container_json (v, c, version);
  /* no network settings known yet: upstream's GetContainerNetworkMetadata */
  const char *id = c->docker_id;
  if (!j && version >= 4)
    return answer_error (a, 500, "unable to generate network response for container '%s'", id);
  if (!j)
    return answer_error (a, 500, "Unable to generate network response for container '%s'", id);
  answer_json (a, 200, j);
}

/* ---- v2 ---- */

static void
route_v2 (const struct tmds_view *v, const char *rest, const char *peer_ip, struct tmds_answer *a)
{
  bool stats = strncmp (rest, "stats", 5) == 0;
  const char *tail = rest + (stats ? 5 : strncmp (rest, "metadataWithTags", 16) == 0 ? 16 : 8);
  if (!stats && strncmp (rest, "metadata", 8) != 0)
    return not_found (a);
  if (*tail && *tail != '/')
    return not_found (a);
  const char *id = *tail ? tail + 1 : "";
  bool with_tags = !stats && strncmp (rest, "metadataWithTags", 16) == 0;
  if (*id && !with_tags)
    {
      const struct task_container *c = NULL;
      const struct task *t = task_by_docker_id (v, id, &c);
      if (!t)
        return answer_error (a, 400, "Unable to get task arn from docker id: %s", id);
      if (stats)
        return want_stats (v, a, 2, false, id, t, c);
      json_t *j = tmds_container_json (v, c, 2);
      if (!j)
        return answer_error (a, 400, "Unable to generate metadata for container '%s'", id);
      return answer_json (a, 200, j);
    }
  if (*id)
    return not_found (a);
  const struct task *t = task_by_ip (v, peer_ip);
  if (!t)
    return answer_error (a, 400,
                         "Unable to get task arn from request: unable to associate '%s' with task",
                         peer_ip ? peer_ip : "");
  if (stats)
    return want_stats (v, a, 2, true, t->arn, t, NULL);
  json_t *j = tmds_task_json (v, t, 2);
  if (!j)
    return answer_error (a, 400, "Unable to generate metadata for task: '%s'", t->arn);
  answer_json (a, 200, j);
  if (a->status == 200 && with_tags)
    want_tags (a, 2, t);
}

void
tmds_route (const struct tmds_view *v, const char *path, const char *const *args, size_t n_args,
            const char *peer_ip, struct tmds_answer *a)
{
  memset (a, 0, sizeof *a);
  if (strncmp (path, "/v2/credentials/", 16) == 0)
    return route_credentials (v, path + 16, false, a);
  if (strcmp (path, "/v1/credentials") == 0)
    {
      const char *id = NULL;
      for (size_t i = 0; i < n_args && !id; i++)
        if (strncmp (args[i], "id=", 3) == 0)
          id = args[i] + 3;
      return route_credentials (v, id, true, a);
    }
  if (strncmp (path, "/v4/", 4) == 0 || strncmp (path, "/v3/", 4) == 0)
    {
      int version = path[2] - '0';
      const char *eid = path + 4;
      const char *slash = strchr (eid, '/');
      cleanup_free char *id = slash ? xstrndup (eid, (size_t) (slash - eid)) : xstrdup (eid);
      return route_v34 (v, version, id, slash ? slash : "", a);
    }
  if (strncmp (path, "/v2/", 4) == 0)
    return route_v2 (v, path + 4, peer_ip, a);
  not_found (a);
}
