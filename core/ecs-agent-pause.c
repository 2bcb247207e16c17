/* ecs-agent-pause: the program of an awsvpc task's sandbox ("pause") container.
 *
 * It holds the network namespace the task's containers join, and does nothing else: it waits for
 * SIGTERM or SIGINT (docker stop) and exits 0, and reaps any child it inherits. As the container's
 * PID 1 it must handle those signals itself (the kernel ignores unhandled ones for PID 1). Built
 * statically: the image holds this file alone.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

static void
on_stop(int sig)
{
  (void)sig;
  _exit(0);
}

static void
on_child(int sig)
{
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0)
    ;
}

int
main(void)
{
  struct sigaction stop = { .sa_handler = on_stop };
  struct sigaction child = { .sa_handler = on_child, .sa_flags = SA_NOCLDSTOP | SA_RESTART };

  sigaction(SIGTERM, &stop, NULL);
  sigaction(SIGINT, &stop, NULL);
  sigaction(SIGCHLD, &child, NULL);
  for (;;)
    pause();
}
