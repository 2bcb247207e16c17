/* The "none" logging driver: Docker keeps no logs.
 *
 * dockerd does not list "none" among its log plugins in /info (it is built in), so probe() says it
 * is always usable; and dockerd accepts and ignores any option given with it (its option check
 * returns early for "none"), as agent v1.16.2 passed them through, so options are accepted too:
 * refusing them would break task definitions that run on the agent this one replaces.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin.h"

static gboolean
none_init (const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  *out_state = NULL;
  return TRUE;
}

static gboolean
none_probe (gpointer state, const char *const *docker_log_drivers, GError **error)
{
  return TRUE;
}

static const EcsaLogDriverVTable none_vtable = {
  .version = ECSA_LOG_DRIVER_VTABLE_VERSION,
  .driver = "none",
  .min_docker_api_version = "1.19", /* agent v1.16.2's LoggingDriverMinimumVersion */
  .probe = none_probe,
  .validate_options = NULL, /* everything is accepted, see above */
};

static const char *const none_caps[] = { "com.amazonaws.ecs.capability.logging-driver.none", NULL };

ECSA_PLUGIN_DEFINE (log_none, .kind = ECSA_PLUGIN_KIND_LOG_DRIVER, .name = "none", .version = PACKAGE_VERSION,
                    .capabilities = none_caps, .init = none_init, .vtable = &none_vtable)
