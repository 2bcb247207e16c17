/* ecsa-capabilities.h: the attributes the agent registers with (agent v1.16.2
 * app/agent_capability.go), in v1.16.2's order:
 *   com.amazonaws.ecs.capability.privileged-container   unless ECS_DISABLE_PRIVILEGED
 *   com.amazonaws.ecs.capability.docker-remote-api.<v>  each API version 1.17 .. 1.30 Docker speaks
 *   (the plugin registry's: logging-driver.*, ecr-auth, execution-role-ecr-pull, task-eni*, ...)
 *   com.amazonaws.ecs.capability.selinux / .apparmor     ECS_SELINUX_CAPABLE / ECS_APPARMOR_CAPABLE
 *   com.amazonaws.ecs.capability.task-iam-role(-network-host)  when enabled and Docker API >= 1.19
 *   ecs.capability.task-cpu-mem-limit                   when enabled (and '/ecs' set up) and API >= 1.22;
 *                                                       explicitly enabled with an older Docker: error
 * ECS_INSTANCE_ATTRIBUTES and ecs.os-type are added by the ECS client.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-config.h"
#include "ecsa-plugin-registry.h"

G_BEGIN_DECLS

#define ECSA_CAPABILITY_PREFIX "com.amazonaws.ecs.capability."
#define ECSA_ATTRIBUTE_PREFIX "ecs.capability."

typedef struct
{
  const EcsaConfig *config;
  EcsaPluginRegistry *plugins;          /* may be NULL */
  const char *docker_api_version;       /* the negotiated Engine API version ("1.41") */
  const char *docker_min_api_version;   /* the daemon's oldest, or NULL: 1.17 or older */
  const char *const *docker_log_drivers; /* Docker's /info Plugins.Log, or NULL */
  gboolean cgroups_enabled;             /* the engine set '/ecs' up (task CPU/memory limits usable) */
  gboolean task_eni_usable;             /* ECS_ENABLE_TASK_ENI and its checks passed (awsvpc step) */
} EcsaCapabilitiesInputs;

/* EcsaEcsAttribute* (ecsa-ecs-client.h), or NULL with ECSA_ERROR_NOT_SUPPORTED when task CPU/memory
 * limits are explicitly enabled and Docker cannot do them (terminal in v1.16.2). */
GPtrArray *ecsa_capabilities_build (const EcsaCapabilitiesInputs *inputs, GError **error);

G_END_DECLS
