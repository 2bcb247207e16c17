/* test-log-awslogs.c: the awslogs log driver's defaults and options, without Docker.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-plugins.h"

const EcsaPluginDescriptor *ecsa_plugin_log_awslogs_get_descriptor (void);

#define O(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define TASK_ARN "arn:aws:ecs:us-west-2:123456789012:task/0b69d5c0-d655-4695-98cd-5d2d526d9d5a"

static const EcsaTestLogCase cases[] = {
  { "group", O ("awslogs-group", "g", "awslogs-region", "eu-west-1"), NULL },
  { "all", O ("awslogs-group", "g", "awslogs-region", "eu-west-1", "awslogs-stream", "s", "awslogs-create-group",
              "true", "awslogs-endpoint", "http://127.0.0.1:4566", "awslogs-datetime-format", "%Y-%m-%d",
              "awslogs-credentials-endpoint", "/v2/credentials/abc", "awslogs-force-flush-interval-seconds", "5",
              "awslogs-max-buffered-events", "100", "tag", "t", "mode", "non-blocking", "max-buffer-size", "1m"),
    NULL },
  { "multiline", O ("awslogs-group", "g", "awslogs-multiline-pattern", "^INFO"), NULL },
  { "missing-group", O ("awslogs-region", "eu-west-1"), "option 'awslogs-group': required" },
  { "empty-group", O ("awslogs-group", ""), "option 'awslogs-group': required" },
  { "bad-create-group", O ("awslogs-group", "g", "awslogs-create-group", "yes"),
    "option 'awslogs-create-group': 'yes' must be a boolean" },
  { "bad-flush", O ("awslogs-group", "g", "awslogs-force-flush-interval-seconds", "0"),
    "option 'awslogs-force-flush-interval-seconds': '0' must be a positive integer" },
  { "bad-buffered", O ("awslogs-group", "g", "awslogs-max-buffered-events", "many"),
    "option 'awslogs-max-buffered-events'" },
  { "both-multiline", O ("awslogs-group", "g", "awslogs-datetime-format", "%Y", "awslogs-multiline-pattern", "^x"),
    "cannot be set together with awslogs-datetime-format" },
  { "relative-endpoint", O ("awslogs-group", "g", "awslogs-credentials-endpoint", "v2/credentials/abc"),
    "option 'awslogs-credentials-endpoint': 'v2/credentials/abc' must be a path on the credentials endpoint" },
  { "labels-not-taken", O ("awslogs-group", "g", "labels", "a"), "option 'labels': unknown option" },
  { "unknown", O ("awslogs-group", "g", "awslogs-retention", "7"), "option 'awslogs-retention': unknown option" },
};

static void
test_descriptor (void)
{
  ecsa_test_check_descriptor (ecsa_plugin_log_awslogs_get_descriptor (), ECSA_PLUGIN_KIND_LOG_DRIVER, "awslogs",
                              (const char *const[]){ "com.amazonaws.ecs.capability.logging-driver.awslogs",
                                                     "ecs.capability.execution-role-awslogs", NULL });
}

typedef struct
{
  EcsaTestHost *host;
  EcsaTestPlugin *plugin;
  EcsaTestTaskView view;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  fx->host = ecsa_test_host_new ();
  ecsa_test_host_set_region (fx->host, "us-west-2");
  fx->plugin = ecsa_test_plugin_init (ecsa_plugin_log_awslogs_get_descriptor (), fx->host, &error);
  g_assert_no_error (error);
  ecsa_test_task_view_init (&fx->view, TASK_ARN, "web", "", "");
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  ecsa_test_plugin_free (fx->plugin);
  ecsa_test_host_free (fx->host);
  ecsa_test_task_view_clear (&fx->view);
}

static void
prepare_ok (Fixture *fx, GHashTable *options)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (ecsa_test_log_prepare (fx->plugin, &fx->view.task, &fx->view.container, options, &error));
  g_assert_no_error (error);
}

static void
test_region_from_agent (Fixture *fx, gconstpointer data)
{
  g_autoptr(GHashTable) options = ecsa_test_options_new (O ("awslogs-group", "g"));

  prepare_ok (fx, options);
  g_assert_cmpstr (g_hash_table_lookup (options, "awslogs-region"), ==, "us-west-2");
}

static void
test_region_kept (Fixture *fx, gconstpointer data)
{
  g_autoptr(GHashTable) options = ecsa_test_options_new (O ("awslogs-group", "g", "awslogs-region", "eu-central-1"));

  prepare_ok (fx, options);
  g_assert_cmpstr (g_hash_table_lookup (options, "awslogs-region"), ==, "eu-central-1");
}

static void
test_region_unknown (Fixture *fx, gconstpointer data)
{
  g_autoptr(GHashTable) options = ecsa_test_options_new (O ("awslogs-group", "g"));

  ecsa_test_host_set_region (fx->host, "");
  prepare_ok (fx, options);
  g_assert_false (g_hash_table_contains (options, "awslogs-region"));
}

static void
test_stream_prefix (Fixture *fx, gconstpointer data)
{
  g_autoptr(GHashTable) options = ecsa_test_options_new (O ("awslogs-group", "g", "awslogs-stream-prefix", "app"));

  prepare_ok (fx, options);
  g_assert_false (g_hash_table_contains (options, "awslogs-stream-prefix"));
  g_assert_cmpstr (g_hash_table_lookup (options, "awslogs-stream"), ==,
                   "app/web/0b69d5c0-d655-4695-98cd-5d2d526d9d5a");
}

static void
test_stream_prefix_explicit_stream (Fixture *fx, gconstpointer data)
{
  g_autoptr(GHashTable) options = ecsa_test_options_new (
    O ("awslogs-group", "g", "awslogs-stream-prefix", "app", "awslogs-stream", "mine"));

  prepare_ok (fx, options);
  g_assert_cmpstr (g_hash_table_lookup (options, "awslogs-stream"), ==, "mine");
  g_assert_false (g_hash_table_contains (options, "awslogs-stream-prefix"));
}

static void
test_execution_role (Fixture *fx, gconstpointer data)
{
  g_autoptr(GHashTable) options = ecsa_test_options_new (
    O ("awslogs-group", "g", "awslogs-credentials-endpoint", "/v2/credentials/someone-else"));

  ecsa_test_task_view_clear (&fx->view);
  ecsa_test_task_view_init (&fx->view, TASK_ARN, "web", "exec-cred-id-1", "ExecutionRole");
  prepare_ok (fx, options);
  /* as v1.16.2: the task's own execution role replaces what the task definition carried */
  g_assert_cmpstr (g_hash_table_lookup (options, "awslogs-credentials-endpoint"), ==,
                   "/v2/credentials/exec-cred-id-1");
}

static void
test_execution_role_not_asked (Fixture *fx, gconstpointer data)
{
  g_autoptr(GHashTable) options = ecsa_test_options_new (O ("awslogs-group", "g"));

  ecsa_test_task_view_clear (&fx->view);
  ecsa_test_task_view_init (&fx->view, TASK_ARN, "web", "exec-cred-id-1", "");
  ecsa_test_host_set_config (fx->host, "ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE", "true");
  prepare_ok (fx, options);
  g_assert_false (g_hash_table_contains (options, "awslogs-credentials-endpoint"));
}

static void
test_execution_role_without_credentials (Fixture *fx, gconstpointer data)
{
  g_autoptr(GHashTable) options = ecsa_test_options_new (O ("awslogs-group", "g"));
  g_autoptr(GError) error = NULL;

  ecsa_test_task_view_clear (&fx->view);
  ecsa_test_task_view_init (&fx->view, TASK_ARN, "web", "", "ExecutionRole");
  g_assert_false (ecsa_test_log_prepare (fx->plugin, &fx->view.task, &fx->view.container, options, &error));
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "logsAuthStrategy is ExecutionRole, but the task has no execution role"));
}

/* A core whose container views end before logs_auth_strategy: the override setting decides. */
static void
test_execution_role_older_view (Fixture *fx, gconstpointer data)
{
  g_autoptr(GHashTable) with = ecsa_test_options_new (O ("awslogs-group", "g"));
  g_autoptr(GHashTable) without = ecsa_test_options_new (O ("awslogs-group", "g"));

  ecsa_test_task_view_clear (&fx->view);
  ecsa_test_task_view_init (&fx->view, TASK_ARN, "web", "exec-cred-id-2", "ExecutionRole");
  fx->view.container.struct_size = G_STRUCT_OFFSET (EcsaContainerView, logs_auth_strategy);
  prepare_ok (fx, without);
  g_assert_false (g_hash_table_contains (without, "awslogs-credentials-endpoint"));
  ecsa_test_host_set_config (fx->host, "ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE", "true");
  prepare_ok (fx, with);
  g_assert_cmpstr (g_hash_table_lookup (with, "awslogs-credentials-endpoint"), ==, "/v2/credentials/exec-cred-id-2");
}

static void
test_no_task (Fixture *fx, gconstpointer data)
{
  g_autoptr(GHashTable) options = ecsa_test_options_new (O ("awslogs-group", "g", "awslogs-stream-prefix", "p"));
  g_autoptr(GError) error = NULL;

  ecsa_test_host_set_config (fx->host, "ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE", "true");
  g_assert_true (ecsa_test_log_prepare (fx->plugin, NULL, NULL, options, &error));
  g_assert_no_error (error);
  g_assert_false (g_hash_table_contains (options, "awslogs-stream"));
  g_assert_false (g_hash_table_contains (options, "awslogs-credentials-endpoint"));
}

int
main (int argc, char **argv)
{
  ecsa_test_plugins_init (&argc, &argv);
  g_test_add_func ("/log-awslogs/descriptor", test_descriptor);
  ecsa_test_add_log_cases ("/log-awslogs/options", ecsa_plugin_log_awslogs_get_descriptor (), cases,
                           G_N_ELEMENTS (cases));
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/log-awslogs/defaults/region-from-agent", test_region_from_agent);
  ADD ("/log-awslogs/defaults/region-kept", test_region_kept);
  ADD ("/log-awslogs/defaults/region-unknown", test_region_unknown);
  ADD ("/log-awslogs/defaults/stream-prefix", test_stream_prefix);
  ADD ("/log-awslogs/defaults/stream-prefix-explicit-stream", test_stream_prefix_explicit_stream);
  ADD ("/log-awslogs/defaults/execution-role", test_execution_role);
  ADD ("/log-awslogs/defaults/execution-role-not-asked", test_execution_role_not_asked);
  ADD ("/log-awslogs/defaults/execution-role-without-credentials", test_execution_role_without_credentials);
  ADD ("/log-awslogs/defaults/execution-role-older-view", test_execution_role_older_view);
  ADD ("/log-awslogs/defaults/no-task", test_no_task);
  return g_test_run ();
}
