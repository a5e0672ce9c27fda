/* fuzz_docker_overlay.c - libFuzzer target for the dockerConfig overlay
 * (docker/overlay.h) and the options check built on it
 * (engine/options_check.h): the input is used as a Config fragment, a
 * HostConfig fragment and both inside a create body; a success must give
 * a body that is valid JSON. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/xmalloc.h"
#include "docker/docker.h"
#include "docker/overlay.h"
#include "engine/options_check.h"
#include "fuzz_util.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *s = xstrndup ((const char *) data, size);
  agent_error_t err = NULL;
  for (int target = 0; target < 2; target++)
    {
      json_t *out = NULL;
      if (docker_overlay_check (s, (enum docker_overlay_target) target, &out, &err) < 0)
        {
          CHECK (out == NULL && err);
          error_free (&err);
        }
      else
        {
          CHECK (json_is_object (out));
          json_decref (out);
        }
    }
  const char *cmd[] = { "sh", NULL };
  struct docker_label l = { "k", "v" };
  struct docker_create_opts o = { .image = "busybox", .cmd = cmd, .labels = &l, .n_labels = 1,
                                  .extra_config_json = s, .extra_host_config_json = s };
  char *body = docker_create_body (&o, &err);
  if (body)
    {
      json_t *j = json_loads (body, 0, NULL);
      CHECK (j && json_is_object (json_object_get (j, "HostConfig")));
      CHECK (strcmp (json_string_value (json_object_get (json_object_get (j, "Labels"), "k")), "v") == 0);
      json_decref (j);
      free (body);
    }
  else
    {
      CHECK (err);
      error_free (&err);
    }
  /* the same fragment as a container's dockerConfig in a task */
  struct task_container c = { .name = "c", .image = "busybox" };
  c.opts.has_docker_config = true;
  c.opts.dc_config = s;
  c.opts.dc_host_config = s;
  struct task t = { .arn = "t", .containers = &c, .n_containers = 1 };
  struct task_option_gates g;
  task_option_gates_default (&g);
  char *reason = NULL;
  if (engine_options_check (&t, &g, &reason) < 0)
    CHECK (reason && *reason);
  free (reason);
  free (s);
  return 0;
}
