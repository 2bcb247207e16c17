/* test-task-engine-awsvpc.c: awsvpc tasks through the engine on the real host, as v1.16.2 runs
 * them: the pause container as the task's network sandbox (created from the pause image, never
 * pulled, never reported), set up by the net-cni plugin once it runs, the task's containers in its
 * namespace (their port mappings are the ENI's), a restart that keeps the sandbox without setting
 * it up again, one without the checkpoint (recovery from Docker labels), the stop (containers,
 * teardown, the sandbox on SIGTERM, release), cleanup; a setup
 * failure stopping the task with its reason; tasks with an ENI refused without task ENIs.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin-loader.h"
#include "ecsa-task-engine.h"
#include "ecsa-task-network.h"
#include "ecsa-test-engine.h"
#include "ecsa-test-netplug.h"
#include "ecsa-test-utils.h"

#include <libsoup/soup.h>
#include <string.h>

const EcsaPluginDescriptor *ecsa_plugin_net_cni_get_descriptor(void);

#define GUARD_MS 120000
#define INSTANCE_MAC "0a:00:00:00:00:01"

static EcsaTestRegistry *registry;
static const char *image;

typedef struct
{
  EcsaTestEngine *te;
  EcsaNetplugVpc *vpc;
  EcsaNetplugHost *th;
  EcsaPluginRegistry *plugins;
  EcsaPluginLoader *loader;
  EcsaTaskNetwork *net;
  EcsaImds *imds;
  SoupServer *server;
  char *data_dir;
  char *pause_image;
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
  else if (g_str_equal(path, "/latest/meta-data/network/interfaces/macs/" INSTANCE_MAC "/vpc-id"))
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

typedef struct
{
  gboolean done;
  gboolean ok;
  GError *error;
} Waiter;

static Fixture *fixture_current;

static void
prepare_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Waiter *w = user_data;

  w->ok = ecsa_task_network_prepare_finish(fixture_current->net, result, &w->error);
  w->done = TRUE;
}

static Fixture *
fixture_new(void)
{
  Fixture *fx = g_new0(Fixture, 1);
  g_autoptr(GError) error = NULL;
  g_autofree char *endpoint = NULL;
  g_autofree char *pause_program = NULL;
  const char *settings[] = { "ECS_ENABLE_TASK_ENI=true", "ECS_CNI_PLUGINS_PATH=/nonexistent/amazon-ecs-cni-plugins",
                             "ECS_CLUSTER=ecsa-test", "ECS_AWSVPC_BLOCK_IMDS=true", NULL };
  Waiter w = { 0 };
  GSList *uris;

  fixture_current = fx;
  /* the engine first: the plugin host then captures every log line (debug) */
  fx->te = ecsa_test_engine_new("awsvpc");
  fx->te->auto_ack = TRUE;
  fx->te->config->task_cleanup_wait_duration = 1 * G_USEC_PER_SEC;
  fx->vpc = ecsa_netplug_vpc_new("engnet");
  fx->data_dir = ecsa_test_mkdtemp();

  fx->server = soup_server_new(NULL, NULL);
  soup_server_add_handler(fx->server, NULL, imds_cb, fx, NULL);
  g_assert_true(soup_server_listen_local(fx->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
  g_assert_no_error(error);
  uris = soup_server_get_uris(fx->server);
  endpoint = g_strdup_printf("http://127.0.0.1:%d", g_uri_get_port(uris->data));
  g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);

  g_setenv("ECSA_CNI_BRIDGE", fx->vpc->bridge, TRUE);
  g_setenv("ECSA_CNI_SUBNET", fx->vpc->subnet, TRUE);
  g_setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint, TRUE);
  fx->th = ecsa_netplug_host_new(ECSA_PLUGIN_KIND_NETWORK, "cni", settings, fx->data_dir);
  /* one configuration in the agent: the sandbox is labelled with the engine's cluster */
  g_free(fx->th->config->cluster);
  fx->th->config->cluster = g_strdup(fx->te->config->cluster);
  /* this test's own pause image, imported from ecs-agent-pause */
  fx->pause_image = g_strdup_printf("%s/pause:0.1.0", fx->vpc->prefix);
  g_free(fx->th->config->pause_container_image_name);
  fx->th->config->pause_container_image_name = g_strdup_printf("%s/pause", fx->vpc->prefix);
  g_free(fx->th->config->pause_container_tarball_path);
  fx->th->config->pause_container_tarball_path = g_build_filename(fx->data_dir, "pause.tar", NULL);

  fx->plugins = ecsa_plugin_registry_new();
  fx->loader = ecsa_plugin_loader_new(fx->plugins, fx->th->services);
  g_assert_true(ecsa_plugin_loader_load_builtin(fx->loader, ecsa_plugin_net_cni_get_descriptor, &error));
  g_assert_no_error(error);
  fx->imds = ecsa_imds_new_full(endpoint, FALSE);
  pause_program = g_build_filename(g_getenv("ECSA_BUILD_ROOT"), "core", "ecs-agent-pause", NULL);
  fx->net = ecsa_task_network_new(fx->th->config, fx->th->docker_client, fx->plugins, pause_program);
  ecsa_task_network_prepare_async(fx->net, fx->imds, NULL, prepare_ready_cb, &w);
  ecsa_test_wait_for_flag(g_main_context_default(), &w.done, 90000);
  g_assert_no_error(w.error);
  g_assert_true(w.ok);
  g_assert_true(ecsa_task_network_is_enabled(fx->net));

  fx->te->network = fx->net;
  ecsa_test_engine_start(fx->te, NULL);
  return fx;
}

static void
fixture_free(Fixture *fx)
{
  g_autofree char *rmi = g_strdup_printf("/images/%s?force=1", fx->pause_image);
  g_autoptr(JsonNode) reply = NULL;
  guint status = 0;

  ecsa_test_engine_free(fx->te); /* removes the test's containers */
  ecsa_task_network_free(fx->net);
  reply = ecsa_netplug_docker(fx->th, "DELETE", rmi, NULL, &status);
  ecsa_plugin_loader_free(fx->loader);
  ecsa_plugin_registry_free(fx->plugins);
  ecsa_netplug_iterate(200);
  g_object_unref(fx->imds);
  ecsa_netplug_host_free(fx->th);
  soup_server_disconnect(fx->server);
  g_object_unref(fx->server);
  ecsa_netplug_vpc_free(fx->vpc);
  ecsa_test_rmdir_recursive(fx->data_dir);
  g_free(fx->data_dir);
  g_free(fx->pause_image);
  g_free(fx);
  fixture_current = NULL;
}

static char *
awsvpc_task_json(Fixture *fx, const char *name, const char *desired, const char *mac)
{
  g_autofree char *containers
    = g_strdup_printf("[{\"name\":\"app\",\"image\":\"%s\",\"essential\":true,\"memory\":32,"
                      "\"portMappings\":[{\"containerPort\":8080,\"hostPort\":8080,\"protocol\":\"tcp\"}],"
                      "\"command\":[\"sh\",\"-c\",\"ip -4 addr show eth0; ip route show; cat /etc/resolv.conf; "
                      "ping -c 1 -W 3 " ECSA_NETPLUG_VPC_GATEWAY " >/dev/null && echo GATEWAY-OK; trap 'exit 0' TERM; sleep 600 & wait\"]}]",
                      image);
  g_autofree char *base = ecsa_test_engine_task_json(fx->te, name, desired, containers);

  /* base ends with '}': the ENI goes in before it */
  base[strlen(base) - 1] = '\0';
  return g_strdup_printf("%s,\"elasticNetworkInterfaces\":[{\"ec2Id\":\"eni-0123456789abcdef0\","
                         "\"macAddress\":\"%s\",\"ipv4Addresses\":[{\"primary\":true,\"privateAddress\":\"%s\"}],"
                         "\"domainNameServers\":[\"" ECSA_NETPLUG_VPC_GATEWAY "\"],"
                         "\"domainName\":[\"example.internal\"]}]}",
                         base, mac, ECSA_NETPLUG_ENI_ADDRESS);
}

static void
apply(Fixture *fx, const char *task_json, gint64 seq)
{
  g_autofree char *payload = g_strdup_printf("[%s]", task_json);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) rejected = ecsa_test_engine_apply(fx->te, payload, seq, &error);

  g_assert_no_error(error);
  g_assert_cmpuint(rejected->len, ==, 0);
}

static guint
count_logged(Fixture *fx, const char *fragment)
{
  guint n = 0;

  for (guint i = 0; i < fx->th->logs->len; i++)
    if (strstr(fx->th->logs->pdata[i], fragment) != NULL)
      n++;
  return n;
}

static void
assert_sandbox_never_reported(Fixture *fx)
{
  for (guint i = 0; i < fx->te->changes->len; i++)
    {
      const EcsaStateChange *sc = fx->te->changes->pdata[i];
      g_assert_cmpstr(sc->container_name, !=, ECSA_TASK_NETWORK_SANDBOX_NAME);
      for (guint j = 0; sc->containers != NULL && j < sc->containers->len; j++)
        g_assert_cmpstr(((EcsaStateChange *)sc->containers->pdata[j])->container_name, !=,
                        ECSA_TASK_NETWORK_SANDBOX_NAME);
    }
}

static char *
wait_logs(const char *id, const char *fragment)
{
  gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

  for (;;)
    {
      g_autofree char *err = NULL;
      char *out = ecsa_test_docker_cli(&err, "logs", id, NULL);
      g_autofree char *both = g_strconcat(out != NULL ? out : "", err != NULL ? err : "", NULL);

      g_free(out);
      if (strstr(both, fragment) != NULL || g_get_monotonic_time() > deadline)
        return g_steal_pointer(&both);
      ecsa_test_run_for(500);
    }
}

/* The bridge addresses host-local holds for the task network (one per running awsvpc task). */
static guint
reserved_addresses(Fixture *fx)
{
  g_autofree char *dir = g_build_filename(fx->data_dir, "plugins", "network-cni", "ipam", "ecs-awsvpc", NULL);
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  const char *name;
  guint n = 0;

  while (d != NULL && (name = g_dir_read_name(d)) != NULL)
    if (g_str_has_prefix(name, "198.19."))
      n++;
  return n;
}

static void
wait_forgotten(EcsaTestEngine *te)
{
  gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

  while (ecsa_task_engine_get_n_tasks(te->engine) > 0 && g_get_monotonic_time() < deadline)
    ecsa_test_run_for(100);
  g_assert_cmpuint(ecsa_task_engine_get_n_tasks(te->engine), ==, 0);
}

static void
test_task(void)
{
  Fixture *fx = fixture_new();
  g_autofree char *arn = ecsa_test_engine_arn(fx->te, "web");
  g_autofree char *running = awsvpc_task_json(fx, "web", "RUNNING", fx->vpc->eni_mac);
  g_autofree char *stopped = awsvpc_task_json(fx, "web", "STOPPED", fx->vpc->eni_mac);
  g_autoptr(GPtrArray) sandboxes = NULL;
  g_autoptr(GPtrArray) apps = NULL;
  g_autoptr(GPtrArray) views = NULL;
  g_autoptr(JsonObject) app_inspect = NULL;
  g_autoptr(JsonObject) sandbox_inspect = NULL;
  g_autofree char *mode = NULL;
  g_autofree char *logs = NULL;
  g_autofree char *checkpoint = NULL;
  g_autofree char *checkpoint_path = NULL;
  const EcsaTaskView *view;
  JsonObject *hc;
  JsonObject *state;

  apply(fx, running, 1);
  ecsa_test_engine_wait(fx->te, arn, "app", "RUNNING", GUARD_MS);
  ecsa_test_engine_wait(fx->te, arn, NULL, "RUNNING", GUARD_MS);
  g_assert_cmpuint(count_logged(fx, "has its network"), ==, 1);

  /* the sandbox: the pause image, labelled as the task's, the app in its namespace */
  sandboxes = ecsa_test_engine_docker_ids(arn, ECSA_TASK_NETWORK_SANDBOX_NAME);
  g_assert_cmpuint(sandboxes->len, ==, 1);
  apps = ecsa_test_engine_docker_ids(arn, "app");
  g_assert_cmpuint(apps->len, ==, 1);
  sandbox_inspect = ecsa_test_docker_inspect(sandboxes->pdata[0]);
  g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(sandbox_inspect, "Config"), "Image"), ==,
                  fx->pause_image);
  app_inspect = ecsa_test_docker_inspect(apps->pdata[0]);
  hc = json_object_get_object_member(app_inspect, "HostConfig");
  mode = g_strdup_printf("container:%s", json_object_get_string_member(sandbox_inspect, "Id"));
  g_assert_cmpstr(json_object_get_string_member(hc, "NetworkMode"), ==, mode);
  logs = wait_logs(apps->pdata[0], "GATEWAY-OK");
  g_test_message("app:\n%s", logs);
  g_assert_nonnull(strstr(logs, "inet " ECSA_NETPLUG_ENI_ADDRESS "/"));
  g_assert_nonnull(strstr(logs, "nameserver " ECSA_NETPLUG_VPC_GATEWAY));
  g_assert_nonnull(strstr(logs, "search example.internal"));
  g_assert_nonnull(strstr(logs, "GATEWAY-OK"));
  g_assert_nonnull(strstr(logs, "blackhole 169.254.169.254")); /* ECS_AWSVPC_BLOCK_IMDS */
  /* the ENI is in the task's namespace, not the host's; one bridge address is held for it */
  g_assert_cmpint(ecsa_netplug_sh(NULL, "ip link show %s >/dev/null 2>&1", fx->vpc->eni), !=, 0);
  g_assert_cmpuint(reserved_addresses(fx), ==, 1);

  /* ECS and the plugins see the task's own containers only */
  views = ecsa_task_engine_list_task_views(fx->te->engine);
  g_assert_cmpuint(views->len, ==, 1);
  view = views->pdata[0];
  g_assert_null(view->containers[1]);
  g_assert_cmpstr(view->containers[0]->name, ==, "app");
  assert_sandbox_never_reported(fx);

  /* the checkpoint keeps the sandbox; a restart neither sets it up again nor makes another */
  ecsa_test_engine_stop(fx->te);
  checkpoint_path = g_build_filename(fx->te->dir, "ecsa_agent_data.json", NULL);
  g_assert_true(g_file_get_contents(checkpoint_path, &checkpoint, NULL, NULL));
  g_assert_nonnull(strstr(checkpoint, "\"" ECSA_TASK_NETWORK_SANDBOX_NAME "\""));
  g_assert_nonnull(strstr(checkpoint, "RESOURCES_PROVISIONED"));
  ecsa_test_engine_start(fx->te, NULL);
  ecsa_test_run_for(1000);
  g_assert_cmpuint(count_logged(fx, "has its network"), ==, 1);
  {
    g_autoptr(GPtrArray) again = ecsa_test_engine_docker_ids(arn, ECSA_TASK_NETWORK_SANDBOX_NAME);
    g_assert_cmpuint(again->len, ==, 1);
    g_assert_cmpstr(again->pdata[0], ==, sandboxes->pdata[0]);
  }
  g_assert_cmpuint(reserved_addresses(fx), ==, 1);
  g_assert_cmpuint(ecsa_test_engine_count(fx->te, arn, NULL, "STOPPED"), ==, 0);

  /* the checkpoint lost (corrupt): the task and its sandbox come back from their Docker labels,
   * the sandbox taken as it is (no ENI known); ACS sends the task again, its ENI is known again,
   * so the stop below still tears the namespace down and gives the address back */
  ecsa_test_engine_stop(fx->te);
  g_assert_true(g_file_set_contents(checkpoint_path, "{", -1, NULL));
  ecsa_test_engine_start(fx->te, NULL);
  g_assert_nonnull(fx->te->store_error);
  {
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    g_autoptr(GPtrArray) again = NULL;

    while (count_logged(fx, "taking its sandbox as it is") == 0 && g_get_monotonic_time() < deadline)
      ecsa_test_run_for(100);
    g_assert_cmpuint(count_logged(fx, "taking its sandbox as it is"), ==, 1);
    apply(fx, running, 2);
    ecsa_test_run_for(500);
    again = ecsa_test_engine_docker_ids(arn, ECSA_TASK_NETWORK_SANDBOX_NAME);
    g_assert_cmpuint(again->len, ==, 1);
    g_assert_cmpstr(again->pdata[0], ==, sandboxes->pdata[0]);
  }
  g_assert_cmpuint(count_logged(fx, "has its network"), ==, 1);
  g_assert_cmpuint(reserved_addresses(fx), ==, 1);
  g_assert_cmpuint(ecsa_test_engine_count(fx->te, arn, NULL, "STOPPED"), ==, 0);

  /* the stop: the app first, then teardown, the sandbox ends on SIGTERM, the ENI is released */
  apply(fx, stopped, 3);
  ecsa_test_engine_wait(fx->te, arn, "app", "STOPPED", GUARD_MS);
  ecsa_test_engine_wait(fx->te, arn, NULL, "STOPPED", GUARD_MS);
  g_clear_pointer(&sandbox_inspect, json_object_unref);
  sandbox_inspect = ecsa_test_docker_inspect(sandboxes->pdata[0]);
  if (sandbox_inspect != NULL)
    {
      state = json_object_get_object_member(sandbox_inspect, "State");
      g_assert_false(json_object_get_boolean_member(state, "Running"));
      g_assert_cmpint(json_object_get_int_member(state, "ExitCode"), ==, 0); /* SIGTERM, not killed */
    }
  g_assert_cmpuint(count_logged(fx, "network torn down"), ==, 1);
  g_assert_cmpint(ecsa_netplug_sh(NULL, "ip link show %s >/dev/null", fx->vpc->eni), ==, 0);
  assert_sandbox_never_reported(fx);

  /* cleanup removes the sandbox too */
  wait_forgotten(fx->te);
  g_assert_cmpuint(count_logged(fx, "ENI released"), ==, 1);
  g_assert_cmpuint(reserved_addresses(fx), ==, 0); /* the bridge address went back */
  g_clear_pointer(&sandboxes, g_ptr_array_unref);
  sandboxes = ecsa_test_engine_docker_ids(arn, NULL);
  g_assert_cmpuint(sandboxes->len, ==, 0);
  fixture_free(fx);
}

/* The plugin cannot set the namespace up (no such interface on the host): the task stops with
 * the sandbox's reason, its app never created. Then a sandbox that cannot be created. */
static void
test_setup_failure(void)
{
  Fixture *fx = fixture_new();
  g_autofree char *arn = ecsa_test_engine_arn(fx->te, "bad");
  g_autofree char *task = awsvpc_task_json(fx, "bad", "RUNNING", "02:ec:5a:ff:ff:fe");
  g_autoptr(GPtrArray) apps = NULL;
  const EcsaStateChange *sc;

  apply(fx, task, 1);
  sc = ecsa_test_engine_wait(fx->te, arn, NULL, "STOPPED", GUARD_MS);
  g_test_message("reason: %s", sc->reason);
  g_assert_nonnull(sc->reason);
  g_assert_true(g_str_has_prefix(sc->reason, "ContainerNetworkingError: "));
  g_assert_cmpuint(ecsa_test_engine_count(fx->te, arn, NULL, "RUNNING"), ==, 0);
  apps = ecsa_test_engine_docker_ids(arn, "app");
  g_assert_cmpuint(apps->len, ==, 0);
  assert_sandbox_never_reported(fx);
  wait_forgotten(fx->te);
  g_assert_cmpuint(reserved_addresses(fx), ==, 0);

  /* the sandbox cannot even be created (its image is gone): the task stops with that reason,
   * nothing is torn down or released, and it is forgotten all the same */
  {
    g_autofree char *arn2 = ecsa_test_engine_arn(fx->te, "nopause");
    g_autofree char *task2 = awsvpc_task_json(fx, "nopause", "RUNNING", fx->vpc->eni_mac);
    g_autofree char *rmi = g_strdup_printf("/images/%s?force=1", fx->pause_image);
    g_autoptr(JsonNode) reply = NULL;
    guint status = 0;
    guint teardowns = count_logged(fx, "network torn down");

    reply = ecsa_netplug_docker(fx->th, "DELETE", rmi, NULL, &status);
    g_assert_cmpuint(status, ==, 200);
    apply(fx, task2, 2);
    sc = ecsa_test_engine_wait(fx->te, arn2, NULL, "STOPPED", GUARD_MS);
    g_test_message("reason: %s", sc->reason);
    g_assert_nonnull(sc->reason);
    g_assert_true(g_str_has_prefix(sc->reason, "CannotCreateContainerError: "));
    g_assert_cmpuint(ecsa_test_engine_count(fx->te, arn2, "app", "RUNNING"), ==, 0);
    assert_sandbox_never_reported(fx);
    wait_forgotten(fx->te);
    g_assert_cmpuint(count_logged(fx, "network torn down"), ==, teardowns);
    g_assert_cmpint(ecsa_netplug_sh(NULL, "ip link show %s >/dev/null", fx->vpc->eni), ==, 0);
  }
  fixture_free(fx);
}

/* Without task ENIs (ECS_ENABLE_TASK_ENI off, or outside a VPC) a task with an ENI is refused. */
static void
test_refused(void)
{
  g_autoptr(EcsaTestEngine) te = ecsa_test_engine_new("awsvpc");
  g_autofree char *base = NULL;
  g_autofree char *payload = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;

  ecsa_test_engine_start(te, NULL);
  base = ecsa_test_engine_task_json(te, "noeni", "RUNNING", "[{\"name\":\"app\",\"image\":\"x\",\"essential\":true}]");
  base[strlen(base) - 1] = '\0';
  payload = g_strdup_printf("[%s,\"elasticNetworkInterfaces\":[{\"ec2Id\":\"eni-1\",\"macAddress\":"
                            "\"0a:00:00:00:00:02\",\"ipv4Addresses\":[{\"primary\":true,"
                            "\"privateAddress\":\"10.0.0.5\"}]}]}]",
                            base);
  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(rejected->len, ==, 1);
  g_assert_nonnull(strstr(rejected->pdata[0], "ECS_ENABLE_TASK_ENI"));
  g_assert_cmpuint(ecsa_task_engine_get_n_tasks(te->engine), ==, 0);
}

int
main(int argc, char **argv)
{
  g_autofree char *repo = NULL;
  int rc;

  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_log_set_always_fatal(G_LOG_FATAL_MASK);
  ecsa_test_docker_require();
  repo = g_strdup_printf("%sbusybox", ecsa_test_docker_prefix("awsvpc"));
  registry = ecsa_test_registry_start(repo);
  image = ecsa_test_registry_get_image(registry);

  g_test_add_func("/task-engine-awsvpc/refused", test_refused);
  g_test_add_func("/task-engine-awsvpc/task", test_task);
  g_test_add_func("/task-engine-awsvpc/setup-failure", test_setup_failure);
  rc = g_test_run();
  ecsa_test_registry_stop(registry);
  return rc;
}
