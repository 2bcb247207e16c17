/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-capabilities.h"

#include "ecsa-docker-client.h" /* ecsa_docker_api_version_compare */
#include "ecsa-ecs-client.h"

/* v1.16.2's known Docker API versions (engine/dockerclient/versions.go). */
static const char *const known_api_versions[] = { "1.17", "1.18", "1.19", "1.20", "1.21", "1.22", "1.23",
                                                  "1.24", "1.25", "1.26", "1.27", "1.28", "1.29", "1.30",
                                                  NULL };

static gboolean
api_at_least (const char *api, const char *version)
{
  return api != NULL && ecsa_docker_api_version_compare (api, version) >= 0;
}

static void
add (GPtrArray *attrs, GHashTable *seen, const char *name, const char *value)
{
  if (g_hash_table_contains (seen, name))
    return;
  g_hash_table_add (seen, g_strdup (name));
  g_ptr_array_add (attrs, ecsa_ecs_attribute_new (name, value));
}

GPtrArray *
ecsa_capabilities_build (const EcsaCapabilitiesInputs *inputs, GError **error)
{
  const EcsaConfig *config;
  const char *api;
  g_autoptr(GPtrArray) attrs = ecsa_ecs_attributes_new ();
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GPtrArray) from_plugins = NULL;

  g_return_val_if_fail (inputs != NULL && inputs->config != NULL, NULL);
  config = inputs->config;
  api = inputs->docker_api_version;

  if (!config->privileged_disabled)
    add (attrs, seen, ECSA_CAPABILITY_PREFIX "privileged-container", NULL);
  /* v1.16.2: each known version its ping succeeded with, from the daemon's oldest to its newest */
  for (guint i = 0; known_api_versions[i] != NULL; i++)
    if (ecsa_docker_api_version_range_contains (inputs->docker_min_api_version, api, known_api_versions[i]))
      {
        g_autofree char *name = g_strconcat (ECSA_CAPABILITY_PREFIX "docker-remote-api.", known_api_versions[i], NULL);
        add (attrs, seen, name, NULL);
      }
  if (inputs->plugins != NULL)
    {
      EcsaCapabilityInputs plugin_inputs = {
        .available_logging_drivers = (const char *const *) config->available_logging_drivers,
        .docker_log_drivers = inputs->docker_log_drivers,
        .docker_api_version = api,
        .task_eni_enabled = config->task_eni_enabled && inputs->task_eni_usable,
        .awsvpc_block_imds = config->awsvpc_block_imds,
        .override_awslogs_execution_role = config->override_awslogs_execution_role,
      };

      from_plugins = ecsa_plugin_registry_capabilities (inputs->plugins, &plugin_inputs);
      for (guint i = 0; from_plugins != NULL && i < from_plugins->len; i++)
        {
          EcsaPluginAttribute *a = g_ptr_array_index (from_plugins, i);
          add (attrs, seen, a->name, a->value);
        }
    }
  if (config->selinux_capable)
    add (attrs, seen, ECSA_CAPABILITY_PREFIX "selinux", NULL);
  if (config->apparmor_capable)
    add (attrs, seen, ECSA_CAPABILITY_PREFIX "apparmor", NULL);
  if (config->task_iam_role_enabled)
    {
      if (api_at_least (api, "1.19"))
        add (attrs, seen, ECSA_CAPABILITY_PREFIX "task-iam-role", NULL);
      else
        g_warning ("Task IAM Role not enabled due to unsuppported Docker version");
    }
  if (config->task_iam_role_enabled_for_network_host)
    {
      if (api_at_least (api, "1.19"))
        add (attrs, seen, ECSA_CAPABILITY_PREFIX "task-iam-role-network-host", NULL);
      else
        g_warning ("Task IAM Role for Host Network not enabled due to unsuppported Docker version");
    }
  if (config->task_cpu_mem_limit != ECSA_CONDITIONAL_DISABLED && inputs->cgroups_enabled)
    {
      if (api_at_least (api, "1.22"))
        add (attrs, seen, ECSA_ATTRIBUTE_PREFIX "task-cpu-mem-limit", NULL);
      else if (config->task_cpu_mem_limit == ECSA_CONDITIONAL_ENABLED)
        {
          g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                               "engine: Task CPU + Mem limit cannot be enabled due to unsupported Docker version");
          return NULL;
        }
      else
        g_warning ("Task CPU + Mem Limit disabled due to unsupported Docker version. API version 1.22 or greater "
                   "is required.");
    }
  return g_steal_pointer (&attrs);
}
