/* The long-running services started once the instance is registered:
 * introspection API, ACS session, updates.  Wired as they land. */
#include "agent/agent_internal.h"
#include "log/log.h"

int
agent_services_start (struct agent *a, agent_error_t *err)
{
  (void) a;
  (void) err;
  return 0;
}

void
agent_services_stop (struct agent *a)
{
  (void) a;
}
