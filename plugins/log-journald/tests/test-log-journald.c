/* test-log-journald.c: the journald log driver is not offered where there is no journal (this
 * machine has no systemd), with the reason; its options where it is.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-plugins.h"

const EcsaPluginDescriptor *ecsa_plugin_log_journald_get_descriptor (void);

#define JOURNAL "/run/systemd/journal/socket"

static void
test_descriptor (void)
{
  ecsa_test_check_descriptor (ecsa_plugin_log_journald_get_descriptor (), ECSA_PLUGIN_KIND_LOG_DRIVER, "journald",
                              (const char *const[]){ "com.amazonaws.ecs.capability.logging-driver.journald", NULL });
}

/* The plugin's verdict is the same as dockerd's: a datagram socket at JOURNAL that accepts a
 * connection. Checked against the host as it is, whichever way it is. */
static void
test_availability (void)
{
  g_autoptr(EcsaTestHost) host = ecsa_test_host_new ();
  g_autoptr(EcsaTestPlugin) p = NULL;
  g_autoptr(GError) error = NULL;

  p = ecsa_test_plugin_init (ecsa_plugin_log_journald_get_descriptor (), host, &error);
  if (!g_file_test (JOURNAL, G_FILE_TEST_EXISTS))
    {
      g_test_message ("no %s here: journald must be reported unavailable", JOURNAL);
      g_assert_null (p);
      g_assert_error (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
      g_assert_nonnull (strstr (error->message, "no journald socket at '" JOURNAL "'"));
    }
  else
    {
      g_test_message ("%s exists here: journald must be available", JOURNAL);
      g_assert_no_error (error);
      g_assert_nonnull (p);
    }
}

static void
check_options (const char *const *kv, const char *fragment)
{
  const EcsaLogDriverVTable *vt = ecsa_plugin_log_journald_get_descriptor ()->vtable;
  g_autoptr(GHashTable) options = ecsa_test_options_new (kv);
  g_autoptr(GError) error = NULL;
  gboolean ok = vt->validate_options (NULL, options, &error);

  if (fragment == NULL)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
    }
  else
    {
      g_assert_false (ok);
      g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
      g_assert_nonnull (strstr (error->message, fragment));
    }
}

/* The options are checked without init (which fails on this host), as the slots take no state. */
static void
test_options (void)
{
  check_options (NULL, NULL);
  check_options ((const char *const[]){ "tag", "{{.Name}}", "labels", "a", "env", "B", "env-regex", ".",
                                        "labels-regex", ".", "mode", "non-blocking", NULL },
                 NULL);
  check_options ((const char *const[]){ "journald-unit", "x", NULL },
                 "option 'journald-unit': unknown option");
  check_options ((const char *const[]){ "mode", "sometimes", NULL }, "option 'mode'");
}

int
main (int argc, char **argv)
{
  ecsa_test_plugins_init (&argc, &argv);
  g_test_add_func ("/log-journald/descriptor", test_descriptor);
  g_test_add_func ("/log-journald/availability", test_availability);
  g_test_add_func ("/log-journald/options", test_options);
  return g_test_run ();
}
