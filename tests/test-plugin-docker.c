/* test-plugin-docker.c: plugins reach the real dockerd through the agent's Docker client
 * (host->docker_request_*), and the log-driver capabilities follow what that Docker reports.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-docker-client.h"
#include "ecsa-plugin-loader.h"
#include "ecsa-test-docker.h"
#include "ecsa-test-utils.h"

#include <string.h>

const EcsaPluginDescriptor *ecsa_plugin_log_none_get_descriptor(void);

/* A json-file driver without probe(): usable exactly when Docker lists it. */
static gboolean
plain_init(const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  *out_state = (gpointer)host;
  return TRUE;
}

static const EcsaLogDriverVTable json_vtable = {
  .version = ECSA_LOG_DRIVER_VTABLE_VERSION,
  .driver = "json-file",
  .min_docker_api_version = "1.18",
};
static const char *const json_caps[] = { "com.amazonaws.ecs.capability.logging-driver.json-file", NULL };
/* and one Docker does not have */
static const EcsaLogDriverVTable nope_vtable = {
  .version = ECSA_LOG_DRIVER_VTABLE_VERSION,
  .driver = "ecsa-no-such-driver",
};
static const char *const nope_caps[] = { "com.amazonaws.ecs.capability.logging-driver.ecsa-no-such-driver", NULL };

#undef ECSA_PLUGIN_ENTRY_
#define ECSA_PLUGIN_ENTRY_(id) static const EcsaPluginDescriptor *ecsa_plugin_##id##_get_descriptor(void)
ECSA_PLUGIN_DEFINE(test_json, .kind = ECSA_PLUGIN_KIND_LOG_DRIVER, .name = "json-file", .version = "1",
                   .capabilities = json_caps, .init = plain_init, .vtable = &json_vtable)
ECSA_PLUGIN_DEFINE(test_nope, .kind = ECSA_PLUGIN_KIND_LOG_DRIVER, .name = "nope", .version = "1",
                   .capabilities = nope_caps, .init = plain_init, .vtable = &nope_vtable)

static void
result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **)user_data = g_object_ref(result);
}

static GAsyncResult *
wait_result(GAsyncResult **slot)
{
  gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

  while (*slot == NULL)
    {
      g_assert_cmpint(g_get_monotonic_time(), <, deadline);
      g_main_context_iteration(NULL, TRUE);
    }
  return *slot;
}

static void
test_docker_through_host(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaDockerClient) client = ecsa_docker_client_new(NULL, &error);
  g_autoptr(EcsaPluginRegistry) registry = ecsa_plugin_registry_new();
  g_autoptr(EcsaPluginHostServices) services = ecsa_plugin_host_services_new(NULL, NULL, NULL);
  g_autoptr(EcsaPluginLoader) loader = ecsa_plugin_loader_new(registry, services);
  g_autoptr(GAsyncResult) negotiated = NULL;
  g_autoptr(GAsyncResult) r1 = NULL;
  g_autoptr(GAsyncResult) r2 = NULL;
  g_autoptr(GBytes) info = NULL;
  g_autoptr(GBytes) missing = NULL;
  g_autoptr(GPtrArray) attrs = NULL;
  g_auto(GStrv) docker_logs = NULL;
  g_autofree char *path = NULL;
  g_autofree char *joined = NULL;
  const char *const available[] = { "json-file", "none", "ecsa-no-such-driver", NULL };
  const EcsaPluginHost *host;
  EcsaCapabilityInputs in = { 0 };
  guint status = 0;

  g_assert_no_error(error);
  ecsa_docker_client_negotiate_async(client, NULL, result_cb, &negotiated);
  g_assert_true(ecsa_docker_client_negotiate_finish(client, wait_result(&negotiated), &error));
  g_assert_no_error(error);
  ecsa_plugin_host_services_use_docker_client(services, client);

  g_assert_true(ecsa_plugin_loader_load_builtin(loader, ecsa_plugin_log_none_get_descriptor, &error));
  g_assert_true(ecsa_plugin_loader_load_builtin(loader, ecsa_plugin_test_json_get_descriptor, &error));
  g_assert_true(ecsa_plugin_loader_load_builtin(loader, ecsa_plugin_test_nope_get_descriptor, &error));
  g_assert_no_error(error);
  host = ecsa_loaded_plugin_get_host(ecsa_plugin_registry_find_log_driver(registry, "json-file"));

  /* what a plugin's probe would ask */
  host->docker_request_async(host, "GET", "/info", NULL, 0, NULL, result_cb, &r1);
  info = host->docker_request_finish(host, wait_result(&r1), &status, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(status, ==, 200);
  docker_logs = ecsa_plugin_registry_parse_docker_log_drivers(info, &error);
  g_assert_no_error(error);
  g_assert_true(g_strv_contains((const char *const *)docker_logs, "json-file"));
  g_assert_false(g_strv_contains((const char *const *)docker_logs, "none"));

  /* Docker's errors are answers, not failures */
  path = g_strdup_printf("/containers/%smissing/json", ecsa_test_docker_prefix("plugins"));
  host->docker_request_async(host, "GET", path, NULL, 0, NULL, result_cb, &r2);
  missing = host->docker_request_finish(host, wait_result(&r2), &status, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(status, ==, 404);
  g_assert_nonnull(strstr(g_bytes_get_data(missing, NULL), "No such container"));

  /* the capabilities this Docker warrants */
  in.available_logging_drivers = available;
  in.docker_log_drivers = (const char *const *)docker_logs;
  in.docker_api_version = ecsa_docker_client_get_api_version(client);
  g_test_expect_message("ecsa", G_LOG_LEVEL_INFO,
                        "log driver 'ecsa-no-such-driver' not offered: Docker does not list log driver "
                        "'ecsa-no-such-driver'");
  attrs = ecsa_plugin_registry_capabilities(registry, &in);
  g_test_assert_expected_messages();
  g_assert_cmpuint(attrs->len, ==, 2);
  joined = g_strdup_printf("%s %s", ((EcsaPluginAttribute *)g_ptr_array_index(attrs, 0))->name,
                           ((EcsaPluginAttribute *)g_ptr_array_index(attrs, 1))->name);
  g_assert_cmpstr(joined, ==,
                  "com.amazonaws.ecs.capability.logging-driver.none "
                  "com.amazonaws.ecs.capability.logging-driver.json-file");

  /* without the client, plugins are told so */
  ecsa_plugin_host_services_use_docker_client(services, NULL);
  g_clear_object(&r1);
  host->docker_request_async(host, "GET", "/info", NULL, 0, NULL, result_cb, &r1);
  g_assert_null(host->docker_request_finish(host, wait_result(&r1), &status, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  ecsa_test_docker_require();
  g_test_add_func("/plugin-docker/host-request-and-capabilities", test_docker_through_host);
  return g_test_run();
}
