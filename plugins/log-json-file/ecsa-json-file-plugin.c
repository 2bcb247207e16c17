/* The "json-file" logging driver (Docker's default): options checked as dockerd checks them when
 * it creates the logger, so a bad max-size or max-file refuses the task instead of failing the
 * container at start.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin.h"
#include "ecsa-log-options.h"

#define DRIVER "json-file"

static gboolean
json_file_init (const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  *out_state = NULL;
  return TRUE;
}

static gboolean
check_max_size (const char *value, GError **error)
{
  gint64 bytes;

  if (!ecsa_log_options_parse_size (value, FALSE, &bytes) || bytes <= 0)
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be a positive size such as 10m or 512k");
      return FALSE;
    }
  return TRUE;
}

static const EcsaLogOption json_file_options[] = {
  { "max-size", check_max_size, 0 },
  { "max-file", ecsa_log_options_check_positive_int, 0 },
  { "compress", ecsa_log_options_check_bool, 0 },
  { NULL },
};

static gboolean
json_file_validate_options (gpointer state, GHashTable *options, GError **error)
{
  gint64 max_file = 1;
  gboolean compress = FALSE;
  const char *value;

  if (!ecsa_log_options_validate (DRIVER, options, json_file_options, ECSA_LOG_OPTIONS_ATTRS, error))
    return FALSE;

  value = g_hash_table_lookup (options, "max-file");
  if (value != NULL)
    ecsa_log_options_parse_int (value, &max_file);
  value = g_hash_table_lookup (options, "compress");
  if (value != NULL)
    ecsa_log_options_parse_bool (value, &compress);
  if (compress && (max_file < 2 || !g_hash_table_contains (options, "max-size")))
    {
      ecsa_log_options_set_error (error, "compress", "needs max-file of 2 or more and max-size");
      return FALSE;
    }
  return TRUE;
}

static const EcsaLogDriverVTable json_file_vtable = {
  .version = ECSA_LOG_DRIVER_VTABLE_VERSION,
  .driver = DRIVER,
  .min_docker_api_version = "1.18", /* agent v1.16.2's LoggingDriverMinimumVersion */
  .validate_options = json_file_validate_options,
};

static const char *const json_file_caps[] = { "com.amazonaws.ecs.capability.logging-driver.json-file", NULL };

ECSA_PLUGIN_DEFINE (log_json_file, .kind = ECSA_PLUGIN_KIND_LOG_DRIVER, .name = "json-file",
                    .version = PACKAGE_VERSION, .capabilities = json_file_caps, .init = json_file_init,
                    .vtable = &json_file_vtable)
