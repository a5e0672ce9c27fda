/* ecs/ecs_json.c - pure parts of the ECS client: endpoints, user agent,
 * request JSON builders, response parsers, error classification, host
 * resources and capability attributes (see ecs.h). */
#include "aws/json_rpc.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "ecs/ecs.h"
#include "log/log.h"
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MOD "ecs"

/* ---- endpoints ---------------------------------------------------------- */

int
ecs_endpoint_url (const char *backend_host, const char *region, char **out, agent_error_t *err)
{
  *out = NULL;
  char *u;
  cleanup_free char *bh = NULL;
  if (backend_host)
    {
      /* trim */
      while (isspace ((unsigned char) *backend_host))
        backend_host++;
      bh = xstrdup (backend_host);
      for (size_t n = strlen (bh); n && isspace ((unsigned char) bh[n - 1]); n--)
        bh[n - 1] = '\0';
    }
  if (bh && *bh)
    {
      if (strncasecmp (bh, "https://", 8) == 0 || strncasecmp (bh, "http://", 7) == 0)
        u = xstrdup (bh);
      else if (strstr (bh, "://"))
        return error_set (err, ERR_INVALID, "ECS_BACKEND_HOST: unsupported scheme in %s", bh);
      else
        u = xasprintf ("https://%s", bh);
      const char *host = strstr (u, "://") + 3;
      if (!*host || *host == '/')
        {
          free (u);
          return error_set (err, ERR_INVALID, "ECS_BACKEND_HOST: no host in %s", bh);
        }
    }
  else
    {
      if (!region || !*region)
        return error_set (err, ERR_INVALID, "no ECS endpoint: neither ECS_BACKEND_HOST nor a region");
      for (const char *p = region; *p; p++)
        if (!isalnum ((unsigned char) *p) && *p != '-')
          return error_set (err, ERR_INVALID, "invalid region %s", region);
      u = xasprintf ("https://ecs.%s.amazonaws.com%s", region,
                     strncmp (region, "cn-", 3) == 0 ? ".cn" : "");
    }
  for (size_t n = strlen (u); n && u[n - 1] == '/'; n--)
    u[n - 1] = '\0';
  *out = u;
  return 0;
}

char *
ecs_user_agent (const char *version, const char *gitrev, bool dirty)
{
  return xasprintf ("Amazon ECS Agent - v%s (%s%s) (+http://aws.amazon.com/ecs/)",
                    version ? version : "0.0.0", dirty ? "*" : "", gitrev ? gitrev : "UNKNOWN");
}

/* ---- JSON helpers -------------------------------------------------------- */

/* Valid UTF-8 prefix of at most max bytes (max 0 = unlimited); invalid
   sequences become '?'.  Returns a jansson string (never NULL). */
static json_t *
jstr_cut (const char *s, size_t max)
{
  if (!s)
    s = "";
  size_t len = strlen (s);
  struct sbuf b = { 0 };
  sbuf_append (&b, "", 0);
  size_t i = 0;
  while (i < len)
    {
      unsigned char c = (unsigned char) s[i];
      size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
      bool ok = n > 0 && i + n <= len;
      for (size_t k = 1; ok && k < n; k++)
        if (((unsigned char) s[i + k] >> 6) != 2)
          ok = false;
      if (ok && n == 2 && c < 0xC2)
        ok = false; /* overlong */
      if (ok && n == 3)
        {
          unsigned cp = ((c & 0x0Fu) << 12) | (((unsigned char) s[i + 1] & 0x3Fu) << 6)
                        | ((unsigned char) s[i + 2] & 0x3Fu);
          if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))
            ok = false;
        }
      if (ok && n == 4)
        {
          unsigned cp = ((c & 0x07u) << 18) | (((unsigned char) s[i + 1] & 0x3Fu) << 12)
                        | (((unsigned char) s[i + 2] & 0x3Fu) << 6) | ((unsigned char) s[i + 3] & 0x3Fu);
          if (cp < 0x10000 || cp > 0x10FFFF)
            ok = false;
        }
      if (!ok)
        n = 1;
      if (max && b.len + n > max)
        break;
      if (ok)
        sbuf_append (&b, s + i, n);
      else
        sbuf_append (&b, "?", 1);
      i += n;
    }
  json_t *j = json_stringn (b.s, b.len);
  sbuf_free (&b);
  return j ? j : json_string ("");
}

static json_t *
jstr (const char *s)
{
  return jstr_cut (s, 0);
}

static char *
dump (json_t *o)
{
  char *s = json_dumps (o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION (13));
  json_decref (o);
  if (!s)
    xalloc_die ();
  /* jansson allocates with malloc by default: hand it over as is. */
  return s;
}

static json_t *
string_set (const uint16_t *ports, size_t n)
{
  json_t *a = json_array ();
  for (size_t i = 0; i < n; i++)
    {
      char buf[8];
      snprintf (buf, sizeof buf, "%u", (unsigned) ports[i]);
      json_array_append_new (a, json_string (buf));
    }
  return a;
}

char *
ecs_build_register (const struct ecs_register_req *r)
{
  json_t *o = json_object ();
  json_object_set_new (o, "cluster", jstr (r->cluster && *r->cluster ? r->cluster : "default"));
  /* always present, "" when unavailable (upstream 1.1.0 and HEAD) */
  json_object_set_new (o, "instanceIdentityDocument", jstr (r->instance_identity_document));
  json_object_set_new (o, "instanceIdentityDocumentSignature",
                       jstr (r->instance_identity_document ? r->instance_identity_signature : ""));
  if (r->container_instance_arn && *r->container_instance_arn)
    json_object_set_new (o, "containerInstanceArn", jstr (r->container_instance_arn));
  json_t *res = json_array ();
  json_array_append_new (res, json_pack ("{s:s,s:s,s:I}", "name", "CPU", "type", "INTEGER",
                                         "integerValue", (json_int_t) r->cpu));
  json_array_append_new (res, json_pack ("{s:s,s:s,s:I}", "name", "MEMORY", "type", "INTEGER",
                                         "integerValue", (json_int_t) r->memory_mib));
  json_array_append_new (res, json_pack ("{s:s,s:s,s:o}", "name", "PORTS", "type", "STRINGSET",
                                         "stringSetValue", string_set (r->ports_tcp, r->n_ports_tcp)));
  if (r->send_ports_udp || r->n_ports_udp)
    json_array_append_new (res, json_pack ("{s:s,s:s,s:o}", "name", "PORTS_UDP", "type", "STRINGSET",
                                           "stringSetValue",
                                           string_set (r->ports_udp, r->n_ports_udp)));
  json_object_set_new (o, "totalResources", res);
  if (r->agent_version || r->agent_hash || r->docker_version)
    {
      json_t *v = json_object ();
      if (r->agent_version)
        json_object_set_new (v, "agentVersion", jstr (r->agent_version));
      if (r->agent_hash)
        json_object_set_new (v, "agentHash", jstr (r->agent_hash));
      if (r->docker_version)
        json_object_set_new (v, "dockerVersion", jstr (r->docker_version));
      json_object_set_new (o, "versionInfo", v);
    }
  if (r->n_attributes)
    {
      json_t *a = json_array ();
      for (size_t i = 0; i < r->n_attributes; i++)
        {
          if (!r->attributes[i].name)
            continue;
          json_t *e = json_object ();
          json_object_set_new (e, "name", jstr (r->attributes[i].name));
          if (r->attributes[i].value)
            json_object_set_new (e, "value", jstr (r->attributes[i].value));
          json_array_append_new (a, e);
        }
      json_object_set_new (o, "attributes", a);
    }
  if (r->client_token)
    json_object_set_new (o, "clientToken", jstr (r->client_token));
  if (r->n_tags && r->tags)
    {
      json_t *a = json_array ();
      for (size_t i = 0; i < r->n_tags; i++)
        json_array_append_new (a, json_pack ("{s:o,s:o}", "key", jstr (r->tags[i].name), "value",
                                             jstr (r->tags[i].value ? r->tags[i].value : "")));
      json_object_set_new (o, "tags", a);
    }
  return dump (o);
}

char *
ecs_build_discover (const char *instance_arn, const char *cluster)
{
  json_t *o = json_object ();
  json_object_set_new (o, "containerInstance", jstr (instance_arn));
  json_object_set_new (o, "cluster", jstr (cluster && *cluster ? cluster : "default"));
  json_object_set_new (o, "zoneId", json_string (""));
  return dump (o);
}

#define TASK_REASON_MAX 1024
#define CONTAINER_REASON_MAX 255
#define ID_MAX 255 /* runtimeId, imageDigest */

/* A container change's members (shared by both calls). */
static void
container_change_members (json_t *o, const struct ecs_container_state_change *c, size_t reason_max)
{
  json_object_set_new (o, "containerName", jstr (c->container_name));
  json_object_set_new (o, "status", jstr (c->status));
  if (c->has_exit_code)
    json_object_set_new (o, "exitCode", json_integer (c->exit_code));
  if (c->reason && *c->reason)
    json_object_set_new (o, "reason", jstr_cut (c->reason, reason_max));
  json_t *nb = json_array ();
  for (size_t i = 0; i < c->n_bindings; i++)
    {
      const struct task_port_binding *b = &c->bindings[i];
      json_t *e = json_object ();
      json_object_set_new (e, "bindIP", jstr (b->bind_ip ? b->bind_ip : "0.0.0.0"));
      if (b->container_port_end) /* a range (task_port_bindings_report) */
        {
          json_object_set_new (e, "containerPortRange",
                               json_sprintf ("%u-%u", b->container_port, b->container_port_end));
          json_object_set_new (e, "hostPortRange",
                               json_sprintf ("%u-%u", b->host_port, b->host_port_end));
        }
      else
        {
          json_object_set_new (e, "containerPort", json_integer (b->container_port));
          json_object_set_new (e, "hostPort", json_integer (b->host_port));
        }
      json_object_set_new (e, "protocol", json_string (task_protocol_str (b->protocol)));
      json_array_append_new (nb, e);
    }
  json_object_set_new (o, "networkBindings", nb);
  if (c->runtime_id && *c->runtime_id)
    json_object_set_new (o, "runtimeId", jstr_cut (c->runtime_id, ID_MAX));
  if (c->image_digest && *c->image_digest)
    json_object_set_new (o, "imageDigest", jstr_cut (c->image_digest, ID_MAX));
}

/* Epoch seconds with millisecond precision (AWS JSON timestamps). */
static void
set_time (json_t *o, const char *key, int64_t ms)
{
  if (ms > 0)
    json_object_set_new (o, key, json_real ((double) ms / 1000.0));
}

char *
ecs_build_task_state_change (const struct ecs_task_state_change *c)
{
  json_t *o = json_object ();
  json_object_set_new (o, "cluster", jstr (c->cluster && *c->cluster ? c->cluster : "default"));
  json_object_set_new (o, "task", jstr (c->task_arn));
  json_object_set_new (o, "status", jstr (c->status));
  json_object_set_new (o, "reason", jstr_cut (c->reason, TASK_REASON_MAX));
  if (c->n_containers && c->containers)
    {
      json_t *a = json_array ();
      for (size_t i = 0; i < c->n_containers; i++)
        {
          json_t *e = json_object ();
          container_change_members (e, &c->containers[i], TASK_REASON_MAX);
          json_array_append_new (a, e);
        }
      json_object_set_new (o, "containers", a);
    }
  set_time (o, "pullStartedAt", c->pull_started_ms);
  set_time (o, "pullStoppedAt", c->pull_stopped_ms);
  set_time (o, "executionStoppedAt", c->execution_stopped_ms);
  return dump (o);
}

char *
ecs_build_container_state_change (const struct ecs_container_state_change *c)
{
  json_t *o = json_object ();
  json_object_set_new (o, "cluster", jstr (c->cluster && *c->cluster ? c->cluster : "default"));
  json_object_set_new (o, "task", jstr (c->task_arn));
  container_change_members (o, c, CONTAINER_REASON_MAX);
  return dump (o);
}

/* ---- response parsing ----------------------------------------------------- */

static json_t *
load_object (const char *body, size_t len, const char *what, agent_error_t *err)
{
  json_error_t je;
  json_t *root = json_loadb (body ? body : "", body ? len : 0, 0, &je);
  if (!root || !json_is_object (root))
    {
      json_decref (root);
      error_set (err, ERR_MALFORMED, "%s: response is not a JSON object", what);
      return NULL;
    }
  return root;
}

static char *
get_str (json_t *o, const char *key)
{
  json_t *v = json_object_get (o, key);
  if (!json_is_string (v))
    return NULL;
  return xstrndup (json_string_value (v), json_string_length (v));
}

int
ecs_parse_register_resp (const char *body, size_t len, struct ecs_register_resp *out,
                         agent_error_t *err)
{
  memset (out, 0, sizeof *out);
  json_t *root = load_object (body, len, "RegisterContainerInstance", err);
  if (!root)
    return -ERR_MALFORMED;
  json_t *ci = json_object_get (root, "containerInstance");
  char *arn = json_is_object (ci) ? get_str (ci, "containerInstanceArn") : NULL;
  if (!arn || !*arn)
    {
      free (arn);
      json_decref (root);
      return error_set (err, ERR_MALFORMED, "RegisterContainerInstance: no containerInstanceArn");
    }
  out->container_instance_arn = arn;
  json_t *attrs = json_object_get (ci, "attributes");
  size_t i;
  json_t *a;
  json_array_foreach (attrs, i, a)
  {
    json_t *n = json_object_get (a, "name");
    if (json_is_string (n) && strcmp (json_string_value (n), "ecs.availability-zone") == 0)
      {
        free (out->availability_zone);
        out->availability_zone = get_str (a, "value");
      }
  }
  json_decref (root);
  return 0;
}

void
ecs_register_resp_clear (struct ecs_register_resp *r)
{
  if (!r)
    return;
  free (r->container_instance_arn);
  free (r->availability_zone);
  memset (r, 0, sizeof *r);
}

int
ecs_parse_discover_resp (const char *body, size_t len, struct ecs_discover_resp *out,
                         agent_error_t *err)
{
  memset (out, 0, sizeof *out);
  json_t *root = load_object (body, len, "DiscoverPollEndpoint", err);
  if (!root)
    return -ERR_MALFORMED;
  out->endpoint = get_str (root, "endpoint");
  out->telemetry_endpoint = get_str (root, "telemetryEndpoint");
  json_decref (root);
  if (!out->endpoint || !*out->endpoint)
    {
      ecs_discover_resp_clear (out);
      return error_set (err, ERR_MALFORMED, "DiscoverPollEndpoint: no endpoint in the response");
    }
  if (out->telemetry_endpoint && !*out->telemetry_endpoint)
    {
      free (out->telemetry_endpoint);
      out->telemetry_endpoint = NULL;
    }
  return 0;
}

void
ecs_discover_resp_clear (struct ecs_discover_resp *r)
{
  if (!r)
    return;
  free (r->endpoint);
  free (r->telemetry_endpoint);
  memset (r, 0, sizeof *r);
}

int
ecs_parse_cluster_name (const char *body, size_t len, char **out, agent_error_t *err)
{
  *out = NULL;
  json_t *root = load_object (body, len, "CreateCluster", err);
  if (!root)
    return -ERR_MALFORMED;
  json_t *c = json_object_get (root, "cluster");
  char *name = json_is_object (c) ? get_str (c, "clusterName") : NULL;
  json_decref (root);
  if (!name || !*name)
    {
      free (name);
      return error_set (err, ERR_MALFORMED, "CreateCluster: no cluster.clusterName");
    }
  *out = name;
  return 0;
}

/* The ECS-specific refinements of aws_json_classify's kind: ClientException
   is the caller's mistake whatever the status; an expired token (4xx) means
   fresh credentials and a retry. */
int
ecs_classify_response (long status, const char *body, size_t len, agent_error_t *err)
{
  cleanup_free char *type = NULL;
  int rc = aws_json_classify (status, body, len, &type, err);
  if (rc >= 0 || !type)
    return rc;
  int kind = (*err)->kind;
  if (strcmp (type, "ClientException") == 0)
    kind = ERR_CLIENT;
  else if (kind == ERR_CLIENT
           && (strcmp (type, "ExpiredTokenException") == 0 || strcmp (type, "ExpiredToken") == 0))
    kind = ERR_AUTH;
  (*err)->kind = kind;
  return -kind;
}

bool
ecs_error_retriable (int kind)
{
  return kind == ERR_SERVER || kind == ERR_UNREACHABLE || kind == ERR_TIMEOUT || kind == ERR_AUTH;
}

/* ---- host resources ------------------------------------------------------ */

int64_t
ecs_host_cpu_units (void)
{
  return (int64_t) uv_available_parallelism () * 1024;
}

int
ecs_host_memory_mib (uint64_t total_bytes, int64_t reserved_mib, int64_t *out, agent_error_t *err)
{
  if (total_bytes == 0)
    log_warn (MOD, "the host memory is unknown: registering 0 MiB of memory");
  int64_t mib = (int64_t) (total_bytes / (1024 * 1024));
  if (reserved_mib < 0 || mib - reserved_mib < 0)
    return error_set (err, ERR_INVALID,
                      "ECS_RESERVED_MEMORY (%lld MiB) exceeds the host memory (%lld MiB)",
                      (long long) reserved_mib, (long long) mib);
  *out = mib - reserved_mib;
  return 0;
}

/* ---- attributes ------------------------------------------------------------ */

static void
attr_add (struct ecs_attribute **a, size_t *n, const char *name, const char *value)
{
  for (size_t i = 0; i < *n; i++)
    if (strcmp ((*a)[i].name, name) == 0)
      {
        free ((char *) (*a)[i].value);
        (*a)[i].value = xstrdup (value);
        return;
      }
  *a = xrealloc (*a, (*n + 1) * sizeof **a);
  (*a)[*n].name = xstrdup (name);
  (*a)[*n].value = xstrdup (value);
  (*n)++;
}

#define CAP "com.amazonaws.ecs.capability."

/* Attribute names as ECS accepts them: 1-128 of letters, digits and -_./@;
   values up to 128 characters. */
#define ECS_ATTRIBUTE_MAX 128

static bool
user_attribute_valid (const struct ecs_attribute *u)
{
  size_t kl = u->name ? strlen (u->name) : 0;
  if (kl == 0 || kl > ECS_ATTRIBUTE_MAX || !u->value || strlen (u->value) > ECS_ATTRIBUTE_MAX)
    return false;
  for (const char *p = u->name; *p; p++)
    if (!isalnum ((unsigned char) *p) && !strchr ("-_./@", *p))
      return false;
  return true;
}

int
ecs_custom_attributes_sent (const struct ecs_attribute *user, size_t n_user, bool reregistration,
                            agent_error_t *err)
{
  for (size_t i = 0; i < n_user; i++)
    if (!user_attribute_valid (&user[i]))
      {
        error_set (err, ERR_INVALID, "ECS_INSTANCE_ATTRIBUTES: invalid attribute %s",
                   user[i].name ? user[i].name : "");
        return -1;
      }
  return reregistration ? 0 : (int) n_user;
}

struct ecs_attribute *
ecs_standard_attributes (const char *const *docker_api_versions, size_t n_versions,
                         const char *const *logging_drivers, size_t n_drivers,
                         const struct ecs_attribute *user, size_t n_user, size_t *n,
                         agent_error_t *err)
{
  struct ecs_attribute *a = NULL;
  *n = 0;
  /* Validate the user attributes first (ERR_INVALID, nothing allocated). */
  for (size_t i = 0; i < n_user; i++)
    if (!user_attribute_valid (&user[i]))
      {
        error_set (err, ERR_INVALID, "ECS_INSTANCE_ATTRIBUTES: invalid attribute %s",
                   user[i].name ? user[i].name : "");
        return NULL;
      }
  for (size_t i = 0; i < n_versions; i++)
    if (docker_api_versions[i] && *docker_api_versions[i])
      {
        cleanup_free char *nm = xasprintf (CAP "docker-remote-api.%s", docker_api_versions[i]);
        attr_add (&a, n, nm, NULL);
      }
  static const char *const def_drivers[] = { "json-file", "none" };
  if (!logging_drivers)
    {
      logging_drivers = def_drivers;
      n_drivers = ARRAY_SIZE (def_drivers);
    }
  for (size_t i = 0; i < n_drivers; i++)
    if (logging_drivers[i] && *logging_drivers[i])
      {
        cleanup_free char *nm = xasprintf (CAP "logging-driver.%s", logging_drivers[i]);
        attr_add (&a, n, nm, NULL);
      }
  attr_add (&a, n, "ecs.os-type", "linux");
  attr_add (&a, n, "ecs.os-family", "LINUX");
  for (size_t i = 0; i < n_user; i++) /* in the user's order */
    attr_add (&a, n, user[i].name, user[i].value);
  return a;
}

void
ecs_attributes_free (struct ecs_attribute *a, size_t n)
{
  if (!a)
    return;
  for (size_t i = 0; i < n; i++)
    {
      free ((char *) a[i].name);
      free ((char *) a[i].value);
    }
  free (a);
}
