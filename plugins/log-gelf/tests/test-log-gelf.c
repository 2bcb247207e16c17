/* test-log-gelf.c: the gelf log driver's options, without Docker.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-plugins.h"

const EcsaPluginDescriptor *ecsa_plugin_log_gelf_get_descriptor (void);

#define O(...) ((const char *const[]){ __VA_ARGS__, NULL })

static const EcsaTestLogCase cases[] = {
  { "udp", O ("gelf-address", "udp://127.0.0.1:12201", "gelf-compression-type", "zlib", "gelf-compression-level", "9"),
    NULL },
  { "udp-no-compression", O ("gelf-address", "udp://127.0.0.1:12201", "gelf-compression-type", "none"), NULL },
  { "tcp", O ("gelf-address", "tcp://127.0.0.1:12201", "gelf-tcp-max-reconnect", "3", "gelf-tcp-reconnect-delay", "1"),
    NULL },
  { "attributes", O ("gelf-address", "udp://127.0.0.1:12201", "labels", "a", "env", "B", "tag", "t"), NULL },
  { "missing-address", NULL, "option 'gelf-address': required" },
  { "empty-address", O ("gelf-address", ""), "option 'gelf-address'" },
  { "no-port", O ("gelf-address", "udp://127.0.0.1"), "must be proto://host:port" },
  { "unix", O ("gelf-address", "unix:///tmp/x"), "must be udp:// or tcp://" },
  { "bad-level", O ("gelf-address", "udp://127.0.0.1:1", "gelf-compression-level", "10"),
    "option 'gelf-compression-level': '10' must be an integer from -1 to 9" },
  { "bad-type", O ("gelf-address", "udp://127.0.0.1:1", "gelf-compression-type", "lz4"),
    "option 'gelf-compression-type': 'lz4' must be gzip, zlib or none" },
  { "compression-over-tcp", O ("gelf-address", "tcp://127.0.0.1:1", "gelf-compression-type", "gzip"),
    "compression is only supported over udp://" },
  { "reconnect-over-udp", O ("gelf-address", "udp://127.0.0.1:1", "gelf-tcp-max-reconnect", "2"),
    "option 'gelf-tcp-max-reconnect': only valid over tcp://" },
  { "negative-reconnect", O ("gelf-address", "tcp://127.0.0.1:1", "gelf-tcp-reconnect-delay", "-1"),
    "must be an integer >= 0" },
  { "unknown", O ("gelf-address", "udp://127.0.0.1:1", "gelf-host", "x"), "option 'gelf-host': unknown option" },
};

static void
test_descriptor (void)
{
  ecsa_test_check_descriptor (ecsa_plugin_log_gelf_get_descriptor (), ECSA_PLUGIN_KIND_LOG_DRIVER, "gelf",
                              (const char *const[]){ "com.amazonaws.ecs.capability.logging-driver.gelf", NULL });
}

int
main (int argc, char **argv)
{
  ecsa_test_plugins_init (&argc, &argv);
  g_test_add_func ("/log-gelf/descriptor", test_descriptor);
  ecsa_test_add_log_cases ("/log-gelf/options", ecsa_plugin_log_gelf_get_descriptor (), cases, G_N_ELEMENTS (cases));
  return g_test_run ();
}
