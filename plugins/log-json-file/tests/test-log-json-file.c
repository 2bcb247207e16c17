/* test-log-json-file.c: the json-file log driver's options, without Docker.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-plugins.h"

const EcsaPluginDescriptor *ecsa_plugin_log_json_file_get_descriptor (void);

#define O(...) ((const char *const[]){ __VA_ARGS__, NULL })

static const EcsaTestLogCase cases[] = {
  { "none", NULL, NULL },
  { "rotation", O ("max-size", "10m", "max-file", "3", "compress", "true"), NULL },
  { "sizes", O ("max-size", "512k", "max-file", "1"), NULL },
  { "size-with-unit-b", O ("max-size", "1.5 MB"), NULL },
  { "attributes", O ("labels", "a,b", "env", "X", "env-regex", "^X", "labels-regex", "^a", "tag", "{{.Name}}"), NULL },
  { "generic", O ("mode", "non-blocking", "max-buffer-size", "4m"), NULL },
  { "cache", O ("cache-disabled", "true", "cache-max-size", "20m", "cache-max-file", "2", "cache-compress", "false"),
    NULL },
  { "unknown", O ("max-sizes", "10m"), "option 'max-sizes': unknown option for this driver" },
  { "bad-size", O ("max-size", "ten"), "option 'max-size': 'ten' must be a positive size" },
  { "zero-size", O ("max-size", "0"), "option 'max-size': '0' must be a positive size" },
  { "bad-file", O ("max-file", "0"), "option 'max-file': '0' must be a positive integer" },
  { "bad-file-text", O ("max-file", "three"), "option 'max-file'" },
  { "bad-compress", O ("compress", "yes"), "option 'compress': 'yes' must be a boolean" },
  { "compress-needs-rotation", O ("compress", "true", "max-file", "1", "max-size", "1m"),
    "option 'compress': needs max-file of 2 or more and max-size" },
  { "compress-needs-size", O ("compress", "true", "max-file", "3"), "option 'compress'" },
  { "bad-mode", O ("mode", "async"), "option 'mode': 'async' must be 'blocking' or 'non-blocking'" },
  { "buffer-needs-non-blocking", O ("max-buffer-size", "4m"), "option 'max-buffer-size': only valid with mode=non-blocking" },
  { "bad-cache-disabled", O ("cache-disabled", "maybe"), "option 'cache-disabled'" },
};

static void
test_descriptor (void)
{
  ecsa_test_check_descriptor (ecsa_plugin_log_json_file_get_descriptor (), ECSA_PLUGIN_KIND_LOG_DRIVER, "json-file",
                              (const char *const[]){ "com.amazonaws.ecs.capability.logging-driver.json-file", NULL });
}

int
main (int argc, char **argv)
{
  ecsa_test_plugins_init (&argc, &argv);
  g_test_add_func ("/log-json-file/descriptor", test_descriptor);
  ecsa_test_add_log_cases ("/log-json-file/options", ecsa_plugin_log_json_file_get_descriptor (), cases,
                           G_N_ELEMENTS (cases));
  return g_test_run ();
}
