/* docker/overlay.c - dockerConfig fragments decoded into the create body
 * (see overlay.h).  The schema below lists the fields of Docker's Go types
 * (API types of Docker v25, which upstream vendors) with the JSON shape of
 * each; the decoder walks it, never the input's own nesting. */
#include "docker/overlay.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <stdint.h>
#include <string.h>
#include <strings.h>

enum kind
{
  K_STR,      /* string; null: unchanged */
  K_BOOL,     /* bool; null: unchanged */
  K_INT,      /* integer in [lo, hi]; null: unchanged */
  K_PBOOL,    /* *bool; null clears */
  K_PINT,     /* *int64; null clears */
  K_STRV,     /* []string; null clears */
  K_STRSLICE, /* strslice.StrSlice: a string or []string; null clears */
  K_STRMAP,   /* map[string]string: merged key by key; null clears */
  K_SETMAP,   /* map[string]struct{} (ExposedPorts, Volumes); null clears */
  K_STRUCT,   /* struct value: merged field by field; null: unchanged */
  K_PSTRUCT,  /* *struct: merged; null clears */
  K_STRUCTV,  /* []struct / []*struct: replaced; null clears */
  K_PORTMAP,  /* nat.PortMap: map[string][]PortBinding; null clears */
  K_RAWV,     /* []<struct not modelled here>: array of objects kept as given */
};

struct schema;

struct field
{
  const char *name;
  enum kind kind;
  const char *gotype; /* for messages */
  int64_t lo, hi;     /* K_INT / K_PINT */
  const struct schema *sub;
};

struct schema
{
  const char *name; /* Go type name, for messages */
  const struct field *fields;
  size_t n;
};

#define I64 INT64_MIN, INT64_MAX
#define U64 0, INT64_MAX
#define S(n) { n, K_STR, "string", 0, 0, NULL }
#define B(n) { n, K_BOOL, "bool", 0, 0, NULL }
#define N(n, t, ...) { n, K_INT, t, __VA_ARGS__, NULL }
#define V(n) { n, K_STRV, "[]string", 0, 0, NULL }
#define SL(n) { n, K_STRSLICE, "strslice.StrSlice", 0, 0, NULL }
#define M(n) { n, K_STRMAP, "map[string]string", 0, 0, NULL }
#define RAW(n) { n, K_RAWV, "[]struct", 0, 0, NULL }
#define SCHEMA(var, nm, arr) static const struct schema var = { nm, arr, ARRAY_SIZE (arr) }

static const struct field health_f[] = {
  V ("Test"), N ("Interval", "time.Duration", I64), N ("Timeout", "time.Duration", I64),
  N ("StartPeriod", "time.Duration", I64), N ("StartInterval", "time.Duration", I64),
  N ("Retries", "int", I64),
};
SCHEMA (health_s, "HealthConfig", health_f);

static const struct field config_f[] = {
  S ("Hostname"), S ("Domainname"), S ("User"), B ("AttachStdin"), B ("AttachStdout"),
  B ("AttachStderr"), { "ExposedPorts", K_SETMAP, "nat.PortSet", 0, 0, NULL }, B ("Tty"),
  B ("OpenStdin"), B ("StdinOnce"), V ("Env"), SL ("Cmd"),
  { "Healthcheck", K_PSTRUCT, "container.HealthConfig", 0, 0, &health_s }, B ("ArgsEscaped"),
  S ("Image"), { "Volumes", K_SETMAP, "map[string]struct {}", 0, 0, NULL }, S ("WorkingDir"),
  SL ("Entrypoint"), B ("NetworkDisabled"), S ("MacAddress"), V ("OnBuild"), M ("Labels"),
  S ("StopSignal"), { "StopTimeout", K_PINT, "int", I64, NULL }, SL ("Shell"),
};
SCHEMA (config_s, "Config", config_f);

static const struct field logcfg_f[] = { S ("Type"), M ("Config") };
SCHEMA (logcfg_s, "LogConfig", logcfg_f);
static const struct field restart_f[] = { S ("Name"), N ("MaximumRetryCount", "int", I64) };
SCHEMA (restart_s, "RestartPolicy", restart_f);
static const struct field device_f[] = { S ("PathOnHost"), S ("PathInContainer"),
                                         S ("CgroupPermissions") };
SCHEMA (device_s, "DeviceMapping", device_f);
static const struct field ulimit_f[] = { S ("Name"), N ("Hard", "int64", I64), N ("Soft", "int64", I64) };
SCHEMA (ulimit_s, "Ulimit", ulimit_f);
static const struct field binding_f[] = { S ("HostIp"), S ("HostPort") };
SCHEMA (binding_s, "PortBinding", binding_f);

static const struct field host_f[] = {
  V ("Binds"), S ("ContainerIDFile"), { "LogConfig", K_STRUCT, "container.LogConfig", 0, 0, &logcfg_s },
  S ("NetworkMode"), { "PortBindings", K_PORTMAP, "nat.PortMap", 0, 0, &binding_s },
  { "RestartPolicy", K_STRUCT, "container.RestartPolicy", 0, 0, &restart_s }, B ("AutoRemove"),
  S ("VolumeDriver"), V ("VolumesFrom"), M ("Annotations"), SL ("CapAdd"), SL ("CapDrop"),
  S ("CgroupnsMode"), V ("Dns"), V ("DnsOptions"), V ("DnsSearch"), V ("ExtraHosts"), V ("GroupAdd"),
  S ("IpcMode"), S ("Cgroup"), V ("Links"), N ("OomScoreAdj", "int", I64), S ("PidMode"),
  B ("Privileged"), B ("PublishAllPorts"), B ("ReadonlyRootfs"), V ("SecurityOpt"), M ("StorageOpt"),
  M ("Tmpfs"), S ("UTSMode"), S ("UsernsMode"), N ("ShmSize", "int64", I64), M ("Sysctls"),
  S ("Runtime"), S ("Isolation"),
  /* Resources (embedded: top-level keys) */
  N ("CpuShares", "int64", I64), N ("Memory", "int64", I64), N ("NanoCpus", "int64", I64),
  S ("CgroupParent"), N ("BlkioWeight", "uint16", 0, 65535), RAW ("BlkioWeightDevice"),
  RAW ("BlkioDeviceReadBps"), RAW ("BlkioDeviceWriteBps"), RAW ("BlkioDeviceReadIOps"),
  RAW ("BlkioDeviceWriteIOps"), N ("CpuPeriod", "int64", I64), N ("CpuQuota", "int64", I64),
  N ("CpuRealtimePeriod", "int64", I64), N ("CpuRealtimeRuntime", "int64", I64), S ("CpusetCpus"),
  S ("CpusetMems"), { "Devices", K_STRUCTV, "[]container.DeviceMapping", 0, 0, &device_s },
  V ("DeviceCgroupRules"), RAW ("DeviceRequests"), N ("KernelMemoryTCP", "int64", I64),
  N ("MemoryReservation", "int64", I64), N ("MemorySwap", "int64", I64),
  { "MemorySwappiness", K_PINT, "int64", I64, NULL }, { "OomKillDisable", K_PBOOL, "bool", 0, 0, NULL },
  { "PidsLimit", K_PINT, "int64", I64, NULL }, { "Ulimits", K_STRUCTV, "[]*units.Ulimit", 0, 0, &ulimit_s },
  N ("CpuCount", "int64", I64), N ("CpuPercent", "int64", I64), N ("IOMaximumIOps", "uint64", U64),
  N ("IOMaximumBandwidth", "uint64", U64),
  /* the rest of HostConfig */
  RAW ("Mounts"), V ("MaskedPaths"), V ("ReadonlyPaths"), { "Init", K_PBOOL, "bool", 0, 0, NULL },
};
SCHEMA (host_s, "HostConfig", host_f);

static const char *
json_kind_name (const json_t *v)
{
  switch (json_typeof (v))
    {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    default: return "null";
    }
}

static int
type_error (const struct schema *s, const struct field *f, const json_t *v, const char *what,
            agent_error_t *err)
{
  return error_set (err, ERR_INVALID, "json: cannot unmarshal %s into Go struct field %s.%s of type %s",
                    what ? what : json_kind_name (v), s->name, f->name, f->gotype);
}

/* Exact name first, then case-insensitive (Go's rule). */
static const struct field *
find_field (const struct schema *s, const char *key)
{
  for (size_t i = 0; i < s->n; i++)
    if (strcmp (s->fields[i].name, key) == 0)
      return &s->fields[i];
  for (size_t i = 0; i < s->n; i++)
    if (strcasecmp (s->fields[i].name, key) == 0)
      return &s->fields[i];
  return NULL;
}

static int decode_struct (json_t *dst, json_t *src, const struct schema *s, agent_error_t *err);

static int
check_int (const struct schema *s, const struct field *f, json_t *v, agent_error_t *err)
{
  if (!json_is_integer (v))
    {
      if (json_is_real (v))
        {
          char buf[64];
          snprintf (buf, sizeof buf, "number %g", json_real_value (v));
          return type_error (s, f, v, buf, err);
        }
      return type_error (s, f, v, NULL, err);
    }
  json_int_t i = json_integer_value (v);
  if (i < f->lo || i > f->hi)
    {
      char buf[64];
      snprintf (buf, sizeof buf, "number %lld", (long long) i);
      return type_error (s, f, v, buf, err);
    }
  return 0;
}

/* A []string (null elements become ""). */
static json_t *
strv_copy (const struct schema *s, const struct field *f, json_t *v, agent_error_t *err)
{
  if (!json_is_array (v))
    {
      type_error (s, f, v, NULL, err);
      return NULL;
    }
  json_t *out = json_array ();
  size_t i;
  json_t *e;
  json_array_foreach (v, i, e)
  {
    if (!json_is_string (e) && !json_is_null (e))
      {
        json_decref (out);
        type_error (s, f, e, NULL, err);
        return NULL;
      }
    json_array_append_new (out, json_is_null (e) ? json_string ("") : json_copy (e));
  }
  return out;
}

/* Merge a JSON object into the map at dst[name]; check_value tells the
   value shape: strings (null -> "") or objects (set elements). */
static int
merge_map (json_t *dst, const char *name, const struct schema *s, const struct field *f, json_t *v,
           agent_error_t *err)
{
  if (!json_is_object (v))
    return type_error (s, f, v, NULL, err);
  json_t *m = json_object_get (dst, name);
  if (!json_is_object (m))
    {
      m = json_object ();
      json_object_set_new (dst, name, m);
    }
  const char *k;
  json_t *e;
  json_object_foreach (v, k, e)
  {
    if (f->kind == K_STRMAP)
      {
        if (!json_is_string (e) && !json_is_null (e))
          return type_error (s, f, e, NULL, err);
        json_object_set_new (m, k, json_is_null (e) ? json_string ("") : json_copy (e));
      }
    else if (f->kind == K_SETMAP)
      {
        if (!json_is_object (e) && !json_is_null (e))
          return type_error (s, f, e, NULL, err);
        json_object_set_new (m, k, json_object ());
      }
    else /* K_PORTMAP */
      {
        if (json_is_null (e))
          {
            json_object_set_new (m, k, json_null ());
            continue;
          }
        if (!json_is_array (e))
          return type_error (s, f, e, NULL, err);
        json_t *arr = json_array ();
        json_object_set_new (m, k, arr);
        size_t i;
        json_t *b;
        json_array_foreach (e, i, b)
        {
          json_t *one = json_object ();
          json_array_append_new (arr, one);
          if (!json_is_null (b) && decode_struct (one, b, f->sub, err) < 0)
            return -ERR_INVALID;
        }
      }
  }
  return 0;
}

static int
decode_field (json_t *dst, const struct schema *s, const struct field *f, json_t *v,
              agent_error_t *err)
{
  const char *name = f->name;
  if (json_is_null (v))
    {
      switch (f->kind)
        {
        case K_STR:
        case K_BOOL:
        case K_INT:
        case K_STRUCT:
          return 0; /* Go leaves non-pointer values as they are */
        default:
          json_object_del (dst, name);
          return 0;
        }
    }
  json_t *arr;
  switch (f->kind)
    {
    case K_STR:
      if (!json_is_string (v))
        return type_error (s, f, v, NULL, err);
      json_object_set (dst, name, v);
      return 0;
    case K_BOOL:
    case K_PBOOL:
      if (!json_is_boolean (v))
        return type_error (s, f, v, NULL, err);
      json_object_set (dst, name, v);
      return 0;
    case K_INT:
    case K_PINT:
      if (check_int (s, f, v, err) < 0)
        return -ERR_INVALID;
      json_object_set (dst, name, v);
      return 0;
    case K_STRSLICE:
      if (json_is_string (v))
        {
          json_object_set_new (dst, name, json_pack ("[O]", v));
          return 0;
        }
      /* fall through */
    case K_STRV:
      if (!(arr = strv_copy (s, f, v, err)))
        return -ERR_INVALID;
      json_object_set_new (dst, name, arr);
      return 0;
    case K_STRMAP:
    case K_SETMAP:
    case K_PORTMAP:
      return merge_map (dst, name, s, f, v, err);
    case K_STRUCT:
    case K_PSTRUCT:
      {
        if (!json_is_object (v))
          return type_error (s, f, v, NULL, err);
        json_t *sub = json_object_get (dst, name);
        if (!json_is_object (sub))
          {
            sub = json_object ();
            json_object_set_new (dst, name, sub);
          }
        return decode_struct (sub, v, f->sub, err);
      }
    case K_STRUCTV:
    case K_RAWV:
      {
        if (!json_is_array (v))
          return type_error (s, f, v, NULL, err);
        arr = json_array ();
        json_object_set_new (dst, name, arr);
        size_t i;
        json_t *e;
        json_array_foreach (v, i, e)
        {
          if (!json_is_object (e) && !json_is_null (e))
            return type_error (s, f, e, NULL, err);
          if (f->kind == K_RAWV)
            {
              json_array_append_new (arr, json_is_null (e) ? json_object () : json_deep_copy (e));
              continue;
            }
          json_t *one = json_object ();
          json_array_append_new (arr, one);
          if (!json_is_null (e) && decode_struct (one, e, f->sub, err) < 0)
            return -ERR_INVALID;
        }
        return 0;
      }
    }
  return 0;
}

static int
decode_struct (json_t *dst, json_t *src, const struct schema *s, agent_error_t *err)
{
  const char *k;
  json_t *v;
  json_object_foreach (src, k, v)
  {
    const struct field *f = find_field (s, k);
    if (f && decode_field (dst, s, f, v, err) < 0)
      return -ERR_INVALID;
  }
  return 0;
}

int
docker_overlay_apply (json_t *dst, const char *text, enum docker_overlay_target target,
                      agent_error_t *err)
{
  if (text == NULL || text[0] == '\0')
    return 0;
  json_error_t jerr;
  json_t *x = json_loads (text, 0, &jerr);
  if (x == NULL)
    return error_set (err, ERR_INVALID, "%s", jerr.text);
  int rc = 0;
  const struct schema *s = target == DOCKER_OVERLAY_CONFIG ? &config_s : &host_s;
  if (!json_is_object (x))
    rc = error_set (err, ERR_INVALID, "json: cannot unmarshal %s into Go value of type container.%s",
                    json_kind_name (x), s->name);
  else
    rc = decode_struct (dst, x, s, err);
  json_decref (x);
  return rc;
}

int
docker_overlay_check (const char *text, enum docker_overlay_target target, json_t **out,
                      agent_error_t *err)
{
  json_t *o = json_object ();
  if (docker_overlay_apply (o, text, target, err) < 0)
    {
      json_decref (o);
      return -ERR_INVALID;
    }
  if (out)
    *out = o;
  else
    json_decref (o);
  return 0;
}
