/* test-plugins-engine.c: the registry-auth and log-driver plugins end to end, through the agent's
 * plugin loader and registry and the task engine, against the real dockerd.
 *
 *  - docker auth (ECS_ENGINE_AUTH_TYPE=docker): a task whose image is in the test registry (htpasswd +
 *    TLS in a network namespace) runs; with a wrong password its container stops with the
 *    registry's refusal as the reason, and the secret never reaches a log line;
 *  - ecr: a task whose container has registryAuthentication type "ecr" pulls with the token that
 *    the local control plane (ecs-local) hands out for that registry, signed with instance
 *    credentials ecs-local issued;
 *  - log drivers: a container with invalid log options stops with the plugin's reason; a valid
 *    syslog configuration from the task delivers the container's output to a listener on 127.0.0.1.
 * ecs-local speaks TLS in this process: LeakSanitizer is off for this program (notes §8).
 * SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "ecsa-test-plugins-engine"

#include "ecsa-log.h"
#include "ecsa-plugin-loader.h"
#include "ecsa-test-ecs-local.h"
#include "ecsa-test-engine.h"
#include "ecsa-test-plugins.h"
#include "ecsa-test-utils.h"

#include <string.h>
#include <unistd.h>

const EcsaPluginDescriptor *ecsa_plugin_auth_docker_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_auth_ecr_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_syslog_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_gelf_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_json_file_get_descriptor (void);

#define USER "ecsa-engine-user"
#define TIMEOUT_MS 120000

static EcsaTestPluginsRegistry *registry;
static char *password;
static char *ecr_password;
static char *image;
static EcslTestServer *ecs_local;

typedef struct
{
  EcsaTestEngine *te;
  EcsaPluginHostServices *services;
  EcsaPluginRegistry *plugins;
  EcsaPluginLoader *loader;
} Fixture;

/* ---- instance credentials: the ones ecs-local issued ------------------------------------------ */

static void
aws_get_async (gpointer backend, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  EcsaAwsCredentials *c = g_new0 (EcsaAwsCredentials, 1);

  c->struct_size = sizeof (EcsaAwsCredentials);
  c->access_key_id = g_strdup (ecs_local->access_key_id);
  c->secret_access_key = g_strdup (ecs_local->secret_access_key);
  c->session_token = g_strdup ("");
  c->role_arn = g_strdup ("");
  g_task_return_pointer (task, c, NULL);
}

static EcsaAwsCredentials *
aws_get_finish (gpointer backend, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
aws_free (gpointer backend, EcsaAwsCredentials *c)
{
  g_free ((char *) c->access_key_id);
  g_free ((char *) c->secret_access_key);
  g_free ((char *) c->session_token);
  g_free ((char *) c->role_arn);
  g_free (c);
}

static const EcsaPluginAwsCredentialsBackend aws_backend = {
  .get_async = aws_get_async,
  .get_finish = aws_get_finish,
  .free_credentials = aws_free,
};

/* ---- fixture ------------------------------------------------------------------------------------ */

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  const char *auth_password = data;
  const EcsaPluginGetDescriptorFunc builtin[] = {
    ecsa_plugin_auth_docker_get_descriptor, ecsa_plugin_auth_ecr_get_descriptor,
    ecsa_plugin_log_syslog_get_descriptor,  ecsa_plugin_log_gelf_get_descriptor,
    ecsa_plugin_log_json_file_get_descriptor, NULL,
  };

  fx->te = ecsa_test_engine_new ("plugins");
  ecsa_test_log_clear ();
  g_free (fx->te->config->engine_auth_type);
  fx->te->config->engine_auth_type = g_strdup ("docker");
  g_free (fx->te->config->engine_auth_data);
  fx->te->config->engine_auth_data = g_strdup_printf ("{\"https://%s\":{\"username\":\"" USER "\",\"password\":\"%s\"}}",
                                                      registry->address,
                                                      auth_password != NULL ? auth_password : password);
  g_free (fx->te->config->aws_region);
  fx->te->config->aws_region = g_strdup ("us-west-2");
  g_strfreev (fx->te->config->available_logging_drivers); /* the loader initializes only these */
  fx->te->config->available_logging_drivers = g_strsplit ("json-file,none,syslog,gelf", ",", -1);
  fx->services = ecsa_plugin_host_services_new (fx->te->config, NULL, ecs_local->session);
  ecsa_plugin_host_services_set_aws_credentials_backend (fx->services, &aws_backend, NULL);
  fx->plugins = ecsa_plugin_registry_new ();
  fx->loader = ecsa_plugin_loader_new (fx->plugins, fx->services);
  g_assert_cmpuint (ecsa_plugin_loader_load_builtin_table (fx->loader, builtin), ==, 5);
  fx->te->plugins = fx->plugins;
  ecsa_test_engine_start (fx->te, NULL);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  ecsa_test_engine_stop (fx->te);
  ecsa_test_engine_free (fx->te);
  ecsa_plugin_loader_free (fx->loader);
  ecsa_plugin_registry_free (fx->plugins);
  ecsa_plugin_host_services_free (fx->services);
  ecsa_test_docker_remove_image (image);
}

static char *
container (const char *name, const char *img, const char *cmd, const char *extra)
{
  return g_strdup_printf ("{\"name\":\"%s\",\"image\":\"%s\",\"essential\":true,\"cpu\":10,\"memory\":32,"
                          "\"command\":[\"sh\",\"-c\",\"%s\"]%s%s}",
                          name, img, cmd, extra != NULL ? "," : "", extra != NULL ? extra : "");
}

static char *
run_task (Fixture *fx, const char *name, const char *container_json)
{
  g_autofree char *containers = g_strdup_printf ("[%s]", container_json);
  g_autofree char *task = ecsa_test_engine_task_json (fx->te, name, "RUNNING", containers);
  g_autofree char *payload = g_strdup_printf ("[%s]", task);
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;

  rejected = ecsa_test_engine_apply (fx->te, payload, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rejected->len, ==, 0);
  return ecsa_test_engine_arn (fx->te, name);
}

/* ---- registry auth ------------------------------------------------------------------------------- */

/* No file under the engine's data directory (the checkpoint) holds `secret`. */
static void
assert_not_in_checkpoint (Fixture *fx, const char *secret)
{
  g_autoptr(GDir) dir = g_dir_open (fx->te->dir, 0, NULL);
  const char *name;
  guint files = 0;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (fx->te->dir, name, NULL);
      g_autofree char *contents = NULL;
      gsize len = 0;

      if (!g_file_test (path, G_FILE_TEST_IS_REGULAR) || !g_file_get_contents (path, &contents, &len, NULL))
        continue;
      files++;
      if (g_strstr_len (contents, (gssize) len, secret) != NULL)
        g_error ("the secret is in '%s'", path);
    }
  g_assert_cmpuint (files, >, 0);
}

/* Log lines that would carry `secret`, forced at debug and error level (an auth failure): the
 * registry registered it with the log's redaction when the plugin handed it over. */
static void
force_secret_lines (const char *secret)
{
  ecsa_log_set_level (ECSA_LOG_DEBUG);
  ecsa_log_write (ECSA_LOG_DEBUG, "ecsa-auth-test", secret);
  ecsa_log_write (ECSA_LOG_ERROR, "ecsa-auth-test", secret);
  g_debug ("pulling with %s", secret);
}

static void
test_docker_auth (Fixture *fx, gconstpointer data)
{
  g_autofree char *c = container ("app", image, "sleep 30", NULL);
  g_autofree char *arn = run_task (fx, "docker-auth", c);
  const EcsaStateChange *running;

  ecsa_test_engine_wait (fx->te, arn, "app", "RUNNING", TIMEOUT_MS);
  /* the image was pulled: the task's change carries when (v1.16.2's PullStartedAt, PullStoppedAt) */
  running = ecsa_test_engine_wait (fx->te, arn, NULL, "RUNNING", TIMEOUT_MS);
  g_assert_cmpint (running->pull_started_at, >, 0);
  g_assert_cmpint (running->pull_stopped_at, >=, running->pull_started_at);
  g_assert_cmpint (running->pull_stopped_at, <=, running->timestamp);
  force_secret_lines (password);
  ecsa_test_assert_no_secret (password);
  ecsa_test_engine_stop (fx->te); /* the final checkpoint */
  assert_not_in_checkpoint (fx, password);
}

static void
test_docker_auth_wrong (Fixture *fx, gconstpointer data)
{
  g_autofree char *c = container ("app", image, "sleep 30", NULL);
  g_autofree char *arn = run_task (fx, "docker-auth-wrong", c);
  const EcsaStateChange *stopped = ecsa_test_engine_wait (fx->te, arn, "app", "STOPPED", TIMEOUT_MS);

  g_test_message ("reason: %s", stopped->reason);
  g_assert_nonnull (stopped->reason);
  g_assert_nonnull (strstr (stopped->reason, "CannotPullContainerError"));
  g_assert_nonnull (strstr (stopped->reason, "unauthorized: authentication required"));
  g_assert_null (ecsa_test_engine_find (fx->te, arn, "app", "RUNNING"));
  force_secret_lines ((const char *) data);
  ecsa_test_assert_no_secret (password);
  ecsa_test_assert_no_secret ((const char *) data);
}

static void
test_ecr (Fixture *fx, gconstpointer data)
{
  g_autofree char *auth = g_strdup_printf ("\"registryAuthentication\":{\"type\":\"ecr\",\"ecrAuthData\":{"
                                           "\"registryId\":\"123456789012\",\"region\":\"us-west-2\","
                                           "\"endpointOverride\":\"%s\",\"useExecutionRole\":false}}",
                                           ecs_local->endpoint);
  g_autofree char *c = container ("app", image, "sleep 30", auth);
  g_autofree char *arn = run_task (fx, "ecr", c);

  ecsa_test_engine_wait (fx->te, arn, "app", "RUNNING", TIMEOUT_MS);
  force_secret_lines (ecr_password);
  ecsa_test_assert_no_secret (ecr_password);
  ecsa_test_assert_no_secret (ecs_local->secret_access_key);
  ecsa_test_engine_stop (fx->te);
  assert_not_in_checkpoint (fx, ecr_password);
}

/* ---- log drivers --------------------------------------------------------------------------------- */

static char *
log_config (const char *driver, const char *options_json)
{
  g_autofree char *host_config = g_strdup_printf ("{\"LogConfig\":{\"Type\":\"%s\",\"Config\":%s}}", driver,
                                                  options_json);
  g_autofree char *escaped = g_strescape (host_config, NULL);

  return g_strdup_printf ("\"dockerConfig\":{\"hostConfig\":\"%s\"}", escaped);
}

/* The engine checks a task's log options when the payload arrives: the task is refused with the
 * plugin's reason, and nothing is created. */
static void
test_log_options_refused (Fixture *fx, gconstpointer data)
{
  g_autofree char *lc = log_config ("gelf", "{\"gelf-compression-type\":\"lz4\"}");
  g_autofree char *c = container ("app", "ecsa-test/busybox:latest", "true", lc);
  g_autofree char *containers = g_strdup_printf ("[%s]", c);
  g_autofree char *task = ecsa_test_engine_task_json (fx->te, "log-refused", "RUNNING", containers);
  g_autofree char *payload = g_strdup_printf ("[%s]", task);
  g_autofree char *arn = ecsa_test_engine_arn (fx->te, "log-refused");
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GPtrArray) ids = NULL;
  g_autoptr(GError) error = NULL;
  const char *reason;

  rejected = ecsa_test_engine_apply (fx->te, payload, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rejected->len, ==, 1);
  reason = g_ptr_array_index (rejected, 0);
  g_test_message ("refused: %s", reason);
  g_assert_nonnull (strstr (reason, arn));
  g_assert_nonnull (strstr (reason, "log-driver 'gelf': option 'gelf-compression-type': 'lz4' must be gzip, zlib or none"));
  ecsa_test_run_for (200);
  ids = ecsa_test_engine_docker_ids (arn, NULL);
  g_assert_cmpuint (ids->len, ==, 0);
}

static void
test_syslog_delivery (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) lo = g_inet_address_new_from_string ("127.0.0.1");
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GSocket) s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, &error);
  g_autofree char *marker = g_strdup_printf ("ecsa-engine-marker-%d-%08x", (int) getpid (), g_random_int ());
  g_autofree char *options = NULL;
  g_autofree char *lc = NULL;
  g_autofree char *cmd = g_strdup_printf ("echo %s; sleep 30", marker);
  g_autofree char *c = NULL;
  g_autofree char *arn = NULL;
  gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  gboolean found = FALSE;

  g_assert_no_error (error);
  g_assert_true (g_socket_bind (s, any, TRUE, &error));
  bound = g_socket_get_local_address (s, &error);
  options = g_strdup_printf ("{\"syslog-address\":\"udp://127.0.0.1:%u\",\"tag\":\"ecsa-engine\"}",
                             g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  lc = log_config ("syslog", options);
  c = container ("app", "ecsa-test/busybox:latest", cmd, lc);
  arn = run_task (fx, "syslog", c);
  ecsa_test_engine_wait (fx->te, arn, "app", "RUNNING", TIMEOUT_MS);
  while (!found)
    {
      char buf[4096];
      gssize n;
      gint64 left = deadline - g_get_monotonic_time ();

      if (left <= 0 || !g_socket_condition_timed_wait (s, G_IO_IN, left, NULL, NULL))
        g_error ("syslog through the engine: the line did not arrive within 30 s");
      n = g_socket_receive (s, buf, sizeof (buf) - 1, NULL, NULL);
      if (n <= 0)
        continue;
      buf[n] = '\0';
      g_test_message ("received: %s", buf);
      found = strstr (buf, marker) != NULL && strstr (buf, "ecsa-engine[") != NULL;
    }
}

int
main (int argc, char **argv)
{
  g_autofree char *password_file = NULL;
  g_autofree char *ecr_arg = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *wrong = NULL;
  int rc;

  ecsa_test_plugins_init (&argc, &argv);
  /* the engine warns about what goes wrong in the tasks these tests break on purpose */
  g_log_set_always_fatal (G_LOG_FATAL_MASK);
  ecsa_test_require_docker ();
  ecsa_test_remove_containers_on_exit ();
  password = g_strdup_printf ("pw-%08x%08x", g_random_int (), g_random_int ());
  ecr_password = g_strdup_printf ("ecr-%08x%08x", g_random_int (), g_random_int ());
  wrong = g_strdup_printf ("wrong-%08x", g_random_int ());
  registry = ecsa_test_plugins_registry_start ((const char *const[]){ USER, password, "AWS", ecr_password, NULL });
  image = ecsa_test_plugins_registry_image (registry);

  dir = g_dir_make_tmp ("ecsa-ecr-XXXXXX", NULL);
  password_file = g_build_filename (dir, "ecr-password", NULL);
  g_assert_true (g_file_set_contents (password_file, ecr_password, -1, NULL));
  ecr_arg = g_strdup_printf ("--ecr-registry=%s", registry->address);
  ecs_local = ecsl_test_server_start (NULL, (const char *const[]){ ecr_arg, "--ecr-password-file", password_file,
                                                                   NULL });

#define ADD(path, fn, data) g_test_add (path, Fixture, data, fixture_setup, fn, fixture_teardown)
  ADD ("/plugins-engine/auth/docker", test_docker_auth, NULL);
  ADD ("/plugins-engine/auth/docker-wrong", test_docker_auth_wrong, wrong);
  ADD ("/plugins-engine/auth/ecr", test_ecr, NULL);
  ADD ("/plugins-engine/log/options-refused", test_log_options_refused, NULL);
  ADD ("/plugins-engine/log/syslog", test_syslog_delivery, NULL);
  rc = g_test_run ();

  ecsl_test_server_stop (ecs_local, FALSE);
  ecsa_test_plugins_registry_stop (registry);
  ecsa_test_rmdir_recursive (dir);
  g_free (image);
  g_free (password);
  g_free (ecr_password);
  return rc;
}
