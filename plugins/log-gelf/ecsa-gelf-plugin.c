/* The "gelf" logging driver (Graylog): gelf-address is required and must be udp:// or tcp://
 * host:port; compression options are UDP-only and reconnect options TCP-only, as in dockerd.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin.h"
#include "ecsa-log-options.h"

#define DRIVER "gelf"

static gboolean
gelf_init (const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  *out_state = NULL;
  return TRUE;
}

static gboolean
check_address (const char *value, GError **error)
{
  g_autoptr(EcsaLogAddress) addr = ecsa_log_address_parse (value, FALSE, error);

  if (addr == NULL)
    return FALSE;
  if (g_strcmp0 (addr->scheme, "udp") != 0 && g_strcmp0 (addr->scheme, "tcp") != 0)
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be udp:// or tcp://");
      return FALSE;
    }
  if (addr->port < 0 || *addr->host == '\0')
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be proto://host:port");
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_compression_level (const char *value, GError **error)
{
  gint64 level;

  if (!ecsa_log_options_parse_int (value, &level) || level < -1 || level > 9)
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be an integer from -1 to 9");
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_compression_type (const char *value, GError **error)
{
  if (g_strcmp0 (value, "gzip") == 0 || g_strcmp0 (value, "zlib") == 0 || g_strcmp0 (value, "none") == 0)
    return TRUE;
  g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be gzip, zlib or none");
  return FALSE;
}

static const EcsaLogOption gelf_options[] = {
  { "gelf-address", check_address, ECSA_LOG_OPTION_REQUIRED },
  { "gelf-compression-level", check_compression_level, 0 },
  { "gelf-compression-type", check_compression_type, 0 },
  { "gelf-tcp-max-reconnect", ecsa_log_options_check_non_negative_int, 0 },
  { "gelf-tcp-reconnect-delay", ecsa_log_options_check_non_negative_int, 0 },
  { NULL },
};

static gboolean
gelf_validate_options (gpointer state, GHashTable *options, GError **error)
{
  static const char *const udp_only[] = { "gelf-compression-level", "gelf-compression-type" };
  static const char *const tcp_only[] = { "gelf-tcp-max-reconnect", "gelf-tcp-reconnect-delay" };
  const char *address;
  gboolean udp;
  guint i;

  if (!ecsa_log_options_validate (DRIVER, options, gelf_options, ECSA_LOG_OPTIONS_ATTRS, error))
    return FALSE;
  address = g_hash_table_lookup (options, "gelf-address");
  udp = g_str_has_prefix (address, "udp://");
  for (i = 0; i < G_N_ELEMENTS (udp_only); i++)
    {
      if (!udp && g_hash_table_contains (options, udp_only[i]))
        {
          ecsa_log_options_set_error (error, udp_only[i], "compression is only supported over udp://");
          return FALSE;
        }
      if (udp && g_hash_table_contains (options, tcp_only[i]))
        {
          ecsa_log_options_set_error (error, tcp_only[i], "only valid over tcp://");
          return FALSE;
        }
    }
  return TRUE;
}

static const EcsaLogDriverVTable gelf_vtable = {
  .version = ECSA_LOG_DRIVER_VTABLE_VERSION,
  .driver = DRIVER,
  .min_docker_api_version = "1.20", /* agent v1.16.2's LoggingDriverMinimumVersion */
  .validate_options = gelf_validate_options,
};

static const char *const gelf_caps[] = { "com.amazonaws.ecs.capability.logging-driver.gelf", NULL };

ECSA_PLUGIN_DEFINE (log_gelf, .kind = ECSA_PLUGIN_KIND_LOG_DRIVER, .name = "gelf", .version = PACKAGE_VERSION,
                    .capabilities = gelf_caps, .init = gelf_init, .vtable = &gelf_vtable)
