/* docker/auth.h - registry credentials for image pulls (the X-Registry-Auth
 * header of docker_image_pull).
 *
 * ECS_ENGINE_AUTH_TYPE "docker":    {"https://index.docker.io/v1/":{"username":..,"password":..,"email":..}}
 *                      "dockercfg": {"registry":{"auth":"base64(user:pass)","email":..}}
 * Both are accepted by one parser as in 1.1.0 (each entry may hold username,
 * password, email and/or auth, keys case-insensitive; auth overrides the
 * user/password).  Registry keys are normalised as upstream HEAD does
 * (http:// / https:// stripped; "index.docker.io/v1/", "docker.io",
 * "registry-1.docker.io" all mean Docker Hub).  An image is matched by its
 * registry (first path component if it contains '.' or ':' or is
 * "localhost", else Docker Hub): exact host key first, then the longest
 * "host/path" key that prefixes the image.
 * Every password / auth value is registered with log_secret_add() and never
 * put into an error message.
 */
#ifndef DOCKER_AUTH_H
#define DOCKER_AUTH_H

#include <stddef.h>
#include "core/error.h"

struct docker_auth_entry
{
  char *key;  /* normalised registry key: "index.docker.io/v1/", "127.0.0.1:5000", "host/path" */
  char *username, *password, *email;
  char *serveraddress; /* the key as configured */
};

struct docker_auth_config
{
  struct docker_auth_entry *entries;
  size_t n;
};

/* type: "docker", "dockercfg", or NULL/"" (no credentials: *out = empty
   config).  Any other type or malformed JSON -> ERR_INVALID (message never
   contains the data). */
int docker_auth_parse (const char *type, const char *data_json, struct docker_auth_config **out,
                       agent_error_t *err);
void docker_auth_config_free (struct docker_auth_config *cfg);

/* Entry matching image, or NULL. */
const struct docker_auth_entry *docker_auth_lookup (const struct docker_auth_config *cfg,
                                                    const char *image);
/* X-Registry-Auth header value for image (caller frees), or NULL when no
   credentials match (then send no header).  cfg may be NULL. */
char *docker_auth_for_image (const struct docker_auth_config *cfg, const char *image);
/* base64url (padded) of {"username","password","email","serveraddress"} with
   empty members omitted and a trailing newline, byte for byte as Go's
   json.Encoder writes it.  NULL if a value is not valid UTF-8 (values that
   docker_auth_parse accepted always are). */
char *docker_auth_encode (const char *username, const char *password, const char *email,
                          const char *serveraddress);
/* Registry host of an image ref ("docker.io" for Hub images). Caller frees. */
char *docker_auth_image_registry (const char *image);

#endif
