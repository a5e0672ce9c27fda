/* core/exitcodes.h - the process exit codes, as upstream's exitcodes.go.
 * Only main() exits; supervisors (ecs-init, systemd) act on these values. */
#ifndef CORE_EXITCODES_H
#define CORE_EXITCODES_H

enum agent_exit_code
{
  EXIT_OK = 0,          /* -version, clean SIGTERM/SIGINT shutdown */
  EXIT_ERROR = 1,       /* retriable failure: restart me */
  EXIT_USAGE = 2,       /* bad command-line flag (Go's flag package) */
  EXIT_TERMINAL = 5,    /* do not restart: bad config, corrupt checkpoint, rejected registration */
  EXIT_UPDATE = 42,     /* an update was staged: the supervisor loads it and restarts */
};

#endif
