/* main.c: options, signals, the loop, nothing else.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-build-config.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

int
main (int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "-version") == 0 || strcmp (argv[i], "--version") == 0)
        {
          printf ("Amazon ECS Agent - v%s (ecs-agent %s)\n", ECSA_COMPAT_VERSION, PACKAGE_VERSION);
          return 0;
        }
    }
  g_printerr ("ecs-agent: not assembled yet\n");
  return 1;
}
