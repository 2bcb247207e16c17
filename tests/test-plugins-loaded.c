/* test-plugins-loaded.c: the registry-auth and log-driver plugins, built as .so files, load through
 * the agent's loader with the agent's host services, and behave through the registry's wrappers as
 * the engine and the registration will call them. ECSA_TEST_PLUGINS (from meson) lists the plugins
 * this build made.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-config.h"
#include "ecsa-plugin-loader.h"
#include "ecsa-test-plugins.h"

#include <dlfcn.h>
#include <string.h>

#define AUTH_DATA "{\"https://registry.example.com\":{\"auth\":\"dXNlcjpzd29yZGZpc2gtNzc=\",\"email\":\"e@x\"}}"

typedef struct
{
  EcsaConfig *config;
  SoupSession *session;
  EcsaPluginHostServices *services;
  EcsaPluginRegistry *registry;
  EcsaPluginLoader *loader;
  char **built; /* plugin names this build made */
} Fixture;

static gboolean
built (Fixture *fx, const char *name)
{
  return g_strv_contains ((const char *const *) fx->built, name);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  const char *const envp[] = {
    "ECS_ENGINE_AUTH_TYPE=dockercfg",
    "ECS_ENGINE_AUTH_DATA=" AUTH_DATA,
    "AWS_DEFAULT_REGION=eu-west-1",
    "ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE=true",
    "ECS_AGENT_CONFIG_FILE_PATH=/nonexistent/ecs.config.json",
    /* every driver a plugin serves: the loader initializes only the listed ones */
    "ECS_AVAILABLE_LOGGING_DRIVERS=[\"json-file\",\"none\",\"awslogs\",\"journald\",\"syslog\",\"splunk\","
    "\"fluentd\",\"gelf\",\"logentries\"]",
    NULL,
  };
  g_autoptr(GError) error = NULL;

  fx->built = g_strsplit (ECSA_TEST_PLUGINS, ",", -1);
  fx->config = ecsa_config_new ();
  g_assert_true (ecsa_config_load (fx->config, envp, &error));
  g_assert_no_error (error);
  fx->session = soup_session_new ();
  fx->services = ecsa_plugin_host_services_new (fx->config, NULL, fx->session);
  fx->registry = ecsa_plugin_registry_new ();
  fx->loader = ecsa_plugin_loader_new (fx->registry, fx->services);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  ecsa_plugin_loader_free (fx->loader);
  ecsa_plugin_registry_free (fx->registry);
  ecsa_plugin_host_services_free (fx->services);
  g_object_unref (fx->session);
  ecsa_config_free (fx->config);
  g_strfreev (fx->built);
}

/* Load every plugin of this build from the build tree; returns how many loaded. */
static guint
load_all (Fixture *fx)
{
  guint loaded = 0;
  guint i;

  for (i = 0; fx->built[i] != NULL; i++)
    {
      g_autofree char *file = g_strdup_printf ("libecsa-plugin-%s.so", fx->built[i]);
      g_autofree char *path = g_build_filename (g_getenv ("ECSA_PLUGIN_DIR"), file, NULL);
      g_autoptr(GError) error = NULL;
      gboolean ok = ecsa_plugin_loader_load_file (fx->loader, path, &error);

      g_test_message ("%s: %s", fx->built[i], ok ? "loaded" : error->message);
      if (g_strcmp0 (fx->built[i], "log-journald") == 0
          && !g_file_test ("/run/systemd/journal/socket", G_FILE_TEST_EXISTS))
        {
          g_assert_false (ok);
          g_assert_error (error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_NOT_ENABLED);
          g_assert_cmpstr (error->message, ==, "log-driver 'journald' not enabled on this host: no journald socket at "
                                               "'/run/systemd/journal/socket' (No such file or directory)");
        }
      else if (g_strcmp0 (fx->built[i], "auth-docker") == 0)
        {
          g_assert_false (ok);
          g_assert_error (error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_NOT_ENABLED);
          g_assert_nonnull (strstr (error->message, "ECS_ENGINE_AUTH_TYPE is 'dockercfg', not 'docker'"));
        }
      else
        {
          g_assert_no_error (error);
          g_assert_true (ok);
          loaded++;
        }
    }
  return loaded;
}

static void
test_load (Fixture *fx, gconstpointer data)
{
  guint loaded = load_all (fx);
  guint i;

  g_assert_cmpuint (loaded, >, 0);
  for (i = 0; fx->built[i] != NULL; i++)
    {
      const char *name = fx->built[i];
      guint32 kind = g_str_has_prefix (name, "log-") ? ECSA_PLUGIN_KIND_LOG_DRIVER : ECSA_PLUGIN_KIND_REGISTRY_AUTH;
      const EcsaLoadedPlugin *p = ecsa_plugin_registry_lookup (fx->registry, kind, strchr (name, '-') + 1);

      if (g_strcmp0 (name, "auth-docker") == 0 || (g_strcmp0 (name, "log-journald") == 0 && p == NULL))
        continue;
      g_assert_nonnull (p);
      g_assert_nonnull (ecsa_loaded_plugin_get_path (p));
      g_assert_true (g_str_has_suffix (ecsa_loaded_plugin_get_path (p), ".so"));
    }
}

static void
test_log_prepare (Fixture *fx, gconstpointer data)
{
  EcsaTestTaskView view;
  g_autoptr(GHashTable) options = ecsa_test_options_new ((const char *const[]){ "awslogs-group", "g", NULL });
  g_autoptr(GHashTable) gelf = ecsa_test_options_new (NULL);
  g_autoptr(GError) error = NULL;

  if (!built (fx, "log-awslogs") || !built (fx, "log-gelf"))
    {
      g_test_message ("awslogs or gelf not in this build: nothing to check here");
      return;
    }
  load_all (fx);
  ecsa_test_task_view_init (&view, "arn:aws:ecs:eu-west-1:123456789012:task/abc", "web", "exec-id-7", "ExecutionRole");
  view.container.log_driver = "awslogs";
  g_assert_true (ecsa_plugin_registry_log_driver_prepare (fx->registry, &view.task, &view.container, options, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (g_hash_table_lookup (options, "awslogs-region"), ==, "eu-west-1");
  g_assert_cmpstr (g_hash_table_lookup (options, "awslogs-credentials-endpoint"), ==, "/v2/credentials/exec-id-7");

  view.container.log_driver = "gelf";
  g_assert_false (ecsa_plugin_registry_log_driver_prepare (fx->registry, &view.task, &view.container, gelf, &error));
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_cmpstr (error->message, ==, "log-driver 'gelf': option 'gelf-address': required");
  ecsa_test_task_view_clear (&view);
}

typedef struct
{
  gboolean done;
  GAsyncResult *result;
} AuthWait;

static void
auth_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AuthWait *w = user_data;

  w->result = g_object_ref (result);
  w->done = TRUE;
}

static EcsaRegistryCredentials *
get_credentials (Fixture *fx, const char *image, const char *type, GError **error)
{
  EcsaAuthRequest req = { .struct_size = sizeof (EcsaAuthRequest), .image = image, .auth_type = type };
  AuthWait w = { 0 };
  EcsaRegistryCredentials *c;

  ecsa_plugin_registry_auth_get_credentials_async (fx->registry, &req, NULL, auth_ready_cb, &w);
  ecsa_test_wait (&w.done, 10000, "registry auth through the registry");
  c = ecsa_plugin_registry_auth_get_credentials_finish (fx->registry, w.result, error);
  g_object_unref (w.result);
  return c;
}

static void
test_auth (Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaRegistryCredentials) c = NULL;
  g_autoptr(EcsaRegistryCredentials) anonymous = NULL;
  g_autoptr(EcsaRegistryCredentials) none = NULL;
  g_autoptr(GError) error = NULL;

  if (!built (fx, "auth-dockercfg"))
    {
      g_test_message ("auth-dockercfg not in this build: nothing to check here");
      return;
    }
  load_all (fx);
  c = get_credentials (fx, "registry.example.com/team/app:1", "dockercfg", &error);
  g_assert_no_error (error);
  g_assert_nonnull (c);
  g_assert_cmpuint (c->struct_size, ==, sizeof (EcsaRegistryCredentials));
  g_assert_cmpstr (c->username, ==, "user");
  g_assert_cmpstr (c->password, ==, "swordfish-77");
  g_assert_cmpstr (c->email, ==, "e@x");
  anonymous = get_credentials (fx, "other.example.com/app", "dockercfg", &error);
  g_assert_no_error (error);
  g_assert_null (anonymous);
  /* "docker" is not enabled here: v1.16.2 pulls anonymously for a type it cannot serve */
  none = get_credentials (fx, "registry.example.com/team/app:1", "docker", &error);
  g_assert_null (none);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
  ecsa_test_assert_no_secret ("swordfish-77");
}

static void
test_capabilities (Fixture *fx, gconstpointer data)
{
  const char *const docker_20_10[] = { "awslogs", "fluentd", "gcplogs", "gelf", "journald", "json-file",
                                       "local", "logentries", "splunk", "syslog", NULL };
  const char *const available[] = { "json-file", "none", "awslogs", "journald", "syslog", "splunk", NULL };
  EcsaCapabilityInputs inputs = {
    .available_logging_drivers = available,
    .docker_log_drivers = docker_20_10,
    .docker_api_version = "1.41",
    .override_awslogs_execution_role = TRUE,
  };
  g_autoptr(GPtrArray) attrs = NULL;
  g_autoptr(GPtrArray) old = NULL;
  g_autoptr(GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) old_names = g_hash_table_new (g_str_hash, g_str_equal);
  guint i;

  load_all (fx);
  attrs = ecsa_plugin_registry_capabilities (fx->registry, &inputs);
  for (i = 0; i < attrs->len; i++)
    {
      EcsaPluginAttribute *a = g_ptr_array_index (attrs, i);
      g_test_message ("attribute %s", a->name);
      g_assert_null (a->value);
      g_hash_table_add (names, a->name);
    }
#define CAP(d) "com.amazonaws.ecs.capability.logging-driver." d
  if (built (fx, "log-json-file"))
    g_assert_true (g_hash_table_contains (names, CAP ("json-file")));
  if (built (fx, "log-none"))
    g_assert_true (g_hash_table_contains (names, CAP ("none")));
  if (built (fx, "log-awslogs"))
    {
      g_assert_true (g_hash_table_contains (names, CAP ("awslogs")));
      g_assert_true (g_hash_table_contains (names, "ecs.capability.execution-role-awslogs"));
    }
  if (built (fx, "log-syslog"))
    g_assert_true (g_hash_table_contains (names, CAP ("syslog")));
  if (built (fx, "log-splunk"))
    g_assert_true (g_hash_table_contains (names, CAP ("splunk")));
  if (built (fx, "auth-ecr"))
    {
      g_assert_true (g_hash_table_contains (names, "com.amazonaws.ecs.capability.ecr-auth"));
      g_assert_true (g_hash_table_contains (names, "ecs.capability.execution-role-ecr-pull"));
    }
  /* not available (gelf, fluentd, logentries) or not usable here (journald without a journal) */
  g_assert_false (g_hash_table_contains (names, CAP ("gelf")));
  g_assert_false (g_hash_table_contains (names, CAP ("fluentd")));
  g_assert_false (g_hash_table_contains (names, CAP ("logentries")));
  if (!g_file_test ("/run/systemd/journal/socket", G_FILE_TEST_EXISTS))
    g_assert_false (g_hash_table_contains (names, CAP ("journald")));

  /* an older Docker: awslogs (1.21) and splunk (1.22) are beyond API 1.20; no override */
  inputs.docker_api_version = "1.20";
  inputs.override_awslogs_execution_role = FALSE;
  old = ecsa_plugin_registry_capabilities (fx->registry, &inputs);
  for (i = 0; i < old->len; i++)
    g_hash_table_add (old_names, ((EcsaPluginAttribute *) g_ptr_array_index (old, i))->name);
  g_assert_false (g_hash_table_contains (old_names, CAP ("awslogs")));
  g_assert_false (g_hash_table_contains (old_names, CAP ("splunk")));
  g_assert_false (g_hash_table_contains (old_names, "ecs.capability.execution-role-awslogs"));
  if (built (fx, "log-syslog"))
    g_assert_true (g_hash_table_contains (old_names, CAP ("syslog")));
#undef CAP
}

/* With ECS_AVAILABLE_LOGGING_DRIVERS at its default (json-file and none), the other log-driver
 * plugins are not initialized and their modules are unloaded; so are auth-docker and
 * auth-dockercfg when ECS_ENGINE_AUTH_TYPE is not set (their init() says not supported). */
static void
test_default_drivers_only (void)
{
  const char *const envp[] = { "AWS_DEFAULT_REGION=eu-west-1",
                               "ECS_AGENT_CONFIG_FILE_PATH=/nonexistent/ecs.config.json", NULL };
  g_autoptr(EcsaConfig) config = ecsa_config_new ();
  g_autoptr(GError) error = NULL;
  g_auto (GStrv) names = g_strsplit (ECSA_TEST_PLUGINS, ",", -1);
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(EcsaPluginHostServices) services = NULL;
  g_autoptr(EcsaPluginRegistry) registry = ecsa_plugin_registry_new ();
  g_autoptr(EcsaPluginLoader) loader = NULL;

  g_assert_true (ecsa_config_load (config, envp, &error));
  g_assert_no_error (error);
  services = ecsa_plugin_host_services_new (config, NULL, session);
  loader = ecsa_plugin_loader_new (registry, services);
  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autofree char *file = g_strdup_printf ("libecsa-plugin-%s.so", names[i]);
      g_autofree char *path = g_build_filename (g_getenv ("ECSA_PLUGIN_DIR"), file, NULL);
      gboolean wanted = !g_str_has_prefix (names[i], "log-") || g_str_equal (names[i], "log-json-file")
                        || g_str_equal (names[i], "log-none");
      gboolean declines = g_str_equal (names[i], "auth-docker") || g_str_equal (names[i], "auth-dockercfg");
      gpointer handle = dlopen (path, RTLD_NOW | RTLD_NOLOAD);
      gboolean before = handle != NULL; /* an earlier test of this program loaded it for good */
      gboolean ok;

      if (handle != NULL)
        dlclose (handle);
      ok = ecsa_plugin_loader_load_file (loader, path, &error);

      g_test_message ("%s: %s", names[i], ok ? "loaded" : error->message);
      if (!wanted || declines)
        {
          g_assert_false (ok);
          g_assert_error (error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_NOT_ENABLED);
          g_clear_error (&error);
          handle = dlopen (path, RTLD_NOW | RTLD_NOLOAD);
          g_assert_true ((handle != NULL) == before);
          if (handle != NULL)
            dlclose (handle);
        }
      else if (ok)
        {
          handle = dlopen (path, RTLD_NOW | RTLD_NOLOAD);
          g_assert_nonnull (handle);
          dlclose (handle);
        }
      else /* journald without a socket, CNI without awsvpc: not for this host */
        {
          g_assert_error (error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_NOT_ENABLED);
          g_clear_error (&error);
        }
    }
  if (g_strv_contains ((const char *const *) names, "log-awslogs"))
    g_assert_null (ecsa_plugin_registry_find_log_driver (registry, "awslogs"));
  if (g_strv_contains ((const char *const *) names, "log-json-file"))
    g_assert_nonnull (ecsa_plugin_registry_find_log_driver (registry, "json-file"));
}

int
main (int argc, char **argv)
{
  ecsa_test_plugins_init (&argc, &argv);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  /* first: the modules it expects unloaded are not yet loaded for good by the others */
  g_test_add_func ("/plugins-loaded/default-drivers-only", test_default_drivers_only);
  ADD ("/plugins-loaded/load", test_load);
  ADD ("/plugins-loaded/log-prepare", test_log_prepare);
  ADD ("/plugins-loaded/auth", test_auth);
  ADD ("/plugins-loaded/capabilities", test_capabilities);
  return g_test_run ();
}
