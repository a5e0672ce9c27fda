/* engine/naming.c - the Docker names and labels the engine gives its
 * containers and volumes.  Names are deterministic (a restarted agent finds
 * what it created by name):
 * "ecs-<family>-<version>-<name>-<20 hex of sha256(arn NUL name NUL [volume NUL])>". */
#include "core/util.h"
#include "core/xmalloc.h"
#include "engine/engine_internal.h"
#include <openssl/evp.h>
#include <string.h>

static void
sanitize_into (struct sbuf *b, const char *s)
{
  for (; s && *s; s++)
    if ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '-')
      sbuf_append (b, s, 1);
}

/* First 10 bytes of sha256 over the NUL-terminated strings a, b (and c), as hex. */
static void
hash_hex20 (const char *a, const char *b, const char *c, char out[21])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  if (!ctx)
    xalloc_die ();
  EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL);
  EVP_DigestUpdate (ctx, a, strlen (a) + 1);
  EVP_DigestUpdate (ctx, b, strlen (b) + 1);
  if (c)
    EVP_DigestUpdate (ctx, c, strlen (c) + 1);
  EVP_DigestFinal_ex (ctx, md, &mdlen);
  EVP_MD_CTX_free (ctx);
  util_hex_encode (md, 10, out);
}

static char *
docker_name (const struct task *t, const char *name, const char *hash)
{
  struct sbuf b = { 0 };
  sbuf_puts (&b, "ecs-");
  sanitize_into (&b, t->family);
  sbuf_puts (&b, "-");
  sanitize_into (&b, t->version);
  sbuf_puts (&b, "-");
  sanitize_into (&b, name);
  sbuf_printf (&b, "-%s", hash);
  return sbuf_steal (&b);
}

char *
engine_docker_container_name (const struct task *t, const struct task_container *c)
{
  char h[21];
  hash_hex20 (t->arn, c->name, NULL, h);
  return docker_name (t, c->name, h);
}

char *
engine_docker_volume_name (const struct task *t, const struct task_volume *v)
{
  char h[21];
  hash_hex20 (t->arn, "volume", v->name, h);
  return docker_name (t, v->name, h);
}

struct docker_label *
engine_labels (const engine_t *e, const struct task *t, const struct task_container *c, size_t *n)
{
  struct docker_label *l = xcalloc (5 + e->n_extra_labels, sizeof *l);
  size_t k = 0;
  l[k++] = (struct docker_label){ LABEL_TASK_ARN, t->arn };
  if (c)
    l[k++] = (struct docker_label){ LABEL_CONTAINER_NAME, c->name };
  l[k++] = (struct docker_label){ LABEL_CLUSTER, e->cluster };
  l[k++] = (struct docker_label){ LABEL_FAMILY, t->family };
  l[k++] = (struct docker_label){ LABEL_VERSION, t->version };
  for (size_t i = 0; i < e->n_extra_labels; i++)
    l[k++] = e->extra_labels[i];
  *n = k;
  return l;
}

bool
engine_label_is (const struct docker_kv *l, size_t n, const char *key, const char *value)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (l[i].key, key) == 0)
      return value && l[i].value && strcmp (l[i].value, value) == 0;
  return false;
}
