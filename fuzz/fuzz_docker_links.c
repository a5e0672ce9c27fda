/* fuzz_docker_links.c - libFuzzer target for links as /etc/hosts entries
 * (docker/links.h): the input as a create body whose HostConfig.Links are
 * taken out and turned into ExtraHosts; a success must give a JSON object
 * without Links whose ExtraHosts holds every entry. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/xmalloc.h"
#include "docker/links.h"
#include "fuzz_util.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *s = xstrndup ((const char *) data, size);
  char *body = NULL, **links = NULL;
  agent_error_t err = NULL;
  if (docker_links_take (s, &body, &links, &err) < 0)
    {
      CHECK (err && body == NULL && links == NULL);
      error_free (&err);
      free (s);
      return 0;
    }
  size_t n = 0;
  while (links && links[n])
    n++;
  const char **addrs = xcalloc (n + 1, sizeof *addrs);
  for (size_t i = 0; i < n; i++)
    addrs[i] = "10.88.0.2";
  char **hosts = docker_links_hosts ((const char *const *) links, addrs);
  char *out = docker_links_add_hosts (body, (const char *const *) hosts, &err);
  CHECK (out != NULL);
  json_t *j = json_loads (out, 0, NULL);
  json_t *hc = json_object_get (j, "HostConfig");
  CHECK (json_is_object (j) && json_is_object (hc) && json_object_get (hc, "Links") == NULL);
  size_t nh = 0;
  while (hosts[nh])
    nh++;
  CHECK (json_array_size (json_object_get (hc, "ExtraHosts")) >= nh);
  json_decref (j);
  free (out);
  docker_links_strv_free (hosts);
  free (addrs);
  docker_links_strv_free (links);
  free (body);
  free (s);
  return 0;
}
