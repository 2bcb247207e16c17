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
  g_assert_cmpuint (offsetof (EcsaPluginHost, config_get), ==, 56);
  g_assert_cmpuint (offsetof (EcsaPluginHost, task_view_lookup_by_docker_id), ==, 128);
  g_assert_cmpuint (offsetof (EcsaPluginHost, redact), ==, 168);
  g_assert_cmpuint (offsetof (EcsaPluginHost, reserved), ==, 176);
  g_assert_cmpuint (sizeof (EcsaContainerView), ==, 88);
  g_assert_cmpuint (offsetof (EcsaContainerView, logs_auth_strategy), ==, 72);
  g_assert_cmpuint (sizeof (EcsaTaskView), ==, 80);
  g_assert_cmpuint (sizeof (EcsaAwsCredentials), ==, 48);
#endif
}

static void
test_vtable_layout (void)
{
#if GLIB_SIZEOF_VOID_P == 8
  g_assert_cmpuint (sizeof (EcsaLogDriverVTable), ==, 80);
  g_assert_cmpuint (offsetof (EcsaLogDriverVTable, min_docker_api_version), ==, 16);
  g_assert_cmpuint (offsetof (EcsaLogDriverVTable, probe), ==, 24);
  g_assert_cmpuint (offsetof (EcsaLogDriverVTable, reserved), ==, 48);
  g_assert_cmpuint (sizeof (EcsaRegistryAuthVTable), ==, 72);
  g_assert_cmpuint (offsetof (EcsaRegistryAuthVTable, get_credentials_async), ==, 16);
  g_assert_cmpuint (sizeof (EcsaRegistryCredentials), ==, 48);
  g_assert_cmpuint (sizeof (EcsaNetworkVTable), ==, 120);
  g_assert_cmpuint (offsetof (EcsaNetworkVTable, check_async), ==, 16);
  g_assert_cmpuint (offsetof (EcsaNetworkVTable, setup_async), ==, 32);
  g_assert_cmpuint (offsetof (EcsaNetworkVTable, release_async), ==, 64);
  g_assert_cmpuint (offsetof (EcsaNetworkVTable, attributes), ==, 80);
  g_assert_cmpuint (sizeof (EcsaNetworkResult), ==, 32);
  g_assert_cmpuint (sizeof (EcsaMetricsVTable), ==, 64);
  g_assert_cmpuint (sizeof (EcsaTaskMetrics), ==, 40);
  g_assert_cmpuint (sizeof (EcsaContainerMetrics), ==, 88);
  g_assert_cmpuint (sizeof (EcsaImageCleanupVTable), ==, 48);
  g_assert_cmpuint (sizeof (EcsaImageView), ==, 56);
  g_assert_cmpuint (sizeof (EcsaImageCleanupPolicy), ==, 24);
#endif
  /* the host versions its struct like the descriptor */
  g_assert_cmpuint (ECSA_PLUGIN_HOST_VERSION, ==, 1);
  g_assert_cmpuint (ECSA_LOG_DRIVER_VTABLE_VERSION, ==, 1);
  g_assert_cmpuint (ECSA_REGISTRY_AUTH_VTABLE_VERSION, ==, 1);
  g_assert_cmpuint (ECSA_NETWORK_VTABLE_VERSION, ==, 1);
  g_assert_cmpuint (ECSA_METRICS_VTABLE_VERSION, ==, 1);
  g_assert_cmpuint (ECSA_IMAGE_CLEANUP_VTABLE_VERSION, ==, 1);
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
  g_test_add_func ("/abi/vtables/layout", test_vtable_layout);
  return g_test_run ();
}
