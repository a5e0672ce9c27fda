/* config/config_int.h - helpers config.c shares with the other readers of
 * the configuration in this folder (config_images.c).  Not for other
 * modules. */
#ifndef CONFIG_CONFIG_INT_H
#define CONFIG_CONFIG_INT_H

#include "config/config.h"
#include <jansson.h>

/* The variable's value, or NULL when unset, empty or blank. */
const char *config_env (config_getenv_fn env, void *data, const char *name);
/* Parse a boolean / Go duration variable into *field; a bad value is an
   ERR_TERMINAL error naming the key.  *set tells whether it was given. */
int config_env_bool (config_getenv_fn env, void *data, const char *key, bool *field, bool *set,
                     agent_error_t *err);
int config_env_duration (config_getenv_fn env, void *data, const char *key, uint64_t *field,
                         bool *set, agent_error_t *err);
/* The member of the config file's object named name (case-insensitive,
   as upstream's decoder matches Go field names), or NULL. */
json_t *config_file_get (json_t *root, const char *name);
/* Image pulls, image cleanup, pre-caching, launch concurrency
   (config_images.c): each key from the environment, else from the config
   file's object (file: NULL = none), else its default. */
int config_images_load (struct config_images *ci, config_getenv_fn env, void *data, json_t *file,
                        agent_error_t *err);
void config_images_free (struct config_images *ci);

#endif
