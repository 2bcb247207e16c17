/* ecsa-eni-attachments.h: ENI attachments of awsvpc tasks, as agent v1.16.2 acknowledges them
 * (acs/handler/attach_eni_handler.go, eni/watcher, api/eniattachment.go).
 *
 * Before it sends an awsvpc task, ECS attaches the task's ENI to the instance and tells the agent
 * with an ACS AttachTaskNetworkInterfacesMessage (one ENI: attachment ARN, MAC address; the task
 * ARN; waitTimeoutMs). The agent acks the message, remembers the attachment until the timeout, and
 * as soon as a network interface with that MAC address is on the host, reports the attachment
 * ATTACHED with SubmitTaskStateChange {cluster, task, attachments: [{attachmentArn, status}]};
 * ECS then sends the task. An attachment not reported before its timeout is dropped.
 *
 * Here interfaces are followed through rtnetlink (RTM_NEWLINK; no udev needed) and every 30 s the
 * host's interfaces are listed again (v1.16.2's reconciliation), which also covers an ENI that was
 * there before the message. Reports go through the submit function the agent provides (the ECS
 * client), retried with backoff until they succeed or the attachment expires. Attachments are
 * kept in the state store (section "eni-attachments") and restored after a restart; one that was
 * reported stays until its task is forgotten (ecsa_eni_attachments_forget_task). Main context only.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <json-glib/json-glib.h>

#include "ecsa-state-store.h"

G_BEGIN_DECLS

#define ECSA_ENI_ATTACHMENTS_SECTION "eni-attachments"

typedef struct _EcsaEniAttachments EcsaEniAttachments;

/* Submit {task_arn, attachment_arn, status "ATTACHED"} to ECS (SubmitTaskStateChange). */
typedef struct
{
  void (*submit_async)(gpointer user_data, const char *task_arn, const char *attachment_arn, const char *status,
                       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer callback_data);
  gboolean (*submit_finish)(gpointer user_data, GAsyncResult *result, GError **error);
} EcsaEniAttachmentSubmitter;

/* store: NULL for no checkpoint (else the section is restored from it and saved to it). */
EcsaEniAttachments *ecsa_eni_attachments_new(EcsaStateStore *store);
void ecsa_eni_attachments_free(EcsaEniAttachments *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaEniAttachments, ecsa_eni_attachments_free)

void ecsa_eni_attachments_set_submitter(EcsaEniAttachments *self, const EcsaEniAttachmentSubmitter *submitter,
                                        gpointer user_data);
/* Start following the host's interfaces (and report what is already there). Fails with the reason
 * when rtnetlink cannot be used. */
gboolean ecsa_eni_attachments_start(EcsaEniAttachments *self, GError **error);
/* Reconciliation period (tests; 0 restores 30 s). */
void ecsa_eni_attachments_set_reconcile_interval(EcsaEniAttachments *self, guint interval_ms);

/* An ACS AttachTaskNetworkInterfacesMessage, validated as v1.16.2 does. On success, *out_message_id
 * is the ID to acknowledge (the caller sends the AckRequest). A repeated message (same MAC) only
 * restarts nothing: the first one's timeout holds. ECSA_ERROR_INVALID_DATA names what is wrong
 * (v1.16.2 then acks nothing). */
gboolean ecsa_eni_attachments_handle_acs_message(EcsaEniAttachments *self, JsonObject *message, char **out_message_id,
                                                 GError **error);

/* The task was forgotten (cleaned up): drop its attachments. */
void ecsa_eni_attachments_forget_task(EcsaEniAttachments *self, const char *task_arn);
/* The state belongs to another EC2 instance (ecsa_task_engine_reset): drop every attachment. */
void ecsa_eni_attachments_forget_all(EcsaEniAttachments *self);

/* Tests and introspection: how many attachments are tracked, and whether the one with this MAC
 * was reported. */
guint ecsa_eni_attachments_count(EcsaEniAttachments *self);
gboolean ecsa_eni_attachments_is_sent(EcsaEniAttachments *self, const char *mac);

G_END_DECLS
