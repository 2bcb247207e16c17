/* ecsl-ecs.h: the ECS JSON 1.1 API of ecs-local (AmazonEC2ContainerServiceV20141113.<Op>), both
 * the user's calls and the agent's, and ECR's GetAuthorizationToken. Every operation takes the
 * parsed request and returns the response (the model's output shape) or an ECSL_API_ERROR.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsl-state.h"

G_BEGIN_DECLS

typedef JsonNode *(*EcslOpFunc) (EcslContext *ctx, JsonObject *req, GError **error);

/* The handler of an ECS operation name ("RunTask"), or NULL. */
EcslOpFunc ecsl_ecs_lookup (const char *op);

JsonNode *ecsl_ecr_get_authorization_token (EcslContext *ctx, JsonObject *req, GError **error);

/* ecsl-ecs.c: helpers the task operations share */
EcslCluster *ecsl_ecs_require_cluster (EcslContext *ctx, JsonObject *req, GError **error);
JsonNode *ecsl_ecs_render_instance (EcslContext *ctx, EcslInstance *inst, gboolean with_tags);
gboolean ecsl_ecs_parse_max_results (JsonObject *req, gint64 *out_max, GError **error);
/* Page through keys (sorted in the wanted order, with their values): adds "member" and maybe
 * "nextToken" to the builder. */
gboolean ecsl_ecs_paginate (JsonObject *req, GPtrArray *keys, GPtrArray *values, gboolean descending,
                            JsonBuilder *b, const char *member, GError **error);
JsonNode *ecsl_ecs_empty_array (void);

/* Task-level cpu ("256" units or "0.25 vCPU") and memory ("512" MiB or "1 GB"); -1 when invalid,
 * 0 for NULL. */
gint64 ecsl_parse_task_cpu (const char *text);
gint64 ecsl_parse_task_memory (const char *text);
/* Whether an image lives in the registry that ECR stands for here (--ecr-registry). */
gboolean ecsl_is_ecr_image (EcslContext *ctx, const char *image);

/* ecsl-tasks.c */
JsonNode *ecsl_op_run_task (EcslContext *ctx, JsonObject *req, GError **error);
JsonNode *ecsl_op_start_task (EcslContext *ctx, JsonObject *req, GError **error);
JsonNode *ecsl_op_stop_task (EcslContext *ctx, JsonObject *req, GError **error);
JsonNode *ecsl_op_describe_tasks (EcslContext *ctx, JsonObject *req, GError **error);
JsonNode *ecsl_op_list_tasks (EcslContext *ctx, JsonObject *req, GError **error);
JsonNode *ecsl_op_submit_task_state_change (EcslContext *ctx, JsonObject *req, GError **error);
JsonNode *ecsl_op_submit_container_state_change (EcslContext *ctx, JsonObject *req, GError **error);
/* Resources in use on an instance by its tasks that are not STOPPED. */
void ecsl_tasks_instance_usage (EcslContext *ctx, EcslInstance *inst, gint64 *out_cpu, gint64 *out_memory,
                                GArray *out_tcp, GArray *out_udp, guint *out_running, guint *out_pending);
/* Stop every task of an instance that is going away (forced deregistration). */
void ecsl_tasks_stop_for_instance (EcslContext *ctx, EcslInstance *inst, const char *reason);

/* ecsl-payload.c: an ACS Task (acs-api-2.json) for a task, with desired status and, when asked
 * and the task has roles, its credentials. */
JsonNode *ecsl_payload_task (EcslContext *ctx, EcslTask *task, const char *desired, gboolean with_credentials);
/* The IAMRoleCredentials object of an issued entry. */
JsonNode *ecsl_payload_credentials (EcslContext *ctx, const EcslCredEntry *entry);
/* The network mode of a task definition ("bridge" when unset). */
const char *ecsl_taskdef_network_mode (EcslTaskDef *def);
/* The container definition named `name`, with the overrides of the task applied where AWS
 * merges them (command stays separate: it goes in the container's "overrides"). */
JsonObject *ecsl_taskdef_container (EcslTaskDef *def, const char *name);
JsonObject *ecsl_task_container_override (EcslTask *task, const char *name);

G_END_DECLS
