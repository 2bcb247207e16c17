/* The "syslog" logging driver: syslog-address, -facility, -format and the TLS options, checked as
 * dockerd checks them. File paths (unix sockets, TLS certificates) are left to dockerd, which sees
 * the host's filesystem even when the agent runs in a container.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin.h"
#include "ecsa-log-options.h"

#define DRIVER "syslog"

static gboolean
syslog_init (const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  *out_state = NULL;
  return TRUE;
}

static gboolean
check_address (const char *value, GError **error)
{
  g_autoptr(EcsaLogAddress) addr = NULL;

  if (*value == '\0') /* the local syslog socket */
    return TRUE;
  addr = ecsa_log_address_parse (value, FALSE, error);
  if (addr == NULL)
    return FALSE;
  if (addr->path == NULL && *addr->host == '\0')
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "has no host");
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_facility (const char *value, GError **error)
{
  static const char *const names[] = { "kern",     "user",   "mail",   "daemon", "auth",   "syslog", "lpr",
                                       "news",     "uucp",   "cron",   "authpriv", "ftp", "local0", "local1",
                                       "local2",   "local3", "local4", "local5", "local6", "local7" };
  gint64 n;
  guint i;

  if (*value == '\0')
    return TRUE;
  for (i = 0; i < G_N_ELEMENTS (names); i++)
    {
      if (g_strcmp0 (value, names[i]) == 0)
        return TRUE;
    }
  if (ecsa_log_options_parse_int (value, &n) && n >= 0 && n <= 23)
    return TRUE;
  g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                       "is not a syslog facility (kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, "
                       "authpriv, ftp, local0..local7, or 0..23)");
  return FALSE;
}

static gboolean
check_format (const char *value, GError **error)
{
  if (*value == '\0' || g_strcmp0 (value, "rfc3164") == 0 || g_strcmp0 (value, "rfc5424") == 0
      || g_strcmp0 (value, "rfc5424micro") == 0)
    return TRUE;
  g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "is not rfc3164, rfc5424 or rfc5424micro");
  return FALSE;
}

static const EcsaLogOption syslog_options[] = {
  { "syslog-address", check_address, 0 },
  { "syslog-facility", check_facility, 0 },
  { "syslog-format", check_format, 0 },
  { "syslog-tls-ca-cert", NULL, 0 },
  { "syslog-tls-cert", NULL, 0 },
  { "syslog-tls-key", NULL, 0 },
  { "syslog-tls-skip-verify", NULL, 0 }, /* dockerd looks only at its presence */
  { NULL },
};

static gboolean
syslog_validate_options (gpointer state, GHashTable *options, GError **error)
{
  const char *address;
  gboolean has_cert, has_key;

  if (!ecsa_log_options_validate (DRIVER, options, syslog_options, ECSA_LOG_OPTIONS_ATTRS, error))
    return FALSE;
  /* Over tcp+tls dockerd loads the client certificate and key as a pair, at container start. */
  address = g_hash_table_lookup (options, "syslog-address");
  has_cert = g_hash_table_contains (options, "syslog-tls-cert");
  has_key = g_hash_table_contains (options, "syslog-tls-key");
  if (address != NULL && g_str_has_prefix (address, "tcp+tls://") && has_cert != has_key)
    {
      ecsa_log_options_set_error (error, has_cert ? "syslog-tls-key" : "syslog-tls-cert",
                                  "required with %s", has_cert ? "syslog-tls-cert" : "syslog-tls-key");
      return FALSE;
    }
  return TRUE;
}

static const EcsaLogDriverVTable syslog_vtable = {
  .version = ECSA_LOG_DRIVER_VTABLE_VERSION,
  .driver = DRIVER,
  .min_docker_api_version = "1.18", /* agent v1.16.2's LoggingDriverMinimumVersion */
  .validate_options = syslog_validate_options,
};

static const char *const syslog_caps[] = { "com.amazonaws.ecs.capability.logging-driver.syslog", NULL };

ECSA_PLUGIN_DEFINE (log_syslog, .kind = ECSA_PLUGIN_KIND_LOG_DRIVER, .name = "syslog", .version = PACKAGE_VERSION,
                    .capabilities = syslog_caps, .init = syslog_init, .vtable = &syslog_vtable)
