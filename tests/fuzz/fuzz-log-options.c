/* fuzz-log-options.c: a task's log options (untrusted, from the task definition) through every
 * log-driver plugin's validate_options, and the shared value parsers. Input: the first line names
 * the driver, then "key=value" lines. Invariants: no crash or leak; a refusal is
 * ECSA_ERROR_INVALID_DATA with a message that never quotes a secret option's value (splunk-token,
 * logentries-token).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-log-options.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

const EcsaPluginDescriptor *ecsa_plugin_log_json_file_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_syslog_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_journald_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_gelf_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_fluentd_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_awslogs_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_splunk_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_logentries_get_descriptor (void);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const EcsaPluginDescriptor *const plugins[] = {
    ecsa_plugin_log_json_file_get_descriptor (), ecsa_plugin_log_syslog_get_descriptor (),
    ecsa_plugin_log_journald_get_descriptor (),  ecsa_plugin_log_gelf_get_descriptor (),
    ecsa_plugin_log_fluentd_get_descriptor (),   ecsa_plugin_log_awslogs_get_descriptor (),
    ecsa_plugin_log_splunk_get_descriptor (),    ecsa_plugin_log_logentries_get_descriptor (),
  };
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_auto(GStrv) lines = g_strsplit (text, "\n", 64);
  g_autoptr(GHashTable) options = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GError) error = NULL;
  const EcsaPluginDescriptor *d = plugins[0];
  const EcsaLogDriverVTable *vt;
  GHashTableIter iter;
  gpointer k, v;
  guint i;

  if (lines[0] == NULL)
    return 0;
  for (i = 0; i < G_N_ELEMENTS (plugins); i++)
    {
      if (g_strcmp0 (((const EcsaLogDriverVTable *) plugins[i]->vtable)->driver, lines[0]) == 0)
        d = plugins[i];
    }
  for (i = 1; lines[i] != NULL; i++)
    {
      char *eq = strchr (lines[i], '=');
      if (eq == NULL)
        continue;
      g_hash_table_replace (options, g_strndup (lines[i], (gsize) (eq - lines[i])), g_strdup (eq + 1));
    }

  /* the value parsers, on every value */
  g_hash_table_iter_init (&iter, options);
  while (g_hash_table_iter_next (&iter, &k, &v))
    {
      gint64 n;
      gboolean b;
      g_autoptr(EcsaLogAddress) a = ecsa_log_address_parse (v, (g_str_hash (k) & 1) != 0, NULL);

      (void) a;

      (void) ecsa_log_options_parse_size (v, FALSE, &n);
      (void) ecsa_log_options_parse_size (v, TRUE, &n);
      (void) ecsa_log_options_parse_duration (v, &n);
      (void) ecsa_log_options_parse_int (v, &n);
      (void) ecsa_log_options_parse_bool (v, &b);
    }

  /* validate_options needs no state in these plugins */
  vt = d->vtable;
  if (!vt->validate_options (NULL, options, &error))
    {
      const char *const secrets[] = { "splunk-token", "logentries-token" };

      g_assert_nonnull (error);
      g_assert_true (error->domain == ECSA_ERROR && error->code == ECSA_ERROR_INVALID_DATA);
      for (i = 0; i < G_N_ELEMENTS (secrets); i++)
        {
          const char *secret = g_hash_table_lookup (options, secrets[i]);
          if (secret != NULL && strlen (secret) >= 8 && strstr (error->message, secret) != NULL)
            g_error ("an error quotes %s: %s", secrets[i], error->message);
        }
    }
  else
    g_assert_null (error);
  return 0;
}
