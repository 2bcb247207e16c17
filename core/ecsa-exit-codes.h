/* ecsa-exit-codes.h: the process exit codes, as agent v1.16.2 (sighandlers/exitcodes) defines
 * them. Init systems and ecs-init act on them, so they are part of the compatibility surface.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  ECSA_EXIT_SUCCESS = 0,  /* nothing to restart: a clean shutdown (SIGTERM/SIGINT) or a one-shot flag */
  ECSA_EXIT_ERROR = 1,    /* failed, restart me (transient: config incomplete, Docker down, ...) */
  ECSA_EXIT_TERMINAL = 5, /* failed, do not restart (bad flags, cluster mismatch, unusable state) */
  ECSA_EXIT_UPDATE = 42,  /* an update was staged in ECS_UPDATE_DOWNLOAD_DIR: restart into it */
} EcsaExitCode;

/* A GError whose code is the EcsaExitCode the agent should exit with. Start-up steps and parts
 * that know how the process must end fail with it; any other error counts as ECSA_EXIT_ERROR. */
#define ECSA_EXIT_CODE_ERROR (g_quark_from_static_string("ecsa-exit-code-error-quark"))

static inline int
ecsa_exit_code_for_error(const GError *error)
{
  if (error == NULL || g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return ECSA_EXIT_SUCCESS;
  if (error->domain == ECSA_EXIT_CODE_ERROR)
    return error->code;
  return ECSA_EXIT_ERROR;
}

G_END_DECLS
