/* test-task-network.c: the awsvpc flow on the engine's side (core/ecsa-task-network.c) with the
 * net-cni plugin and the reference CNI plugins: start-up (instance metadata, plugin check, the
 * pause image imported from ecs-agent-pause or loaded from a tarball), then a task parsed from ACS
 * JSON with an ENI: its sandbox from the pause image, setup, a container joining the namespace,
 * teardown, the sandbox stopped by SIGTERM, release.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-exit-codes.h"
#include "ecsa-plugin-loader.h"
#include "ecsa-task-network.h"
#include "ecsa-test-netplug.h"
#include "ecsa-test-utils.h"

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>

const EcsaPluginDescriptor *ecsa_plugin_net_cni_get_descriptor(void);

#define INSTANCE_MAC "0a:00:00:00:00:01"
#define EXTRA_ROUTE "198.51.100.0/24"

typedef struct
{
  EcsaNetplugVpc *vpc;
  EcsaNetplugHost *th;
  EcsaPluginRegistry *registry;
  EcsaPluginLoader *loader;
  EcsaTaskNetwork *net;
  EcsaImds *imds;
  SoupServer *server; /* instance metadata */
  guint port;
  gboolean not_in_vpc;
  char *data_dir;
  char *pause_image;
  GPtrArray *containers;
} Fixture;

static void
imds_cb(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  Fixture *fx = user_data;
  const char *method = soup_server_message_get_method(msg);
  g_autofree char *subnet_of_eni
    = g_strdup_printf("/latest/meta-data/network/interfaces/macs/%s/subnet-ipv4-cidr-block", fx->vpc->eni_mac);
  const char *body = NULL;

  if (g_str_equal(path, "/latest/api/token") && g_str_equal(method, "PUT"))
    body = "token-1";
  else if (g_str_equal(path, "/latest/meta-data/mac"))
    body = INSTANCE_MAC;
  else if (g_str_equal(path, "/latest/meta-data/network/interfaces/macs/" INSTANCE_MAC "/vpc-id") && !fx->not_in_vpc)
    body = "vpc-0123abcd";
  else if (g_str_equal(path, "/latest/meta-data/network/interfaces/macs/" INSTANCE_MAC "/subnet-id"))
    body = "subnet-0456ef";
  else if (g_str_equal(path, subnet_of_eni))
    body = "198.18.77.0/24";
  if (body == NULL)
    {
      soup_server_message_set_status(msg, 404, NULL);
      return;
    }
  soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_COPY, body, strlen(body));
  soup_server_message_set_status(msg, 200, NULL);
}

static void
remove_image(Fixture *fx, const char *ref)
{
  g_autofree char *path = g_strdup_printf("/images/%s?force=1", ref);
  g_autoptr(JsonNode) reply = NULL;
  guint status = 0;

  reply = ecsa_netplug_docker(fx->th, "DELETE", path, NULL, &status);
  g_assert_true(status == 200 || status == 404);
}

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *endpoint = NULL;
  g_autofree char *pause_program = NULL;
  const char *settings[] = { "ECS_ENABLE_TASK_ENI=true",   "ECS_CNI_PLUGINS_PATH=/nonexistent/amazon-ecs-cni-plugins",
                             "ECS_AWSVPC_BLOCK_IMDS=true", "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES=[\"" EXTRA_ROUTE "\"]",
                             "ECS_CLUSTER=ecsa-test",      NULL };
  GSList *uris;

  fx->not_in_vpc = GPOINTER_TO_INT(data);
  fx->vpc = ecsa_netplug_vpc_new("tasknet");
  fx->containers = g_ptr_array_new_with_free_func(g_free);
  fx->data_dir = ecsa_test_mkdtemp();

  fx->server = soup_server_new(NULL, NULL);
  soup_server_add_handler(fx->server, NULL, imds_cb, fx, NULL);
  g_assert_true(soup_server_listen_local(fx->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
  g_assert_no_error(error);
  uris = soup_server_get_uris(fx->server);
  fx->port = (guint)g_uri_get_port(uris->data);
  g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
  endpoint = g_strdup_printf("http://127.0.0.1:%u", fx->port);

  g_setenv("ECSA_CNI_BRIDGE", fx->vpc->bridge, TRUE);
  g_setenv("ECSA_CNI_SUBNET", fx->vpc->subnet, TRUE);
  g_setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint, TRUE);
  fx->th = ecsa_netplug_host_new(ECSA_PLUGIN_KIND_NETWORK, "cni", settings, fx->data_dir);
  /* this test's own pause image; no tarball unless a test makes one */
  fx->pause_image = g_strdup_printf("%s/pause:0.1.0", fx->vpc->prefix);
  g_free(fx->th->config->pause_container_image_name);
  fx->th->config->pause_container_image_name = g_strdup_printf("%s/pause", fx->vpc->prefix);
  g_free(fx->th->config->pause_container_tarball_path);
  fx->th->config->pause_container_tarball_path = g_build_filename(fx->data_dir, "pause.tar", NULL);

  fx->registry = ecsa_plugin_registry_new();
  fx->loader = ecsa_plugin_loader_new(fx->registry, fx->th->services);
  g_assert_true(ecsa_plugin_loader_load_builtin(fx->loader, ecsa_plugin_net_cni_get_descriptor, &error));
  g_assert_no_error(error);
  fx->imds = ecsa_imds_new_full(endpoint, FALSE);
  pause_program = g_build_filename(g_getenv("ECSA_BUILD_ROOT"), "core", "ecs-agent-pause", NULL);
  fx->net = ecsa_task_network_new(fx->th->config, fx->th->docker_client, fx->registry, pause_program);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
  ecsa_task_network_free(fx->net);
  for (guint i = 0; i < fx->containers->len; i++)
    ecsa_netplug_docker_remove(fx->th, g_ptr_array_index(fx->containers, i));
  remove_image(fx, fx->pause_image);
  ecsa_plugin_loader_free(fx->loader);
  ecsa_plugin_registry_free(fx->registry); /* the plugin's shutdown */
  ecsa_netplug_iterate(200);
  g_object_unref(fx->imds);
  ecsa_netplug_host_free(fx->th);
  soup_server_disconnect(fx->server);
  g_object_unref(fx->server);
  ecsa_netplug_vpc_free(fx->vpc);
  ecsa_test_rmdir_recursive(fx->data_dir);
  g_free(fx->data_dir);
  g_free(fx->pause_image);
  g_ptr_array_unref(fx->containers);
}

typedef struct
{
  gboolean done;
  GAsyncResult *result;
} Waiter;

static void
waiter_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Waiter *w = user_data;

  w->result = g_object_ref(result);
  w->done = TRUE;
}

static GAsyncResult *
wait_result(Waiter *w)
{
  ecsa_test_wait_for_flag(g_main_context_default(), &w->done, 90000);
  return w->result;
}

static gboolean
prepare(Fixture *fx, GError **error)
{
  Waiter w = { FALSE, NULL };
  gboolean ok;

  ecsa_task_network_prepare_async(fx->net, fx->imds, NULL, waiter_cb, &w);
  ok = ecsa_task_network_prepare_finish(fx->net, wait_result(&w), error);
  g_object_unref(w.result);
  return ok;
}

static JsonObject *
inspect_image(Fixture *fx, JsonNode **out_node)
{
  g_autofree char *path = g_strdup_printf("/images/%s/json", fx->pause_image);
  guint status = 0;

  *out_node = ecsa_netplug_docker(fx->th, "GET", path, NULL, &status);
  if (status != 200)
    return NULL;
  return json_node_get_object(*out_node);
}

static void
test_prepare(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GBytes) saved = NULL;
  g_autofree char *get_path = NULL;
  JsonObject *image;
  JsonArray *cmd;
  guint status = 0;

  /* nothing in Docker, no tarball: imported from ecs-agent-pause */
  g_assert_true(prepare(fx, &error));
  g_assert_no_error(error);
  g_assert_true(ecsa_task_network_is_enabled(fx->net));
  g_assert_cmpstr(ecsa_task_network_get_vpc_id(fx->net), ==, "vpc-0123abcd");
  g_assert_cmpstr(ecsa_task_network_get_subnet_id(fx->net), ==, "subnet-0456ef");
  g_assert_cmpstr(ecsa_task_network_get_pause_image(fx->net), ==, fx->pause_image);
  g_assert_true(ecsa_netplug_host_logged(fx->th, "Importing the pause container image"));
  image = inspect_image(fx, &node);
  g_assert_nonnull(image);
  cmd = json_object_get_array_member(json_object_get_object_member(image, "Config"), "Cmd");
  g_assert_cmpstr(json_array_get_string_element(cmd, 0), ==, "/pause");

  /* already there: nothing to load */
  g_ptr_array_set_size(fx->th->logs, 0);
  g_assert_true(prepare(fx, &error));
  g_assert_true(ecsa_netplug_host_logged(fx->th, "is present"));
  g_assert_false(ecsa_netplug_host_logged(fx->th, "Importing"));

  /* v1.16.2's way: the tarball */
  get_path = g_strdup_printf("/images/%s/get", fx->pause_image);
  saved = ecsa_netplug_docker_raw(fx->th, "GET", get_path, NULL, NULL, &status);
  g_assert_cmpuint(status, ==, 200);
  g_assert_true(g_file_set_contents(fx->th->config->pause_container_tarball_path, g_bytes_get_data(saved, NULL),
                                    (gssize)g_bytes_get_size(saved), NULL));
  remove_image(fx, fx->pause_image);
  g_ptr_array_set_size(fx->th->logs, 0);
  g_assert_true(prepare(fx, &error));
  g_assert_no_error(error);
  g_assert_true(ecsa_netplug_host_logged(fx->th, "Loading the pause container image from"));
  g_clear_pointer(&node, json_node_unref);
  g_assert_nonnull(inspect_image(fx, &node));
}

static void
test_not_in_vpc(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaTask) task = NULL;
  g_autoptr(JsonParser) parser = json_parser_new();

  /* v1.16.2: a warning, task ENIs off, the agent goes on */
  g_assert_true(prepare(fx, &error));
  g_assert_no_error(error);
  g_assert_false(ecsa_task_network_is_enabled(fx->net));
  g_assert_true(ecsa_netplug_host_logged(fx->th, "disabling Task ENI capability"));
  g_assert_true(json_parser_load_from_data(
    parser,
    "{\"arn\":\"arn:aws:ecs:us-west-2:123456789012:task/novpc\",\"family\":\"f\",\"version\":\"1\","
    "\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"x\",\"essential\":true}],"
    "\"elasticNetworkInterfaces\":[{\"ec2Id\":\"eni-1\",\"macAddress\":\"0a:00:00:00:00:02\","
    "\"ipv4Addresses\":[{\"primary\":true,\"privateAddress\":\"10.0.0.5\"}]}]}",
    -1, NULL));
  task = ecsa_task_from_acs(json_parser_get_root(parser), 0, NULL, &error);
  g_assert_no_error(error);
  g_assert_false(ecsa_task_network_check_task(fx->net, task, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
  g_assert_nonnull(strstr(error->message, "ECS_ENABLE_TASK_ENI"));
}

static void
test_terminal(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaTaskNetwork) nothing = NULL;
  g_autoptr(EcsaPluginRegistry) empty = ecsa_plugin_registry_new();
  g_autoptr(EcsaTaskNetwork) unserved = NULL;
  Waiter w = { FALSE, NULL };

  /* no pause image anywhere: v1.16.2's "no such file" is terminal */
  nothing = ecsa_task_network_new(fx->th->config, fx->th->docker_client, fx->registry, "/nonexistent/ecs-agent-pause");
  ecsa_task_network_prepare_async(nothing, NULL, NULL, waiter_cb, &w);
  g_assert_false(ecsa_task_network_prepare_finish(nothing, wait_result(&w), &error));
  g_clear_object(&w.result);
  g_assert_error(error, ECSA_EXIT_CODE_ERROR, ECSA_EXIT_TERMINAL);
  g_assert_nonnull(strstr(error->message, "Unable to initialize Task ENI dependencies: pause container load"));
  g_clear_error(&error);

  /* no plugin serves awsvpc (v1.16.2: the CNI plugins lack the capability): terminal */
  unserved = ecsa_task_network_new(fx->th->config, fx->th->docker_client, empty, NULL);
  w.done = FALSE;
  ecsa_task_network_prepare_async(unserved, NULL, NULL, waiter_cb, &w);
  g_assert_false(ecsa_task_network_prepare_finish(unserved, wait_result(&w), &error));
  g_clear_object(&w.result);
  g_assert_error(error, ECSA_EXIT_CODE_ERROR, ECSA_EXIT_TERMINAL);
  g_assert_nonnull(strstr(error->message, "no network plugin serves it"));
}

static EcsaTask *
parse_task(Fixture *fx)
{
  g_autofree char *json = g_strdup_printf(
    "{\"arn\":\"arn:aws:ecs:us-west-2:123456789012:task/%s\",\"family\":\"%s\",\"version\":\"1\","
    "\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"app\",\"image\":\"%s\",\"essential\":true}],"
    "\"elasticNetworkInterfaces\":[{\"ec2Id\":\"eni-0123456789abcdef0\",\"macAddress\":\"%s\","
    "\"ipv4Addresses\":[{\"primary\":true,\"privateAddress\":\"%s\"}],"
    "\"domainNameServers\":[\"" ECSA_NETPLUG_VPC_GATEWAY "\"],\"domainName\":[\"example.internal\"]}]}",
    fx->vpc->prefix, fx->vpc->prefix, ECSA_NETPLUG_IMAGE, fx->vpc->eni_mac, ECSA_NETPLUG_ENI_ADDRESS);
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  EcsaTask *task;

  g_assert_true(json_parser_load_from_data(parser, json, -1, NULL));
  task = ecsa_task_from_acs(json_parser_get_root(parser), 0, NULL, &error);
  g_assert_no_error(error);
  return task;
}

static void
test_awsvpc_task(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaTask) task = parse_task(fx);
  g_autoptr(JsonNode) body = NULL;
  g_autoptr(JsonNode) created = NULL;
  g_autoptr(JsonNode) stopped = NULL;
  g_autoptr(JsonNode) inspect = NULL;
  g_autoptr(EcsaNetworkResult) res = NULL;
  g_autofree char *name = ecsa_task_network_sandbox_docker_name(task);
  g_autofree char *create_path = NULL;
  g_autofree char *body_text = NULL;
  g_autofree char *sandbox = NULL;
  g_autofree char *mode = NULL;
  g_autofree char *app = NULL;
  g_autofree char *app_name = NULL;
  g_autofree char *app_body = NULL;
  g_autofree char *logs = NULL;
  g_autofree char *netns = NULL;
  g_autofree char *links = NULL;
  g_autofree char *path = NULL;
  g_autofree char *want = NULL;
  EcsaTaskView view = { .struct_size = sizeof(EcsaTaskView) };
  JsonObject *labels;
  Waiter w = { FALSE, NULL };
  guint status = 0;
  gint pid;
  gint64 t0;

  g_assert_true(prepare(fx, &error));
  g_assert_no_error(error);
  g_assert_true(ecsa_task_network_check_task(fx->net, task, &error));
  g_assert_no_error(error);

  /* the sandbox, as the engine would create it (the family carries this test's prefix) */
  want = g_strdup_printf("ecs-%s-1-internalecspause-", fx->vpc->prefix);
  g_assert_true(g_str_has_prefix(name, want));
  g_clear_pointer(&want, g_free);
  body = ecsa_task_network_sandbox_create_body(fx->net, task, NULL);
  body_text = json_to_string(body, FALSE);
  create_path = g_strdup_printf("/containers/create?name=%s", name);
  created = ecsa_netplug_docker(fx->th, "POST", create_path, body_text, &status);
  g_assert_cmpuint(status, ==, 201);
  sandbox = g_strdup(json_object_get_string_member(json_node_get_object(created), "Id"));
  g_ptr_array_add(fx->containers, g_strdup(sandbox));
  path = g_strdup_printf("/containers/%s/start", sandbox);
  g_clear_pointer(&stopped, json_node_unref);
  stopped = ecsa_netplug_docker(fx->th, "POST", path, NULL, &status);
  g_assert_cmpuint(status, ==, 204);
  pid = ecsa_netplug_docker_pid(fx->th, sandbox);
  g_assert_cmpint(pid, >, 0);
  g_clear_pointer(&path, g_free);
  path = g_strdup_printf("/containers/%s/json", sandbox);
  inspect = ecsa_netplug_docker(fx->th, "GET", path, NULL, &status);
  labels
    = json_object_get_object_member(json_object_get_object_member(json_node_get_object(inspect), "Config"), "Labels");
  g_assert_cmpstr(json_object_get_string_member(labels, ECSA_LABEL_CONTAINER_NAME), ==, ECSA_TASK_NETWORK_SANDBOX_NAME);
  g_assert_cmpstr(json_object_get_string_member(labels, ECSA_LABEL_TASK_ARN), ==, task->arn);
  g_assert_cmpstr(json_object_get_string_member(labels, ECSA_LABEL_CLUSTER), ==, "ecsa-test");

  /* setup: the plugin finds the subnet gateway in instance metadata (no gateway from ACS) */
  view.arn = task->arn;
  view.family = task->family;
  view.version = task->version;
  view.network_mode = "awsvpc";
  view.known_status = "PENDING";
  view.desired_status = "RUNNING";
  view.credentials_id = "";
  view.execution_credentials_id = "";
  ecsa_task_network_setup_async(fx->net, &view, task->eni, sandbox, pid, NULL, waiter_cb, &w);
  res = ecsa_task_network_setup_finish(fx->net, wait_result(&w), &error);
  g_clear_object(&w.result);
  g_assert_no_error(error);
  g_assert_cmpstr(res->ipv4_address, ==, ECSA_NETPLUG_ENI_ADDRESS);
  g_assert_cmpstr(res->mac_address, ==, fx->vpc->eni_mac);

  /* a task container joins the sandbox's namespace and resolv.conf */
  mode = ecsa_task_network_container_network_mode(sandbox);
  app_name = g_strdup_printf("%s-app", fx->vpc->prefix);
  app_body = g_strdup_printf("{\"Image\":\"%s\",\"Cmd\":[\"sh\",\"-c\",\"cat /etc/resolv.conf; ip route show; "
                             "ping -c 1 -W 3 " ECSA_NETPLUG_VPC_GATEWAY " >/dev/null && echo GATEWAY-OK\"],"
                             "\"HostConfig\":{\"NetworkMode\":\"%s\"}}",
                             ECSA_NETPLUG_IMAGE, mode);
  app = ecsa_netplug_docker_run(fx->th, app_name, app_body);
  g_ptr_array_add(fx->containers, g_strdup(app));
  g_assert_cmpint(ecsa_netplug_docker_wait(fx->th, app, 30), ==, 0);
  logs = ecsa_netplug_docker_logs(fx->th, app);
  g_test_message("app:\n%s", logs);
  g_assert_nonnull(strstr(logs, "nameserver " ECSA_NETPLUG_VPC_GATEWAY));
  g_assert_nonnull(strstr(logs, "search example.internal"));
  g_assert_nonnull(strstr(logs, "default via " ECSA_NETPLUG_VPC_GATEWAY " dev eth0"));
  g_assert_nonnull(strstr(logs, "blackhole 169.254.169.254")); /* ECS_AWSVPC_BLOCK_IMDS */
  want = g_strdup_printf(EXTRA_ROUTE " via %s dev ecs-eth0", fx->vpc->bridge_gw);
  g_assert_nonnull(strstr(logs, want)); /* ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES */
  g_assert_nonnull(strstr(logs, "GATEWAY-OK"));

  /* the task's containers stopped: teardown, then the sandbox stops at once on SIGTERM */
  w.done = FALSE;
  ecsa_task_network_teardown_async(fx->net, &view, task->eni, sandbox, pid, NULL, waiter_cb, &w);
  g_assert_true(ecsa_task_network_teardown_finish(fx->net, wait_result(&w), &error));
  g_clear_object(&w.result);
  g_assert_no_error(error);
  netns = g_strdup_printf("/proc/%d/ns/net", pid);
  links = ecsa_netplug_netns_links(netns);
  g_assert_cmpstr(links, ==, "lo ");
  g_assert_cmpint(ecsa_netplug_sh(NULL, "ip link show %s >/dev/null", fx->vpc->eni), ==, 0);
  g_clear_pointer(&path, g_free);
  path = g_strdup_printf("/containers/%s/stop?t=30", sandbox);
  t0 = g_get_monotonic_time();
  g_clear_pointer(&stopped, json_node_unref);
  stopped = ecsa_netplug_docker(fx->th, "POST", path, NULL, &status);
  g_assert_cmpuint(status, ==, 204);
  g_assert_cmpint(g_get_monotonic_time() - t0, <, 10 * G_USEC_PER_SEC);
  g_assert_cmpint(ecsa_netplug_docker_wait(fx->th, sandbox, 5), ==, 0); /* exited 0, not killed */

  /* the task is STOPPED: release (and again, after a restart: idempotent) */
  w.done = FALSE;
  ecsa_task_network_release_async(fx->net, &view, task->eni, sandbox, NULL, waiter_cb, &w);
  g_assert_true(ecsa_task_network_release_finish(fx->net, wait_result(&w), &error));
  g_clear_object(&w.result);
  g_assert_no_error(error);
  w.done = FALSE;
  ecsa_task_network_teardown_async(fx->net, &view, task->eni, sandbox, 0, NULL, waiter_cb, &w);
  g_assert_true(ecsa_task_network_teardown_finish(fx->net, wait_result(&w), &error));
  g_clear_object(&w.result);
  g_assert_no_error(error);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add("/task-network/prepare/pause-image", Fixture, NULL, fixture_setup, test_prepare, fixture_teardown);
  g_test_add("/task-network/prepare/not-in-vpc", Fixture, GINT_TO_POINTER(TRUE), fixture_setup, test_not_in_vpc,
             fixture_teardown);
  g_test_add("/task-network/prepare/terminal", Fixture, NULL, fixture_setup, test_terminal, fixture_teardown);
  g_test_add("/task-network/awsvpc-task", Fixture, NULL, fixture_setup, test_awsvpc_task, fixture_teardown);
  return g_test_run();
}
