/* ecsa-acs-session.h: the Agent Communication Service session (agent v1.16.2 acs/handler).
 *
 * URL: <endpoint>/ws?agentHash&agentVersion&clusterArn=<cluster as configured>&containerInstanceArn
 *      &dockerVersion="DockerVersion: <v>" (when Docker's version is known)&sendCredentials=<true on
 *      the first connection of the process, false after one succeeded>&seqNum=1, encoded as Go's
 *      url.Values (a space travels as '+'; SigV4 signs it as %20).
 *
 * Messages:
 *  - PayloadMessage: each task's roleCredentials / executionRoleCredentials go to the credentials
 *    manager first ("TaskApplication" / "TaskExecution"); the tasks, with those secrets removed, go
 *    to the engine (apply_payload_async), which completes once they are durable. Then, if every
 *    task was accepted: one IAMRoleCredentialsAckRequest per credential (the payload's messageId,
 *    credentialsId, expiration) and the AckRequest (cluster, containerInstance, messageId), on the
 *    connection the payload came from. A task that cannot be used is reported STOPPED
 *    ("UnrecogniedTaskError: Error loading task - <why>", v1.16.2's words) and the payload is not
 *    acked (v1.16.2); the other tasks go on. A payload without messageId is dropped. Payloads are
 *    handled concurrently: one that waits on disk never holds up the next frame.
 *  - IAMRoleCredentialsMessage: for a task the engine knows, the credentials go to the manager and
 *    are acked (IAMRoleCredentialsAckRequest echoing messageId, credentialsId and expiration
 *    verbatim); an unknown roleType is logged and still acked, as v1.16.2 does.
 *  - HeartbeatMessage: answered with HeartbeatAckRequest {messageId} when it carries a messageId
 *    (the current model); v1.16.2 sent nothing.
 *  - CloseMessage: the connection is closed and opened again at once.
 *  - ErrorMessage: logged.
 *  - AttachTaskNetworkInterfacesMessage: to the ENI attachments; acked (AckRequest with the message's
 *    clusterArn, containerInstanceArn and messageId) once they took it, as v1.16.2 does; ignored when
 *    task ENIs are off.
 *  - StageUpdateMessage / PerformUpdateMessage: NackRequest "Updates are disabled" (this agent does
 *    not update itself).
 *  - anything else: logged and ignored.
 * A refused handshake whose body is {"InactiveInstanceException": ...} waits an hour before the
 * next try and emits "inactive-instance"; 250 ms .. 2 min (x1.5, 20% jitter) otherwise. Silence for
 * 1 min + up to 1 min closes the connection.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-state-reporter.h"
#include "ecsa-ws-session.h"

G_BEGIN_DECLS

#define ECSA_ACS_HEARTBEAT_TIMEOUT (60 * G_USEC_PER_SEC)
#define ECSA_ACS_HEARTBEAT_JITTER (60 * G_USEC_PER_SEC)
#define ECSA_ACS_INACTIVE_INSTANCE_DELAY ((GTimeSpan) 3600 * G_USEC_PER_SEC)
#define ECSA_ACS_ROLE_TYPE_APPLICATION "TaskApplication"
#define ECSA_ACS_ROLE_TYPE_EXECUTION "TaskExecution"
/* Payloads being recorded at once; more wait their turn, in order, up to ECSA_ACS_MAX_PAYLOADS_WAITING;
 * beyond that they are not processed (not acked: ACS sends them again). */
#define ECSA_ACS_MAX_PAYLOADS_IN_FLIGHT 64
#define ECSA_ACS_MAX_PAYLOADS_WAITING 4096

/* What the session needs from the task engine and the credentials manager. */
typedef struct
{
  gpointer engine;
  /* ecsa_task_engine_apply_payload_async/_finish (docs/ARCHITECTURE.md). The rejected strings are
   * "task '<arn>': reason". */
  void (*apply_payload_async) (gpointer engine, JsonArray *tasks, gint64 seq_num, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data);
  gboolean (*apply_payload_finish) (gpointer engine, GAsyncResult *result, GPtrArray **out_rejected, GError **error);
  /* The engine knows this task. */
  gboolean (*has_task) (gpointer engine, const char *task_arn);

  gpointer credentials;
  /* ecsa_credentials_manager_set_from_acs (docs/ARCHITECTURE.md) */
  gboolean (*set_credentials) (gpointer credentials, JsonObject *iam_role_credentials, const char *task_arn,
                               const char *role_type, GError **error);
  /* ecsa_credentials_manager_remove_task */
  void (*remove_credentials) (gpointer credentials, const char *task_arn);

  /* awsvpc (may be NULL: task ENIs off): ecsa_eni_attachments_handle_acs_message */
  gpointer eni_attachments;
  gboolean (*attach_eni) (gpointer eni_attachments, JsonObject *message, char **out_message_id, GError **error);
} EcsaAcsSessionHooks;

#define ECSA_TYPE_ACS_SESSION (ecsa_acs_session_get_type ())
G_DECLARE_FINAL_TYPE (EcsaAcsSession, ecsa_acs_session, ECSA, ACS_SESSION, EcsaWsSession)

/* `reporter` may be NULL (refused tasks are then only logged). */
EcsaAcsSession *ecsa_acs_session_new (EcsaEcsClient *ecs_client, const EcsaAcsSessionHooks *hooks,
                                      EcsaStateReporter *reporter);

/* The ACS URL for an endpoint (exposed for tests). */
char *ecsa_acs_session_build_url (EcsaAcsSession *self, const char *endpoint);

/* Payloads being recorded now. */
guint ecsa_acs_session_get_payloads_in_flight (EcsaAcsSession *self);

/* Strip the secrets from a copy of an ACS task (the engine never sees them). */
JsonObject *ecsa_acs_task_without_secrets (JsonObject *task);

G_END_DECLS
