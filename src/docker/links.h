/* docker/links.h - container links on an engine without them (Podman).
 *
 * Contract:
 *  - Podman's Docker-compatible API refuses HostConfig.Links (4.3.1: 400
 *    "link is not supported").  On Podman the client gives a create's links
 *    their nearest equivalent: each link "name:alias" becomes /etc/hosts
 *    entries (HostConfig.ExtraHosts) "alias:<ip>" and "name:<ip>", the
 *    names Docker's links write into /etc/hosts, <ip> being the address of
 *    the linked container, which the client inspects just before the create
 *    (docker_container_create: the engine never sees the difference, only
 *    waits for link targets to run before a create, engine/plan.h).
 *  - Not carried over: the <ALIAS>_PORT_* environment variables of Docker's
 *    links, and later address changes (the entries are the address at
 *    create time, as Docker's links are for a target restarted on its own).
 *  - The functions below are pure (strings in, strings out), unit-tested as
 *    tables; the body they rewrite is the client's own create body.
 */
#ifndef DOCKER_LINKS_H
#define DOCKER_LINKS_H

#include "core/error.h"
#include "docker/docker.h"

/* HostConfig.Links taken out of a create body: *out_body (malloc'd) is the
   body without them, *links (NULL-terminated, malloc'd; free with
   docker_links_strv_free) the links, NULL when the body has none.  A body
   that is not a JSON object, or links that are not strings: -1 and
   ERR_INVALID. */
int docker_links_take (const char *body, char **out_body, char ***links, agent_error_t *err);
/* Where a linked container is reached: NetworkSettings.IPAddress, else the
   first of its networks with an address; NULL when it has none (not
   running, or network mode host / none).  Borrowed from i. */
const char *docker_links_address (const struct docker_container_info *i);
/* The ExtraHosts entries of links[i] ("name" or "name:alias", a leading '/'
   of either dropped, an alias "/parent/alias" read as "alias") at
   addrs[i]: "alias:addr", then "name:addr" unless equal.  NULL-terminated,
   malloc'd (docker_links_strv_free). */
char **docker_links_hosts (const char *const *links, const char *const *addrs);
/* body with hosts appended to HostConfig.ExtraHosts (entries already there,
   from the task's dockerConfig overlay, stay first).  malloc'd; NULL +
   ERR_INVALID if body is not a JSON object. */
char *docker_links_add_hosts (const char *body, const char *const *hosts, agent_error_t *err);
void docker_links_strv_free (char **v);

#endif
