/* test-log-splunk.c: the splunk log driver's options, without Docker; the token never appears
 * in an error.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-plugins.h"

const EcsaPluginDescriptor *ecsa_plugin_log_splunk_get_descriptor (void);

#define O(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define TOKEN "0b1d3c9e-hec-token-secret"

static const EcsaTestLogCase cases[] = {
  { "minimal", O ("splunk-url", "https://127.0.0.1:8088", "splunk-token", TOKEN), NULL },
  { "trailing-slash", O ("splunk-url", "http://127.0.0.1:8088/", "splunk-token", TOKEN), NULL },
  { "all", O ("splunk-url", "https://127.0.0.1:8088", "splunk-token", TOKEN, "splunk-source", "s", "splunk-sourcetype",
              "t", "splunk-index", "i", "splunk-capath", "/ca.pem", "splunk-caname", "SplunkServerDefaultCert",
              "splunk-insecureskipverify", "false", "splunk-format", "json", "splunk-verify-connection", "false",
              "splunk-gzip", "true", "splunk-gzip-level", "-1", "splunk-index-acknowledgment", "true", "tag", ""),
    NULL },
  { "missing-url", O ("splunk-token", TOKEN), "option 'splunk-url': required", TOKEN },
  { "missing-token", O ("splunk-url", "https://127.0.0.1:8088"), "option 'splunk-token': required" },
  { "url-with-path", O ("splunk-url", "https://127.0.0.1:8088/services/collector", "splunk-token", TOKEN),
    "with no path, query or fragment", TOKEN },
  { "url-scheme", O ("splunk-url", "127.0.0.1:8088", "splunk-token", TOKEN), "must be http://host[:port]", TOKEN },
  { "bad-format", O ("splunk-url", "https://127.0.0.1:8088", "splunk-token", TOKEN, "splunk-format", "xml"),
    "option 'splunk-format': 'xml' must be inline, json or raw", TOKEN },
  { "bad-gzip-level", O ("splunk-url", "https://127.0.0.1:8088", "splunk-token", TOKEN, "splunk-gzip-level", "11"),
    "option 'splunk-gzip-level'", TOKEN },
  { "bad-bool", O ("splunk-url", "https://127.0.0.1:8088", "splunk-token", TOKEN, "splunk-gzip", "on"),
    "option 'splunk-gzip': 'on' must be a boolean", TOKEN },
  { "unknown", O ("splunk-url", "https://127.0.0.1:8088", "splunk-token", TOKEN, "splunk-host", "h"),
    "option 'splunk-host': unknown option", TOKEN },
};

static void
test_descriptor (void)
{
  ecsa_test_check_descriptor (ecsa_plugin_log_splunk_get_descriptor (), ECSA_PLUGIN_KIND_LOG_DRIVER, "splunk",
                              (const char *const[]){ "com.amazonaws.ecs.capability.logging-driver.splunk", NULL });
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
  g_test_add_func ("/log-splunk/descriptor", test_descriptor);
  ecsa_test_add_log_cases ("/log-splunk/options", ecsa_plugin_log_splunk_get_descriptor (), cases,
                           G_N_ELEMENTS (cases));
  g_test_add_func ("/log-splunk/zz/no-secret-logged", test_no_secret_logged);
  return g_test_run ();
}
