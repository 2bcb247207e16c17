/* ecsa-task-network.h: the awsvpc network mode, on the engine's side (agent v1.16.2's task ENI
 * support: app/agent_unix.go, api/task.go, engine/docker_task_engine.go).
 *
 * Start-up (the agent's "task-eni" step, with ECS_ENABLE_TASK_ENI), as v1.16.2's
 * initializeTaskENIDependencies:
 *  1. the agent must not be PID 1 (no init to reap what CNI plugins leave behind): terminal;
 *  2. the VPC and subnet of the instance from instance metadata (for the ecs.vpc-id and
 *     ecs.subnet-id attributes); an instance outside a VPC turns task ENIs off with a warning;
 *  3. the network plugin serving "awsvpc" checks the host (CNI binaries and their capabilities):
 *     ECSA_ERROR_NOT_SUPPORTED is terminal;
 *  4. the pause image (PauseContainerImageName:PauseContainerTag) is made available: already in
 *     Docker, else loaded from PauseContainerTarballPath, else imported from the agent's own
 *     static pause program (`ecs-agent-pause`, a process that waits for SIGTERM); neither is terminal.
 * A failed step fails prepare with ECSA_EXIT_CODE_ERROR (ECSA_EXIT_TERMINAL, or ECSA_EXIT_ERROR for
 * what a restart may fix).
 *
 * Per task with an ENI, the engine (v1.16.2's pause container flow):
 *  - adds the sandbox container ECSA_TASK_NETWORK_SANDBOX_NAME: created from
 *    ecsa_task_network_sandbox_create_body() (the pause image, NetworkMode "none", the ENI's DNS
 *    servers and search domains, the ECS labels), never pulled, started first; its steady state
 *    is RESOURCES_PROVISIONED: it counts as provisioned once setup() succeeded;
 *  - creates every other container with NetworkMode "container:<sandbox ID>" once the sandbox is
 *    provisioned (ecsa_task_network_container_network_mode());
 *  - calls setup() when the sandbox runs, teardown() when the task's other containers have
 *    stopped and before stopping the sandbox, release() when the task is STOPPED. teardown() and
 *    release() are idempotent and need no state: after a restart, call them with what the
 *    checkpoint has (sandbox ID, ENI) and a PID of 0 when the sandbox is gone.
 * Everything runs on the main context.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <json-glib/json-glib.h>

#include "ecsa-config.h"
#include "ecsa-docker-client.h"
#include "ecsa-imds.h"
#include "ecsa-plugin-registry.h"
#include "ecsa-task.h"

G_BEGIN_DECLS

/* v1.16.2's api.PauseContainerName */
#define ECSA_TASK_NETWORK_SANDBOX_NAME "~internal~ecs~pause"
#define ECSA_TASK_NETWORK_MODE "awsvpc"

typedef struct _EcsaTaskNetwork EcsaTaskNetwork;

/* All borrowed; they must outlive the object. pause_program: the static pause binary to import
 * when the pause image is neither in Docker nor in a tarball (NULL: ecsa_task_network_default_pause_program()). */
EcsaTaskNetwork *ecsa_task_network_new(EcsaConfig *config, EcsaDockerClient *docker, EcsaPluginRegistry *registry,
                                       const char *pause_program);
void ecsa_task_network_free(EcsaTaskNetwork *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaTaskNetwork, ecsa_task_network_free)

/* Where the installed agent keeps `ecs-agent-pause` ($ECSA_PAUSE_PROGRAM overrides it). */
const char *ecsa_task_network_default_pause_program(void);

/* The start-up described above. imds NULL skips the VPC/subnet step. */
void ecsa_task_network_prepare_async(EcsaTaskNetwork *self, EcsaImds *imds, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
gboolean ecsa_task_network_prepare_finish(EcsaTaskNetwork *self, GAsyncResult *result, GError **error);

/* After a successful prepare: whether tasks with an ENI can run (FALSE when the instance is not in
 * a VPC), and the VPC and subnet IDs for registration (NULL when not known). */
gboolean ecsa_task_network_is_enabled(EcsaTaskNetwork *self);
const char *ecsa_task_network_get_vpc_id(EcsaTaskNetwork *self);
const char *ecsa_task_network_get_subnet_id(EcsaTaskNetwork *self);
/* "amazon/amazon-ecs-pause:0.1.0" */
const char *ecsa_task_network_get_pause_image(EcsaTaskNetwork *self);

/* Can `task` (which has an ENI) run here? ECSA_ERROR_NOT_SUPPORTED with the reason when task ENIs
 * are off or no plugin serves awsvpc; ECSA_ERROR_INVALID_DATA when its ENI is unusable. */
gboolean ecsa_task_network_check_task(EcsaTaskNetwork *self, const EcsaTask *task, GError **error);

/* The sandbox's Docker name ("ecs-<family>-<version>-internalecspause-<hex>") and create document
 * (Config + HostConfig; cgroup_parent may be NULL). */
char *ecsa_task_network_sandbox_docker_name(const EcsaTask *task);
JsonNode *ecsa_task_network_sandbox_create_body(EcsaTaskNetwork *self, const EcsaTask *task, const char *cgroup_parent);
/* "container:<sandbox_id>" */
char *ecsa_task_network_container_network_mode(const char *sandbox_id);

/* The plugin's work on the sandbox's namespace. `task` is a snapshot of the task (engine view) and
 * `eni` its ENI; both need only live for the _async call. sandbox_pid: the sandbox's main process,
 * 0 when it is gone (teardown). setup's result: the ENI's addresses (free with
 * ecsa_network_result_free). Errors name the task. */
void ecsa_task_network_setup_async(EcsaTaskNetwork *self, const EcsaTaskView *task, const EcsaEni *eni,
                                   const char *sandbox_id, gint sandbox_pid, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
EcsaNetworkResult *ecsa_task_network_setup_finish(EcsaTaskNetwork *self, GAsyncResult *result, GError **error);
void ecsa_task_network_teardown_async(EcsaTaskNetwork *self, const EcsaTaskView *task, const EcsaEni *eni,
                                      const char *sandbox_id, gint sandbox_pid, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);
gboolean ecsa_task_network_teardown_finish(EcsaTaskNetwork *self, GAsyncResult *result, GError **error);
void ecsa_task_network_release_async(EcsaTaskNetwork *self, const EcsaTaskView *task, const EcsaEni *eni,
                                     const char *sandbox_id, GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data);
gboolean ecsa_task_network_release_finish(EcsaTaskNetwork *self, GAsyncResult *result, GError **error);

G_END_DECLS
