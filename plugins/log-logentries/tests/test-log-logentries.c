/* test-log-logentries.c: the logentries log driver's options, without Docker (the driver itself
 * only talks to data.logentries.com, so no test delivers to it).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-plugins.h"

const EcsaPluginDescriptor *ecsa_plugin_log_logentries_get_descriptor (void);

#define O(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define TOKEN "2bfbea1e-10c3-4419-bdad-7e6435882e1f"

static const EcsaTestLogCase cases[] = {
  { "token", O ("logentries-token", TOKEN), NULL },
  { "line-only", O ("logentries-token", TOKEN, "line-only", "true", "tag", "x", "labels", "a"), NULL },
  { "missing-token", NULL, "option 'logentries-token': required" },
  { "empty-token", O ("logentries-token", ""), "option 'logentries-token': required" },
  { "bad-line-only", O ("logentries-token", TOKEN, "line-only", "sometimes"),
    "option 'line-only': 'sometimes' must be a boolean", TOKEN },
  { "unknown", O ("logentries-token", TOKEN, "logentries-host", "h"), "option 'logentries-host': unknown option",
    TOKEN },
};

static void
test_descriptor (void)
{
  ecsa_test_check_descriptor (ecsa_plugin_log_logentries_get_descriptor (), ECSA_PLUGIN_KIND_LOG_DRIVER,
                              "logentries",
                              (const char *const[]){ "com.amazonaws.ecs.capability.logging-driver.logentries", NULL });
}

static void
test_no_secret_logged (void)
{
  ecsa_test_assert_no_secret (TOKEN);
}

int
main (int argc, char **argv)
{
  ecsa_test_plugins_init (&argc, &argv);
  g_test_add_func ("/log-logentries/descriptor", test_descriptor);
  ecsa_test_add_log_cases ("/log-logentries/options", ecsa_plugin_log_logentries_get_descriptor (), cases,
                           G_N_ELEMENTS (cases));
  g_test_add_func ("/log-logentries/zz/no-secret-logged", test_no_secret_logged);
  return g_test_run ();
}
