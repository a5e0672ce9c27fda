/* task/secrets.h - a container's secrets (the ACS Secret list) and a task's
 * secret resources: the values fetched from SSM Parameter Store ("ssm") and
 * Secrets Manager ("asm") with the execution role.
 *
 * Contract:
 *  - struct task_container_secrets lives in every task_container (its
 *    .secrets member): the definitions as ACS sent them, read from the ACS
 *    form and the checkpoint form (task/secrets_decode.h).  A definition
 *    names where a value lives, never the value: it is persisted.
 *  - struct task_secret_resource (one per provider in every task, runtime
 *    only) holds the fetched values under the key "<valueFrom>_<region>".
 *    Values are never persisted; each is registered with log_secret_add()
 *    while held and is wiped and unregistered when dropped
 *    (task_secret_resource_clear, task_free).
 *  - A provider's resource is needed by a task when any container has a
 *    secret of that provider (whatever its type); a container with such a
 *    secret waits for CREATED on it before its own create
 *    (task_container_secrets_ready).
 */
#ifndef TASK_SECRETS_H
#define TASK_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ECS accepts at most 100 secrets per container definition. */
#define TASK_SECRETS_MAX 100

#define TASK_SECRET_TYPE_ENV "ENVIRONMENT_VARIABLE"
#define TASK_SECRET_TARGET_LOG_DRIVER "LOG_DRIVER"

enum task_secret_provider
{
  TASK_SECRET_SSM = 0,
  TASK_SECRET_ASM,
  TASK_SECRET_N_PROVIDERS,
};

struct task_secret
{
  char *name;       /* env variable / log option name */
  char *value_from; /* SSM parameter name or ARN; Secrets Manager ARN */
  enum task_secret_provider provider;
  char *region;     /* "" when absent */
  char *type;       /* ENVIRONMENT_VARIABLE, MOUNT_POINT, BOOTSTRAP; NULL = absent */
  char *target;     /* CONTAINER, LOG_DRIVER; NULL = absent */
  char *container_path; /* NULL = absent */
};

struct task_container_secrets
{
  struct task_secret *v;
  size_t n;
};

void task_container_secrets_free (struct task_container_secrets *s);

/* "ssm" / "asm". */
const char *task_secret_provider_str (enum task_secret_provider p);
/* "ssm" / "asm" (case-insensitive); false otherwise. */
bool task_secret_provider_parse (const char *s, enum task_secret_provider *out);
/* The resource's lookup key "<valueFrom>_<region>" (malloc'd). */
char *task_secret_key (const struct task_secret *s);
bool task_secret_is_env (const struct task_secret *s);
bool task_secret_is_log_driver (const struct task_secret *s);
bool task_container_secrets_use (const struct task_container_secrets *s, enum task_secret_provider p);

enum task_resource_status
{
  TASK_RES_NONE = 0, /* not fetched (none needed yet, or dropped) */
  TASK_RES_PENDING,  /* being fetched (or waiting for credentials) */
  TASK_RES_CREATED,  /* values held */
  TASK_RES_FAILED,   /* the fetch failed: the task is stopping */
};

struct task_secret_value
{
  char *key;
  char *value;
};

struct task_secret_resource
{
  enum task_resource_status status;
  struct task_secret_value *values;
  size_t n_values, cap_values;
  /* runtime bookkeeping of the engine (engine/secrets.c) */
  uint64_t creds_wait_until_ms; /* loop ms: waiting for credentials ACS re-sends; 0 = none */
};

/* Add (or replace) key's value: both copied, the value registered as a log
   secret. */
void task_secret_resource_put (struct task_secret_resource *r, const char *key, const char *value);
/* The value under key, NULL if none. */
const char *task_secret_resource_get (const struct task_secret_resource *r, const char *key);
/* Drop every value (wiped, unregistered); status back to NONE. */
void task_secret_resource_clear (struct task_secret_resource *r);

#endif
