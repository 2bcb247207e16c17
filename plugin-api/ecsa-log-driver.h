/* ecsa-log-driver.h: the log-driver plugin kind (ECSA_PLUGIN_KIND_LOG_DRIVER).
 *
 * One plugin per Docker logging driver. In agent v1.16.2 a driver is offered to ECS (the capability
 * com.amazonaws.ecs.capability.logging-driver.<driver>) when it is listed in
 * ECS_AVAILABLE_LOGGING_DRIVERS and Docker's API range includes the driver's minimum version; this
 * agent also requires the plugin to be loaded and usable (probe(), or Docker's /info list). For
 * each container whose hostConfig.LogConfig names the driver, the core calls fill_defaults() then
 * validate_options() before creating it; a failure refuses the container with the error's message
 * as the reason.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-plugin.h"

G_BEGIN_DECLS

#define ECSA_LOG_DRIVER_VTABLE_VERSION 1

typedef struct
{
  guint32 version; /* ECSA_LOG_DRIVER_VTABLE_VERSION the plugin was built with */
  guint32 padding_;
  const char *driver; /* Docker's name for the driver: "awslogs", "json-file", ... */
  /* The oldest Docker Engine API version that has the driver ("1.21" for awslogs, as agent v1.16.2's
   * LoggingDriverMinimumVersion), or NULL for none. The capability is offered only when Docker's
   * API range includes it. */
  const char *min_docker_api_version;

  /* since 1: is the driver usable here? docker_log_drivers is Docker's /info Plugins.Log list
   * (NULL-terminated). Return FALSE with ECSA_ERROR_NOT_SUPPORTED and the reason when it is not.
   * May be NULL: then the driver is usable exactly when Docker lists it. A driver Docker never
   * lists ("none") must provide probe(). When ECS_AVAILABLE_LOGGING_DRIVERS names only json-file and
   * none (built into every dockerd), the agent does not ask /info and the list is "json-file" alone. */
  gboolean (*probe) (gpointer state, const char *const *docker_log_drivers, GError **error);

  /* since 1: add the options users expect but did not write (awslogs-credentials-endpoint when
   * container->logs_auth_strategy is "ExecutionRole", awslogs-region from the agent's region, ...).
   * `options` maps char* to char* and owns its keys and values (g_free). Return FALSE with
   * ECSA_ERROR_INVALID_DATA when the container cannot be given a working configuration (agent v1.16.2:
   * "ExecutionRole" without execution role credentials). May be NULL. */
  gboolean (*fill_defaults) (gpointer state, const EcsaTaskView *task, const EcsaContainerView *container,
                             GHashTable *options, GError **error);

  /* since 1: check the options; on failure set ECSA_ERROR_INVALID_DATA with a message naming the
   * option and the reason ("awslogs-group: required"). May be NULL: everything is accepted. */
  gboolean (*validate_options) (gpointer state, GHashTable *options, GError **error);

  gpointer reserved[4];
} EcsaLogDriverVTable;

#if GLIB_SIZEOF_VOID_P == 8
G_STATIC_ASSERT (sizeof (EcsaLogDriverVTable) == 80);
#endif

G_END_DECLS
