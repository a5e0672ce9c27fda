/* docker/auth.c - registry credentials: parse ECS_ENGINE_AUTH_DATA, match an
 * image to its registry, encode X-Registry-Auth. */
#include "docker/auth.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char HUB_KEY[] = "index.docker.io/v1/";
static const char HUB_ADDRESS[] = "https://index.docker.io/v1/";

/* ---- base64 ------------------------------------------------------------ */

static char *
b64_encode (const unsigned char *in, size_t n, bool url)
{
  const char *tab = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                        : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *out = xmalloc (4 * ((n + 2) / 3) + 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3)
    {
      uint32_t v = (uint32_t) in[i] << 16;
      if (i + 1 < n)
        v |= (uint32_t) in[i + 1] << 8;
      if (i + 2 < n)
        v |= in[i + 2];
      out[o++] = tab[(v >> 18) & 63];
      out[o++] = tab[(v >> 12) & 63];
      out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
      out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
  out[o] = '\0';
  return out;
}

static int
b64_val (int ch)
{
  if (ch >= 'A' && ch <= 'Z')
    return ch - 'A';
  if (ch >= 'a' && ch <= 'z')
    return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9')
    return ch - '0' + 52;
  if (ch == '+' || ch == '-')
    return 62;
  if (ch == '/' || ch == '_')
    return 63;
  return -1;
}

/* Standard or URL alphabet, padding optional, whitespace ignored. */
static int
b64_decode (const char *in, char **out, size_t *outlen)
{
  size_t n = strlen (in);
  char *o = xmalloc (n / 4 * 3 + 4);
  size_t k = 0;
  uint32_t acc = 0;
  int bits = 0;
  bool pad = false;
  for (size_t i = 0; i < n; i++)
    {
      unsigned char ch = (unsigned char) in[i];
      if (isspace (ch))
        continue;
      if (ch == '=')
        {
          pad = true;
          continue;
        }
      int v = b64_val (ch);
      if (v < 0 || pad)
        {
          free (o);
          return -1;
        }
      acc = (acc << 6) | (uint32_t) v;
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          o[k++] = (char) ((acc >> bits) & 0xff);
        }
    }
  if (bits >= 6)
    {
      free (o);
      return -1;
    }
  o[k] = '\0';
  *out = o;
  *outlen = k;
  return 0;
}

/* ---- config ------------------------------------------------------------ */

void
docker_auth_config_free (struct docker_auth_config *cfg)
{
  if (cfg == NULL)
    return;
  for (size_t i = 0; i < cfg->n; i++)
    {
      struct docker_auth_entry *e = &cfg->entries[i];
      free (e->key);
      free (e->username);
      free (e->password);
      free (e->email);
      free (e->serveraddress);
    }
  free (cfg->entries);
  free (cfg);
}

static bool
is_hub_host (const char *h, size_t n)
{
  static const char *hub[] = { "docker.io", "index.docker.io", "registry-1.docker.io" };
  for (size_t i = 0; i < ARRAY_SIZE (hub); i++)
    if (strlen (hub[i]) == n && strncasecmp (h, hub[i], n) == 0)
      return true;
  return false;
}

/* Normalised key: scheme stripped; "host" for host-only keys (and for the
   API-version paths /v1/ /v2/ of non-Hub registries), "host/path" (no
   trailing '/') otherwise; every Docker Hub spelling -> HUB_KEY. */
static char *
normalize_key (const char *key)
{
  const char *k = key;
  if (strncasecmp (k, "https://", 8) == 0)
    k += 8;
  else if (strncasecmp (k, "http://", 7) == 0)
    k += 7;
  size_t hl = strcspn (k, "/");
  const char *path = k + hl; /* "" or "/..." */
  while (*path == '/')
    path++;
  size_t pl = strlen (path);
  while (pl > 0 && path[pl - 1] == '/')
    pl--;
  bool version_path = (pl == 2 && (strncmp (path, "v1", 2) == 0 || strncmp (path, "v2", 2) == 0));
  if (is_hub_host (k, hl) && (pl == 0 || version_path))
    return xstrdup (HUB_KEY);
  char *host = xstrndup (k, hl);
  for (char *p = host; *p; p++)
    *p = (char) tolower ((unsigned char) *p);
  if (pl == 0 || version_path)
    return host;
  char *r = xasprintf ("%s/%.*s", host, (int) pl, path);
  free (host);
  return r;
}

static char *
entry_str (json_t *obj, const char *name)
{
  const char *k;
  json_t *v;
  json_object_foreach (obj, k, v)
  {
    if (strcasecmp (k, name) == 0 && json_is_string (v) && json_string_length (v) > 0)
      return xstrndup (json_string_value (v), json_string_length (v));
  }
  return NULL;
}

int
docker_auth_parse (const char *type, const char *data_json, struct docker_auth_config **out,
                   agent_error_t *err)
{
  *out = NULL;
  if (type == NULL || type[0] == '\0')
    {
      *out = xcalloc (1, sizeof **out);
      return 0;
    }
  if (strcmp (type, "docker") != 0 && strcmp (type, "dockercfg") != 0)
    return error_set (err, ERR_INVALID, "unknown engine auth type \"%.32s\"", type);
  if (data_json == NULL || data_json[0] == '\0')
    {
      *out = xcalloc (1, sizeof **out);
      return 0;
    }
  json_t *root = json_loads (data_json, JSON_DECODE_ANY, NULL);
  /* ECS_ENGINE_AUTH_DATA from a config file may arrive as a JSON string
     holding the document */
  if (json_is_string (root))
    {
      json_t *inner = json_loads (json_string_value (root), 0, NULL);
      json_decref (root);
      root = inner;
    }
  if (!json_is_object (root))
    {
      json_decref (root);
      /* never echo the data: it holds credentials */
      return error_set (err, ERR_INVALID, "engine auth data (%s) is not a JSON object", type);
    }
  struct docker_auth_config *cfg = xcalloc (1, sizeof *cfg);
  if (json_object_size (root) > 0)
    cfg->entries = xcalloc (json_object_size (root), sizeof *cfg->entries);
  const char *key;
  json_t *val;
  int rc = 0;
  json_object_foreach (root, key, val)
  {
    if (!json_is_object (val))
      {
        rc = error_set (err, ERR_INVALID, "engine auth data (%s): entry for %.128s is not an object",
                        type, key);
        break;
      }
    struct docker_auth_entry e = { 0 };
    e.username = entry_str (val, "username");
    e.password = entry_str (val, "password");
    e.email = entry_str (val, "email");
    char *auth = entry_str (val, "auth");
    if (auth)
      {
        log_secret_add (auth);
        char *dec = NULL;
        size_t dlen = 0;
        if (b64_decode (auth, &dec, &dlen) < 0 || memchr (dec, '\0', dlen)
            || strchr (dec, ':') == NULL)
          {
            free (dec);
            free (auth);
            free (e.username);
            free (e.password);
            free (e.email);
            rc = error_set (err, ERR_INVALID,
                            "engine auth data (%s): invalid \"auth\" for %.128s (expected "
                            "base64 of user:password)",
                            type, key);
            break;
          }
        char *colon = strchr (dec, ':');
        free (e.username);
        free (e.password);
        e.username = xstrndup (dec, (size_t) (colon - dec));
        e.password = xstrdup (colon + 1);
        free (dec);
        free (auth);
      }
    if (e.password)
      log_secret_add (e.password);
    e.key = normalize_key (key);
    e.serveraddress = xstrdup (strcmp (e.key, HUB_KEY) == 0 ? HUB_ADDRESS : key);
    cfg->entries[cfg->n++] = e;
  }
  json_decref (root);
  if (rc < 0)
    {
      docker_auth_config_free (cfg);
      return rc;
    }
  /* register the header values too, so a logged request never shows them */
  for (size_t i = 0; i < cfg->n; i++)
    {
      struct docker_auth_entry *e = &cfg->entries[i];
      char *h = docker_auth_encode (e->username, e->password, e->email, e->serveraddress);
      log_secret_add (h);
      free (h);
    }
  *out = cfg;
  return 0;
}

/* ---- matching ---------------------------------------------------------- */

/* Length of the registry component of image, 0 for Docker Hub images. */
static size_t
registry_len (const char *image)
{
  const char *slash = strchr (image, '/');
  if (slash == NULL)
    return 0;
  size_t n = (size_t) (slash - image);
  if (memchr (image, '.', n) || memchr (image, ':', n) || (n == 9 && strncmp (image, "localhost", 9) == 0))
    {
      if (is_hub_host (image, n))
        return 0;
      return n;
    }
  return 0;
}

char *
docker_auth_image_registry (const char *image)
{
  if (image == NULL)
    return NULL;
  size_t n = registry_len (image);
  if (n == 0)
    return xstrdup ("docker.io");
  char *r = xstrndup (image, n);
  for (char *p = r; *p; p++)
    *p = (char) tolower ((unsigned char) *p);
  return r;
}

const struct docker_auth_entry *
docker_auth_lookup (const struct docker_auth_config *cfg, const char *image)
{
  if (cfg == NULL || image == NULL)
    return NULL;
  size_t rl = registry_len (image);
  if (rl == 0)
    {
      for (size_t i = 0; i < cfg->n; i++)
        if (strcmp (cfg->entries[i].key, HUB_KEY) == 0)
          return &cfg->entries[i];
      return NULL;
    }
  char *reg = docker_auth_image_registry (image);
  const struct docker_auth_entry *best = NULL;
  size_t best_len = 0;
  for (size_t i = 0; i < cfg->n; i++)
    {
      const char *k = cfg->entries[i].key;
      if (strcmp (k, reg) == 0)
        {
          best = &cfg->entries[i];
          break;
        }
    }
  if (best == NULL)
    {
      /* longest "host/path" key that is a prefix of the image at a '/' or
         ':' or '@' boundary */
      for (size_t i = 0; i < cfg->n; i++)
        {
          const char *k = cfg->entries[i].key;
          size_t kl = strlen (k);
          if (strchr (k, '/') == NULL || kl <= best_len)
            continue;
          if (strncasecmp (image, k, kl) == 0
              && (image[kl] == '/' || image[kl] == ':' || image[kl] == '@' || image[kl] == '\0'))
            {
              best = &cfg->entries[i];
              best_len = kl;
            }
        }
    }
  free (reg);
  return best;
}

static void
json_go_string (struct sbuf *b, const char *s)
{
  static const char hex[] = "0123456789abcdef";
  sbuf_puts (b, "\"");
  for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    {
      unsigned char ch = *p;
      if (ch == '"' || ch == '\\')
        {
          char e[2] = { '\\', (char) ch };
          sbuf_append (b, e, 2);
        }
      else if (ch == '\n')
        sbuf_puts (b, "\\n");
      else if (ch == '\r')
        sbuf_puts (b, "\\r");
      else if (ch == '\t')
        sbuf_puts (b, "\\t");
      else if (ch < 0x20 || ch == '<' || ch == '>' || ch == '&')
        {
          char e[6] = { '\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15] };
          sbuf_append (b, e, 6);
        }
      else if (ch == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
        {
          sbuf_puts (b, p[2] == 0xa8 ? "\\u2028" : "\\u2029");
          p += 2;
        }
      else
        sbuf_append (b, (const char *) p, 1);
    }
  sbuf_puts (b, "\"");
}

char *
docker_auth_encode (const char *username, const char *password, const char *email,
                    const char *serveraddress)
{
  struct sbuf b = { 0 };
  const char *names[] = { "username", "password", "email", "serveraddress" };
  const char *vals[] = { username, password, email, serveraddress };
  bool first = true;
  sbuf_puts (&b, "{");
  for (size_t i = 0; i < ARRAY_SIZE (names); i++)
    {
      if (vals[i] == NULL || vals[i][0] == '\0')
        continue;
      if (!first)
        sbuf_puts (&b, ",");
      first = false;
      json_go_string (&b, names[i]);
      sbuf_puts (&b, ":");
      json_go_string (&b, vals[i]);
    }
  sbuf_puts (&b, "}\n");
  char *json = sbuf_steal (&b);
  char *enc = b64_encode ((const unsigned char *) json, strlen (json), true);
  free (json);
  return enc;
}

char *
docker_auth_for_image (const struct docker_auth_config *cfg, const char *image)
{
  const struct docker_auth_entry *e = docker_auth_lookup (cfg, image);
  if (e == NULL)
    return NULL;
  char *h = docker_auth_encode (e->username, e->password, e->email, e->serveraddress);
  log_secret_add (h);
  return h;
}
