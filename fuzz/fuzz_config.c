/* fuzz_config.c - libFuzzer target for the configuration loader (config_load).
 *
 * Input format (text, so the corpus stays readable):
 *
 *     KEY=VALUE            one fake environment variable per line
 *     ...
 *     --                   a line with exactly "--" ends the environment
 *     { ...config file... } the rest is the content of the JSON config file
 *
 * Without a "--" line the whole input is environment.  Values run to the end
 * of the line; "\n" inside a value is not possible, but every other byte
 * (including NUL-free binary) is.  ECS_AGENT_CONFIG_FILE_PATH always points
 * at a private temp file holding the file part (an input may not make the
 * loader read arbitrary files), unless the input sets it to the literal
 * "missing", which points at a path that does not exist.
 *
 * Checked after every call: no crash/leak/UB (sanitizers), the error/success
 * contract (err set iff < 0, errors are ERR_TERMINAL with a message), the
 * invariants of a successful load (defaults filled, ports in range), that
 * a registered secret is redacted from a log line by log_redact() (the
 * config loader registers them), and that the engine auth data never appears
 * in an error message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/error.h"
#include "log/log.h"

#define MAX_VARS 64

struct fake_env
{
  char *keys[MAX_VARS];
  char *values[MAX_VARS];
  size_t n;
  const char *file_path;
};

static char file_path[64];

static const char *
fake_getenv (const char *name, void *data)
{
  struct fake_env *e = data;
  if (strcmp (name, "ECS_AGENT_CONFIG_FILE_PATH") == 0)
    return e->file_path;
  /* last definition wins, like a shell */
  for (size_t i = e->n; i-- > 0;)
    if (strcmp (e->keys[i], name) == 0)
      return e->values[i];
  return NULL;
}

static void
write_file (const uint8_t *p, size_t n)
{
  FILE *f = fopen (file_path, "wb");
  if (f == NULL)
    abort ();
  if (n && fwrite (p, 1, n, f) != n)
    abort ();
  fclose (f);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  snprintf (file_path, sizeof file_path, "/tmp/fuzz_config.%d.json", (int) getpid ());
  return 0;
}

static bool
contains (const char *hay, const char *needle)
{
  return hay && needle && *needle && strstr (hay, needle) != NULL;
}

/* Collapse every "[REDACTED]" into one \x01 (in place): a secret may be a
   substring of the marker itself. */
static char *
strip_markers (char *line)
{
  static const char m[] = "[REDACTED]";
  char *w = line, *r = line;
  while (*r)
    {
      if (strncmp (r, m, sizeof m - 1) == 0)
        {
          *w++ = '\x01';
          r += sizeof m - 1;
        }
      else
        *w++ = *r++;
    }
  *w = '\0';
  return line;
}

/* True if s and "[REDACTED]" have 3 consecutive characters in common. */
static bool
shares_marker_text (const char *s)
{
  static const char m[] = "[REDACTED]";
  for (size_t i = 0; i + 3 <= sizeof m - 1; i++)
    {
      char tri[4] = { m[i], m[i + 1], m[i + 2], 0 };
      if (strstr (s, tri))
        return true;
    }
  return false;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct fake_env env = { .n = 0, .file_path = file_path };
  const uint8_t *p = data, *end = data + size;
  const uint8_t *file = NULL;
  while (p < end)
    {
      const uint8_t *nl = memchr (p, '\n', (size_t) (end - p));
      const uint8_t *le = nl ? nl : end;
      size_t ll = (size_t) (le - p);
      if (ll == 2 && p[0] == '-' && p[1] == '-')
        {
          file = nl ? nl + 1 : end;
          break;
        }
      const uint8_t *eq = memchr (p, '=', ll);
      if (eq && env.n < MAX_VARS && !memchr (p, '\0', ll))
        {
          env.keys[env.n] = strndup ((const char *) p, (size_t) (eq - p));
          env.values[env.n] = strndup ((const char *) eq + 1, (size_t) (le - eq - 1));
          if (strcmp (env.keys[env.n], "ECS_AGENT_CONFIG_FILE_PATH") == 0
              && strcmp (env.values[env.n], "missing") == 0)
            env.file_path = "/nonexistent/fuzz_config/config.json";
          env.n++;
        }
      p = nl ? nl + 1 : end;
    }
  write_file (file ? file : data, file ? (size_t) (end - file) : 0);

  struct agent_config cfg;
  memset (&cfg, 0, sizeof cfg);
  agent_error_t err = NULL;
  int r = config_load (&cfg, fake_getenv, &env, &err);
  if (r < 0)
    {
      if (err == NULL || error_msg (&err) == NULL || error_kind (&err) != ERR_TERMINAL)
        abort (); /* every config error must be terminal, with a message */
      /* the auth data holds credentials: never echoed in an error */
      const char *ad = fake_getenv ("ECS_ENGINE_AUTH_DATA", &env);
      bool elsewhere = false; /* other values may legitimately be echoed */
      for (size_t i = 0; ad && i < env.n; i++)
        if (env.values[i] != ad && contains (env.values[i], ad))
          elsewhere = true;
      /* only values shaped like auth data: a bare word may occur in the fixed text */
      if (ad && !elsewhere && strlen (ad) >= 8 && strpbrk (ad, "{:\"")
          && contains (error_msg (&err), ad))
        abort ();
    }
  else
    {
      if (err != NULL)
        abort ();
      if (cfg.cluster == NULL || cfg.docker_endpoint == NULL || cfg.data_dir == NULL
          || cfg.update_download_dir == NULL || cfg.introspection_addr == NULL)
        abort ();
      if (cfg.introspection_port < 0 || cfg.introspection_port > 65535)
        abort ();
      for (size_t i = 0; i < cfg.n_reserved_ports; i++)
        if (cfg.reserved_ports[i] < 0 || cfg.reserved_ports[i] > 65535)
          abort ();
      for (size_t i = 0; i < cfg.n_reserved_ports_udp; i++)
        if (cfg.reserved_ports_udp[i] < 0 || cfg.reserved_ports_udp[i] > 65535)
          abort ();
      for (size_t i = 0; i < cfg.n_instance_attributes; i++)
        if (cfg.instance_attributes[i].key == NULL || cfg.instance_attributes[i].value == NULL)
          abort ();
      if (cfg.log_level < LOG_NONE || cfg.log_level > LOG_DEBUG)
        abort ();
    }

  /* The loader registered the secrets with the redactor: a log line
     carrying one must come out without it. */
  const char *secrets[] = { cfg.secret_access_key, cfg.session_token, cfg.engine_auth_data };
  /* Secrets that share text with the marker itself can mangle a marker left
     by another one ("[RED" + "TED] end" -> "[REDAC[REDACTED]"): the redaction
     still runs (no hang, no memory error), only the leak check is skipped. */
  bool marker_like = false;
  for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
    if (secrets[i] && shares_marker_text (secrets[i]))
      marker_like = true;
  for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
    {
      const char *s = secrets[i];
      if (s == NULL || strlen (s) < 4 || strlen (s) > 4096)
        continue;
      size_t n = strlen (s) + 64;
      char *line = malloc (n);
      snprintf (line, n, "msg=\"calling\" value=%s end", s);
      line = log_redact (line);
      if (!marker_like && strstr (strip_markers (line), s) != NULL)
        abort ();
      free (line);
    }
  for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
    log_secret_remove (secrets[i]);

  error_free (&err);
  config_free (&cfg);
  for (size_t i = 0; i < env.n; i++)
    {
      free (env.keys[i]);
      free (env.values[i]);
    }
  return 0;
}
