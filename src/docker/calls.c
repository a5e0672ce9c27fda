/* docker/calls.c - one function per Docker Engine API endpoint: each checks
 * its arguments, builds the path and body and hands an op to client.c. */
#include "core/util.h"
#include "core/xmalloc.h"
#include "docker/docker.h"
#include "docker/docker_int.h"
#include "docker/overlay.h"
#include "log/log.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- calls ------------------------------------------------------------- */

static docker_op_t *
simple (docker_client_t *c, enum docker_op_kind kind, const char *method, char *path,
        long timeout_ms, const char *what, struct docker_op_cb cb, void *data)
{
  docker_op_t *op = docker_op_new (c, kind, method, path, timeout_ms, cb, data);
  op->what = what;
  docker_op_send (op);
  return op;
}

static docker_op_t *
invalid (docker_client_t *c, enum docker_op_kind kind, struct docker_op_cb cb, void *data,
         const char *msg)
{
  docker_op_t *op = docker_op_new (c, kind, "GET", xstrdup (""), 0, cb, data);
  agent_error_t err = NULL;
  error_set (&err, ERR_INVALID, "%s", msg);
  return docker_op_fail_later (op, &err);
}

docker_op_t *
docker_ping (docker_client_t *c, docker_done_cb cb, void *data)
{
  return simple (c, DOCKER_OP_PING, "GET", xstrdup ("/_ping"), c->t.other_ms, "pinged",
                 docker_op_cb_done (cb), data);
}

docker_op_t *
docker_version (docker_client_t *c, docker_version_cb cb, void *data)
{
  return simple (c, DOCKER_OP_VERSION, "GET", xstrdup ("/version"), c->t.other_ms, "version",
                 docker_op_cb_version (cb), data);
}

docker_op_t *
docker_info (docker_client_t *c, docker_info_cb cb, void *data)
{
  return simple (c, DOCKER_OP_INFO, "GET", xstrdup ("/info"), c->t.other_ms, "info",
                 docker_op_cb_info (cb), data);
}

docker_op_t *
docker_image_pull (docker_client_t *c, const struct docker_pull_opts *o, docker_done_cb cb,
                   void *data)
{
  if (o == NULL || o->image == NULL || o->image[0] == '\0')
    return invalid (c, DOCKER_OP_PULL, docker_op_cb_done (cb), data, "image pull: no image");
  char *ref = docker_image_ref_normalize (o->image);
  char *eref = docker_escape (ref, NULL);
  char *path = xasprintf ("/images/create?fromImage=%s", eref);
  free (ref);
  free (eref);
  docker_op_t *op = docker_op_new (c, DOCKER_OP_PULL, "POST", path, c->t.pull_total_ms,
                                   docker_op_cb_done (cb), data);
  op->what = "pulled";
  op->on_progress = o->on_progress;
  if (o->registry_auth && o->registry_auth[0])
    {
      op->auth = xstrdup (o->registry_auth);
      log_secret_add (op->auth);
    }
  log_info ("docker", "pulling image %s", o->image);
  docker_op_send (op);
  return op;
}

docker_op_t *
docker_image_inspect (docker_client_t *c, const char *image, docker_image_cb cb, void *data)
{
  if (image == NULL || image[0] == '\0')
    return invalid (c, DOCKER_OP_IMAGE_INSPECT, docker_op_cb_image (cb), data,
                    "image inspect: no image");
  char *e = docker_escape (image, "/:@");
  char *path = xasprintf ("/images/%s/json", e);
  free (e);
  return simple (c, DOCKER_OP_IMAGE_INSPECT, "GET", path, c->t.inspect_ms, "inspecting",
                 docker_op_cb_image (cb), data);
}

docker_op_t *
docker_image_remove (docker_client_t *c, const char *image, bool force, docker_done_cb cb,
                     void *data)
{
  if (image == NULL || image[0] == '\0')
    return invalid (c, DOCKER_OP_IMAGE_REMOVE, docker_op_cb_done (cb), data,
                    "image remove: no image");
  char *e = docker_escape (image, "/:@");
  char *path = xasprintf ("/images/%s%s", e, force ? "?force=1" : "");
  free (e);
  return simple (c, DOCKER_OP_IMAGE_REMOVE, "DELETE", path, c->t.remove_ms, "removing",
                 docker_op_cb_done (cb), data);
}

static json_t *
strv_json (const char *const *v)
{
  json_t *a = json_array ();
  for (size_t i = 0; v[i]; i++)
    json_array_append_new (a, json_string (v[i]));
  return a;
}

static bool
utf8_ok (const char *s)
{
  if (s == NULL)
    return true;
  json_t *j = json_string (s);
  json_decref (j);
  return j != NULL;
}

static bool
strv_utf8_ok (const char *const *v)
{
  for (size_t i = 0; v && v[i]; i++)
    if (!utf8_ok (v[i]))
      return false;
  return true;
}

static bool
labels_utf8_ok (const struct docker_label *l, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!utf8_ok (l[i].key) || !utf8_ok (l[i].value))
      return false;
  return true;
}

/* Every string of the request must be valid UTF-8 (JSON): nothing is
   silently dropped. */
static bool
create_opts_utf8_ok (const struct docker_create_opts *o)
{
  if (!utf8_ok (o->image) || !utf8_ok (o->name) || !utf8_ok (o->network_mode)
      || !utf8_ok (o->pid_mode) || !utf8_ok (o->ipc_mode) || !utf8_ok (o->cgroup_parent)
      || !strv_utf8_ok (o->cmd) || !strv_utf8_ok (o->entrypoint) || !strv_utf8_ok (o->env)
      || !strv_utf8_ok (o->links) || !strv_utf8_ok (o->binds) || !strv_utf8_ok (o->volumes_from)
      || !strv_utf8_ok (o->volumes) || !labels_utf8_ok (o->labels, o->n_labels)
      || !labels_utf8_ok (o->log_options, o->n_log_options))
    return false;
  for (size_t i = 0; i < o->n_ports; i++)
    if (!utf8_ok (o->ports[i].proto) || !utf8_ok (o->ports[i].host_ip))
      return false;
  return true;
}

/* What the agent sets after the dockerConfig overlay: its labels over the
   user's, the task cgroup parent, the network / PID / IPC modes, log
   options when there is a log driver. */
static void
apply_overrides (json_t *cfg, json_t *hc, const struct docker_create_opts *o)
{
  if (o->n_labels)
    {
      json_t *l = json_object_get (cfg, "Labels");
      if (!json_is_object (l))
        {
          l = json_object ();
          json_object_set_new (cfg, "Labels", l);
        }
      for (size_t i = 0; i < o->n_labels; i++)
        if (o->labels[i].key)
          json_object_set_new (l, o->labels[i].key,
                               json_string (o->labels[i].value ? o->labels[i].value : ""));
    }
  if (o->cgroup_parent)
    json_object_set_new (hc, "CgroupParent", json_string (o->cgroup_parent));
  if (o->network_mode)
    json_object_set_new (hc, "NetworkMode", json_string (o->network_mode));
  if (o->pid_mode)
    json_object_set_new (hc, "PidMode", json_string (o->pid_mode));
  if (o->ipc_mode)
    json_object_set_new (hc, "IpcMode", json_string (o->ipc_mode));
  json_t *lc = json_object_get (hc, "LogConfig");
  json_t *lt = json_object_get (lc, "Type");
  if (o->n_log_options && json_is_string (lt) && json_string_length (lt) > 0)
    {
      json_t *lo = json_object_get (lc, "Config");
      if (!json_is_object (lo))
        {
          lo = json_object ();
          json_object_set_new (lc, "Config", lo);
        }
      for (size_t i = 0; i < o->n_log_options; i++)
        if (o->log_options[i].key)
          json_object_set_new (lo, o->log_options[i].key,
                               json_string (o->log_options[i].value ? o->log_options[i].value : ""));
    }
  json_t *l = json_object_get (cfg, "Labels");
  json_t *sig = json_is_object (l) ? json_object_get (l, DOCKER_LABEL_STOP_SIGNAL) : NULL;
  if (json_is_string (sig) && json_string_length (sig) > 0 && !json_object_get (cfg, "StopSignal"))
    json_object_set (cfg, "StopSignal", sig);
}

/* Create body (docker/overlay.h). */
char *
docker_create_body (const struct docker_create_opts *o, agent_error_t *err)
{
  if (!create_opts_utf8_ok (o))
    {
      error_set (err, ERR_INVALID, "container create: a string is not valid UTF-8");
      return NULL;
    }
  json_t *cfg = json_object ();
  json_t *hc = json_object ();
  json_object_set_new (cfg, "Image", json_string (o->image));
  if (o->cmd)
    json_object_set_new (cfg, "Cmd", strv_json (o->cmd));
  if (o->entrypoint && o->entrypoint[0])
    json_object_set_new (cfg, "Entrypoint", strv_json (o->entrypoint));
  if (o->env && o->env[0])
    json_object_set_new (cfg, "Env", strv_json (o->env));
  if (o->volumes && o->volumes[0])
    {
      json_t *v = json_object ();
      for (size_t i = 0; o->volumes[i]; i++)
        json_object_set_new (v, o->volumes[i], json_object ());
      json_object_set_new (cfg, "Volumes", v);
    }
  if (o->n_ports)
    {
      json_t *exp = json_object ();
      json_t *pb = json_object ();
      for (size_t i = 0; i < o->n_ports; i++)
        {
          const struct docker_port_spec *p = &o->ports[i];
          char key[48];
          snprintf (key, sizeof key, "%u/%.16s", (unsigned) p->container_port,
                    p->proto ? p->proto : "tcp");
          json_object_set_new (exp, key, json_object ());
          if (p->expose_only)
            continue;
          json_t *arr = json_object_get (pb, key);
          if (arr == NULL)
            {
              arr = json_array ();
              json_object_set_new (pb, key, arr);
            }
          json_t *b = json_object ();
          if (p->host_ip)
            json_object_set_new (b, "HostIp", json_string (p->host_ip));
          char hp[8];
          snprintf (hp, sizeof hp, "%u", (unsigned) p->host_port);
          json_object_set_new (b, "HostPort", json_string (p->host_port ? hp : ""));
          json_array_append_new (arr, b);
        }
      json_object_set_new (cfg, "ExposedPorts", exp);
      json_object_set_new (hc, "PortBindings", pb);
    }
  if (o->links && o->links[0])
    json_object_set_new (hc, "Links", strv_json (o->links));
  if (o->binds && o->binds[0])
    json_object_set_new (hc, "Binds", strv_json (o->binds));
  if (o->volumes_from && o->volumes_from[0])
    json_object_set_new (hc, "VolumesFrom", strv_json (o->volumes_from));
  if (o->memory > 0)
    json_object_set_new (hc, "Memory", json_integer (o->memory));
  if (o->cpu_shares > 0)
    json_object_set_new (hc, "CpuShares", json_integer (o->cpu_shares));
  char *out = NULL;
  if (docker_overlay_apply (cfg, o->extra_config_json, DOCKER_OVERLAY_CONFIG, err) < 0)
    error_wrap (err, "DockerClientConfigError: Unable decode given docker config");
  else if (docker_overlay_apply (hc, o->extra_host_config_json, DOCKER_OVERLAY_HOST_CONFIG, err) < 0)
    error_wrap (err, "HostConfigError: Unable to decode given host config");
  else
    {
      apply_overrides (cfg, hc, o);
      json_object_set (cfg, "HostConfig", hc);
      out = json_dumps (cfg, JSON_COMPACT);
      if (out == NULL)
        error_set (err, ERR_INVALID, "container create: cannot encode request");
    }
  json_decref (hc);
  json_decref (cfg);
  return out;
}

docker_op_t *
docker_container_create (docker_client_t *c, const struct docker_create_opts *o,
                         docker_create_cb cb, void *data)
{
  if (o == NULL || o->image == NULL || o->image[0] == '\0')
    return invalid (c, DOCKER_OP_CREATE, docker_op_cb_create (cb), data,
                    "container create: no image");
  agent_error_t err = NULL;
  char *body = docker_create_body (o, &err);
  if (body == NULL)
    {
      docker_op_t *op = docker_op_new (c, DOCKER_OP_CREATE, "POST", xstrdup (""), 0,
                                       docker_op_cb_create (cb), data);
      return docker_op_fail_later (op, &err);
    }
  char *path;
  if (o->name && o->name[0])
    {
      char *e = docker_escape (o->name, NULL);
      path = xasprintf ("/containers/create?name=%s", e);
      free (e);
    }
  else
    path = xstrdup ("/containers/create");
  docker_op_t *op = docker_op_new (c, DOCKER_OP_CREATE, "POST", path, c->t.create_ms,
                                   docker_op_cb_create (cb), data);
  op->what = "created";
  op->body = body;
  if (o->api_version && o->api_version[0])
    op->api_want = xstrdup (o->api_version);
  docker_op_send (op);
  return op;
}

static char *
ctr_path (const char *id, const char *suffix)
{
  char *e = docker_escape (id, NULL);
  char *p = xasprintf ("/containers/%s%s", e, suffix);
  free (e);
  return p;
}

docker_op_t *
docker_container_start (docker_client_t *c, const char *id, docker_done_cb cb, void *data)
{
  return docker_container_start_version (c, id, NULL, cb, data);
}

docker_op_t *
docker_container_start_version (docker_client_t *c, const char *id, const char *api_version,
                                docker_done_cb cb, void *data)
{
  if (id == NULL || id[0] == '\0')
    return invalid (c, DOCKER_OP_START, docker_op_cb_done (cb), data, "container start: no id");
  docker_op_t *op = docker_op_new (c, DOCKER_OP_START, "POST", ctr_path (id, "/start"), c->t.start_ms,
                                   docker_op_cb_done (cb), data);
  op->what = "started";
  if (api_version && api_version[0])
    op->api_want = xstrdup (api_version);
  docker_op_send (op);
  return op;
}

docker_op_t *
docker_container_stop (docker_client_t *c, const char *id, int grace_s, docker_done_cb cb,
                       void *data)
{
  if (id == NULL || id[0] == '\0')
    return invalid (c, DOCKER_OP_STOP, docker_op_cb_done (cb), data, "container stop: no id");
  if (grace_s < 0)
    grace_s = 0;
  char suffix[32];
  snprintf (suffix, sizeof suffix, "/stop?t=%d", grace_s);
  return simple (c, DOCKER_OP_STOP, "POST", ctr_path (id, suffix),
                 (long) grace_s * 1000 + c->t.stop_margin_ms, "stopped", docker_op_cb_done (cb),
                 data);
}

docker_op_t *
docker_container_kill (docker_client_t *c, const char *id, const char *signal, docker_done_cb cb,
                       void *data)
{
  if (id == NULL || id[0] == '\0')
    return invalid (c, DOCKER_OP_KILL, docker_op_cb_done (cb), data, "container kill: no id");
  char *es = docker_escape (signal ? signal : "KILL", NULL);
  char *suffix = xasprintf ("/kill?signal=%s", es);
  free (es);
  docker_op_t *op = simple (c, DOCKER_OP_KILL, "POST", ctr_path (id, suffix), c->t.other_ms,
                            "stopped", docker_op_cb_done (cb), data);
  free (suffix);
  return op;
}

docker_op_t *
docker_container_inspect (docker_client_t *c, const char *id, docker_inspect_cb cb, void *data)
{
  if (id == NULL || id[0] == '\0')
    return invalid (c, DOCKER_OP_INSPECT, docker_op_cb_inspect (cb), data,
                    "container inspect: no id");
  return simple (c, DOCKER_OP_INSPECT, "GET", ctr_path (id, "/json"), c->t.inspect_ms, "inspecting",
                 docker_op_cb_inspect (cb), data);
}

docker_op_t *
docker_container_remove (docker_client_t *c, const char *id, bool remove_volumes, bool force,
                         docker_done_cb cb, void *data)
{
  if (id == NULL || id[0] == '\0')
    return invalid (c, DOCKER_OP_REMOVE, docker_op_cb_done (cb), data, "container remove: no id");
  char suffix[32];
  snprintf (suffix, sizeof suffix, "?v=%d&force=%d", remove_volumes ? 1 : 0, force ? 1 : 0);
  return simple (c, DOCKER_OP_REMOVE, "DELETE", ctr_path (id, suffix), c->t.remove_ms, "removing",
                 docker_op_cb_done (cb), data);
}

docker_op_t *
docker_container_list (docker_client_t *c, const char *label_filter, docker_list_cb cb, void *data)
{
  char *path = docker_label_filter_path ("/containers/json?all=1", label_filter);
  if (!path)
    return invalid (c, DOCKER_OP_LIST, docker_op_cb_list (cb), data,
                    "container list: the label filter is not valid UTF-8");
  return simple (c, DOCKER_OP_LIST, "GET", path, c->t.other_ms, "listed", docker_op_cb_list (cb),
                 data);
}

docker_op_t *
docker_volume_create (docker_client_t *c, const char *name, const char *driver,
                      const struct docker_label *labels, size_t n_labels, docker_volume_cb cb,
                      void *data)
{
  if (!utf8_ok (name) || !utf8_ok (driver) || !labels_utf8_ok (labels, n_labels))
    return invalid (c, DOCKER_OP_VOLUME_CREATE, docker_op_cb_volume (cb), data,
                    "volume create: a string is not valid UTF-8");
  json_t *b = json_object ();
  if (name && name[0])
    json_object_set_new (b, "Name", json_string (name));
  json_object_set_new (b, "Driver", json_string (driver && driver[0] ? driver : "local"));
  if (n_labels)
    {
      json_t *l = json_object ();
      for (size_t i = 0; i < n_labels; i++)
        if (labels[i].key)
          json_object_set_new (l, labels[i].key,
                               json_string (labels[i].value ? labels[i].value : ""));
      json_object_set_new (b, "Labels", l);
    }
  char *body = json_dumps (b, JSON_COMPACT);
  json_decref (b);
  if (body == NULL)
    return invalid (c, DOCKER_OP_VOLUME_CREATE, docker_op_cb_volume (cb), data,
                    "volume create: invalid name or labels");
  docker_op_t *op = docker_op_new (c, DOCKER_OP_VOLUME_CREATE, "POST", xstrdup ("/volumes/create"),
                                   c->t.other_ms, docker_op_cb_volume (cb), data);
  op->what = "created";
  op->body = body;
  docker_op_send (op);
  return op;
}

docker_op_t *
docker_volume_remove (docker_client_t *c, const char *name, bool force, docker_done_cb cb,
                      void *data)
{
  if (name == NULL || name[0] == '\0')
    return invalid (c, DOCKER_OP_VOLUME_REMOVE, docker_op_cb_done (cb), data,
                    "volume remove: no name");
  char *e = docker_escape (name, NULL);
  char *path = xasprintf ("/volumes/%s%s", e, force ? "?force=1" : "");
  free (e);
  return simple (c, DOCKER_OP_VOLUME_REMOVE, "DELETE", path, c->t.other_ms, "removing",
                 docker_op_cb_done (cb), data);
}
