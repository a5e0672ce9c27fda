/* task/image_record.h - the images the agent pulled: one record per Docker
 * image ID (upstream's image state), plain structs and pure list updates.
 *
 * Contract:
 *  - A record names a Docker image ID, the image strings exactly as task
 *    definitions wrote them that resolved to it, its size, when it was
 *    first pulled and last used (unix ns), and whether a pull of it ever
 *    succeeded (ECS_IMAGE_PULL_BEHAVIOR=once).
 *  - A name belongs to one record at a time: recording a name under a new
 *    ID (a moved tag) removes it from the record of the old ID.
 *  - ManagedEnvKeys: which of AWS_REGION / AWS_DEFAULT_REGION the image's
 *    own Config.Env sets (IMAGE_ENV_* bits), known once an inspect of the
 *    image read its Env (env_known; a record from a checkpoint written
 *    before the field existed does not know it yet).
 *  - Which containers use an image is not stored: the engine derives it
 *    from its tasks (every container of a task not yet removed).
 *  - At most IMAGE_RECORDS_MAX records and IMAGE_RECORD_NAMES_MAX names
 *    each (the oldest name makes room).  The engine owns the list; the
 *    checkpoint codec is state/checkpoint_images.h.
 */
#ifndef TASK_IMAGE_RECORD_H
#define TASK_IMAGE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAGE_RECORDS_MAX 4096
#define IMAGE_RECORD_NAMES_MAX 64

/* ManagedEnvKeys bits */
#define IMAGE_ENV_AWS_REGION 0x1u
#define IMAGE_ENV_AWS_DEFAULT_REGION 0x2u

struct image_record
{
  char *id;      /* "sha256:..." */
  char **names;  /* n_names, owned */
  size_t n_names;
  int64_t size;
  int64_t pulled_at_ns, last_used_at_ns;
  bool pull_succeeded;
  bool env_known;       /* managed_env is the image's (read by an inspect) */
  unsigned managed_env; /* IMAGE_ENV_* the image's Config.Env sets */
};

struct image_records
{
  struct image_record *v;
  size_t n, cap;
};

/* The record of id, or NULL. */
struct image_record *image_records_find (const struct image_records *l, const char *id);
/* The record listing name, or NULL. */
struct image_record *image_records_find_name (const struct image_records *l, const char *name);
/* After a pull step: name resolved to id.  A new record gets pulled_at =
   last_used_at = now_ns; pull_succeeded is only ever raised.  The name
   leaves any other record.  Returns the record (NULL when the list is full). */
struct image_record *image_records_add (struct image_records *l, const char *id, const char *name,
                                        int64_t size, int64_t now_ns, bool pull_succeeded);
/* The IMAGE_ENV_* keys an image's Config.Env ("KEY=value" strings, n)
   sets: "KEY=..." (an empty value counts; a bare name sets nothing). */
unsigned image_env_managed_keys (char *const *env, size_t n);
/* Record r's ManagedEnvKeys from the image's Config.Env (env_known). */
void image_record_set_env (struct image_record *r, char *const *env, size_t n);
/* Remove one name from record r (the record stays, possibly nameless). */
void image_record_drop_name (struct image_record *r, const char *name);
/* Forget record r (pointer into l->v); later records move down. */
void image_records_remove (struct image_records *l, struct image_record *r);
/* Takes ownership of the fields of r (the list's copy, r is zeroed). */
void image_records_push (struct image_records *l, struct image_record *r);
void image_record_clear (struct image_record *r);
void image_records_free (struct image_records *l);

#endif
