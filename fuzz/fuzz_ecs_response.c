/* fuzz_ecs_response.c - libFuzzer target for the ECS client's response
 * parsers, error classification and the request builders (ecs/ecs.h).
 *
 * Input: byte 0 selects the function (mod 5), the rest is its input:
 *   0 RegisterContainerInstance response    1 DiscoverPollEndpoint response
 *   2 CreateCluster response                3 error classification: byte 1 picks
 *     the HTTP status (100 + b*2), the rest is the body
 *   4 request builders: the rest split at NUL bytes gives the string fields
 *     of a container / task state change; the JSON built must parse back,
 *     keep the reason within its limit, and always carry networkBindings.
 * Checked: no crash/leak/UB, err set iff < 0, outputs NULL on failure.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/xmalloc.h"
#include "ecs/ecs.h"
#include "fuzz_util.h"

static void
builders (const char *d, size_t n)
{
  const char *f[6] = { "", "", "", "", "", "" };
  char *copy = xmalloc (n + 1);
  memcpy (copy, d, n);
  copy[n] = '\0';
  size_t k = 0;
  f[k++] = copy;
  for (size_t i = 0; i < n && k < 6; i++)
    if (copy[i] == '\0')
      f[k++] = copy + i + 1;
  char *bind_ip = xstrdup (f[4]);
  struct task_port_binding nb[2] = {
    { .bind_ip = bind_ip, .container_port = (uint16_t) n, .host_port = 0, .protocol = TASK_PROTO_UDP },
    { .bind_ip = NULL, .container_port = 0, .host_port = 65535, .protocol = TASK_PROTO_TCP },
  };
  struct ecs_container_state_change c = { .cluster = f[0], .task_arn = f[1], .container_name = f[2],
                                          .status = "STOPPED", .has_exit_code = n & 1,
                                          .exit_code = (int) n, .reason = f[3], .bindings = nb,
                                          .n_bindings = n % 3 };
  char *s = ecs_build_container_state_change (&c);
  json_error_t je;
  json_t *j = json_loads (s, 0, &je);
  if (!json_is_object (j) || !json_is_array (json_object_get (j, "networkBindings")))
    abort ();
  json_t *r = json_object_get (j, "reason");
  if (r && json_string_length (r) > 255)
    abort ();
  json_decref (j);
  free (s);
  struct ecs_task_state_change t = { .cluster = f[0], .task_arn = f[1], .status = f[2], .reason = f[3] };
  s = ecs_build_task_state_change (&t);
  j = json_loads (s, 0, &je);
  if (!json_is_object (j) || json_string_length (json_object_get (j, "reason")) > 1024)
    abort ();
  json_decref (j);
  free (s);
  struct ecs_attribute a[] = { { f[4], f[5] } };
  struct ecs_register_req rr = { .cluster = f[0], .instance_identity_document = f[1],
                                 .container_instance_arn = f[2], .attributes = a, .n_attributes = 1 };
  s = ecs_build_register (&rr);
  j = json_loads (s, 0, &je);
  if (!json_is_object (j))
    abort ();
  json_decref (j);
  free (s);
  s = ecs_build_discover (f[0], f[1]);
  j = json_loads (s, 0, &je);
  if (!json_is_object (j))
    abort ();
  json_decref (j);
  free (s);
  free (bind_ip);
  free (copy);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  const char *d = (const char *) data + 1;
  size_t n = size - 1;
  agent_error_t err = NULL;
  switch (data[0] % 5)
    {
    case 0:
      {
        struct ecs_register_resp r;
        int rc = ecs_parse_register_resp (d, n, &r, &err);
        if (rc == 0 && (!r.container_instance_arn || !*r.container_instance_arn))
          abort ();
        if (rc < 0 && r.container_instance_arn)
          abort ();
        fuzz_check_err (rc, &err);
        ecs_register_resp_clear (&r);
        break;
      }
    case 1:
      {
        struct ecs_discover_resp r;
        int rc = ecs_parse_discover_resp (d, n, &r, &err);
        if (rc == 0 && (!r.endpoint || !*r.endpoint))
          abort ();
        if (rc < 0 && (r.endpoint || r.telemetry_endpoint))
          abort ();
        fuzz_check_err (rc, &err);
        ecs_discover_resp_clear (&r);
        break;
      }
    case 2:
      {
        char *name = NULL;
        int rc = ecs_parse_cluster_name (d, n, &name, &err);
        if ((rc == 0) != (name != NULL))
          abort ();
        fuzz_check_err (rc, &err);
        free (name);
        break;
      }
    case 3:
      {
        if (n < 1)
          return 0;
        long status = 100 + (long) (unsigned char) d[0] * 2;
        int rc = ecs_classify_response (status, d + 1, n - 1, &err);
        if ((rc == 0) != (status >= 200 && status < 300))
          abort ();
        if (rc < 0)
          {
            int k = error_kind (&err);
            if (k != ERR_CLIENT && k != ERR_SERVER && k != ERR_AUTH)
              abort ();
            /* one line */
            if (strchr (error_msg (&err), '\n'))
              abort ();
          }
        fuzz_check_err (rc, &err);
        break;
      }
    case 4:
      builders (d, n);
      break;
    }
  return 0;
}
