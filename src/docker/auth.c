/* docker/auth.c - registry credentials: parse ECS_ENGINE_AUTH_DATA, match an
 * image to its registry, encode X-Registry-Auth. */
#include "docker/auth.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char HUB_KEY[] = "index.docker.io/v1/";
static const char HUB_ADDRESS[] = "https://index.docker.io/v1/";

/* ---- base64 (OpenSSL) --------------------------------------------------- */

/* base64url with padding, as Go's base64.URLEncoding. */
static char *
b64url_encode (const char *in, size_t n)
{
  if (n > (size_t) INT_MAX / 4 * 3 - 3)
    xalloc_die ();
  char *out = xmalloc (4 * ((n + 2) / 3) + 1);
  int k = EVP_EncodeBlock ((unsigned char *) out, (const unsigned char *) in, (int) n);
  for (int i = 0; i < k; i++)
    if (out[i] == '+')
      out[i] = '-';
    else if (out[i] == '/')
      out[i] = '_';
  return out; /* EVP_EncodeBlock NUL-terminates */
}

/* Standard or URL alphabet, padding optional, whitespace ignored.  The text
   is brought to the form EVP_DecodeBlock takes (standard alphabet, padded
   to a multiple of 4); its padding bytes are then dropped from the count. */
static int
b64_decode (const char *in, char **out, size_t *outlen)
{
  size_t n = strlen (in);
  if (n > (size_t) INT_MAX - 4)
    return -1;
  char *t = xmalloc (n + 4);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    {
      unsigned char ch = (unsigned char) in[i];
      if (isspace (ch))
        continue;
      t[k++] = ch == '-' ? '+' : ch == '_' ? '/' : (char) ch;
    }
  while (k > 0 && t[k - 1] == '=')
    k--; /* padding is optional: count our own */
  size_t pad = (4 - k % 4) % 4;
  if (pad == 3 || memchr (t, '=', k))
    {
      free (t);
      return -1;
    }
  memset (t + k, '=', pad);
  char *o = xmalloc ((k + pad) / 4 * 3 + 1);
  int r = EVP_DecodeBlock ((unsigned char *) o, (const unsigned char *) t, (int) (k + pad));
  free (t);
  if (r < 0 || (size_t) r < pad)
    {
      free (o);
      return -1;
    }
  *outlen = (size_t) r - pad;
  o[*outlen] = '\0';
  *out = o;
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

/* jansson is the judge of UTF-8: credentials must encode into the header. */
static bool
utf8_valid (const char *s, size_t n)
{
  json_t *j = json_stringn (s, n);
  json_decref (j);
  return j != NULL;
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
            || strchr (dec, ':') == NULL || !utf8_valid (dec, dlen))
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

/* jansson's compact output made byte-identical to Go's json.Marshal, which
   differs only in escapes: Go also escapes <, > and & (\u003c \u003e
   \u0026) and U+2028/U+2029, and writes the hex of \u escapes in lower
   case where jansson writes "\u001F".  The characters replaced here can
   only occur inside string values (the keys are ours). */
static char *
go_json_escapes (const char *j)
{
  struct sbuf b = { 0 };
  for (const char *p = j; *p; p++)
    {
      if (*p == '\\' && p[1] == 'u' && p[2] && p[3] && p[4] && p[5])
        {
          char e[6] = { '\\', 'u' };
          for (int i = 2; i < 6; i++)
            e[i] = (char) tolower ((unsigned char) p[i]);
          sbuf_append (&b, e, 6);
          p += 5;
        }
      else if (*p == '\\' && p[1])
        sbuf_append (&b, p++, 2); /* \" \\ \n ...: as is */
      else if (*p == '<')
        sbuf_puts (&b, "\\u003c");
      else if (*p == '>')
        sbuf_puts (&b, "\\u003e");
      else if (*p == '&')
        sbuf_puts (&b, "\\u0026");
      else if ((unsigned char) p[0] == 0xe2 && (unsigned char) p[1] == 0x80
               && ((unsigned char) p[2] == 0xa8 || (unsigned char) p[2] == 0xa9))
        {
          sbuf_puts (&b, (unsigned char) p[2] == 0xa8 ? "\\u2028" : "\\u2029");
          p += 2;
        }
      else
        sbuf_append (&b, p, 1);
    }
  return sbuf_steal (&b);
}

char *
docker_auth_encode (const char *username, const char *password, const char *email,
                    const char *serveraddress)
{
  /* Go's AuthConfig field order; empty members are omitted (omitempty) */
  const char *names[] = { "username", "password", "email", "serveraddress" };
  const char *vals[] = { username, password, email, serveraddress };
  json_t *o = json_object ();
  for (size_t i = 0; i < ARRAY_SIZE (names); i++)
    if (vals[i] && vals[i][0]
        && json_object_set_new (o, names[i], json_string (vals[i])) < 0)
      {
        json_decref (o); /* not valid UTF-8 */
        return NULL;
      }
  char *j = json_dumps (o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref (o);
  if (j == NULL)
    xalloc_die ();
  char *go = go_json_escapes (j);
  free (j);
  char *line = xasprintf ("%s\n", go); /* json.Encoder ends each value with a newline */
  free (go);
  char *enc = b64url_encode (line, strlen (line));
  free (line);
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
