/* ecsl-acs.h: the Agent Communication Service websocket of ecs-local.
 *
 * The agent connects to <endpoint>/ws?clusterArn=…&containerInstanceArn=…&sendCredentials=…,
 * a SigV4-signed GET (service "ecs"). ecs-local then sends, as the service does:
 *  - PayloadMessage for tasks placed on the instance and for tasks to stop (seqNum grows per
 *    instance), resent with the same messageId until the agent answers AckRequest;
 *  - IAMRoleCredentialsMessage when a task's role credentials are refreshed (and, when the agent
 *    connects with sendCredentials=true, for every task with a role), resent until acknowledged
 *    with IAMRoleCredentialsAckRequest;
 *  - HeartbeatMessage every --heartbeat-interval (HeartbeatAckRequest answers are accepted);
 *  - CloseMessage before closing, when the instance is deregistered or ecs-local stops.
 * A refused handshake answers like ACS: HTTP 400/403 with a body such as
 * {"InactiveInstanceException":"…"}.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsl-state.h"

G_BEGIN_DECLS

EcslAcs *ecsl_acs_new (EcslContext *ctx);
void ecsl_acs_free (EcslAcs *self);
/* Send CloseMessage on every session and close it. */
void ecsl_acs_close_all (EcslAcs *self, const char *reason);

/* The early part of a handshake: verify and decide. Returns FALSE (and sets the response status
 * and body on msg) to refuse. */
gboolean ecsl_acs_check_handshake (EcslContext *ctx, SoupServerMessage *msg);
/* The websocket is open. */
void ecsl_acs_connected (EcslContext *ctx, SoupServerMessage *msg, SoupWebsocketConnection *conn);

/* Handle a frame the agent of `inst` sent (conn_or_null: its session). Malformed frames are
 * logged and ignored. */
void ecsl_acs_handle_frame (EcslContext *ctx, EcslInstance *inst, gpointer conn_or_null, GBytes *data);

/* Queue a PayloadMessage with these tasks (EcslTask*) at the desired status for their instance
 * and send it when the agent is connected. */
void ecsl_acs_queue_payload (EcslContext *ctx, EcslInstance *inst, GPtrArray *tasks, const char *desired);
/* Start refreshing a task's role credentials (no-op without roles); stop doing so. */
void ecsl_acs_schedule_refresh (EcslContext *ctx, EcslTask *task);
void ecsl_task_stop_refresh (EcslContext *ctx, EcslTask *task);
/* The instance was deregistered: close its session. */
void ecsl_acs_instance_deregistered (EcslContext *ctx, EcslInstance *inst);

G_END_DECLS
