/* ecsa-control-plane.h: the agent's side of the ECS control plane, assembled for ecsa-agent.c:
 * instance metadata (ecsa-imds), the credential chain (ecsa-aws-credentials), the ECS client, the
 * state reporter and the ACS and TCS sessions. The agent calls it from its start-up steps:
 *   region   (1)  the region from the instance identity document when none is configured
 *   register (7)  the "agent" checkpoint section (container instance ARN, cluster, EC2 instance
 *                 ID), capabilities, RegisterContainerInstance or re-registration, the state
 *                 reporter wired to the engine's "state-change" before the engine starts
 *   sessions (10) TCS (unless ECS_DISABLE_METRICS) and ACS
 * and stops it when the root cancellable fires.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-acs-session.h"
#include "ecsa-config.h"
#include "ecsa-credentials-manager.h"
#include "ecsa-docker-client.h"
#include "ecsa-plugin-host.h"
#include "ecsa-plugin-registry.h"
#include "ecsa-state-store.h"
#include "ecsa-task-engine.h"
#include "ecsa-tcs-session.h"

G_BEGIN_DECLS

#define ECSA_CONTROL_PLANE_STATE_SECTION "agent"

#define ECSA_TYPE_CONTROL_PLANE (ecsa_control_plane_get_type ())
G_DECLARE_FINAL_TYPE (EcsaControlPlane, ecsa_control_plane, ECSA, CONTROL_PLANE, GObject)

/* `config` and `services` are borrowed (they outlive the control plane). Instance metadata follows
 * AWS_EC2_METADATA_* (and is silent with -blackhole-ec2-metadata). The credential chain becomes the
 * plugins' aws_credentials service. */
EcsaControlPlane *ecsa_control_plane_new (EcsaConfig *config, EcsaPluginHostServices *services);

/* Step 1. Fails with an ECSA_EXIT_CODE_ERROR (1) when no region can be found. */
void ecsa_control_plane_resolve_region_async (EcsaControlPlane *self, GCancellable *cancellable,
                                              GAsyncReadyCallback callback, gpointer user_data);
gboolean ecsa_control_plane_resolve_region_finish (EcsaControlPlane *self, GAsyncResult *result, GError **error);

/* Before step 7, when ECS_ENABLE_TASK_ENI: the VPC/subnet attributes come from `network`, the ENI
 * attachments report through the ECS client and take ACS's AttachTaskNetworkInterfacesMessage.
 * Both borrowed (NULL: task ENIs off). */
typedef struct _EcsaTaskNetwork EcsaTaskNetwork;
typedef struct _EcsaEniAttachments EcsaEniAttachments;
void ecsa_control_plane_set_task_network (EcsaControlPlane *self, EcsaTaskNetwork *network,
                                          EcsaEniAttachments *eni_attachments);

/* At the Docker step: what the registration needs from elsewhere (Docker's GET /info, the
 * instance identity, the AWS credentials, a connection to the ECS endpoint) is asked for now,
 * beside Docker's version negotiation and while the plugins, the checkpoint and the cgroups are
 * set up. Optional (the registration asks itself when this was not called); a second call does
 * nothing. */
void ecsa_control_plane_prefetch (EcsaControlPlane *self, EcsaDockerClient *docker, GCancellable *cancellable);

/* Step 7. Every argument but `cancellable`... is borrowed for the life of the control plane. The
 * error carries v1.16.2's exit code (ECSA_EXIT_CODE_ERROR): 5 for a cluster mismatch, an invalid
 * parameter or attribute, an instance type change; 1 otherwise. */
void ecsa_control_plane_register_async (EcsaControlPlane *self, EcsaStateStore *store, EcsaTaskEngine *engine,
                                        EcsaDockerClient *docker, EcsaPluginRegistry *plugins,
                                        GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
gboolean ecsa_control_plane_register_finish (EcsaControlPlane *self, GAsyncResult *result, GError **error);

/* Step 10: TCS and ACS. `credentials` (the task IAM role manager) may be NULL: tasks that carry
 * role credentials are then refused. */
void ecsa_control_plane_start_sessions (EcsaControlPlane *self, EcsaCredentialsManager *credentials);

/* Stop the sessions and the reporter (shutdown); idempotent. */
void ecsa_control_plane_stop (EcsaControlPlane *self);

EcsaEcsClient *ecsa_control_plane_get_ecs_client (EcsaControlPlane *self);
EcsaAwsCredentialsProvider *ecsa_control_plane_get_aws_credentials (EcsaControlPlane *self);
EcsaStateReporter *ecsa_control_plane_get_state_reporter (EcsaControlPlane *self);
EcsaAcsSession *ecsa_control_plane_get_acs_session (EcsaControlPlane *self);
EcsaTcsSession *ecsa_control_plane_get_tcs_session (EcsaControlPlane *self);
/* The container instance ARN once registered (or restored), else NULL. */
const char *ecsa_control_plane_get_container_instance_arn (EcsaControlPlane *self);

G_END_DECLS
