/* engine/ports.h - host ports the agent picks itself for bridge-mode port
 * mappings without a hostPort, inside ECS_DYNAMIC_HOST_PORT_RANGE, as
 * upstream does.
 *
 * Contract: engine_ports_assign() walks the container's port mappings in
 * the order engine_create_req_build() expanded them into ports[] and gives
 * every binding with host port 0 a port of the configured range that the
 * probe says is free for that protocol: one port for a single mapping, n
 * contiguous ports for a containerPortRange of n.  The search starts just
 * after the last port handed out (remembered in *a, across tasks) and
 * wraps to the range start once.  Nothing free: -1 and *errmsg ("a host
 * port is unavailable" / "<n> contiguous host ports are unavailable").
 * Pure apart from the probe; engine_port_probe_bind() is the real probe
 * (binds a socket of the protocol on all addresses, then closes it).
 */
#ifndef ENGINE_PORTS_H
#define ENGINE_PORTS_H

#include <stdbool.h>
#include <stdint.h>
#include "docker/docker.h"
#include "engine/create_opts.h"
#include "task/task.h"

struct engine_port_alloc
{
  uint16_t last; /* last port handed out, 0 = none yet */
};

typedef bool (*engine_port_probe_fn) (uint16_t port, enum task_protocol proto, void *data);

bool engine_port_probe_bind (uint16_t port, enum task_protocol proto, void *data);

int engine_ports_assign (struct engine_port_alloc *a, const struct task_container *c,
                         struct docker_port_spec *ports, size_t n_ports, uint16_t range_start,
                         uint16_t range_end, engine_port_probe_fn probe, void *probe_data,
                         char **errmsg);

/* For the engine's create: the above with the real probe over r's
   bindings when g is set (the agent picks ports) and the task is in
   bridge mode; else nothing. */
int engine_ports_pick_for (struct engine_port_alloc *a, const struct task_option_gates *g,
                           const struct task *t, const struct task_container *c,
                           struct engine_create_req *r, char **errmsg);

#endif
