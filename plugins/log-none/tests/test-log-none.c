/* test-log-none.c: the none log driver is always usable (dockerd does not list it in /info) and,
 * like dockerd and agent v1.16.2, accepts whatever options come with it.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-plugins.h"

const EcsaPluginDescriptor *ecsa_plugin_log_none_get_descriptor (void);

static void
test_descriptor (void)
{
  ecsa_test_check_descriptor (ecsa_plugin_log_none_get_descriptor (), ECSA_PLUGIN_KIND_LOG_DRIVER, "none",
                              (const char *const[]){ "com.amazonaws.ecs.capability.logging-driver.none", NULL });
}

static void
test_probe (void)
{
  const EcsaLogDriverVTable *vt = ecsa_plugin_log_none_get_descriptor ()->vtable;
  const char *const docker_20_10[] = { "awslogs", "fluentd", "gcplogs", "gelf", "journald", "json-file",
                                       "local", "logentries", "splunk", "syslog", NULL };
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (vt->probe);
  g_assert_true (vt->probe (NULL, docker_20_10, &error));
  g_assert_no_error (error);
}

static void
test_options_accepted (void)
{
  g_autoptr(EcsaTestHost) host = ecsa_test_host_new ();
  g_autoptr(EcsaTestPlugin) p = NULL;
  g_autoptr(GHashTable) options = ecsa_test_options_new ((const char *const[]){ "max-size", "10m", NULL });
  g_autoptr(GError) error = NULL;

  p = ecsa_test_plugin_init (ecsa_plugin_log_none_get_descriptor (), host, &error);
  g_assert_no_error (error);
  g_assert_true (ecsa_test_log_prepare (p, NULL, NULL, options, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (options), ==, 1);
}

int
main (int argc, char **argv)
{
  ecsa_test_plugins_init (&argc, &argv);
  g_test_add_func ("/log-none/descriptor", test_descriptor);
  g_test_add_func ("/log-none/probe", test_probe);
  g_test_add_func ("/log-none/options-accepted", test_options_accepted);
  return g_test_run ();
}
