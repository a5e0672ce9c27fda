/* engine/cgroup.c - the per-task cgroup (see cgroup.h). */
#include "engine/cgroup.h"
#include "docker/docker.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* systemd's folder of slice name ("a-b.slice" -> "/a.slice/a-b.slice"). */
static void
slice_path (char *out, size_t len, const char *name)
{
  size_t stem = strlen (name) - strlen (".slice"), k = 0;
  out[0] = '\0';
  for (size_t i = 0; i <= stem && k < len; i++)
    if (i == stem || name[i] == '-')
      k += (size_t) snprintf (out + k, len - k, "/%.*s.slice", (int) i, name);
}

int
engine_cgroup_spec (const struct task *t, const struct engine_cgroup_cfg *cfg,
                    struct engine_cgroup_spec *out, agent_error_t *err)
{
  bool systemd = cfg && cfg->systemd;
  memset (out, 0, sizeof *out);
  const char *slash = t->arn ? strrchr (t->arn, '/') : NULL;
  const char *id = slash ? slash + 1 : t->arn;
  size_t n = id ? strlen (id) : 0;
  if (n == 0 || n > 128 || strspn (id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
                               != n)
    return error_set (err, ERR_INVALID, "task %s: no task id usable as a cgroup name", t->arn ? t->arn : "");
  out->systemd = systemd;
  out->cpu_period_us = cfg && cfg->cpu_period_us > 0 ? cfg->cpu_period_us : ENGINE_CGROUP_CPU_PERIOD_US;
  if (systemd)
    {
      snprintf (out->parent, sizeof out->parent, "ecstasks-%s.slice", id);
      slice_path (out->path, sizeof out->path, out->parent);
    }
  else
    {
      snprintf (out->path, sizeof out->path, "/ecs/%s", id);
      snprintf (out->parent, sizeof out->parent, "/ecs/%s", id);
    }
  if (t->opts.cpu > 0)
    {
      int64_t q = (int64_t) (t->opts.cpu * (double) out->cpu_period_us);
      out->cpu_quota_us = q < 1000 ? 1000 : q; /* the kernel's minimum quota */
    }
  else
    {
      for (size_t i = 0; i < t->n_containers; i++)
        out->cpu_shares += t->containers[i].cpu < 2 ? 2 : t->containers[i].cpu;
      if (out->cpu_shares > 262144)
        out->cpu_shares = 262144;
    }
  out->memory_bytes = t->opts.memory_mib * 1024 * 1024;
  return 0;
}

uint64_t
engine_cgroup_cpu_weight (int64_t shares)
{
  if (shares < 2)
    shares = 2;
  if (shares > 262144)
    shares = 262144;
  return 1 + (uint64_t) (shares - 2) * 9999 / 262142;
}

int
engine_cgroup_check (const struct task *t, char **reason)
{
  *reason = NULL;
  if (t->opts.memory_mib <= 0)
    return 0;
  for (size_t i = 0; i < t->n_containers; i++)
    if ((int64_t) t->containers[i].memory > t->opts.memory_mib)
      {
        *reason = xasprintf ("resource cannot be initialized for task %s: cgroup resource: unable to build "
                             "resource spec for task: task memory spec builder: container memory "
                             "limit(%u) greater than task memory limit(%lld)",
                             t->arn ? t->arn : "", t->containers[i].memory, (long long) t->opts.memory_mib);
        return -1;
      }
  return 0;
}

static int
mkdir_p (const char *path, agent_error_t *err)
{
  cleanup_free char *p = xstrdup (path);
  for (char *s = p + 1; *s; s++)
    if (*s == '/')
      {
        *s = '\0';
        if (mkdir (p, 0755) < 0 && errno != EEXIST)
          return error_set (err, ERR_IO, "mkdir %s: %s", p, strerror (errno));
        *s = '/';
      }
  if (mkdir (p, 0755) < 0 && errno != EEXIST)
    return error_set (err, ERR_IO, "mkdir %s: %s", p, strerror (errno));
  return 0;
}

static int
write_file (const char *dir, const char *name, const char *value, agent_error_t *err)
{
  cleanup_free char *path = xasprintf ("%s/%s", dir, name);
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return error_set (err, ERR_IO, "open %s: %s", path, strerror (errno));
  size_t len = strlen (value);
  ssize_t w = write (fd, value, len);
  int e = errno;
  close (fd);
  if (w != (ssize_t) len)
    return error_set (err, ERR_IO, "write %s to %s: %s", value, path, w < 0 ? strerror (e) : "short write");
  return 0;
}

static bool
is_v2 (const char *root)
{
  cleanup_free char *p = xasprintf ("%s/cgroup.controllers", root);
  return access (p, F_OK) == 0;
}

/* The tasks' parent folder root/dir. */
static int
init_parent (const char *root, const char *dir, agent_error_t *err)
{
  if (is_v2 (root))
    {
      cleanup_free char *ecs = xasprintf ("%s/%s", root, dir);
      if (mkdir_p (ecs, err) < 0 || write_file (root, "cgroup.subtree_control", "+cpu +memory", err) < 0
          || write_file (ecs, "cgroup.subtree_control", "+cpu +memory", err) < 0)
        return -ERR_IO;
      return 0;
    }
  static const char *const ctl[] = { "cpu", "memory" };
  for (size_t i = 0; i < ARRAY_SIZE (ctl); i++)
    {
      cleanup_free char *c = xasprintf ("%s/%s", root, ctl[i]);
      if (access (c, F_OK) < 0) /* never create a controller (or the root) */
        return error_set (err, ERR_IO, "no %s cgroup controller at %s", ctl[i], c);
      cleanup_free char *ecs = xasprintf ("%s/%s", c, dir);
      if (mkdir_p (ecs, err) < 0)
        return -ERR_IO;
    }
  return 0;
}

int
engine_cgroup_init (const char *root, agent_error_t *err)
{
  return init_parent (root, "ecs", err);
}

int
engine_cgroup_create (const char *root, struct engine_cgroup_spec *s, agent_error_t *err)
{
  char num[64];
  if (init_parent (root, "ecs", err) < 0)
    return -ERR_IO;
  s->v2 = is_v2 (root);
  if (s->v2)
    {
      cleanup_free char *dir = xasprintf ("%s%s", root, s->path);
      if (mkdir_p (dir, err) < 0)
        return -ERR_IO;
      if (s->cpu_quota_us)
        snprintf (num, sizeof num, "%lld %lld", (long long) s->cpu_quota_us, (long long) s->cpu_period_us);
      if (s->cpu_quota_us && write_file (dir, "cpu.max", num, err) < 0)
        return -ERR_IO;
      snprintf (num, sizeof num, "%llu", (unsigned long long) engine_cgroup_cpu_weight (s->cpu_shares));
      if (!s->cpu_quota_us && s->cpu_shares && write_file (dir, "cpu.weight", num, err) < 0)
        return -ERR_IO;
      snprintf (num, sizeof num, "%lld", (long long) s->memory_bytes);
      if (s->memory_bytes && write_file (dir, "memory.max", num, err) < 0)
        return -ERR_IO;
      return 0;
    }
  cleanup_free char *cpu = xasprintf ("%s/cpu%s", root, s->path);
  cleanup_free char *mem = xasprintf ("%s/memory%s", root, s->path);
  if (mkdir_p (cpu, err) < 0 || mkdir_p (mem, err) < 0)
    return -ERR_IO;
  if (s->cpu_quota_us)
    {
      snprintf (num, sizeof num, "%lld", (long long) s->cpu_period_us);
      if (write_file (cpu, "cpu.cfs_period_us", num, err) < 0)
        return -ERR_IO;
      snprintf (num, sizeof num, "%lld", (long long) s->cpu_quota_us);
      if (write_file (cpu, "cpu.cfs_quota_us", num, err) < 0)
        return -ERR_IO;
    }
  else if (s->cpu_shares)
    {
      snprintf (num, sizeof num, "%lld", (long long) s->cpu_shares);
      if (write_file (cpu, "cpu.shares", num, err) < 0)
        return -ERR_IO;
    }
  if (s->memory_bytes)
    {
      snprintf (num, sizeof num, "%lld", (long long) s->memory_bytes);
      if (write_file (mem, "memory.limit_in_bytes", num, err) < 0)
        return -ERR_IO;
    }
  return 0;
}

/* rmdir dir, and its parent "ecs" folder too when it is empty now. */
static int
remove_one (const char *dir, agent_error_t *err)
{
  if (rmdir (dir) < 0 && errno != ENOENT)
    {
      /* a test root holds regular files where cgroupfs has none */
      if (errno == ENOTEMPTY)
        {
          DIR *d = opendir (dir);
          struct dirent *de;
          while (d && (de = readdir (d)))
            if (de->d_type == DT_REG)
              {
                cleanup_free char *f = xasprintf ("%s/%s", dir, de->d_name);
                unlink (f);
              }
          if (d)
            closedir (d);
          if (rmdir (dir) == 0 || errno == ENOENT)
            return 0;
        }
      return error_set (err, ERR_IO, "rmdir %s: %s", dir, strerror (errno));
    }
  return 0;
}

int
engine_cgroup_remove (const char *root, const struct engine_cgroup_spec *s, agent_error_t *err)
{
  if (is_v2 (root))
    {
      cleanup_free char *dir = xasprintf ("%s%s", root, s->path);
      return remove_one (dir, err);
    }
  /* Docker made <controller>/ecs/<id> in every controller it uses */
  DIR *d = opendir (root);
  if (!d)
    return error_set (err, ERR_IO, "opendir %s: %s", root, strerror (errno));
  int rc = 0;
  struct dirent *de;
  while ((de = readdir (d)))
    {
      if (de->d_name[0] == '.')
        continue;
      cleanup_free char *dir = xasprintf ("%s/%s%s", root, de->d_name, s->path);
      agent_error_t e = NULL;
      if (remove_one (dir, &e) < 0)
        {
          if (rc == 0)
            {
              rc = -ERR_IO;
              error_set (err, ERR_IO, "%s", error_msg (&e));
            }
          error_free (&e);
        }
    }
  closedir (d);
  return rc;
}

int
engine_cgroup_prepare (const char *root, const struct engine_cgroup_cfg *cfg, const struct task *t,
                       struct engine_cgroup_spec *s, char **errmsg)
{
  agent_error_t err = NULL;
  memset (s, 0, sizeof *s);
  if (!root)
    return 0;
  if (engine_cgroup_spec (t, cfg, s, &err) == 0 && s->systemd)
    { /* systemd made the slice (engine/slice.h): nothing to write */
      s->v2 = is_v2 (root);
      return 0;
    }
  if (err || engine_cgroup_create (root, s, &err) < 0)
    {
      *errmsg = xstrdup (error_msg (&err));
      error_free (&err);
      return -1;
    }
  return 0;
}

void
engine_cgroup_apply (const struct engine_cgroup_spec *s, bool propagate_memory,
                     struct docker_create_opts *o)
{
  if (!s->parent[0])
    return;
  o->cgroup_parent = s->parent;
  if (propagate_memory && s->v2 && o->memory == 0 && s->memory_bytes > 0)
    o->memory = s->memory_bytes;
}
