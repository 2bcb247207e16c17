/* ecsa-credentials-manager.h: task IAM role credentials, in memory only.
 *
 * The control plane (ACS) sends each task's role credentials (task role "TaskApplication",
 * execution role "TaskExecution") inside a PayloadMessage's tasks and, when they are refreshed, in an
 * IAMRoleCredentialsMessage. The manager keeps them keyed by their credentialsId, remembers which
 * task owns each ID and drops them with the task. Nothing here is ever written to disk: after a
 * restart the engine marks the IDs its restored tasks own as "expected" (the secret is not known
 * yet); the credentials endpoint answers 503 for those until ACS sends them again (the agent asks
 * with sendCredentials=true on its first connection), so SDKs retry instead of failing.
 *
 * Every secret that enters the manager (access key ID, secret key, session token) is registered with
 * the log's redaction (ecsa_log_add_secret) and wiped from memory when it leaves. So is every
 * credentials ID: whoever knows one could ask for it (v1.16.2 served any ID to anyone), so no log line
 * shows one in clear.
 *
 * Main context only; not thread-safe.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib-object.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* ACS RoleType values (v1.16.2's credentials.ApplicationRoleType / ExecutionRoleType). */
#define ECSA_CREDENTIALS_ROLE_TASK "TaskApplication"
#define ECSA_CREDENTIALS_ROLE_EXECUTION "TaskExecution"

/* The relative URI a task's containers get in AWS_CONTAINER_CREDENTIALS_RELATIVE_URI. */
#define ECSA_CREDENTIALS_V1_PATH "/v1/credentials"
#define ECSA_CREDENTIALS_V2_PATH "/v2/credentials"

typedef struct
{
  char *credentials_id;
  char *task_arn;          /* the task that owns the ID */
  char *role_type;         /* ECSA_CREDENTIALS_ROLE_*, or "" while pending and not known */
  char *role_arn;          /* "" when ACS sent none */
  char *access_key_id;     /* secret */
  char *secret_access_key; /* secret */
  char *session_token;     /* secret */
  char *expiration;        /* as ACS sent it (v1.16.2 echoes it verbatim) */
  gboolean pending;        /* expected after a restart; the fields above are "" until ACS resends */
} EcsaTaskCredentials;

#define ECSA_TYPE_CREDENTIALS_MANAGER (ecsa_credentials_manager_get_type())
G_DECLARE_FINAL_TYPE(EcsaCredentialsManager, ecsa_credentials_manager, ECSA, CREDENTIALS_MANAGER, GObject)

EcsaCredentialsManager *ecsa_credentials_manager_new(void);

/* Store (or replace) the credentials of one ACS IAMRoleCredentials object for `task_arn`.
 * `role_type` is ECSA_CREDENTIALS_ROLE_TASK or _EXECUTION. Refused with ECSA_ERROR_INVALID_DATA
 * when credentialsId is missing or empty, a member is not a string, the task ARN is empty or the role
 * type is unknown. An ID already owned by another task is refused too (IDs are per task). */
gboolean ecsa_credentials_manager_set_from_acs(EcsaCredentialsManager *self, JsonObject *iam_role_credentials,
                                               const char *task_arn, const char *role_type, GError **error);

/* The entry for an ID, or NULL. Pending entries are returned too (check ->pending). The pointer is
 * valid until the manager changes; copy what you keep. */
const EcsaTaskCredentials *ecsa_credentials_manager_get(EcsaCredentialsManager *self, const char *credentials_id);

/* A restored task owns `credentials_id` but its secret has not arrived again: the endpoint answers
 * 503 for it until set_from_acs() fills it. No-op when the ID is already known. */
void ecsa_credentials_manager_expect(EcsaCredentialsManager *self, const char *credentials_id, const char *task_arn);

/* Forget every ID `task_arn` owns (called when the engine removes the task). */
void ecsa_credentials_manager_remove_task(EcsaCredentialsManager *self, const char *task_arn);

/* Forget one ID. */
void ecsa_credentials_manager_remove(EcsaCredentialsManager *self, const char *credentials_id);

/* Number of IDs held (pending ones included). */
guint ecsa_credentials_manager_get_size(EcsaCredentialsManager *self);

/* "/v2/credentials/<id>", what the engine puts in AWS_CONTAINER_CREDENTIALS_RELATIVE_URI. */
char *ecsa_credentials_relative_uri(const char *credentials_id);

/* The body of v1.16.2's credentials response: {"RoleArn":…,"AccessKeyId":…,"SecretAccessKey":…,
 * "Token":…,"Expiration":…}. Holds secrets: free with ecsa_credentials_wipe_free(). */
char *ecsa_task_credentials_to_json(const EcsaTaskCredentials *credentials);
void ecsa_credentials_wipe_free(char *text);

/* ACS helpers (used by the ACS session).
 * Checks an IAMRoleCredentialsMessage as v1.16.2 does: messageId, taskArn, roleCredentials and
 * roleCredentials.credentialsId are present and non-empty. The role type is not checked here
 * (v1.16.2 acks a message with an unknown role type without storing it). */
gboolean ecsa_credentials_validate_refresh_message(JsonObject *message, GError **error);

/* The `message` of an IAMRoleCredentialsAckRequest: {"messageId","expiration","credentialsId"}.
 * v1.16.2 echoes the expiration it received; credentials that came inside a PayloadMessage are
 * acked with the payload's messageId. */
JsonObject *ecsa_credentials_ack_request_new(const char *message_id, const char *credentials_id,
                                             const char *expiration);

G_END_DECLS
