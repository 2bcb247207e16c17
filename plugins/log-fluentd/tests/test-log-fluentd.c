/* test-log-fluentd.c: the fluentd log driver's options, without Docker.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-plugins.h"

const EcsaPluginDescriptor *ecsa_plugin_log_fluentd_get_descriptor (void);

#define O(...) ((const char *const[]){ __VA_ARGS__, NULL })

static const EcsaTestLogCase cases[] = {
  { "default-address", NULL, NULL },
  { "tcp", O ("fluentd-address", "tcp://127.0.0.1:24224", "tag", "docker.{{.Name}}"), NULL },
  { "bare-host", O ("fluentd-address", "127.0.0.1"), NULL },
  { "bare-host-port", O ("fluentd-address", "127.0.0.1:24225"), NULL },
  { "unix", O ("fluentd-address", "unix:///var/run/fluent.sock"), NULL },
  { "tuning", O ("fluentd-async", "true", "fluentd-buffer-limit", "8m", "fluentd-retry-wait", "1.5s",
                 "fluentd-max-retries", "10", "fluentd-sub-second-precision", "true", "fluentd-request-ack", "false"),
    NULL },
  { "newer-options", O ("fluentd-async-reconnect-interval", "100ms", "fluentd-write-timeout", "1m30s",
                        "fluentd-read-timeout", "2s"), NULL },
  { "deprecated-async", O ("fluentd-async-connect", "true"), NULL },
  { "both-async", O ("fluentd-async", "true", "fluentd-async-connect", "true"),
    "option 'fluentd-async-connect': conflicts with fluentd-async" },
  { "bad-duration", O ("fluentd-retry-wait", "1000"), "option 'fluentd-retry-wait': '1000' must be a duration" },
  { "bad-duration-unit", O ("fluentd-retry-wait", "1y"), "must be a duration" },
  { "bad-retries", O ("fluentd-max-retries", "-1"), "option 'fluentd-max-retries': '-1' must be an integer >= 0" },
  { "bad-buffer", O ("fluentd-buffer-limit", "lots"), "option 'fluentd-buffer-limit'" },
  { "bad-async", O ("fluentd-async", "yes"), "option 'fluentd-async': 'yes' must be a boolean" },
  { "bad-address", O ("fluentd-address", "tcp://127.0.0.1:port!"), "option 'fluentd-address'" },
  { "unknown", O ("fluentd-tag", "x"), "option 'fluentd-tag': unknown option" },
};

static void
test_descriptor (void)
{
  ecsa_test_check_descriptor (ecsa_plugin_log_fluentd_get_descriptor (), ECSA_PLUGIN_KIND_LOG_DRIVER, "fluentd",
                              (const char *const[]){ "com.amazonaws.ecs.capability.logging-driver.fluentd", NULL });
}

int
main (int argc, char **argv)
{
  ecsa_test_plugins_init (&argc, &argv);
  g_test_add_func ("/log-fluentd/descriptor", test_descriptor);
  ecsa_test_add_log_cases ("/log-fluentd/options", ecsa_plugin_log_fluentd_get_descriptor (), cases,
                           G_N_ELEMENTS (cases));
  return g_test_run ();
}
