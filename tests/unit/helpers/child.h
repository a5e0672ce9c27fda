/* helpers/child.h - child processes for the C test suites (the local
 * control plane, small Python servers): started from the repository root,
 * their first stdout line read as their address, stopped with SIGTERM and,
 * after 5 s, SIGKILL.  A child dies with the test (PR_SET_PDEATHSIG). */
#ifndef TEST_HELPERS_CHILD_H
#define TEST_HELPERS_CHILD_H

#include <sys/types.h>

struct test_child
{
  pid_t pid;
  char *line; /* first stdout line, without the newline */
};

/* The repository root (the folder holding controlplane/), found upwards
   from the working directory; NULL if there is none. */
const char *test_repo_root (void);

/* Start argv[0] (an absolute path) with cwd = the repository root; returns
   once its first stdout line is read.  <0 if it could not start or printed
   nothing (c->pid may still need test_child_stop). */
int test_child_start (struct test_child *c, char *const argv[]);

/* Stop (if running), reap and free; safe on a zeroed or stopped child. */
void test_child_stop (struct test_child *c);

#endif
