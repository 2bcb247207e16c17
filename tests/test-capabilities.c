/* test-capabilities.c: the registration attributes the agent derives from its configuration and
 * Docker (agent v1.16.2 agent_capability.go).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-capabilities.h"
#include "ecsa-ecs-client.h"

#include <string.h>

static gboolean
has (GPtrArray *attrs, const char *name)
{
  for (guint i = 0; i < attrs->len; i++)
    if (strcmp (((EcsaEcsAttribute *) g_ptr_array_index (attrs, i))->name, name) == 0)
      return TRUE;
  return FALSE;
}

static void
test_defaults (void)
{
  g_autoptr(EcsaConfig) config = ecsa_config_new ();
  EcsaCapabilitiesInputs in = { .config = config, .docker_api_version = "1.41", .cgroups_enabled = TRUE };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) attrs = ecsa_capabilities_build (&in, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (((EcsaEcsAttribute *) g_ptr_array_index (attrs, 0))->name, ==,
                   "com.amazonaws.ecs.capability.privileged-container");
  g_assert_null (((EcsaEcsAttribute *) g_ptr_array_index (attrs, 0))->value);
  for (guint v = 17; v <= 30; v++)
    {
      g_autofree char *name = g_strdup_printf ("com.amazonaws.ecs.capability.docker-remote-api.1.%u", v);
      g_assert_true (has (attrs, name));
    }
  g_assert_false (has (attrs, "com.amazonaws.ecs.capability.docker-remote-api.1.31"));
  g_assert_true (has (attrs, "ecs.capability.task-cpu-mem-limit"));
  g_assert_false (has (attrs, "com.amazonaws.ecs.capability.task-iam-role"));
  g_assert_false (has (attrs, "com.amazonaws.ecs.capability.selinux"));
  g_assert_cmpuint (attrs->len, ==, 1 + 14 + 1);
}

static void
test_config_switches (void)
{
  g_autoptr(EcsaConfig) config = ecsa_config_new ();
  EcsaCapabilitiesInputs in = { .config = config, .docker_api_version = "1.41" };
  g_autoptr(GPtrArray) attrs = NULL;

  config->privileged_disabled = TRUE;
  config->selinux_capable = TRUE;
  config->apparmor_capable = TRUE;
  config->task_iam_role_enabled = TRUE;
  config->task_iam_role_enabled_for_network_host = TRUE;
  attrs = ecsa_capabilities_build (&in, NULL);
  g_assert_false (has (attrs, "com.amazonaws.ecs.capability.privileged-container"));
  g_assert_true (has (attrs, "com.amazonaws.ecs.capability.selinux"));
  g_assert_true (has (attrs, "com.amazonaws.ecs.capability.apparmor"));
  g_assert_true (has (attrs, "com.amazonaws.ecs.capability.task-iam-role"));
  g_assert_true (has (attrs, "com.amazonaws.ecs.capability.task-iam-role-network-host"));
  /* '/ecs' could not be set up: no task-cpu-mem-limit */
  g_assert_false (has (attrs, "ecs.capability.task-cpu-mem-limit"));
}

static void
test_old_docker (void)
{
  g_autoptr(EcsaConfig) config = ecsa_config_new ();
  EcsaCapabilitiesInputs in = { .config = config, .docker_api_version = "1.18", .cgroups_enabled = TRUE };
  g_autoptr(GPtrArray) attrs = NULL;
  g_autoptr(GError) error = NULL;

  config->task_iam_role_enabled = TRUE;
  g_test_expect_message ("ecsa", G_LOG_LEVEL_WARNING, "Task IAM Role not enabled*");
  g_test_expect_message ("ecsa", G_LOG_LEVEL_WARNING, "Task CPU + Mem Limit disabled*");
  attrs = ecsa_capabilities_build (&in, &error);
  g_test_assert_expected_messages ();
  g_assert_true (has (attrs, "com.amazonaws.ecs.capability.docker-remote-api.1.18"));
  g_assert_false (has (attrs, "com.amazonaws.ecs.capability.docker-remote-api.1.19"));
  g_assert_false (has (attrs, "com.amazonaws.ecs.capability.task-iam-role"));
  g_assert_false (has (attrs, "ecs.capability.task-cpu-mem-limit"));
  g_clear_pointer (&attrs, g_ptr_array_unref);

  /* explicitly enabled and impossible: refused (terminal) */
  config->task_cpu_mem_limit = ECSA_CONDITIONAL_ENABLED;
  g_test_expect_message ("ecsa", G_LOG_LEVEL_WARNING, "Task IAM Role not enabled*");
  attrs = ecsa_capabilities_build (&in, &error);
  g_test_assert_expected_messages ();
  g_assert_null (attrs);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
}

/* A daemon whose oldest API is 1.24 (Docker 25 and newer): no docker-remote-api.1.17 to 1.23, as
 * v1.16.2, whose pings at those versions failed */
static void
test_daemon_oldest_api (void)
{
  g_autoptr(EcsaConfig) config = ecsa_config_new ();
  EcsaCapabilitiesInputs in
    = { .config = config, .docker_api_version = "1.44", .docker_min_api_version = "1.24", .cgroups_enabled = TRUE };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) attrs = ecsa_capabilities_build (&in, &error);

  g_assert_no_error (error);
  for (guint v = 17; v <= 30; v++)
    {
      g_autofree char *name = g_strdup_printf ("com.amazonaws.ecs.capability.docker-remote-api.1.%u", v);
      g_assert_cmpint (has (attrs, name), ==, v >= 24);
    }
  g_assert_false (has (attrs, "com.amazonaws.ecs.capability.docker-remote-api.1.31"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/capabilities/defaults", test_defaults);
  g_test_add_func ("/capabilities/config-switches", test_config_switches);
  g_test_add_func ("/capabilities/old-docker", test_old_docker);
  g_test_add_func ("/capabilities/daemon-oldest-api", test_daemon_oldest_api);
  return g_test_run ();
}
