/* The "none" logging driver: Docker keeps no logs and takes no options.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin.h"

static gboolean
none_init (const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  *out_state = NULL;
  return TRUE;
}

/* Docker's /info never lists "none" among its log drivers, yet every Docker has it. */
static gboolean
none_probe (gpointer state, const char *const *docker_log_drivers, GError **error)
{
  return TRUE;
}

static gboolean
none_validate_options (gpointer state, GHashTable *options, GError **error)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, options);
  if (g_hash_table_iter_next (&iter, &key, NULL))
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "log driver 'none' takes no options, got '%s'",
                   (const char *) key);
      return FALSE;
    }
  return TRUE;
}

static const EcsaLogDriverVTable none_vtable = {
  .version = ECSA_LOG_DRIVER_VTABLE_VERSION,
  .driver = "none",
  .min_docker_api_version = "1.19", /* agent v1.16.2's LoggingDriverMinimumVersion */
  .probe = none_probe,
  .validate_options = none_validate_options,
};

static const char *const none_caps[] = { "com.amazonaws.ecs.capability.logging-driver.none", NULL };

ECSA_PLUGIN_DEFINE (log_none, .kind = ECSA_PLUGIN_KIND_LOG_DRIVER, .name = "none", .version = PACKAGE_VERSION,
                    .capabilities = none_caps, .init = none_init, .vtable = &none_vtable)
