/* aws/sigv4.c - AWS Signature Version 4 (see sigv4.h). */
#include "aws/sigv4.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

void
aws_sha256_hex (const void *data, size_t len, char hex[65])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (EVP_Digest (data ? data : "", len, md, &mdlen, EVP_sha256 (), NULL) != 1 || mdlen != 32)
    xalloc_die (); /* only fails on allocation failure */
  util_hex_encode (md, 32, hex);
}

static void
hmac256 (const void *key, size_t klen, const void *data, size_t dlen, unsigned char out[32])
{
  unsigned int olen = 0;
  if (!HMAC (EVP_sha256 (), key, (int) klen, data, dlen, out, &olen) || olen != 32)
    xalloc_die ();
}

void
aws_sigv4_signing_key (const char *secret, const char *day, const char *region,
                       const char *service, unsigned char key[32])
{
  cleanup_free char *k0 = xasprintf ("AWS4%s", secret);
  unsigned char k1[32], k2[32], k3[32];
  hmac256 (k0, strlen (k0), day, strlen (day), k1);
  hmac256 (k1, 32, region, strlen (region), k2);
  hmac256 (k2, 32, service, strlen (service), k3);
  hmac256 (k3, 32, "aws4_request", 12, key);
  OPENSSL_cleanse (k0, strlen (k0));
}

void
aws_amz_date (time_t t, char buf[17])
{
  struct tm tm;
  gmtime_r (&t, &tm);
  strftime (buf, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static bool
unreserved (unsigned char c)
{
  return isalnum (c) || c == '-' || c == '_' || c == '.' || c == '~';
}

char *
aws_uri_encode (const char *s, size_t len, int keep_slash)
{
  static const char hx[] = "0123456789ABCDEF";
  struct sbuf b = { 0 };
  sbuf_append (&b, "", 0);
  for (size_t i = 0; i < len; i++)
    {
      unsigned char c = (unsigned char) s[i];
      if ((c < 0x80 && unreserved (c)) || (keep_slash && c == '/'))
        sbuf_append (&b, (const char *) &c, 1);
      else
        {
          char e[3] = { '%', hx[c >> 4], hx[c & 15] };
          sbuf_append (&b, e, 3);
        }
    }
  return sbuf_steal (&b);
}

static int
hexval (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent-decode (invalid escapes are kept literally); '+' -> ' ' if plus. */
static char *
uri_decode (const char *s, size_t len, bool plus, size_t *outlen)
{
  char *o = xmalloc (len + 1);
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    {
      if (s[i] == '%' && i + 2 < len)
        {
          int h = hexval (s[i + 1]);
          int l = hexval (s[i + 2]);
          if (h >= 0 && l >= 0)
            {
              o[n++] = (char) (h * 16 + l);
              i += 2;
              continue;
            }
        }
      o[n++] = (plus && s[i] == '+') ? ' ' : s[i];
    }
  o[n] = '\0';
  if (outlen)
    *outlen = n;
  return o;
}

/* RFC 3986 5.2.4 remove_dot_segments on a decoded absolute path, then
   collapse runs of '/'.  Returns a new string starting with '/'. */
static char *
canonical_path (const char *raw, size_t rawlen)
{
  size_t dlen;
  cleanup_free char *dec = uri_decode (raw, rawlen, false, &dlen);
  struct sbuf out = { 0 };
  sbuf_append (&out, "", 0);
  bool dots = strstr (dec, "./") || strstr (dec, "..") || (dlen >= 2 && strcmp (dec + dlen - 2, "/.") == 0);
  if (dots)
    {
      /* Work on a copy with a leading '/'. */
      cleanup_free char *buf = dec[0] == '/' ? xstrdup (dec) : xasprintf ("/%s", dec);
      char *p = buf;
      while (*p)
        {
          if (strncmp (p, "../", 3) == 0)
            p += 3;
          else if (strncmp (p, "./", 2) == 0)
            p += 2;
          else if (strncmp (p, "/./", 3) == 0)
            p += 2;
          else if (strcmp (p, "/.") == 0)
            p[1] = '\0';
          else if (strncmp (p, "/../", 4) == 0 || strcmp (p, "/..") == 0)
            {
              if (p[3] == '\0')
                p[1] = '\0';
              else
                p += 3;
              /* remove last segment of output */
              char *slash = out.len ? memrchr (out.s, '/', out.len) : NULL;
              out.len = slash ? (size_t) (slash - out.s) : 0;
              out.s[out.len] = '\0';
            }
          else if (strcmp (p, ".") == 0 || strcmp (p, "..") == 0)
            *p = '\0';
          else
            {
              /* move first segment (with its leading '/') */
              const char *q = strchr (p + 1, '/');
              size_t n = q ? (size_t) (q - p) : strlen (p);
              sbuf_append (&out, p, n);
              p += n;
            }
        }
    }
  else
    sbuf_append (&out, dec, dlen);
  cleanup_free char *path = sbuf_steal (&out);
  /* collapse '//' */
  struct sbuf c = { 0 };
  sbuf_append (&c, "/", 1);
  for (const char *p = path; *p; p++)
    {
      if (*p == '/' && c.len && c.s[c.len - 1] == '/')
        continue;
      sbuf_append (&c, p, 1);
    }
  cleanup_free char *collapsed = sbuf_steal (&c);
  return aws_uri_encode (collapsed, strlen (collapsed), 1);
}

struct kv
{
  char *k, *v;
};

static int
kv_cmp (const void *a, const void *b)
{
  const struct kv *x = a, *y = b;
  int r = strcmp (x->k, y->k);
  return r ? r : strcmp (x->v, y->v);
}

static char *
canonical_query (const char *q, size_t qlen)
{
  struct kv *kvs = NULL;
  size_t n = 0;
  const char *p = q, *end = q + qlen;
  while (p < end)
    {
      const char *amp = memchr (p, '&', (size_t) (end - p));
      const char *e = amp ? amp : end;
      if (e > p)
        {
          const char *eq = memchr (p, '=', (size_t) (e - p));
          size_t kl, vl;
          cleanup_free char *k = uri_decode (p, (size_t) ((eq ? eq : e) - p), true, &kl);
          cleanup_free char *v = eq ? uri_decode (eq + 1, (size_t) (e - eq - 1), true, &vl) : xstrdup ("");
          if (!eq)
            vl = 0;
          kvs = xrealloc (kvs, (n + 1) * sizeof *kvs);
          kvs[n].k = aws_uri_encode (k, kl, 0);
          kvs[n].v = aws_uri_encode (v, vl, 0);
          n++;
        }
      p = e + 1;
    }
  if (n > 1)
    qsort (kvs, n, sizeof *kvs, kv_cmp);
  struct sbuf b = { 0 };
  sbuf_append (&b, "", 0);
  for (size_t i = 0; i < n; i++)
    {
      sbuf_printf (&b, "%s%s=%s", i ? "&" : "", kvs[i].k, kvs[i].v);
      free (kvs[i].k);
      free (kvs[i].v);
    }
  free (kvs);
  return sbuf_steal (&b);
}

/* Trim and collapse inner runs of spaces/tabs. */
static char *
canonical_value (const char *v)
{
  struct sbuf b = { 0 };
  sbuf_append (&b, "", 0);
  while (*v == ' ' || *v == '\t')
    v++;
  bool sp = false;
  for (; *v; v++)
    {
      if (*v == ' ' || *v == '\t')
        sp = true;
      else
        {
          if (sp)
            sbuf_append (&b, " ", 1);
          sp = false;
          sbuf_append (&b, v, 1);
        }
    }
  return sbuf_steal (&b);
}

static char *
lower (const char *s)
{
  char *r = xstrdup (s);
  for (char *p = r; *p; p++)
    *p = (char) tolower ((unsigned char) *p);
  return r;
}

struct hdr
{
  char *name;  /* lower */
  char *value; /* canonical */
};

static int
hdr_cmp (const void *a, const void *b)
{
  const struct hdr *x = a, *y = b;
  int r = strcmp (x->name, y->name);
  return r ? r : strcmp (x->value, y->value);
}

struct hdrs
{
  struct hdr *v;
  size_t n;
};

static void
hdrs_add (struct hdrs *h, const char *name, const char *value)
{
  h->v = xrealloc (h->v, (h->n + 1) * sizeof *h->v);
  h->v[h->n].name = lower (name);
  h->v[h->n].value = canonical_value (value ? value : "");
  h->n++;
}

static void
hdrs_free (struct hdrs *h)
{
  for (size_t i = 0; i < h->n; i++)
    {
      free (h->v[i].name);
      free (h->v[i].value);
    }
  free (h->v);
  h->v = NULL;
  h->n = 0;
}

/* Split url into host header value, raw path and raw query. */
static int
parse_url (const char *url, char **host, char **path, char **query, agent_error_t *err)
{
  const char *p = strstr (url, "://");
  if (!p)
    return error_set (err, ERR_INVALID, "sigv4: URL without scheme: %s", url);
  size_t slen = (size_t) (p - url);
  const char *a = p + 3;
  size_t alen = strcspn (a, "/?");
  if (alen == 0)
    return error_set (err, ERR_INVALID, "sigv4: URL without host: %s", url);
  const char *at = memchr (a, '@', alen);
  if (at)
    {
      alen -= (size_t) (at + 1 - a);
      a = at + 1;
    }
  cleanup_free char *auth = xstrndup (a, alen);
  /* Drop the scheme's default port (curl does not send it). */
  char *colon = strrchr (auth, ':');
  if (colon && !strchr (colon, ']'))
    {
      if ((slen == 5 && strncasecmp (url, "https", 5) == 0 && strcmp (colon, ":443") == 0)
          || (slen == 4 && strncasecmp (url, "http", 4) == 0 && strcmp (colon, ":80") == 0)
          || (slen == 3 && strncasecmp (url, "wss", 3) == 0 && strcmp (colon, ":443") == 0)
          || (slen == 2 && strncasecmp (url, "ws", 2) == 0 && strcmp (colon, ":80") == 0))
        *colon = '\0';
    }
  for (char *c = auth; *c; c++)
    *c = (char) tolower ((unsigned char) *c);
  const char *rest = a + alen;
  size_t plen = strcspn (rest, "?");
  *host = auth;
  auth = NULL;
  *path = xstrndup (rest, plen);
  *query = rest[plen] == '?' ? xstrdup (rest + plen + 1) : xstrdup ("");
  return 0;
}

static void
out_add (struct aws_sigv4_output *out, const char *name, const char *value)
{
  out->headers = xrealloc (out->headers, (out->n_headers + 1) * sizeof *out->headers);
  out->headers[out->n_headers].name = xstrdup (name);
  out->headers[out->n_headers].value = xstrdup (value);
  out->n_headers++;
}

int
aws_sigv4_sign (const struct aws_sigv4_input *in, const struct aws_credentials *creds,
                struct aws_sigv4_output *out, agent_error_t *err)
{
  memset (out, 0, sizeof *out);
  if (!in || !in->url || !in->region || !in->service)
    return error_set (err, ERR_INVALID, "sigv4: missing url, region or service");
  if (!creds || !creds->access_key_id || !creds->secret_access_key || !*creds->access_key_id)
    return error_set (err, ERR_AUTH, "sigv4: no credentials");
  cleanup_free char *host = NULL, *rawpath = NULL, *rawquery = NULL;
  if (parse_url (in->url, &host, &rawpath, &rawquery, err) < 0)
    return -ERR_INVALID;

  const unsigned flags = in->flags;
  const bool host_only = flags & AWS_SIGV4_HOST_ONLY;
  const bool host_date = (flags & AWS_SIGV4_HOST_DATE) && !host_only;
  const bool add_date = !(flags & AWS_SIGV4_NO_DATE);
  const char *token = creds->session_token && *creds->session_token ? creds->session_token : NULL;
  const bool sign_token = token && !host_only && !(flags & AWS_SIGV4_SIGN_TOKEN_OFF);

  char amzdate[17];
  aws_amz_date (in->now, amzdate);
  char day[9];
  memcpy (day, amzdate, 8);
  day[8] = '\0';

  /* Collect the signed headers. */
  struct hdrs h = { 0 };
  bool given_host = false;
  for (size_t i = 0; i < in->n_headers; i++)
    {
      const char *nm = in->headers[i].name;
      if (!nm)
        continue;
      if (strcasecmp (nm, "host") == 0)
        {
          hdrs_add (&h, nm, in->headers[i].value);
          given_host = true;
          continue;
        }
      if (host_only || host_date)
        continue;
      if (add_date && (strcasecmp (nm, "x-amz-date") == 0 || strcasecmp (nm, "x-amz-security-token") == 0))
        continue;
      if (strcasecmp (nm, "authorization") == 0)
        continue;
      hdrs_add (&h, nm, in->headers[i].value);
    }
  if (!given_host)
    hdrs_add (&h, "host", host);
  if (add_date && !host_only)
    hdrs_add (&h, "x-amz-date", amzdate);
  if (sign_token)
    hdrs_add (&h, "x-amz-security-token", token);
  if (h.n > 1)
    qsort (h.v, h.n, sizeof *h.v, hdr_cmp);

  struct sbuf canon_h = { 0 }, signed_h = { 0 };
  sbuf_append (&canon_h, "", 0);
  sbuf_append (&signed_h, "", 0);
  for (size_t i = 0; i < h.n;)
    {
      size_t j = i;
      sbuf_printf (&canon_h, "%s:", h.v[i].name);
      sbuf_printf (&signed_h, "%s%s", i ? ";" : "", h.v[i].name);
      for (; j < h.n && strcmp (h.v[j].name, h.v[i].name) == 0; j++)
        sbuf_printf (&canon_h, "%s%s", j > i ? "," : "", h.v[j].value);
      sbuf_append (&canon_h, "\n", 1);
      i = j;
    }
  hdrs_free (&h);

  char payload[65];
  if (in->body && in->body_len)
    aws_sha256_hex (in->body, in->body_len, payload);
  else
    strcpy (payload, EMPTY_SHA256);

  cleanup_free char *cpath = canonical_path (rawpath, strlen (rawpath));
  cleanup_free char *cquery = canonical_query (rawquery, strlen (rawquery));
  cleanup_free char *method = lower (in->method ? in->method : "GET");
  for (char *c = method; *c; c++)
    *c = (char) toupper ((unsigned char) *c);

  cleanup_free char *ch = sbuf_steal (&canon_h);
  out->signed_headers = sbuf_steal (&signed_h);
  out->canonical_request = xasprintf ("%s\n%s\n%s\n%s\n%s\n%s", method, cpath, cquery, ch,
                                      out->signed_headers, payload);
  char creq_hash[65];
  aws_sha256_hex (out->canonical_request, strlen (out->canonical_request), creq_hash);
  cleanup_free char *region = lower (in->region);
  cleanup_free char *service = lower (in->service);
  cleanup_free char *scope = xasprintf ("%s/%s/%s/aws4_request", day, region, service);
  out->string_to_sign = xasprintf ("AWS4-HMAC-SHA256\n%s\n%s\n%s", amzdate, scope, creq_hash);

  unsigned char key[32], sig[32];
  aws_sigv4_signing_key (creds->secret_access_key, day, region, service, key);
  hmac256 (key, 32, out->string_to_sign, strlen (out->string_to_sign), sig);
  OPENSSL_cleanse (key, sizeof key);
  char sighex[65];
  util_hex_encode (sig, 32, sighex);
  out->signature = xstrdup (sighex);
  out->amz_date = xstrdup (amzdate);
  out->authorization = xasprintf ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                                  creds->access_key_id, scope, out->signed_headers, sighex);

  if (add_date)
    out_add (out, "X-Amz-Date", amzdate);
  if (token)
    out_add (out, "X-Amz-Security-Token", token);
  if (flags & AWS_SIGV4_CONTENT_SHA256)
    out_add (out, "X-Amz-Content-Sha256", payload);
  out_add (out, "Authorization", out->authorization);
  return 0;
}

void
aws_sigv4_output_free (struct aws_sigv4_output *out)
{
  if (!out)
    return;
  for (size_t i = 0; i < out->n_headers; i++)
    {
      free ((char *) out->headers[i].name);
      free ((char *) out->headers[i].value);
    }
  free (out->headers);
  free (out->canonical_request);
  free (out->string_to_sign);
  free (out->signed_headers);
  free (out->signature);
  free (out->authorization);
  free (out->amz_date);
  memset (out, 0, sizeof *out);
}
