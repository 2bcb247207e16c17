/* test-log-syslog.c: the syslog log driver's options, without Docker.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-plugins.h"

const EcsaPluginDescriptor *ecsa_plugin_log_syslog_get_descriptor (void);

#define O(...) ((const char *const[]){ __VA_ARGS__, NULL })

static const EcsaTestLogCase cases[] = {
  { "local", NULL, NULL },
  { "udp", O ("syslog-address", "udp://127.0.0.1:514", "syslog-facility", "local3", "tag", "app"), NULL },
  { "udp-default-port", O ("syslog-address", "udp://127.0.0.1"), NULL },
  { "tcp-ipv6", O ("syslog-address", "tcp://[::1]:601", "syslog-format", "rfc5424micro"), NULL },
  { "tls", O ("syslog-address", "tcp+tls://127.0.0.1:6514", "syslog-tls-ca-cert", "/etc/ca.pem", "syslog-tls-cert",
              "/etc/c.pem", "syslog-tls-key", "/etc/k.pem", "syslog-tls-skip-verify", ""), NULL },
  { "unix", O ("syslog-address", "unix:///dev/log", "syslog-format", "rfc3164"), NULL },
  { "facility-number", O ("syslog-facility", "23"), NULL },
  { "service-port", O ("syslog-address", "udp://127.0.0.1:syslog"), NULL },
  { "unknown", O ("syslog-adress", "udp://127.0.0.1"), "option 'syslog-adress': unknown option" },
  { "no-scheme", O ("syslog-address", "127.0.0.1:514"), "option 'syslog-address': '127.0.0.1:514' must be proto://address" },
  { "bad-scheme", O ("syslog-address", "http://127.0.0.1:514"), "must be proto://address" },
  { "bad-port", O ("syslog-address", "udp://127.0.0.1:70000"), "'udp://127.0.0.1:70000' has port '70000', not in 0..65535" },
  { "empty-port", O ("syslog-address", "udp://127.0.0.1:"), "has an empty port" },
  { "ipv6-no-brackets", O ("syslog-address", "udp://::1:514"), "has too many colons" },
  { "path", O ("syslog-address", "udp://127.0.0.1:514/x"), "no path" },
  { "no-host", O ("syslog-address", "tcp://:514"), "has no host" },
  { "bad-facility", O ("syslog-facility", "local9"), "option 'syslog-facility': 'local9' is not a syslog facility" },
  { "facility-range", O ("syslog-facility", "24"), "is not a syslog facility" },
  { "bad-format", O ("syslog-format", "rfc9999"), "option 'syslog-format': 'rfc9999' is not rfc3164" },
  { "tls-cert-without-key", O ("syslog-address", "tcp+tls://127.0.0.1:6514", "syslog-tls-cert", "/etc/c.pem"),
    "option 'syslog-tls-key': required with syslog-tls-cert" },
};

static void
test_descriptor (void)
{
  ecsa_test_check_descriptor (ecsa_plugin_log_syslog_get_descriptor (), ECSA_PLUGIN_KIND_LOG_DRIVER, "syslog",
                              (const char *const[]){ "com.amazonaws.ecs.capability.logging-driver.syslog", NULL });
}

int
main (int argc, char **argv)
{
  ecsa_test_plugins_init (&argc, &argv);
  g_test_add_func ("/log-syslog/descriptor", test_descriptor);
  ecsa_test_add_log_cases ("/log-syslog/options", ecsa_plugin_log_syslog_get_descriptor (), cases,
                           G_N_ELEMENTS (cases));
  return g_test_run ();
}
