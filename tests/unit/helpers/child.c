/* helpers/child.c - see child.h. */
#include "helpers/child.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "core/xmalloc.h"

static char repo_root[PATH_MAX];

const char *
test_repo_root (void)
{
  if (repo_root[0])
    return repo_root;
  char dir[PATH_MAX];
  if (!getcwd (dir, sizeof dir))
    return NULL;
  for (;;)
    {
      char p[PATH_MAX + 64];
      snprintf (p, sizeof p, "%s/controlplane/__main__.py", dir);
      if (access (p, R_OK) == 0)
        {
          memcpy (repo_root, dir, sizeof dir);
          return repo_root;
        }
      char *sl = strrchr (dir, '/');
      if (!sl || sl == dir)
        return NULL;
      *sl = '\0';
    }
}

int
test_child_start (struct test_child *c, char *const argv[])
{
  memset (c, 0, sizeof *c);
  const char *root = test_repo_root ();
  int fds[2];
  if (!root || pipe (fds) < 0)
    return -1;
  c->pid = fork ();
  if (c->pid < 0)
    {
      close (fds[0]);
      close (fds[1]);
      c->pid = 0;
      return -1;
    }
  if (c->pid == 0)
    {
      prctl (PR_SET_PDEATHSIG, SIGTERM);
      if (chdir (root) < 0)
        _exit (127);
      dup2 (fds[1], 1);
      close (fds[0]);
      close (fds[1]);
      int dn = open ("/dev/null", O_WRONLY);
      if (dn >= 0 && !getenv ("ECS_TEST_VERBOSE"))
        dup2 (dn, 2);
      execv (argv[0], argv);
      _exit (127);
    }
  close (fds[1]);
  char buf[1024];
  size_t n = 0;
  while (n < sizeof buf - 1)
    {
      ssize_t r = read (fds[0], buf + n, 1);
      if (r <= 0 || buf[n] == '\n')
        break;
      n++;
    }
  buf[n] = '\0';
  close (fds[0]);
  c->line = xstrdup (buf);
  return n ? 0 : -1;
}

void
test_child_stop (struct test_child *c)
{
  if (c->pid > 0)
    {
      kill (c->pid, SIGTERM);
      int st;
      for (int i = 0; i < 50 && c->pid > 0; i++)
        {
          if (waitpid (c->pid, &st, WNOHANG) == c->pid)
            c->pid = 0;
          else
            usleep (100000); /* poll interval of this bounded wait for the exit */
        }
      if (c->pid > 0)
        {
          kill (c->pid, SIGKILL);
          waitpid (c->pid, &st, 0);
        }
    }
  free (c->line);
  memset (c, 0, sizeof *c);
}
