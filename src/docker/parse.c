/* docker/parse.c - pure parsers of Docker Engine API JSON into typed structs,
 * and the mapping of error responses.  API version and image reference
 * helpers are in api.c; the framer that splits a streamed body into JSON
 * values is json_stream.c. */
#include "docker/docker.h"
#include "docker/docker_int.h"
#include "core/time.h"
#include "core/xmalloc.h"
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- jansson helpers --------------------------------------------------- */

static char *
jstr (json_t *o, const char *key)
{
  json_t *v = json_object_get (o, key);
  return json_is_string (v) ? xstrndup (json_string_value (v), json_string_length (v)) : NULL;
}

/* Non-empty string or NULL. */
static char *
jstr_ne (json_t *o, const char *key)
{
  json_t *v = json_object_get (o, key);
  if (json_is_string (v) && json_string_length (v) > 0)
    return xstrndup (json_string_value (v), json_string_length (v));
  return NULL;
}

static int64_t
jint (json_t *o, const char *key)
{
  json_t *v = json_object_get (o, key);
  if (json_is_integer (v))
    return json_integer_value (v);
  if (json_is_real (v))
    {
      double d = json_real_value (v);
      if (d > -9.2e18 && d < 9.2e18)
        return (int64_t) d;
    }
  return 0;
}

static bool
jbool (json_t *o, const char *key)
{
  return json_is_true (json_object_get (o, key));
}

static json_t *
jparse (const char *s, size_t len, agent_error_t *err, const char *what)
{
  if (s == NULL)
    {
      error_set (err, ERR_MALFORMED, "%s: empty response", what);
      return NULL;
    }
  json_error_t jerr;
  json_t *root = json_loadb (s, len, JSON_DECODE_ANY, &jerr);
  if (root == NULL)
    {
      error_set (err, ERR_MALFORMED, "%s: invalid JSON: %s", what, jerr.text);
      return NULL;
    }
  if (!json_is_object (root))
    {
      json_decref (root);
      error_set (err, ERR_MALFORMED, "%s: expected a JSON object", what);
      return NULL;
    }
  return root;
}

static void
kv_free (struct docker_kv *kv, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (kv[i].key);
      free (kv[i].value);
    }
  free (kv);
}

/* String values of an object as kv (non-string values are skipped). */
static struct docker_kv *
jkv (json_t *o, size_t *n)
{
  *n = 0;
  if (!json_is_object (o) || json_object_size (o) == 0)
    return NULL;
  struct docker_kv *kv = xcalloc (json_object_size (o), sizeof *kv);
  const char *k;
  json_t *v;
  json_object_foreach (o, k, v)
  {
    if (!json_is_string (v))
      continue;
    kv[*n].key = xstrdup (k);
    kv[*n].value = xstrndup (json_string_value (v), json_string_length (v));
    (*n)++;
  }
  return kv;
}

static char **
jstrv (json_t *a, size_t *n)
{
  *n = 0;
  if (!json_is_array (a) || json_array_size (a) == 0)
    return NULL;
  char **v = xcalloc (json_array_size (a), sizeof *v);
  size_t i;
  json_t *e;
  json_array_foreach (a, i, e)
  {
    if (json_is_string (e))
      v[(*n)++] = xstrndup (json_string_value (e), json_string_length (e));
  }
  return v;
}

static void
strv_free (char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (v[i]);
  free (v);
}

/* ---- errors ------------------------------------------------------------ */

static bool
contains_ci (const char *hay, const char *needle)
{
  return hay && strcasestr (hay, needle) != NULL;
}

static bool
msg_is_auth (const char *m)
{
  return contains_ci (m, "unauthorized") || contains_ci (m, "authentication required")
         || contains_ci (m, "no basic auth credentials") || contains_ci (m, "access denied")
         || contains_ci (m, "incorrect username or password") || contains_ci (m, "denied:")
         || contains_ci (m, "forbidden");
}

static bool
msg_is_not_found (const char *m)
{
  return contains_ci (m, "manifest unknown") || contains_ci (m, "not found")
         || contains_ci (m, "name unknown") || contains_ci (m, "does not exist")
         || contains_ci (m, "no such image");
}

/* Message of an error body: {"message": "..."} or the trimmed text. */
static char *
error_body_message (const char *body, size_t len)
{
  if (body == NULL || len == 0)
    return NULL;
  json_t *root = json_loadb (body, len, 0, NULL);
  if (root)
    {
      char *m = NULL;
      if (json_is_object (root))
        {
          m = jstr_ne (root, "message");
          if (m == NULL)
            m = jstr_ne (root, "error");
        }
      bool obj = json_is_object (root);
      json_decref (root);
      if (m || obj)
        return m;
    }
  while (len > 0 && isspace ((unsigned char) *body))
    body++, len--;
  while (len > 0 && isspace ((unsigned char) body[len - 1]))
    len--;
  if (len == 0)
    return NULL;
  if (len > 1024)
    len = 1024;
  char *m = xstrndup (body, len);
  for (char *p = m; *p; p++)
    if ((unsigned char) *p < 0x20)
      *p = ' ';
  return m;
}

int
docker_error_from_response (agent_error_t *err, long status, const char *body, size_t len,
                            bool is_pull)
{
  char *m = error_body_message (body, len);
  int kind;
  if (status == 404)
    kind = ERR_NOT_FOUND;
  else if (status == 409)
    kind = ERR_CONFLICT;
  else if (status == 401 || (is_pull && status == 403))
    kind = ERR_AUTH;
  else if (is_pull && msg_is_auth (m))
    kind = ERR_AUTH;
  else if (is_pull && msg_is_not_found (m))
    kind = ERR_NOT_FOUND;
  else if (status >= 500)
    kind = ERR_SERVER;
  else if (status >= 400)
    kind = ERR_CLIENT;
  else
    kind = ERR_MALFORMED;
  int r;
  if (m)
    r = error_set_status (err, kind, (int) status, "%s", m);
  else
    r = error_set_status (err, kind, (int) status, "docker: HTTP status %ld", status);
  free (m);
  return r;
}

/* ---- version / info ---------------------------------------------------- */

void
docker_version_info_free (struct docker_version_info *v)
{
  if (v == NULL)
    return;
  free (v->version);
  free (v->api_version);
  free (v->min_api_version);
  free (v->os);
  free (v->arch);
  free (v->kernel_version);
  free (v);
}

int
docker_parse_version (const char *s, size_t len, struct docker_version_info **out,
                      agent_error_t *err)
{
  *out = NULL;
  json_t *root = jparse (s, len, err, "docker version");
  if (root == NULL)
    return -ERR_MALFORMED;
  struct docker_version_info *v = xcalloc (1, sizeof *v);
  v->version = jstr (root, "Version");
  v->api_version = jstr (root, "ApiVersion");
  v->min_api_version = jstr (root, "MinAPIVersion");
  v->os = jstr (root, "Os");
  v->arch = jstr (root, "Arch");
  v->kernel_version = jstr (root, "KernelVersion");
  size_t i; json_t *comp; /* Podman's compatible API names its engine component "Podman Engine" */
  json_array_foreach (json_object_get (root, "Components"), i, comp)
    v->podman |= strcmp (json_string_value (json_object_get (comp, "Name")) ?: "", "Podman Engine") == 0;
  json_decref (root);
  if (!docker_api_version_valid (v->api_version))
    {
      docker_version_info_free (v);
      return error_set (err, ERR_MALFORMED, "docker version: missing or invalid ApiVersion");
    }
  *out = v;
  return 0;
}

void
docker_info_free (struct docker_info *i)
{
  if (i == NULL)
    return;
  free (i->id);
  free (i->name);
  free (i->server_version);
  free (i->os_type);
  free (i->kernel_version);
  free (i->driver);
  free (i->cgroup_driver);
  free (i->cgroup_version);
  free (i->docker_root_dir);
  free (i);
}

int
docker_parse_info (const char *s, size_t len, struct docker_info **out, agent_error_t *err)
{
  *out = NULL;
  json_t *root = jparse (s, len, err, "docker info");
  if (root == NULL)
    return -ERR_MALFORMED;
  struct docker_info *i = xcalloc (1, sizeof *i);
  i->id = jstr (root, "ID");
  i->name = jstr (root, "Name");
  i->server_version = jstr (root, "ServerVersion");
  i->os_type = jstr (root, "OSType");
  i->kernel_version = jstr (root, "KernelVersion");
  i->driver = jstr (root, "Driver");
  i->cgroup_driver = jstr (root, "CgroupDriver");
  i->cgroup_version = jstr (root, "CgroupVersion");
  i->docker_root_dir = jstr (root, "DockerRootDir");
  i->containers = jint (root, "Containers");
  i->containers_running = jint (root, "ContainersRunning");
  i->images = jint (root, "Images");
  i->ncpu = jint (root, "NCPU");
  i->mem_total = jint (root, "MemTotal");
  json_decref (root);
  *out = i;
  return 0;
}

/* ---- images ------------------------------------------------------------ */

void
docker_image_info_free (struct docker_image_info *i)
{
  if (i == NULL)
    return;
  free (i->id);
  strv_free (i->repo_tags, i->n_repo_tags);
  strv_free (i->repo_digests, i->n_repo_digests);
  free (i->created);
  kv_free (i->labels, i->n_labels);
  strv_free (i->env, i->n_env);
  free (i);
}

int
docker_parse_image_inspect (const char *s, size_t len, struct docker_image_info **out,
                            agent_error_t *err)
{
  *out = NULL;
  json_t *root = jparse (s, len, err, "image inspect");
  if (root == NULL)
    return -ERR_MALFORMED;
  struct docker_image_info *i = xcalloc (1, sizeof *i);
  i->id = jstr_ne (root, "Id");
  if (i->id == NULL)
    {
      json_decref (root);
      docker_image_info_free (i);
      return error_set (err, ERR_MALFORMED, "image inspect: missing Id");
    }
  i->repo_tags = jstrv (json_object_get (root, "RepoTags"), &i->n_repo_tags);
  i->repo_digests = jstrv (json_object_get (root, "RepoDigests"), &i->n_repo_digests);
  i->created = jstr (root, "Created");
  i->size = jint (root, "Size");
  i->labels = jkv (json_object_get (json_object_get (root, "Config"), "Labels"), &i->n_labels);
  i->env = jstrv (json_object_get (json_object_get (root, "Config"), "Env"), &i->n_env);
  json_decref (root);
  *out = i;
  return 0;
}

/* ---- containers -------------------------------------------------------- */

void
docker_container_info_free (struct docker_container_info *i)
{
  if (i == NULL)
    return;
  free (i->id);
  free (i->name);
  free (i->image);
  free (i->image_id);
  free (i->created);
  free (i->status);
  free (i->error);
  free (i->health_status);
  free (i->started_at);
  free (i->finished_at);
  for (size_t k = 0; k < i->n_ports; k++)
    {
      free (i->ports[k].bind_ip);
    }
  free (i->ports);
  kv_free (i->labels, i->n_labels);
  docker_inspect_extra_free (i);
  for (size_t k = 0; k < i->n_mounts; k++)
    {
      free (i->mounts[k].type);
      free (i->mounts[k].name);
      free (i->mounts[k].source);
      free (i->mounts[k].destination);
    }
  free (i->mounts);
  free (i);
}

static int
parse_port_number (const char *s, size_t n, uint16_t *out)
{
  if (n == 0 || n > 5)
    return -1;
  unsigned v = 0;
  for (size_t i = 0; i < n; i++)
    {
      if (!isdigit ((unsigned char) s[i]))
        return -1;
      v = v * 10 + (unsigned) (s[i] - '0');
    }
  if (v > 65535)
    return -1;
  *out = (uint16_t) v;
  return 0;
}

static int
parse_ports (json_t *ports, struct docker_container_info *i, agent_error_t *err)
{
  if (!json_is_object (ports))
    return 0;
  size_t cap = 0;
  const char *key;
  json_t *binds;
  json_object_foreach (ports, key, binds)
  {
    if (!json_is_array (binds))
      continue; /* exposed, not published (null) */
    const char *slash = strchr (key, '/');
    size_t plen = slash ? (size_t) (slash - key) : strlen (key);
    uint16_t cport;
    if (parse_port_number (key, plen, &cport) < 0)
      return error_set (err, ERR_MALFORMED, "UnparseablePort: container port %.32s", key);
    enum task_protocol proto;
    if (task_protocol_parse (slash ? slash + 1 : NULL, &proto, NULL) < 0)
      continue; /* sctp: never asked for by a task */
    size_t k;
    json_t *b;
    json_array_foreach (binds, k, b)
    {
      if (!json_is_object (b))
        continue;
      json_t *hp = json_object_get (b, "HostPort");
      uint16_t hport = 0;
      if (json_is_string (hp) && json_string_length (hp) > 0
          && parse_port_number (json_string_value (hp), json_string_length (hp), &hport) < 0)
        return error_set (err, ERR_MALFORMED, "UnparseablePort: host port %.32s",
                          json_string_value (hp));
      if (i->n_ports == cap)
        {
          cap = cap ? cap * 2 : 4;
          i->ports = xrealloc (i->ports, cap * sizeof *i->ports);
        }
      struct task_port_binding *p = &i->ports[i->n_ports++];
      p->container_port = cport;
      p->protocol = proto;
      p->bind_ip = jstr (b, "HostIp");
      if (p->bind_ip == NULL)
        p->bind_ip = xstrdup ("");
      p->host_port = hport;
    }
  }
  return 0;
}

int
docker_parse_container_inspect (const char *s, size_t len, struct docker_container_info **out,
                                agent_error_t *err)
{
  *out = NULL;
  json_t *root = jparse (s, len, err, "container inspect");
  if (root == NULL)
    return -ERR_MALFORMED;
  struct docker_container_info *i = xcalloc (1, sizeof *i);
  i->id = jstr_ne (root, "Id");
  if (i->id == NULL)
    {
      json_decref (root);
      docker_container_info_free (i);
      return error_set (err, ERR_MALFORMED, "container inspect: missing Id");
    }
  char *name = jstr (root, "Name");
  if (name && name[0] == '/')
    {
      i->name = xstrdup (name + 1);
      free (name);
    }
  else
    i->name = name;
  json_t *cfg = json_object_get (root, "Config");
  i->image = jstr (cfg, "Image");
  i->image_id = jstr (root, "Image");
  i->created = jstr (root, "Created");
  i->labels = jkv (json_object_get (cfg, "Labels"), &i->n_labels);
  json_t *st = json_object_get (root, "State");
  i->status = jstr (st, "Status");
  i->running = jbool (st, "Running");
  i->paused = jbool (st, "Paused");
  i->restarting = jbool (st, "Restarting");
  i->oom_killed = jbool (st, "OOMKilled");
  i->dead = jbool (st, "Dead");
  int64_t pid = jint (st, "Pid");
  i->pid = (pid > 0 && pid < INT_MAX) ? (int) pid : 0;
  int64_t ec = jint (st, "ExitCode");
  i->exit_code = (ec >= INT_MIN && ec <= INT_MAX) ? (int) ec : -1;
  i->error = jstr_ne (st, "Error");
  i->health_status = jstr_ne (json_object_get (st, "Health"), "Status");
  i->started_at = jstr (st, "StartedAt");
  i->finished_at = jstr (st, "FinishedAt");
  /* a malformed time reads as 0, "never" */
  (void) time_rfc3339_parse (i->started_at, &i->started_at_ns);
  (void) time_rfc3339_parse (i->finished_at, &i->finished_at_ns);
  if (i->status == NULL)
    i->status = xstrdup (i->running ? "running" : "exited");
  json_t *ns = json_object_get (root, "NetworkSettings");
  if (parse_ports (json_object_get (ns, "Ports"), i, err) < 0)
    {
      json_decref (root);
      docker_container_info_free (i);
      return -ERR_MALFORMED;
    }
  json_t *mounts = json_object_get (root, "Mounts");
  if (json_is_array (mounts) && json_array_size (mounts) > 0)
    {
      i->mounts = xcalloc (json_array_size (mounts), sizeof *i->mounts);
      size_t k;
      json_t *m;
      json_array_foreach (mounts, k, m)
      {
        if (!json_is_object (m))
          continue;
        struct docker_mount *dm = &i->mounts[i->n_mounts++];
        dm->type = jstr (m, "Type");
        dm->name = jstr_ne (m, "Name");
        dm->source = jstr (m, "Source");
        dm->destination = jstr (m, "Destination");
        dm->rw = jbool (m, "RW");
      }
    }
  docker_inspect_extra_read (root, i);
  json_decref (root);
  *out = i;
  return 0;
}

int
docker_parse_create_response (const char *s, size_t len, char **id, agent_error_t *err)
{
  *id = NULL;
  json_t *root = jparse (s, len, err, "container create");
  if (root == NULL)
    return -ERR_MALFORMED;
  *id = jstr_ne (root, "Id");
  json_decref (root);
  if (*id == NULL)
    return error_set (err, ERR_MALFORMED, "container create: missing Id");
  return 0;
}

void
docker_container_list_free (struct docker_container_list *l)
{
  if (l == NULL)
    return;
  for (size_t k = 0; k < l->n; k++)
    {
      struct docker_container_summary *c = &l->items[k];
      free (c->id);
      strv_free (c->names, c->n_names);
      free (c->image);
      free (c->image_id);
      free (c->state);
      free (c->status);
      kv_free (c->labels, c->n_labels);
    }
  free (l->items);
  free (l);
}

int
docker_parse_container_list (const char *s, size_t len, struct docker_container_list **out,
                             agent_error_t *err)
{
  *out = NULL;
  if (s == NULL)
    return error_set (err, ERR_MALFORMED, "container list: empty response");
  json_error_t jerr;
  json_t *root = json_loadb (s, len, 0, &jerr);
  if (root == NULL)
    return error_set (err, ERR_MALFORMED, "container list: invalid JSON: %s", jerr.text);
  if (!json_is_array (root))
    {
      json_decref (root);
      return error_set (err, ERR_MALFORMED, "container list: expected a JSON array");
    }
  struct docker_container_list *l = xcalloc (1, sizeof *l);
  if (json_array_size (root) > 0)
    l->items = xcalloc (json_array_size (root), sizeof *l->items);
  size_t k;
  json_t *e;
  json_array_foreach (root, k, e)
  {
    if (!json_is_object (e))
      continue;
    char *id = jstr_ne (e, "Id");
    if (id == NULL)
      continue;
    struct docker_container_summary *c = &l->items[l->n++];
    c->id = id;
    c->names = jstrv (json_object_get (e, "Names"), &c->n_names);
    for (size_t j = 0; j < c->n_names; j++)
      if (c->names[j][0] == '/')
        memmove (c->names[j], c->names[j] + 1, strlen (c->names[j]));
    c->image = jstr (e, "Image");
    c->image_id = jstr (e, "ImageID");
    c->state = jstr (e, "State");
    c->status = jstr (e, "Status");
    c->created = jint (e, "Created");
    c->labels = jkv (json_object_get (e, "Labels"), &c->n_labels);
  }
  json_decref (root);
  *out = l;
  return 0;
}

/* ---- volumes ----------------------------------------------------------- */

void
docker_volume_info_free (struct docker_volume_info *v)
{
  if (v == NULL)
    return;
  free (v->name);
  free (v->driver);
  free (v->mountpoint);
  free (v->scope);
  kv_free (v->labels, v->n_labels);
  free (v);
}

int
docker_parse_volume (const char *s, size_t len, struct docker_volume_info **out,
                     agent_error_t *err)
{
  *out = NULL;
  json_t *root = jparse (s, len, err, "volume");
  if (root == NULL)
    return -ERR_MALFORMED;
  struct docker_volume_info *v = xcalloc (1, sizeof *v);
  v->name = jstr_ne (root, "Name");
  if (v->name == NULL)
    {
      json_decref (root);
      docker_volume_info_free (v);
      return error_set (err, ERR_MALFORMED, "volume: missing Name");
    }
  v->driver = jstr (root, "Driver");
  v->mountpoint = jstr (root, "Mountpoint");
  v->scope = jstr (root, "Scope");
  v->labels = jkv (json_object_get (root, "Labels"), &v->n_labels);
  json_decref (root);
  *out = v;
  return 0;
}

/* ---- events ------------------------------------------------------------ */

enum docker_event_action
docker_event_action_parse (const char *a)
{
  static const struct
  {
    const char *name;
    enum docker_event_action kind;
  } map[] = {
    { "create", DOCKER_EV_CREATE },   { "start", DOCKER_EV_START },
    { "die", DOCKER_EV_DIE },         { "stop", DOCKER_EV_STOP },
    { "kill", DOCKER_EV_KILL },       { "destroy", DOCKER_EV_DESTROY },
    { "oom", DOCKER_EV_OOM },         { "pause", DOCKER_EV_PAUSE },
    { "unpause", DOCKER_EV_UNPAUSE }, { "restart", DOCKER_EV_RESTART },
  };
  if (a == NULL)
    return DOCKER_EV_OTHER;
  if (strncmp (a, "health_status", 13) == 0 && (a[13] == ':' || a[13] == '\0'))
    return DOCKER_EV_HEALTH_STATUS;
  for (size_t i = 0; i < ARRAY_SIZE (map); i++)
    if (strcmp (a, map[i].name) == 0)
      return map[i].kind;
  return DOCKER_EV_OTHER;
}

void
docker_event_free (struct docker_event *e)
{
  if (e == NULL)
    return;
  free (e->action);
  free (e->type);
  free (e->id);
  kv_free (e->attributes, e->n_attributes);
  free (e);
}

int
docker_parse_event (const char *s, size_t len, struct docker_event **out, agent_error_t *err)
{
  *out = NULL;
  json_t *root = jparse (s, len, err, "docker event");
  if (root == NULL)
    return -ERR_MALFORMED;
  struct docker_event *e = xcalloc (1, sizeof *e);
  e->action = jstr_ne (root, "Action");
  if (e->action == NULL)
    e->action = jstr_ne (root, "status");
  e->type = jstr_ne (root, "Type");
  if (e->type == NULL)
    e->type = xstrdup ("container"); /* pre-1.22 events were all container events */
  json_t *actor = json_object_get (root, "Actor");
  e->id = jstr_ne (actor, "ID");
  if (e->id == NULL)
    e->id = jstr_ne (root, "id");
  e->attributes = jkv (json_object_get (actor, "Attributes"), &e->n_attributes);
  e->time_ns = jint (root, "timeNano");
  if (e->time_ns <= 0)
    {
      int64_t t = jint (root, "time");
      e->time_ns = (t > 0 && t < INT64_MAX / 1000000000LL) ? t * 1000000000LL : 0;
    }
  json_decref (root);
  if (e->action == NULL)
    {
      docker_event_free (e);
      return error_set (err, ERR_MALFORMED, "docker event: missing Action");
    }
  e->kind = docker_event_action_parse (e->action);
  e->exit_code = -1;
  for (size_t k = 0; k < e->n_attributes; k++)
    if (strcmp (e->attributes[k].key, "exitCode") == 0)
      {
        char *end;
        errno = 0;
        long v = strtol (e->attributes[k].value, &end, 10);
        if (errno == 0 && end != e->attributes[k].value && *end == '\0' && v >= INT_MIN
            && v <= INT_MAX)
          e->exit_code = (int) v;
      }
  *out = e;
  return 0;
}

/* ---- pull progress ----------------------------------------------------- */

int
docker_parse_pull_line (const char *s, size_t len, struct docker_pull_progress *out,
                        agent_error_t *err)
{
  out->status = NULL;
  out->id = NULL;
  out->current = out->total = -1;
  json_t *root = jparse (s, len, err, "image pull");
  if (root == NULL)
    return -ERR_MALFORMED;
  json_t *detail = json_object_get (root, "errorDetail");
  json_t *error = json_object_get (root, "error");
  if (error != NULL || detail != NULL)
    {
      char *m = jstr_ne (detail, "message");
      if (m == NULL)
        m = jstr_ne (root, "error");
      if (m == NULL)
        m = xstrdup ("image pull failed");
      int64_t code = jint (detail, "code");
      int kind = ERR_SERVER;
      if (code == 401 || code == 403 || msg_is_auth (m))
        kind = ERR_AUTH;
      else if (code == 404 || msg_is_not_found (m))
        kind = ERR_NOT_FOUND;
      json_decref (root);
      int r = error_set (err, kind, "%s", m);
      free (m);
      return r;
    }
  out->status = jstr (root, "status");
  out->id = jstr (root, "id");
  json_t *pd = json_object_get (root, "progressDetail");
  json_t *cur = json_object_get (pd, "current"), *tot = json_object_get (pd, "total");
  if (json_is_integer (cur) && json_integer_value (cur) >= 0)
    out->current = json_integer_value (cur);
  if (json_is_integer (tot) && json_integer_value (tot) >= 0)
    out->total = json_integer_value (tot);
  json_decref (root);
  return 0;
}

void
docker_pull_progress_clear (struct docker_pull_progress *p)
{
  free (p->status);
  free (p->id);
  p->status = p->id = NULL;
}
