/* The "logentries" logging driver: logentries-token is required (a secret, never quoted in an
 * error); line-only is a boolean.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin.h"
#include "ecsa-log-options.h"

#define DRIVER "logentries"

static gboolean
logentries_init (const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  *out_state = NULL;
  return TRUE;
}

static const EcsaLogOption logentries_options[] = {
  { "logentries-token", NULL, ECSA_LOG_OPTION_REQUIRED | ECSA_LOG_OPTION_SECRET },
  { "line-only", ecsa_log_options_check_bool, 0 },
  { NULL },
};

static gboolean
logentries_validate_options (gpointer state, GHashTable *options, GError **error)
{
  return ecsa_log_options_validate (DRIVER, options, logentries_options, ECSA_LOG_OPTIONS_ATTRS, error);
}

static const EcsaLogDriverVTable logentries_vtable = {
  .version = ECSA_LOG_DRIVER_VTABLE_VERSION,
  .driver = DRIVER,
  .min_docker_api_version = "1.25", /* agent v1.16.2's LoggingDriverMinimumVersion */
  .validate_options = logentries_validate_options,
};

static const char *const logentries_caps[] = { "com.amazonaws.ecs.capability.logging-driver.logentries", NULL };

ECSA_PLUGIN_DEFINE (log_logentries, .kind = ECSA_PLUGIN_KIND_LOG_DRIVER, .name = "logentries",
                    .version = PACKAGE_VERSION, .capabilities = logentries_caps, .init = logentries_init,
                    .vtable = &logentries_vtable)
