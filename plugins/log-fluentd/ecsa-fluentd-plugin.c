/* The "fluentd" logging driver: fluentd-address (default tcp://127.0.0.1:24224, a bare
 * host[:port] is accepted as dockerd does), buffer, retry and async options.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin.h"
#include "ecsa-log-options.h"

#define DRIVER "fluentd"

static gboolean
fluentd_init (const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  *out_state = NULL;
  return TRUE;
}

static gboolean
check_address (const char *value, GError **error)
{
  g_autoptr(EcsaLogAddress) addr = NULL;

  if (*value == '\0')
    return TRUE;
  addr = ecsa_log_address_parse (value, TRUE, error);
  return addr != NULL;
}

static gboolean
check_max_retries (const char *value, GError **error)
{
  gint64 n;

  /* strconv.ParseUint: digits only */
  if (!g_ascii_isdigit (*value) || !ecsa_log_options_parse_int (value, &n))
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be an integer >= 0");
      return FALSE;
    }
  return TRUE;
}

static const EcsaLogOption fluentd_options[] = {
  { "fluentd-address", check_address, 0 },
  { "fluentd-async", ecsa_log_options_check_bool, 0 },
  { "fluentd-async-connect", ecsa_log_options_check_bool, 0 }, /* deprecated name of fluentd-async */
  { "fluentd-async-reconnect-interval", ecsa_log_options_check_duration, 0 },
  { "fluentd-buffer-limit", ecsa_log_options_check_binary_size, 0 },
  { "fluentd-max-retries", check_max_retries, 0 },
  { "fluentd-request-ack", ecsa_log_options_check_bool, 0 },
  { "fluentd-retry-wait", ecsa_log_options_check_duration, 0 },
  { "fluentd-sub-second-precision", ecsa_log_options_check_bool, 0 },
  { "fluentd-write-timeout", ecsa_log_options_check_duration, 0 },
  { "fluentd-read-timeout", ecsa_log_options_check_duration, 0 },
  { NULL },
};

static gboolean
fluentd_validate_options (gpointer state, GHashTable *options, GError **error)
{
  if (!ecsa_log_options_validate (DRIVER, options, fluentd_options, ECSA_LOG_OPTIONS_ATTRS, error))
    return FALSE;
  if (g_strcmp0 (g_hash_table_lookup (options, "fluentd-async"), "") > 0
      && g_strcmp0 (g_hash_table_lookup (options, "fluentd-async-connect"), "") > 0)
    {
      ecsa_log_options_set_error (error, "fluentd-async-connect",
                                  "conflicts with fluentd-async (its newer name): set only one");
      return FALSE;
    }
  return TRUE;
}

static const EcsaLogDriverVTable fluentd_vtable = {
  .version = ECSA_LOG_DRIVER_VTABLE_VERSION,
  .driver = DRIVER,
  .min_docker_api_version = "1.20", /* agent v1.16.2's LoggingDriverMinimumVersion */
  .validate_options = fluentd_validate_options,
};

static const char *const fluentd_caps[] = { "com.amazonaws.ecs.capability.logging-driver.fluentd", NULL };

ECSA_PLUGIN_DEFINE (log_fluentd, .kind = ECSA_PLUGIN_KIND_LOG_DRIVER, .name = "fluentd", .version = PACKAGE_VERSION,
                    .capabilities = fluentd_caps, .init = fluentd_init, .vtable = &fluentd_vtable)
