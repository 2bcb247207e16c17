/* test-plugin-registry.c: the wrappers around plugin vtables (NULL slots, versions, guard timeouts,
 * checks of what plugins return) and the merging of capabilities by v1.16.2's rules.
 * The plugins are built-in descriptors defined here, loaded through the loader.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin-loader.h"
#include "ecsa-plugin-registry-private.h"
#include "ecsa-test-utils.h"

#include <string.h>

/* What the test plugins do; reset by the fixture. */
static struct
{
  gboolean auth_hang;             /* never answer get_credentials */
  gboolean auth_no_size;          /* answer without struct_size */
  gboolean auth_anonymous;        /* answer NULL, no error */
  gboolean auth_refuse;           /* ECSA_ERROR_AUTH */
  guint auth_invalidated;         /* invalidate() calls */
  GCancellable *auth_cancellable; /* what the plugin was given */
  gboolean net_check_fails;
  guint net_teardowns;
  GPtrArray *metrics_events; /* "started:<id>", "stopped:<id>" */
  gboolean metrics_malformed;
  gboolean cleanup_misbehave;
  gboolean log_probe_fails;
} plugin_behaviour;

/* ---- a log driver with every slot, and one with none -------------------------------------- */

static gboolean
plain_init(const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  *out_state = NULL;
  return TRUE;
}

static gboolean
site_probe(gpointer state, const char *const *docker_log_drivers, GError **error)
{
  if (plugin_behaviour.log_probe_fails)
    {
      g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "no collector socket");
      return FALSE;
    }
  return TRUE;
}

static gboolean
site_fill_defaults(gpointer state, const EcsaTaskView *task, const EcsaContainerView *container, GHashTable *options,
                   GError **error)
{
  if (g_strcmp0(container->logs_auth_strategy, "ExecutionRole") == 0)
    {
      if (task == NULL || task->execution_credentials_id[0] == '\0')
        {
          g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "no execution role credentials for the task");
          return FALSE;
        }
      g_hash_table_insert(options, g_strdup("site-credentials-endpoint"),
                          g_strconcat("/v2/credentials/", task->execution_credentials_id, NULL));
    }
  if (!g_hash_table_contains(options, "site-mode"))
    g_hash_table_insert(options, g_strdup("site-mode"), g_strdup("non-blocking"));
  return TRUE;
}

static gboolean
site_validate(gpointer state, GHashTable *options, GError **error)
{
  if (!g_hash_table_contains(options, "site-group"))
    {
      g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "site-group: required");
      return FALSE;
    }
  return TRUE;
}

static const EcsaLogDriverVTable site_log_vtable = {
  .version = ECSA_LOG_DRIVER_VTABLE_VERSION,
  .driver = "sitelog",
  .min_docker_api_version = "1.25",
  .probe = site_probe,
  .fill_defaults = site_fill_defaults,
  .validate_options = site_validate,
};
static const char *const site_log_caps[] = { "com.amazonaws.ecs.capability.logging-driver.sitelog",
                                             "com.amazonaws.ecs.capability.logging-driver.syslog", /* not its own */
                                             "com.amazonaws.ecs.capability.privileged-container",  /* the agent's */
                                             "ecs.capability.execution-role-awslogs",
                                             "site.capability.fast-logs",
                                             "bad attribute!",
                                             NULL };

#define ECSA_PLUGIN_BUILTIN_LOCAL(id) static const EcsaPluginDescriptor *ecsa_plugin_##id##_get_descriptor(void)
#undef ECSA_PLUGIN_ENTRY_
#define ECSA_PLUGIN_ENTRY_(id) ECSA_PLUGIN_BUILTIN_LOCAL(id)

ECSA_PLUGIN_DEFINE(site_log, .kind = ECSA_PLUGIN_KIND_LOG_DRIVER, .name = "sitelog", .version = "1.0",
                   .capabilities = site_log_caps, .init = plain_init, .vtable = &site_log_vtable)

static const EcsaLogDriverVTable bare_log_vtable = {
  .version = ECSA_LOG_DRIVER_VTABLE_VERSION,
  .driver = "json-file",
};
static const char *const bare_log_caps[] = { "com.amazonaws.ecs.capability.logging-driver.json-file", NULL };
ECSA_PLUGIN_DEFINE(bare_log, .kind = ECSA_PLUGIN_KIND_LOG_DRIVER, .name = "json-file", .version = "1.0",
                   .capabilities = bare_log_caps, .init = plain_init, .vtable = &bare_log_vtable)

/* ---- registry auth ------------------------------------------------------------------------ */

static gboolean
auth_reply_cb(gpointer user_data)
{
  GTask *task = user_data;
  EcsaRegistryCredentials *c;

  if (plugin_behaviour.auth_refuse)
    {
      g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_AUTH, "registry said no");
      return G_SOURCE_REMOVE;
    }
  if (plugin_behaviour.auth_anonymous)
    {
      g_task_return_pointer(task, NULL, NULL);
      return G_SOURCE_REMOVE;
    }
  c = g_new0(EcsaRegistryCredentials, 1);
  c->struct_size = plugin_behaviour.auth_no_size ? 0 : sizeof(EcsaRegistryCredentials);
  c->username = g_strdup("site-user");
  c->password = g_strdup(g_task_get_task_data(task));
  c->server_address = g_strdup("10.9.8.7:5000");
  g_task_return_pointer(task, c, (GDestroyNotify)ecsa_registry_credentials_free);
  return G_SOURCE_REMOVE;
}

static gboolean
auth_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
  g_task_return_error_if_cancelled(G_TASK(user_data));
  return G_SOURCE_REMOVE;
}

static void
auth_get_async(gpointer state, const EcsaAuthRequest *req, GCancellable *cancellable, GAsyncReadyCallback callback,
               gpointer user_data)
{
  GTask *task = g_task_new(NULL, cancellable, callback, user_data);

  /* copy what is needed: req lives only for this call */
  g_task_set_task_data(task, g_strdup_printf("secret-for-%s", req->image), g_free);
  g_set_object(&plugin_behaviour.auth_cancellable, cancellable);
  if (plugin_behaviour.auth_hang)
    {
      /* answers only once cancelled, as a well-behaved plugin does: after the wrapper gave up */
      GSource *source = g_cancellable_source_new(cancellable);

      g_task_attach_source(task, source, G_SOURCE_FUNC(auth_cancelled_cb));
      g_source_unref(source);
      g_object_unref(task);
      return;
    }
  g_idle_add_full(G_PRIORITY_DEFAULT, auth_reply_cb, task, g_object_unref);
}

static EcsaRegistryCredentials *
auth_get_finish(gpointer state, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer(G_TASK(result), error);
}

static void
auth_invalidate(gpointer state, const EcsaAuthRequest *req)
{
  plugin_behaviour.auth_invalidated++;
}

static const EcsaRegistryAuthVTable auth_vtable = {
  .version = ECSA_REGISTRY_AUTH_VTABLE_VERSION,
  .auth_type = "ecr",
  .get_credentials_async = auth_get_async,
  .get_credentials_finish = auth_get_finish,
  .invalidate = auth_invalidate,
};
static const char *const auth_caps[]
  = { "com.amazonaws.ecs.capability.ecr-auth", "ecs.capability.execution-role-ecr-pull", NULL };
ECSA_PLUGIN_DEFINE(test_auth, .kind = ECSA_PLUGIN_KIND_REGISTRY_AUTH, .name = "ecr", .version = "1.0",
                   .capabilities = auth_caps, .init = plain_init, .vtable = &auth_vtable)

/* ---- network ------------------------------------------------------------------------------ */

static void
net_check_async(gpointer state, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);

  if (plugin_behaviour.net_check_fails)
    g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                            "plugin 'ecs-eni' lacks capability awsvpc-network-mode");
  else
    g_task_return_boolean(task, TRUE);
}

static gboolean
net_boolean_finish(gpointer state, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean(G_TASK(result), error);
}

static void
net_setup_async(gpointer state, const EcsaNetworkRequest *req, GCancellable *cancellable, GAsyncReadyCallback callback,
                gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
  EcsaNetworkResult *r = g_new0(EcsaNetworkResult, 1);

  r->struct_size = sizeof(EcsaNetworkResult);
  r->ipv4_address = g_strdup(req->eni != NULL ? req->eni->ipv4_addresses[0] : "169.254.172.2");
  r->mac_address = g_strdup(req->eni != NULL ? req->eni->mac_address : NULL);
  g_task_return_pointer(task, r, (GDestroyNotify)ecsa_network_result_free);
}

static EcsaNetworkResult *
net_setup_finish(gpointer state, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer(G_TASK(result), error);
}

static void
net_teardown_async(gpointer state, const EcsaNetworkRequest *req, GCancellable *cancellable,
                   GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);

  plugin_behaviour.net_teardowns++;
  g_task_return_boolean(task, TRUE);
}

static void
net_attributes(gpointer state, GPtrArray *out)
{
  g_ptr_array_add(out, g_strdup("ecs.capability.cni-plugin-version"));
  g_ptr_array_add(out, g_strdup("55b2ae77ee0bf22321b14f2d4ebbcc04f77322e1-2017.10.0"));
  g_ptr_array_add(out, g_strdup("site.network.flavour"));
  g_ptr_array_add(out, g_strdup("bad value!"));
}

static const char *const net_modes[] = { "awsvpc", NULL };
static const EcsaNetworkVTable net_vtable = {
  .version = ECSA_NETWORK_VTABLE_VERSION,
  .modes = net_modes,
  .check_async = net_check_async,
  .check_finish = net_boolean_finish,
  .setup_async = net_setup_async,
  .setup_finish = net_setup_finish,
  .teardown_async = net_teardown_async,
  .teardown_finish = net_boolean_finish,
  /* no release(): nothing held outside the namespace */
  .attributes = net_attributes,
};
static const char *const net_caps[]
  = { "ecs.capability.task-eni", "ecs.capability.task-eni-block-instance-metadata", NULL };
ECSA_PLUGIN_DEFINE(test_net, .kind = ECSA_PLUGIN_KIND_NETWORK, .name = "cni", .version = "1.0",
                   .capabilities = net_caps, .init = plain_init, .vtable = &net_vtable)

/* ---- metrics ------------------------------------------------------------------------------ */

static void
metrics_started(gpointer state, const EcsaTaskView *task, const EcsaContainerView *container)
{
  g_ptr_array_add(plugin_behaviour.metrics_events, g_strdup_printf("started:%s", container->docker_id));
}

static EcsaTaskMetrics *
make_task_metrics(const char *arn, guint n)
{
  EcsaTaskMetrics *m = g_new0(EcsaTaskMetrics, 1);

  m->struct_size = sizeof(EcsaTaskMetrics);
  m->task_arn = g_strdup(arn);
  m->family = g_strdup("fam");
  m->version = g_strdup("3");
  m->n_containers = n;
  m->containers = g_new0(EcsaContainerMetrics *, n);
  for (guint i = 0; i < n; i++)
    {
      m->containers[i] = g_new0(EcsaContainerMetrics, 1);
      m->containers[i]->struct_size = sizeof(EcsaContainerMetrics);
      m->containers[i]->container_name = g_strdup_printf("c%u", i);
      m->containers[i]->cpu.sample_count = 2;
      m->containers[i]->cpu.sum = 50.0;
    }
  return m;
}

static GPtrArray *
metrics_collect(gpointer state)
{
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)ecsa_task_metrics_free);

  g_ptr_array_add(out, make_task_metrics("arn:aws:ecs:us-west-2:1:task/good", 2));
  if (plugin_behaviour.metrics_malformed)
    {
      EcsaTaskMetrics *bad = make_task_metrics("arn:aws:ecs:us-west-2:1:task/bad", 1);

      bad->struct_size = 0;
      g_ptr_array_add(out, bad);
      bad = make_task_metrics("arn:aws:ecs:us-west-2:1:task/nameless", 1);
      g_clear_pointer(&bad->containers[0]->container_name, g_free);
      g_ptr_array_add(out, bad);
      g_ptr_array_add(out, NULL);
    }
  return out;
}

static const EcsaMetricsVTable metrics_vtable = {
  .version = ECSA_METRICS_VTABLE_VERSION,
  .container_started = metrics_started,
  /* no container_stopped: the wrapper must cope */
  .collect = metrics_collect,
};
ECSA_PLUGIN_DEFINE(test_metrics, .kind = ECSA_PLUGIN_KIND_METRICS, .name = "test-metrics", .version = "1.0",
                   .init = plain_init, .vtable = &metrics_vtable)

/* ---- image cleanup ------------------------------------------------------------------------ */

static GPtrArray *
cleanup_choose(gpointer state, const EcsaImageView *const *images, guint n_images, const EcsaImageCleanupPolicy *policy)
{
  GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

  if (plugin_behaviour.cleanup_misbehave)
    {
      g_ptr_array_add(out, g_strdup("sha256:not-offered"));
      g_ptr_array_add(out, g_strdup(images[1]->image_id));
      g_ptr_array_add(out, g_strdup(images[1]->image_id)); /* twice */
      g_ptr_array_add(out, g_strdup(images[0]->image_id));
      g_ptr_array_add(out, g_strdup(images[2]->image_id)); /* over max_delete = 2 */
      return out;
    }
  /* least recently used first, never images used outside ECS */
  for (guint i = 0; i < n_images && out->len < policy->max_delete; i++)
    if (!images[i]->used_outside_ecs)
      g_ptr_array_add(out, g_strdup(images[i]->image_id));
  return out;
}

static const EcsaImageCleanupVTable cleanup_vtable = {
  .version = ECSA_IMAGE_CLEANUP_VTABLE_VERSION,
  .choose = cleanup_choose,
};
ECSA_PLUGIN_DEFINE(test_cleanup, .kind = ECSA_PLUGIN_KIND_IMAGE_CLEANUP, .name = "lru", .version = "1.0",
                   .init = plain_init, .vtable = &cleanup_vtable)

/* ---- fixture ------------------------------------------------------------------------------ */

typedef struct
{
  EcsaPluginRegistry *registry;
  EcsaPluginHostServices *services;
  EcsaPluginLoader *loader;
  GMainContext *context;
} RegistryFixture;

static void
fixture_setup(RegistryFixture *fx, gconstpointer data)
{
  const EcsaPluginGetDescriptorFunc all[] = {
    ecsa_plugin_site_log_get_descriptor,     ecsa_plugin_bare_log_get_descriptor,
    ecsa_plugin_test_auth_get_descriptor,    ecsa_plugin_test_net_get_descriptor,
    ecsa_plugin_test_metrics_get_descriptor, ecsa_plugin_test_cleanup_get_descriptor,
  };

  memset(&plugin_behaviour, 0, sizeof plugin_behaviour);
  plugin_behaviour.metrics_events = g_ptr_array_new_with_free_func(g_free);
  fx->context = g_main_context_ref_thread_default();
  fx->registry = ecsa_plugin_registry_new();
  fx->services = ecsa_plugin_host_services_new(NULL, NULL, NULL);
  fx->loader = ecsa_plugin_loader_new(fx->registry, fx->services);
  for (guint i = 0; i < G_N_ELEMENTS(all); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_true(ecsa_plugin_loader_load_builtin(fx->loader, all[i], &error));
      g_assert_no_error(error);
    }
}

static void
fixture_teardown(RegistryFixture *fx, gconstpointer data)
{
  ecsa_plugin_loader_free(fx->loader);
  ecsa_plugin_registry_free(fx->registry);
  ecsa_plugin_host_services_free(fx->services);
  /* let late plugin callbacks and their tasks go */
  while (g_main_context_iteration(fx->context, FALSE))
    ;
  g_main_context_unref(fx->context);
  g_clear_object(&plugin_behaviour.auth_cancellable);
  g_ptr_array_unref(plugin_behaviour.metrics_events);
}

static void
async_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **)user_data = g_object_ref(result);
}

static GAsyncResult *
wait_result(RegistryFixture *fx, GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration(fx->context, TRUE);
  return *slot;
}

/* ---- lookups and the slot macro ----------------------------------------------------------- */

static void
test_lookup(RegistryFixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) logs = ecsa_plugin_registry_list(fx->registry, ECSA_PLUGIN_KIND_LOG_DRIVER);
  g_autoptr(GPtrArray) all = ecsa_plugin_registry_list(fx->registry, 0);

  g_assert_cmpuint(logs->len, ==, 2);
  g_assert_cmpuint(all->len, ==, 6);
  g_assert_nonnull(ecsa_plugin_registry_find_log_driver(fx->registry, "sitelog"));
  g_assert_null(ecsa_plugin_registry_find_log_driver(fx->registry, "gelf"));
  g_assert_nonnull(ecsa_plugin_registry_find_auth(fx->registry, "ecr"));
  g_assert_null(ecsa_plugin_registry_find_auth(fx->registry, "dockercfg"));
  g_assert_nonnull(ecsa_plugin_registry_find_network(fx->registry, "awsvpc"));
  g_assert_null(ecsa_plugin_registry_find_network(fx->registry, "bridge"));
  g_assert_cmpuint(
    ecsa_loaded_plugin_get_kind(ecsa_plugin_registry_lookup(fx->registry, ECSA_PLUGIN_KIND_NETWORK, "cni")), ==,
    ECSA_PLUGIN_KIND_NETWORK);
  g_assert_true(ecsa_plugin_registry_has_metrics(fx->registry));
}

/* A slot "since 2" is not called on a version-1 vtable, nor a NULL slot on any. */
typedef struct
{
  guint32 version;
  guint32 padding_;
  void (*slot_since_1)(void);
  void (*slot_since_2)(void);
} FutureVTable;

static void
some_slot(void)
{
}

static void
test_slot_versions(void)
{
  const FutureVTable v1 = { .version = 1, .slot_since_1 = some_slot, .slot_since_2 = some_slot };
  const FutureVTable v2 = { .version = 2, .slot_since_1 = NULL, .slot_since_2 = some_slot };

  g_assert_true(ECSA_VTABLE_HAS(&v1, 1, slot_since_1));
  g_assert_false(ECSA_VTABLE_HAS(&v1, 2, slot_since_2)); /* older plugin: the slot is not there */
  g_assert_false(ECSA_VTABLE_HAS(&v2, 1, slot_since_1)); /* NULL slot: the default behaviour */
  g_assert_true(ECSA_VTABLE_HAS(&v2, 2, slot_since_2));
}

/* ---- log driver --------------------------------------------------------------------------- */

static EcsaContainerView
container_view(const char *driver, GHashTable *options, const char *auth_strategy)
{
  EcsaContainerView c = {
    .struct_size = sizeof(EcsaContainerView),
    .name = "web",
    .image = "10.9.8.7:5000/web:1",
    .docker_id = "",
    .docker_name = "",
    .known_status = "NONE",
    .desired_status = "RUNNING",
    .log_driver = driver,
    .log_options = options,
    .logs_auth_strategy = auth_strategy,
  };
  return c;
}

static void
test_log_prepare(RegistryFixture *fx, gconstpointer data)
{
  g_autoptr(GHashTable) options = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  EcsaTaskView task = { .struct_size = sizeof(EcsaTaskView),
                        .arn = "arn:aws:ecs:us-west-2:1:task/t",
                        .credentials_id = "",
                        .execution_credentials_id = "cred-123" };
  EcsaContainerView c = container_view("sitelog", options, "ExecutionRole");
  g_autoptr(GError) error = NULL;

  /* defaults filled, then validated: the group is missing */
  g_assert_false(ecsa_plugin_registry_log_driver_prepare(fx->registry, &task, &c, options, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_cmpstr(error->message, ==, "log-driver 'sitelog': site-group: required");
  g_clear_error(&error);

  g_hash_table_insert(options, g_strdup("site-group"), g_strdup("g"));
  g_assert_true(ecsa_plugin_registry_log_driver_prepare(fx->registry, &task, &c, options, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(g_hash_table_lookup(options, "site-mode"), ==, "non-blocking");
  g_assert_cmpstr(g_hash_table_lookup(options, "site-credentials-endpoint"), ==, "/v2/credentials/cred-123");

  /* ExecutionRole without execution credentials: fill_defaults refuses, as v1.16.2 */
  task.execution_credentials_id = "";
  g_assert_false(ecsa_plugin_registry_log_driver_prepare(fx->registry, &task, &c, options, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_cmpstr(error->message, ==, "log-driver 'sitelog': no execution role credentials for the task");
}

static void
test_log_prepare_passthrough(RegistryFixture *fx, gconstpointer data)
{
  g_autoptr(GHashTable) options = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GError) error = NULL;
  EcsaContainerView c;

  g_hash_table_insert(options, g_strdup("anything"), g_strdup("goes"));
  /* a plugin without fill_defaults/validate_options accepts everything unchanged */
  c = container_view("json-file", options, "");
  g_assert_true(ecsa_plugin_registry_log_driver_prepare(fx->registry, NULL, &c, options, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(g_hash_table_size(options), ==, 1);
  /* Docker's default driver, and a driver no plugin serves: left to Docker, as v1.16.2 */
  c = container_view("", options, "");
  g_assert_true(ecsa_plugin_registry_log_driver_prepare(fx->registry, NULL, &c, options, &error));
  c = container_view("gelf", options, "");
  g_assert_true(ecsa_plugin_registry_log_driver_prepare(fx->registry, NULL, &c, options, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(g_hash_table_size(options), ==, 1);
}

static void
test_log_probe(RegistryFixture *fx, gconstpointer data)
{
  const char *const docker[] = { "json-file", "syslog", NULL };
  const char *const docker_without[] = { "syslog", NULL };
  const EcsaLoadedPlugin *bare = ecsa_plugin_registry_find_log_driver(fx->registry, "json-file");
  const EcsaLoadedPlugin *site = ecsa_plugin_registry_find_log_driver(fx->registry, "sitelog");
  g_autoptr(GError) error = NULL;

  /* no probe(): Docker's list decides */
  g_assert_true(ecsa_plugin_registry_log_driver_probe(fx->registry, bare, docker, &error));
  g_assert_false(ecsa_plugin_registry_log_driver_probe(fx->registry, bare, docker_without, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
  g_assert_cmpstr(error->message, ==, "log-driver 'json-file': Docker does not list log driver 'json-file'");
  g_clear_error(&error);
  g_assert_false(ecsa_plugin_registry_log_driver_probe(fx->registry, bare, NULL, &error));
  g_clear_error(&error);
  /* probe(): the plugin decides, whatever Docker lists */
  g_assert_true(ecsa_plugin_registry_log_driver_probe(fx->registry, site, docker_without, &error));
  plugin_behaviour.log_probe_fails = TRUE;
  g_assert_false(ecsa_plugin_registry_log_driver_probe(fx->registry, site, docker, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
  g_assert_cmpstr(error->message, ==, "log-driver 'sitelog': no collector socket");
}

/* ---- registry auth ------------------------------------------------------------------------ */

static EcsaAuthRequest
auth_request(const char *type)
{
  EcsaAuthRequest req = {
    .struct_size = sizeof(EcsaAuthRequest),
    .image = "10.9.8.7:5000/web:1",
    .registry = "10.9.8.7:5000",
    .auth_type = type,
  };
  return req;
}

static EcsaRegistryCredentials *
get_credentials(RegistryFixture *fx, const char *type, GCancellable *cancellable, GError **error)
{
  EcsaAuthRequest req = auth_request(type);
  g_autoptr(GAsyncResult) result = NULL;

  ecsa_plugin_registry_auth_get_credentials_async(fx->registry, &req, cancellable, async_result_cb, &result);
  memset(&req, 0xaa, sizeof req); /* the request need not outlive the call */
  wait_result(fx, &result);
  return ecsa_plugin_registry_auth_get_credentials_finish(fx->registry, result, error);
}

static void
test_auth(RegistryFixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaRegistryCredentials) creds = get_credentials(fx, "ecr", NULL, &error);
  EcsaAuthRequest req = auth_request("ecr");

  g_assert_no_error(error);
  g_assert_nonnull(creds);
  g_assert_cmpstr(creds->username, ==, "site-user");
  g_assert_cmpstr(creds->password, ==, "secret-for-10.9.8.7:5000/web:1");

  ecsa_plugin_registry_auth_invalidate(fx->registry, &req);
  g_assert_cmpuint(plugin_behaviour.auth_invalidated, ==, 1);
  req.auth_type = "dockercfg"; /* nobody serves it: nothing to invalidate */
  ecsa_plugin_registry_auth_invalidate(fx->registry, &req);
  g_assert_cmpuint(plugin_behaviour.auth_invalidated, ==, 1);
}

static void
test_auth_outcomes(RegistryFixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  EcsaRegistryCredentials *creds;

  /* no auth type: anonymous, no plugin called */
  creds = get_credentials(fx, NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_null(creds);
  g_assert_null(plugin_behaviour.auth_cancellable);

  /* nobody serves the type */
  creds = get_credentials(fx, "dockercfg", NULL, &error);
  g_assert_null(creds);
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
  g_assert_cmpstr(error->message, ==, "registry auth type 'dockercfg': no registry-auth plugin serves it");
  g_clear_error(&error);

  /* the plugin has nothing for this image */
  plugin_behaviour.auth_anonymous = TRUE;
  creds = get_credentials(fx, "ecr", NULL, &error);
  g_assert_no_error(error);
  g_assert_null(creds);
  plugin_behaviour.auth_anonymous = FALSE;

  /* refused: the plugin's code, prefixed with the plugin */
  plugin_behaviour.auth_refuse = TRUE;
  creds = get_credentials(fx, "ecr", NULL, &error);
  g_assert_null(creds);
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_AUTH);
  g_assert_cmpstr(error->message, ==, "registry-auth 'ecr': registry said no");
  g_clear_error(&error);
  plugin_behaviour.auth_refuse = FALSE;

  /* malformed answer */
  plugin_behaviour.auth_no_size = TRUE;
  creds = get_credentials(fx, "ecr", NULL, &error);
  g_assert_null(creds);
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_FAILED);
  g_assert_cmpstr(error->message, ==,
                  "registry-auth 'ecr': get_credentials returned credentials of 0 bytes, expected 48 "
                  "(struct_size not set?)");
}

static void
test_auth_timeout(RegistryFixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  EcsaRegistryCredentials *creds;
  gint64 start = g_get_monotonic_time();

  plugin_behaviour.auth_hang = TRUE;
  ecsa_plugin_registry_set_call_timeout(fx->registry, 50);
  creds = get_credentials(fx, "ecr", NULL, &error);
  g_assert_null(creds);
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_TIMEOUT);
  g_assert_cmpstr(error->message, ==, "registry-auth 'ecr': get_credentials did not complete within 50 ms");
  g_assert_cmpint(g_get_monotonic_time() - start, <, 5 * G_USEC_PER_SEC);
  /* the plugin was told to stop */
  g_assert_true(g_cancellable_is_cancelled(plugin_behaviour.auth_cancellable));
}

static gboolean
cancel_cb(gpointer user_data)
{
  g_cancellable_cancel(user_data);
  return G_SOURCE_REMOVE;
}

static void
test_auth_cancel(RegistryFixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  EcsaRegistryCredentials *creds;

  plugin_behaviour.auth_hang = TRUE;
  g_timeout_add(20, cancel_cb, cancellable);
  creds = get_credentials(fx, "ecr", cancellable, &error);
  g_assert_null(creds);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true(g_cancellable_is_cancelled(plugin_behaviour.auth_cancellable));
}

/* Shutdown while a plugin still works on a call: the caller is answered, the plugin's late answer
 * is dropped without touching the shut-down plugin. */
static void
test_auth_registry_gone(RegistryFixture *fx, gconstpointer data)
{
  EcsaAuthRequest req = auth_request("ecr");
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) plugin_cancellable = NULL;

  plugin_behaviour.auth_hang = TRUE;
  ecsa_plugin_registry_auth_get_credentials_async(fx->registry, &req, NULL, async_result_cb, &result);
  plugin_cancellable = g_object_ref(plugin_behaviour.auth_cancellable);
  ecsa_plugin_registry_free(fx->registry);
  fx->registry = ecsa_plugin_registry_new();
  g_assert_null(ecsa_plugin_registry_auth_get_credentials_finish(fx->registry, wait_result(fx, &result), &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpstr(error->message, ==, "the agent is shutting down");
  /* the plugin now answers (cancelled): nothing of the old registry may be touched */
  g_cancellable_cancel(plugin_cancellable);
  while (g_main_context_iteration(fx->context, FALSE))
    ;
}

/* ---- network ------------------------------------------------------------------------------ */

static void
test_network(RegistryFixture *fx, gconstpointer data)
{
  const char *const ips[] = { "10.0.0.5", NULL };
  const char *const none[] = { NULL };
  EcsaEniView eni = { .struct_size = sizeof(EcsaEniView),
                      .id = "eni-1",
                      .mac_address = "0a:1b:2c:3d:4e:5f",
                      .ipv4_addresses = ips,
                      .ipv6_addresses = none,
                      .subnet_gateway_ipv4_address = "10.0.0.1/24",
                      .domain_name_servers = none,
                      .domain_name_search = none };
  EcsaNetworkRequest req = { .struct_size = sizeof(EcsaNetworkRequest),
                             .network_mode = "awsvpc",
                             .sandbox_container_id = "abc",
                             .netns_path = "/proc/1/ns/net",
                             .eni = &eni,
                             .additional_local_routes = none };
  g_autoptr(GAsyncResult) r1 = NULL;
  g_autoptr(GAsyncResult) r2 = NULL;
  g_autoptr(GAsyncResult) r3 = NULL;
  g_autoptr(GAsyncResult) r4 = NULL;
  g_autoptr(GAsyncResult) r5 = NULL;
  g_autoptr(EcsaNetworkResult) res = NULL;
  g_autoptr(GError) error = NULL;

  ecsa_plugin_registry_network_check_async(fx->registry, "awsvpc", NULL, async_result_cb, &r1);
  g_assert_true(ecsa_plugin_registry_network_check_finish(fx->registry, wait_result(fx, &r1), &error));
  g_assert_no_error(error);

  ecsa_plugin_registry_network_setup_async(fx->registry, &req, NULL, async_result_cb, &r2);
  res = ecsa_plugin_registry_network_setup_finish(fx->registry, wait_result(fx, &r2), &error);
  g_assert_no_error(error);
  g_assert_cmpstr(res->ipv4_address, ==, "10.0.0.5");
  g_assert_cmpstr(res->mac_address, ==, "0a:1b:2c:3d:4e:5f");

  ecsa_plugin_registry_network_teardown_async(fx->registry, &req, NULL, async_result_cb, &r3);
  g_assert_true(ecsa_plugin_registry_network_teardown_finish(fx->registry, wait_result(fx, &r3), &error));
  g_assert_cmpuint(plugin_behaviour.net_teardowns, ==, 1);

  /* no release(): succeeds without calling anything */
  ecsa_plugin_registry_network_release_async(fx->registry, &req, NULL, async_result_cb, &r4);
  g_assert_true(ecsa_plugin_registry_network_release_finish(fx->registry, wait_result(fx, &r4), &error));
  g_assert_no_error(error);

  /* a mode nobody serves */
  req.network_mode = "overlay";
  ecsa_plugin_registry_network_setup_async(fx->registry, &req, NULL, async_result_cb, &r5);
  g_assert_null(ecsa_plugin_registry_network_setup_finish(fx->registry, wait_result(fx, &r5), &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
  g_assert_cmpstr(error->message, ==, "network mode 'overlay': no network plugin serves it");
}

static void
test_network_check_fails(RegistryFixture *fx, gconstpointer data)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  plugin_behaviour.net_check_fails = TRUE;
  ecsa_plugin_registry_network_check_async(fx->registry, "awsvpc", NULL, async_result_cb, &result);
  g_assert_false(ecsa_plugin_registry_network_check_finish(fx->registry, wait_result(fx, &result), &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
  g_assert_cmpstr(error->message, ==, "network 'cni': plugin 'ecs-eni' lacks capability awsvpc-network-mode");
}

/* ---- metrics ------------------------------------------------------------------------------ */

static void
test_metrics(RegistryFixture *fx, gconstpointer data)
{
  EcsaTaskView task = { .struct_size = sizeof(EcsaTaskView), .arn = "arn:aws:ecs:us-west-2:1:task/t" };
  EcsaContainerView c = container_view("", NULL, "");
  g_autoptr(GPtrArray) got = NULL;
  EcsaTaskMetrics *m;

  c.docker_id = "d0cker";
  ecsa_plugin_registry_metrics_container_started(fx->registry, &task, &c);
  ecsa_plugin_registry_metrics_container_stopped(fx->registry, "d0cker"); /* NULL slot: nothing */
  g_assert_cmpuint(plugin_behaviour.metrics_events->len, ==, 1);
  g_assert_cmpstr(g_ptr_array_index(plugin_behaviour.metrics_events, 0), ==, "started:d0cker");

  plugin_behaviour.metrics_malformed = TRUE;
  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING,
                        "metrics 'test-metrics': collect returned an entry without struct_size, ignoring it");
  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING,
                        "metrics 'test-metrics': collect returned a container entry without struct_size or "
                        "container_name, ignoring it");
  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING,
                        "metrics 'test-metrics': collect returned a NULL entry, ignoring it");
  got = ecsa_plugin_registry_metrics_collect(fx->registry);
  g_test_assert_expected_messages();
  g_assert_cmpuint(got->len, ==, 1);
  m = g_ptr_array_index(got, 0);
  g_assert_cmpstr(m->task_arn, ==, "arn:aws:ecs:us-west-2:1:task/good");
  g_assert_cmpuint(m->n_containers, ==, 2);
  g_assert_cmpstr(m->containers[1]->container_name, ==, "c1");
}

/* ---- image cleanup ------------------------------------------------------------------------ */

static void
test_image_cleanup(RegistryFixture *fx, gconstpointer data)
{
  const char *const names[] = { "web:1", NULL };
  EcsaImageView a = { .struct_size = sizeof(EcsaImageView), .image_id = "sha256:a", .names = names };
  EcsaImageView b
    = { .struct_size = sizeof(EcsaImageView), .image_id = "sha256:b", .names = names, .used_outside_ecs = TRUE };
  EcsaImageView c = { .struct_size = sizeof(EcsaImageView), .image_id = "sha256:c", .names = names };
  const EcsaImageView *const images[] = { &a, &b, &c };
  EcsaImageCleanupPolicy policy = { .struct_size = sizeof policy, .max_delete = 2, .now = 1000, .minimum_age = 60 };
  g_autoptr(GPtrArray) chosen = NULL;
  g_autoptr(GPtrArray) filtered = NULL;
  g_autoptr(GError) error = NULL;

  chosen = ecsa_plugin_registry_image_cleanup_choose(fx->registry, images, 3, &policy, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(chosen->len, ==, 2);
  g_assert_cmpstr(g_ptr_array_index(chosen, 0), ==, "sha256:a");
  g_assert_cmpstr(g_ptr_array_index(chosen, 1), ==, "sha256:c");

  plugin_behaviour.cleanup_misbehave = TRUE;
  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING,
                        "image-cleanup 'lru': chose 'sha256:not-offered', which is not among the images offered, "
                        "ignoring it");
  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING,
                        "image-cleanup 'lru': chose 'sha256:b', which is not among the images offered, ignoring it");
  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING,
                        "image-cleanup 'lru': chose more than 2 images, ignoring the rest");
  filtered = ecsa_plugin_registry_image_cleanup_choose(fx->registry, images, 3, &policy, &error);
  g_test_assert_expected_messages();
  g_assert_cmpuint(filtered->len, ==, 2);
  g_assert_cmpstr(g_ptr_array_index(filtered, 0), ==, "sha256:b");
  g_assert_cmpstr(g_ptr_array_index(filtered, 1), ==, "sha256:a");
}

static void
test_image_cleanup_none(void)
{
  g_autoptr(EcsaPluginRegistry) registry = ecsa_plugin_registry_new();
  EcsaImageCleanupPolicy policy = { .struct_size = sizeof policy, .max_delete = 5 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) metrics = ecsa_plugin_registry_metrics_collect(registry);

  g_assert_null(ecsa_plugin_registry_image_cleanup_choose(registry, NULL, 0, &policy, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
  g_assert_false(ecsa_plugin_registry_has_metrics(registry));
  g_assert_cmpuint(metrics->len, ==, 0);
}

/* ---- capabilities ------------------------------------------------------------------------- */

static char *
attributes_to_string(GPtrArray *attrs)
{
  GString *s = g_string_new(NULL);

  for (guint i = 0; i < attrs->len; i++)
    {
      EcsaPluginAttribute *a = g_ptr_array_index(attrs, i);

      g_string_append_printf(s, "%s%s%s%s", i > 0 ? " " : "", a->name, a->value != NULL ? "=" : "",
                             a->value != NULL ? a->value : "");
    }
  return g_string_free(s, FALSE);
}

static void
expect_capability_warnings(void)
{
  g_test_expect_message(
    "ecsa", G_LOG_LEVEL_WARNING,
    "log-driver 'sitelog': declares capability 'com.amazonaws.ecs.capability.logging-driver.syslog' "
    "for a log driver it does not serve, ignoring it");
  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING,
                        "log-driver 'sitelog': attribute 'com.amazonaws.ecs.capability.privileged-container' is the "
                        "agent's own, ignoring it");
  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING,
                        "log-driver 'sitelog': attribute 'bad attribute!' is not a valid ECS attribute, ignoring it");
}

static void
test_capabilities_defaults(RegistryFixture *fx, gconstpointer data)
{
  /* v1.16.2 defaults: ECS_AVAILABLE_LOGGING_DRIVERS=["json-file","none"], no task ENI */
  const char *const available[] = { "json-file", "none", NULL };
  const char *const docker_logs[] = { "awslogs", "json-file", "syslog", NULL };
  EcsaCapabilityInputs in
    = { .available_logging_drivers = available, .docker_log_drivers = docker_logs, .docker_api_version = "1.41" };
  g_autoptr(GPtrArray) attrs = NULL;
  g_autofree char *text = NULL;

  expect_capability_warnings();
  attrs = ecsa_plugin_registry_capabilities(fx->registry, &in);
  g_test_assert_expected_messages();
  text = attributes_to_string(attrs);
  g_assert_cmpstr(text, ==,
                  "site.capability.fast-logs com.amazonaws.ecs.capability.logging-driver.json-file "
                  "com.amazonaws.ecs.capability.ecr-auth ecs.capability.execution-role-ecr-pull");
}

static void
test_capabilities_everything(RegistryFixture *fx, gconstpointer data)
{
  const char *const available[] = { "json-file", "sitelog", NULL };
  const char *const docker_logs[] = { "json-file", NULL };
  EcsaCapabilityInputs in = { .available_logging_drivers = available,
                              .docker_log_drivers = docker_logs,
                              .docker_api_version = "1.41",
                              .task_eni_enabled = TRUE,
                              .awsvpc_block_imds = TRUE,
                              .override_awslogs_execution_role = TRUE };
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GPtrArray) attrs = NULL;
  g_autofree char *text = NULL;

  ecsa_plugin_registry_network_check_async(fx->registry, "awsvpc", NULL, async_result_cb, &result);
  g_assert_true(ecsa_plugin_registry_network_check_finish(fx->registry, wait_result(fx, &result), NULL));
  expect_capability_warnings();
  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING,
                        "network 'cni': attribute 'site.network.flavour' is not a valid ECS attribute, ignoring it");
  attrs = ecsa_plugin_registry_capabilities(fx->registry, &in);
  g_test_assert_expected_messages();
  text = attributes_to_string(attrs);
  g_assert_cmpstr(text, ==,
                  "com.amazonaws.ecs.capability.logging-driver.sitelog ecs.capability.execution-role-awslogs "
                  "site.capability.fast-logs com.amazonaws.ecs.capability.logging-driver.json-file "
                  "com.amazonaws.ecs.capability.ecr-auth ecs.capability.execution-role-ecr-pull "
                  "ecs.capability.task-eni ecs.capability.task-eni-block-instance-metadata "
                  "ecs.capability.cni-plugin-version=55b2ae77ee0bf22321b14f2d4ebbcc04f77322e1-2017.10.0");
}

static void
test_capabilities_gates(RegistryFixture *fx, gconstpointer data)
{
  const char *const available[] = { "json-file", "sitelog", NULL };
  const char *const docker_logs[] = { "json-file", NULL };
  /* old Docker: below sitelog's 1.25 and below 1.19 for ECR; task ENI on but the network plugin
   * unchecked; the site probe fails */
  EcsaCapabilityInputs in = { .available_logging_drivers = available,
                              .docker_log_drivers = docker_logs,
                              .docker_api_version = "1.18",
                              .task_eni_enabled = TRUE };
  g_autoptr(GPtrArray) attrs = NULL;
  g_autofree char *text = NULL;

  plugin_behaviour.log_probe_fails = TRUE;
  g_test_expect_message("ecsa", G_LOG_LEVEL_INFO,
                        "log driver 'sitelog' not offered: it needs Docker API 1.25, Docker provides 1.18");
  expect_capability_warnings();
  attrs = ecsa_plugin_registry_capabilities(fx->registry, &in);
  g_test_assert_expected_messages();
  text = attributes_to_string(attrs);
  g_assert_cmpstr(text, ==, "site.capability.fast-logs com.amazonaws.ecs.capability.logging-driver.json-file");

  /* new enough Docker, but the probe fails: still no sitelog */
  g_clear_pointer(&attrs, g_ptr_array_unref);
  g_clear_pointer(&text, g_free);
  in.docker_api_version = "1.30";
  g_test_expect_message("ecsa", G_LOG_LEVEL_INFO, "log driver 'sitelog' not offered: no collector socket");
  expect_capability_warnings();
  attrs = ecsa_plugin_registry_capabilities(fx->registry, &in);
  g_test_assert_expected_messages();
  text = attributes_to_string(attrs);
  g_assert_cmpstr(text, ==,
                  "site.capability.fast-logs com.amazonaws.ecs.capability.logging-driver.json-file "
                  "com.amazonaws.ecs.capability.ecr-auth ecs.capability.execution-role-ecr-pull");
}

#ifdef ECSA_TEST_HAVE_LOG_NONE
static void
test_capabilities_log_none(void)
{
  /* the real "none" plugin: Docker never lists "none", its probe() vouches for it */
  const EcsaPluginDescriptor *ecsa_plugin_log_none_get_descriptor(void);
  g_autoptr(EcsaPluginRegistry) registry = ecsa_plugin_registry_new();
  g_autoptr(EcsaPluginHostServices) services = ecsa_plugin_host_services_new(NULL, NULL, NULL);
  g_autoptr(EcsaPluginLoader) loader = ecsa_plugin_loader_new(registry, services);
  const char *const available[] = { "json-file", "none", NULL };
  const char *const docker_logs[] = { "awslogs", "json-file", "syslog", NULL };
  EcsaCapabilityInputs in
    = { .available_logging_drivers = available, .docker_log_drivers = docker_logs, .docker_api_version = "1.41" };
  g_autoptr(GPtrArray) attrs = NULL;
  g_autofree char *text = NULL;

  g_assert_true(ecsa_plugin_loader_load_builtin(loader, ecsa_plugin_log_none_get_descriptor, NULL));
  attrs = ecsa_plugin_registry_capabilities(registry, &in);
  text = attributes_to_string(attrs);
  g_assert_cmpstr(text, ==, "com.amazonaws.ecs.capability.logging-driver.none");
}
#endif

static void
test_parse_docker_log_drivers(void)
{
  static const char info[] = "{\"ID\":\"x\",\"Plugins\":{\"Volume\":[\"local\"],\"Log\":[\"awslogs\",\"json-file\","
                             "7,\"syslog\"]}}";
  g_autoptr(GBytes) good = g_bytes_new_static(info, sizeof info - 1);
  g_autoptr(GBytes) no_log = g_bytes_new_static("{\"Plugins\":null}", 16);
  g_autoptr(GBytes) bad = g_bytes_new_static("[1,2", 4);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) drivers = ecsa_plugin_registry_parse_docker_log_drivers(good, &error);
  g_auto(GStrv) none = NULL;
  g_autofree char *joined = NULL;

  g_assert_no_error(error);
  joined = g_strjoinv(",", drivers);
  g_assert_cmpstr(joined, ==, "awslogs,json-file,syslog");
  none = ecsa_plugin_registry_parse_docker_log_drivers(no_log, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(g_strv_length(none), ==, 0);
  g_assert_null(ecsa_plugin_registry_parse_docker_log_drivers(bad, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_true(g_str_has_prefix(error->message, "Docker /info: "));
}

#define ADD(path, func) g_test_add(path, RegistryFixture, NULL, fixture_setup, func, fixture_teardown)

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  ADD("/plugin-registry/lookup", test_lookup);
  g_test_add_func("/plugin-registry/slot-versions", test_slot_versions);
  ADD("/plugin-registry/log-driver/prepare", test_log_prepare);
  ADD("/plugin-registry/log-driver/prepare-passthrough", test_log_prepare_passthrough);
  ADD("/plugin-registry/log-driver/probe", test_log_probe);
  ADD("/plugin-registry/auth/credentials", test_auth);
  ADD("/plugin-registry/auth/outcomes", test_auth_outcomes);
  ADD("/plugin-registry/auth/timeout", test_auth_timeout);
  ADD("/plugin-registry/auth/cancel", test_auth_cancel);
  ADD("/plugin-registry/auth/registry-gone", test_auth_registry_gone);
  ADD("/plugin-registry/network/calls", test_network);
  ADD("/plugin-registry/network/check-fails", test_network_check_fails);
  ADD("/plugin-registry/metrics", test_metrics);
  ADD("/plugin-registry/image-cleanup/choose", test_image_cleanup);
  g_test_add_func("/plugin-registry/image-cleanup/none", test_image_cleanup_none);
  ADD("/plugin-registry/capabilities/defaults", test_capabilities_defaults);
  ADD("/plugin-registry/capabilities/everything", test_capabilities_everything);
  ADD("/plugin-registry/capabilities/gates", test_capabilities_gates);
#ifdef ECSA_TEST_HAVE_LOG_NONE
  g_test_add_func("/plugin-registry/capabilities/log-none", test_capabilities_log_none);
#endif
  g_test_add_func("/plugin-registry/capabilities/docker-info", test_parse_docker_log_drivers);
  return g_test_run();
}
