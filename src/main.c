/* amazon-ecs-agent: flags, configuration, logging, exit codes.  Everything
 * else lives in the library (src/agent wires it). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/agent.h"
#include "config/config.h"
#include "core/exitcodes.h"
#include "core/xmalloc.h"
#include "introspection/introspection.h"
#include "log/log.h"

struct flags
{
  bool insecure, version, help, healthcheck;
  const char *loglevel;
};

static void
usage (FILE *f)
{
  fprintf (f, "Usage of amazon-ecs-agent:\n"
              "  -help\n\tprint this help and exit\n"
              "  -healthcheck\n\tRun the agent's health check (GET /v1/health) and exit 0 if healthy, 1 if not\n"
              "  -k\tDisable SSL certificate verification. We do not recommend setting this option.\n"
              "  -loglevel string\n\tLoglevel: [<crit>|<error>|<warn>|<info>|<debug>]\n"
              "  -version\n\tPrint the agent version information and exit\n");
}

/* Go flag syntax: -name, --name, -name=value, -name value. */
static int
parse_flags (int argc, char **argv, struct flags *f)
{
  for (int i = 1; i < argc; i++)
    {
      const char *arg = argv[i];
      if (arg[0] != '-' || arg[1] == '\0')
        break;
      if (strcmp (arg, "--") == 0)
        break;
      arg += arg[1] == '-' ? 2 : 1;
      const char *eq = strchr (arg, '=');
      size_t n = eq ? (size_t) (eq - arg) : strlen (arg);
      if (n == 1 && arg[0] == 'k')
        f->insecure = true;
      else if (n == 7 && strncmp (arg, "version", 7) == 0)
        f->version = true;
      else if (n == 11 && strncmp (arg, "healthcheck", 11) == 0)
        f->healthcheck = true;
      else if ((n == 4 && strncmp (arg, "help", 4) == 0) || (n == 1 && arg[0] == 'h'))
        f->help = true;
      else if (n == 8 && strncmp (arg, "loglevel", 8) == 0)
        {
          if (eq)
            f->loglevel = eq + 1;
          else if (i + 1 < argc)
            f->loglevel = argv[++i];
          else
            {
              fprintf (stderr, "flag needs an argument: -loglevel\n");
              usage (stderr);
              return -1;
            }
        }
      else
        {
          fprintf (stderr, "flag provided but not defined: -%.*s\n", (int) n, arg);
          usage (stderr);
          return -1;
        }
    }
  return 0;
}

/* -healthcheck: the running agent's GET /v1/health (found through the same
   configuration: ECS_INTROSPECTION_LISTEN_ADDR / _PORT).  Prints the answer;
   exit 0 when it is 200, 1 otherwise (unhealthy, not answering, bad
   configuration), as a container HEALTHCHECK expects. */
#define HEALTHCHECK_TIMEOUT_MS 5000

static int
run_healthcheck (struct agent_config *cfg)
{
  agent_error_t err = NULL;
  int status = 0;
  char *body = NULL;
  int code = EXIT_ERROR;
  if (config_load_env (cfg, &err) < 0
      || introspection_healthcheck (cfg->introspection_addr, cfg->introspection_port,
                                    HEALTHCHECK_TIMEOUT_MS, &status, &body, &err) < 0)
    fprintf (stderr, "healthcheck: %s\n", error_msg (&err));
  else
    {
      printf ("%s\n", body);
      if (status == 200)
        code = EXIT_OK;
      else
        fprintf (stderr, "healthcheck: unhealthy (HTTP %d)\n", status);
    }
  free (body);
  error_free (&err);
  config_free (cfg);
  return code;
}

int
main (int argc, char **argv)
{
  struct flags flags = { 0 };
  if (parse_flags (argc, argv, &flags) < 0)
    return EXIT_USAGE;
  if (flags.help)
    {
      usage (stdout);
      return EXIT_OK;
    }
  if (flags.version)
    {
      printf ("Amazon ECS Agent:\n\tVersion: %s\n\tCommit: %s\n", AGENT_VERSION, AGENT_GITREV);
      if (AGENT_GITDIRTY)
        printf ("\tDirty: true\n");
      return EXIT_OK;
    }

  struct agent_config cfg = { 0 };
  agent_error_t err = NULL;
  if (flags.healthcheck)
    return run_healthcheck (&cfg);
  if (config_load_env (&cfg, &err) < 0)
    {
      /* one line naming the key, then the terminal exit code */
      log_crit ("config", "invalid configuration: %s", error_msg (&err));
      error_free (&err);
      config_free (&cfg);
      log_close ();
      return EXIT_TERMINAL;
    }
  cfg.insecure = flags.insecure;
  enum log_level lvl;
  if (flags.loglevel && log_level_parse (flags.loglevel, &lvl) == 0)
    cfg.log_level = lvl; /* a valid -loglevel overrides ECS_LOGLEVEL; an invalid one is ignored */
  log_set_rollover (cfg.log_rollover, cfg.log_max_file_size_mb, cfg.log_max_roll_count);
  if (log_init (cfg.log_level, cfg.log_file, &err) < 0)
    {
      log_crit ("log", "ECS_LOGFILE: %s", error_msg (&err));
      error_free (&err);
      config_free (&cfg);
      log_close ();
      return EXIT_TERMINAL;
    }
  if (flags.loglevel && log_level_parse (flags.loglevel, &lvl) < 0)
    log_warn ("config", "ignoring invalid -loglevel \"%s\"", flags.loglevel);
  if (cfg.log_warning)
    log_warn ("config", "%s", cfg.log_warning);
  /* the credentials audit log: stdout, and its file unless disabled (a
     file that cannot be opened now is tried again at each entry) */
  if (log_audit_init (cfg.audit_log_disabled ? NULL : cfg.audit_log_file, &err) < 0)
    {
      log_warn ("config", "ECS_AUDIT_LOGFILE: %s", error_msg (&err));
      error_free (&err);
    }
  if (cfg.gates_warning)
    log_warn ("config", "%s", cfg.gates_warning);
  if (cfg.metrics_warning)
    log_warn ("config", "%s", cfg.metrics_warning);
  if (cfg.config_file)
    log_info ("config", "read configuration file %s", cfg.config_file);

  int code = agent_run (&cfg, &err);
  if (code != EXIT_OK)
    log_crit ("agent", "exiting with code %d: %s", code, err ? error_msg (&err) : "");
  else
    log_info ("agent", "exiting cleanly");
  error_free (&err);
  config_free (&cfg);
  log_audit_close ();
  log_close ();
  return code;
}
