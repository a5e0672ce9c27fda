/* task/restart.c - a container's restart policy and tracker (see restart.h). */
#include "task/restart.h"
#include <stdlib.h>

void
task_container_restart_free (struct task_container_restart *r)
{
  free (r->ignored_exit_codes);
  r->ignored_exit_codes = NULL;
  r->n_ignored_exit_codes = 0;
}

bool
task_restart_code_ignored (const struct task_container_restart *r, int code)
{
  for (size_t i = 0; i < r->n_ignored_exit_codes; i++)
    if (r->ignored_exit_codes[i] == code)
      return true;
  return false;
}
