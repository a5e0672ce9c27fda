/* engine/docker_ops.c - the default engine_docker_ops: a thin adapter over
 * docker/docker.h (ctx is the docker_client_t*). */
#include "docker/docker.h"
#include "engine/engine.h"

static void *
op_pull (void *ctx, const struct docker_pull_opts *o, docker_done_cb cb, void *data)
{
  return docker_image_pull (ctx, o, cb, data);
}

static void *
op_inspect_image (void *ctx, const char *image, docker_image_cb cb, void *data)
{
  return docker_image_inspect (ctx, image, cb, data);
}

static void *
op_create (void *ctx, const struct docker_create_opts *o, docker_create_cb cb, void *data)
{
  return docker_container_create (ctx, o, cb, data);
}

static void *
op_start (void *ctx, const char *id, const char *api_version, docker_done_cb cb, void *data)
{
  return docker_container_start_version (ctx, id, api_version, cb, data);
}

static void *
op_stop (void *ctx, const char *id, int grace_s, docker_done_cb cb, void *data)
{
  return docker_container_stop (ctx, id, grace_s, cb, data);
}

static void *
op_inspect (void *ctx, const char *id, docker_inspect_cb cb, void *data)
{
  return docker_container_inspect (ctx, id, cb, data);
}

static void *
op_remove (void *ctx, const char *id, docker_done_cb cb, void *data)
{
  return docker_container_remove (ctx, id, true, true, cb, data);
}

static void *
op_list (void *ctx, const char *label_filter, docker_list_cb cb, void *data)
{
  return docker_container_list (ctx, label_filter, cb, data);
}

static void *
op_volume_create (void *ctx, const char *name, const struct docker_label *labels, size_t n_labels,
                  docker_volume_cb cb, void *data)
{
  return docker_volume_create (ctx, name, NULL, labels, n_labels, cb, data);
}

static void *
op_image_remove (void *ctx, const char *image, docker_done_cb cb, void *data)
{
  return docker_image_remove (ctx, image, false, cb, data);
}

static void *
op_volume_remove (void *ctx, const char *name, docker_done_cb cb, void *data)
{
  return docker_volume_remove (ctx, name, false, cb, data);
}

static void *
op_image_list (void *ctx, const char *label_filter, docker_image_list_cb cb, void *data)
{
  return docker_image_list (ctx, label_filter, cb, data);
}

static void *
op_remove_idle (void *ctx, const char *id, docker_done_cb cb, void *data)
{
  return docker_container_remove (ctx, id, true, false, cb, data);
}

static void
op_cancel (void *ctx, void *handle)
{
  (void) ctx;
  docker_op_cancel (handle);
}

static void *
op_events_start (void *ctx, const struct docker_events_opts *o)
{
  return docker_events_start (ctx, o);
}

static void
op_events_stop (void *ctx, void *stream)
{
  (void) ctx;
  docker_events_stop (stream);
}

const struct engine_docker_ops engine_docker_ops_default = {
  .pull = op_pull,
  .inspect_image = op_inspect_image,
  .create = op_create,
  .start = op_start,
  .stop = op_stop,
  .inspect = op_inspect,
  .remove = op_remove,
  .list_by_label = op_list,
  .volume_create = op_volume_create,
  .volume_remove = op_volume_remove,
  .image_remove = op_image_remove,
  .cancel = op_cancel,
  .events_start = op_events_start,
  .events_stop = op_events_stop,
  .image_list = op_image_list,
  .remove_idle = op_remove_idle,
};
