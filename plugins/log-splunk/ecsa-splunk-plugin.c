/* The "splunk" logging driver (HTTP Event Collector): splunk-url and splunk-token are required;
 * the token is a secret and never appears in an error.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin.h"
#include "ecsa-log-options.h"

#include <string.h>

#define DRIVER "splunk"

static gboolean
splunk_init (const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  *out_state = NULL;
  return TRUE;
}

/* dockerd: an absolute http(s) URL whose path is empty or "/", with no query or fragment. */
static gboolean
check_url (const char *value, GError **error)
{
  g_autofree char *host = NULL;
  g_autofree char *authority = NULL;
  const char *rest;
  gsize len;
  gint port;

  if (g_str_has_prefix (value, "http://"))
    rest = value + strlen ("http://");
  else if (g_str_has_prefix (value, "https://"))
    rest = value + strlen ("https://");
  else
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be http://host[:port] or https://host[:port]");
      return FALSE;
    }
  len = strcspn (rest, "/?#");
  if (rest[len] != '\0' && g_strcmp0 (rest + len, "/") != 0)
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                           "must be scheme://host[:port] with no path, query or fragment");
      return FALSE;
    }
  authority = g_strndup (rest, len);
  if (*authority == '\0' || strchr (authority, '@') != NULL)
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must name a host (and no user)");
      return FALSE;
    }
  return ecsa_log_split_host_port (authority, TRUE, &host, &port, error);
}

static gboolean
check_format (const char *value, GError **error)
{
  if (g_strcmp0 (value, "inline") == 0 || g_strcmp0 (value, "json") == 0 || g_strcmp0 (value, "raw") == 0)
    return TRUE;
  g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be inline, json or raw");
  return FALSE;
}

static gboolean
check_gzip_level (const char *value, GError **error)
{
  gint64 level;

  if (!ecsa_log_options_parse_int (value, &level) || level < -1 || level > 9)
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be an integer from -1 to 9");
      return FALSE;
    }
  return TRUE;
}

static const EcsaLogOption splunk_options[] = {
  { "splunk-url", check_url, ECSA_LOG_OPTION_REQUIRED },
  { "splunk-token", NULL, ECSA_LOG_OPTION_REQUIRED | ECSA_LOG_OPTION_SECRET },
  { "splunk-source", NULL, 0 },
  { "splunk-sourcetype", NULL, 0 },
  { "splunk-index", NULL, 0 },
  { "splunk-capath", NULL, 0 },
  { "splunk-caname", NULL, 0 },
  { "splunk-insecureskipverify", ecsa_log_options_check_bool, 0 },
  { "splunk-format", check_format, 0 },
  { "splunk-verify-connection", ecsa_log_options_check_bool, 0 },
  { "splunk-gzip", ecsa_log_options_check_bool, 0 },
  { "splunk-gzip-level", check_gzip_level, 0 },
  { "splunk-index-acknowledgment", ecsa_log_options_check_bool, 0 },
  { NULL },
};

static gboolean
splunk_validate_options (gpointer state, GHashTable *options, GError **error)
{
  return ecsa_log_options_validate (DRIVER, options, splunk_options, ECSA_LOG_OPTIONS_ATTRS, error);
}

static const EcsaLogDriverVTable splunk_vtable = {
  .version = ECSA_LOG_DRIVER_VTABLE_VERSION,
  .driver = DRIVER,
  .min_docker_api_version = "1.22", /* agent v1.16.2's LoggingDriverMinimumVersion */
  .validate_options = splunk_validate_options,
};

static const char *const splunk_caps[] = { "com.amazonaws.ecs.capability.logging-driver.splunk", NULL };

ECSA_PLUGIN_DEFINE (log_splunk, .kind = ECSA_PLUGIN_KIND_LOG_DRIVER, .name = "splunk", .version = PACKAGE_VERSION,
                    .capabilities = splunk_caps, .init = splunk_init, .vtable = &splunk_vtable)
