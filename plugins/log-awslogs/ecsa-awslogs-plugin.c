/* The "awslogs" logging driver (CloudWatch Logs).
 *
 * Defaults the user expects, filled before validation:
 *  - awslogs-region: the agent's region when the task did not name one (dockerd would otherwise
 *    ask the instance metadata service, which may not be the agent's region, or not exist);
 *  - awslogs-stream-prefix (ECS task-definition syntax): becomes awslogs-stream
 *    "<prefix>/<container name>/<task id>", as ECS documents it, since dockerd knows no prefix;
 *  - awslogs-credentials-endpoint: a container whose logsAuthStrategy (from ACS) is "ExecutionRole"
 *    gets "/v2/credentials/<the task's execution credentials ID>", which dockerd reads through the
 *    agent's credentials endpoint (169.254.170.2); as agent v1.16.2, this replaces any value the
 *    task definition carried, and a task without execution role credentials is refused. ECS sends
 *    that strategy only to agents that registered ecs.capability.execution-role-awslogs, which the
 *    core does when ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE is true.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin.h"
#include "ecsa-log-options.h"

#include <string.h>

#define DRIVER "awslogs"
#define CREDENTIALS_PATH "/v2/credentials/"

typedef struct
{
  const EcsaPluginHost *host;
} AwslogsState;

static gboolean
awslogs_init (const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  AwslogsState *st = g_new0 (AwslogsState, 1);

  st->host = host;
  *out_state = st;
  return TRUE;
}

static void
awslogs_shutdown (gpointer state)
{
  g_free (state);
}

static const char *
config_get (const EcsaPluginHost *host, const char *key)
{
  if (host == NULL || host->config_get == NULL)
    return NULL;
  return host->config_get (host, key);
}

static gboolean
execution_role_requested (AwslogsState *st, const EcsaTaskView *task, const EcsaContainerView *container)
{
  if (container != NULL && ECSA_VIEW_HAS_FIELD (container, EcsaContainerView, logs_auth_strategy))
    return g_strcmp0 (container->logs_auth_strategy, "ExecutionRole") == 0;
  /* a core whose views predate logsAuthStrategy: ECS sends it exactly when the agent registered
   * ecs.capability.execution-role-awslogs (the override setting) and the task has an execution role */
  return task != NULL && task->execution_credentials_id != NULL && *task->execution_credentials_id != '\0'
         && ecsa_log_options_is_true (config_get (st->host, "ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE"));
}

static gboolean
awslogs_fill_defaults (gpointer state, const EcsaTaskView *task, const EcsaContainerView *container,
                       GHashTable *options, GError **error)
{
  AwslogsState *st = state;
  const char *region = g_hash_table_lookup (options, "awslogs-region");
  const char *prefix;

  if ((region == NULL || *region == '\0') && st->host->region != NULL && *st->host->region != '\0')
    g_hash_table_insert (options, g_strdup ("awslogs-region"), g_strdup (st->host->region));

  prefix = g_hash_table_lookup (options, "awslogs-stream-prefix");
  if (prefix != NULL)
    {
      if (!g_hash_table_contains (options, "awslogs-stream") && *prefix != '\0' && task != NULL && container != NULL)
        {
          const char *slash = strrchr (task->arn, '/');
          const char *task_id = slash != NULL ? slash + 1 : task->arn;

          g_hash_table_insert (options, g_strdup ("awslogs-stream"),
                               g_strdup_printf ("%s/%s/%s", prefix, container->name, task_id));
        }
      g_hash_table_remove (options, "awslogs-stream-prefix");
    }

  if (execution_role_requested (st, task, container))
    {
      if (task == NULL || task->execution_credentials_id == NULL || *task->execution_credentials_id == '\0')
        {
          /* v1.16.2: "No execution credentials set for the task" */
          g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                               "logsAuthStrategy is ExecutionRole, but the task has no execution role credentials");
          return FALSE;
        }
      g_hash_table_insert (options, g_strdup ("awslogs-credentials-endpoint"),
                           g_strconcat (CREDENTIALS_PATH, task->execution_credentials_id, NULL));
    }
  return TRUE;
}

static gboolean
check_credentials_endpoint (const char *value, GError **error)
{
  if (value[0] != '/')
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                           "must be a path on the credentials endpoint, starting with '/'");
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_not_empty (const char *value, GError **error)
{
  if (*value == '\0')
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must not be empty");
      return FALSE;
    }
  return TRUE;
}

static const EcsaLogOption awslogs_options[] = {
  { "awslogs-group", NULL, ECSA_LOG_OPTION_REQUIRED },
  { "awslogs-stream", check_not_empty, 0 },
  { "awslogs-create-group", ecsa_log_options_check_bool, 0 },
  { "awslogs-create-stream", ecsa_log_options_check_bool, 0 },
  { "awslogs-region", check_not_empty, 0 },
  { "awslogs-endpoint", check_not_empty, 0 },
  { "awslogs-datetime-format", NULL, 0 },
  { "awslogs-multiline-pattern", NULL, 0 },
  { "awslogs-credentials-endpoint", check_credentials_endpoint, 0 },
  { "awslogs-force-flush-interval-seconds", ecsa_log_options_check_positive_int, 0 },
  { "awslogs-max-buffered-events", ecsa_log_options_check_positive_int, 0 },
  { "awslogs-format", NULL, 0 },
  { NULL },
};

static gboolean
awslogs_validate_options (gpointer state, GHashTable *options, GError **error)
{
  if (!ecsa_log_options_validate (DRIVER, options, awslogs_options, ECSA_LOG_OPTIONS_TAG, error))
    return FALSE;
  if (g_hash_table_contains (options, "awslogs-datetime-format")
      && g_hash_table_contains (options, "awslogs-multiline-pattern"))
    {
      ecsa_log_options_set_error (error, "awslogs-multiline-pattern",
                                  "cannot be set together with awslogs-datetime-format");
      return FALSE;
    }
  return TRUE;
}

static const EcsaLogDriverVTable awslogs_vtable = {
  .version = ECSA_LOG_DRIVER_VTABLE_VERSION,
  .driver = DRIVER,
  .min_docker_api_version = "1.21", /* agent v1.16.2's LoggingDriverMinimumVersion */
  .fill_defaults = awslogs_fill_defaults,
  .validate_options = awslogs_validate_options,
};

/* The core registers the second only with ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE. */
static const char *const awslogs_caps[] = {
  "com.amazonaws.ecs.capability.logging-driver.awslogs",
  "ecs.capability.execution-role-awslogs",
  NULL,
};

ECSA_PLUGIN_DEFINE (log_awslogs, .kind = ECSA_PLUGIN_KIND_LOG_DRIVER, .name = "awslogs", .version = PACKAGE_VERSION,
                    .capabilities = awslogs_caps, .init = awslogs_init, .shutdown = awslogs_shutdown,
                    .vtable = &awslogs_vtable)
