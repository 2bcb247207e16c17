/* test-abi.c: the plugin ABI's layout is pinned (a change here means an ABI major bump).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin.h"

#include <stddef.h>

static void
test_descriptor_layout (void)
{
  g_assert_cmpuint (ECSA_PLUGIN_ABI_MAJOR, ==, 1);
  g_assert_cmpstr (ECSA_PLUGIN_ENTRY, ==, "ecsa_plugin_get_descriptor");
#if GLIB_SIZEOF_VOID_P == 8
  g_assert_cmpuint (offsetof (EcsaPluginDescriptor, abi_major), ==, 0);
  g_assert_cmpuint (offsetof (EcsaPluginDescriptor, abi_minor), ==, 4);
  g_assert_cmpuint (offsetof (EcsaPluginDescriptor, struct_size), ==, 8);
  g_assert_cmpuint (offsetof (EcsaPluginDescriptor, kind), ==, 12);
  g_assert_cmpuint (offsetof (EcsaPluginDescriptor, name), ==, 16);
  g_assert_cmpuint (offsetof (EcsaPluginDescriptor, init), ==, 40);
  g_assert_cmpuint (offsetof (EcsaPluginDescriptor, vtable), ==, 56);
  g_assert_cmpuint (sizeof (EcsaPluginDescriptor), ==, 128);
  g_assert_cmpuint (sizeof (EcsaPluginHost), ==, 296);
#endif
}

static void
test_kind_values (void)
{
  /* Enum values cross the ABI: they are append-only. */
  g_assert_cmpint (ECSA_PLUGIN_KIND_LOG_DRIVER, ==, 1);
  g_assert_cmpint (ECSA_PLUGIN_KIND_REGISTRY_AUTH, ==, 2);
  g_assert_cmpint (ECSA_PLUGIN_KIND_NETWORK, ==, 3);
  g_assert_cmpint (ECSA_PLUGIN_KIND_METRICS, ==, 4);
  g_assert_cmpint (ECSA_PLUGIN_KIND_IMAGE_CLEANUP, ==, 5);
  g_assert_cmpint (ECSA_ERROR_RETRY, ==, 1);
  g_assert_cmpint (ECSA_ERROR_NOT_FOUND, ==, 6);
}

static void
test_vtables_start_with_version (void)
{
  g_assert_cmpuint (offsetof (EcsaLogDriverVTable, version), ==, 0);
  g_assert_cmpuint (offsetof (EcsaRegistryAuthVTable, version), ==, 0);
  g_assert_cmpuint (offsetof (EcsaNetworkVTable, version), ==, 0);
  g_assert_cmpuint (offsetof (EcsaMetricsVTable, version), ==, 0);
  g_assert_cmpuint (offsetof (EcsaImageCleanupVTable, version), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add_func ("/abi/descriptor/layout", test_descriptor_layout);
  g_test_add_func ("/abi/enums/append-only", test_kind_values);
  g_test_add_func ("/abi/vtables/version-first", test_vtables_start_with_version);
  return g_test_run ();
}
